using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Aws.DynamoDb.Grants;
using Nhi.Serverless.Aws.DynamoDb.Parking;
using Nhi.Serverless.Aws.DynamoDb.Runs;

namespace Nhi.Serverless.Aws.DynamoDb;

/// <summary>
/// The key schemas and indexes of the adapter's tables, and their creation for local stacks. On AWS the
/// deployment template creates the same tables and turns on time to live for the attribute
/// <see cref="TimeToLiveAttribute"/>, which the code writes but cannot switch on (UpdateTimeToLive is an
/// administrative call that the function's role should not hold, and dynalite does not implement it).
/// </summary>
public static class DynamoDbTables
{
    /// <summary>The attribute, in epoch seconds, after which DynamoDB's time to live may delete an item.</summary>
    public const string TimeToLiveAttribute = "ExpiresAtEpoch";

    /// <summary>Returns the CreateTable requests for the three tables, with on-demand billing.</summary>
    public static IReadOnlyList<CreateTableRequest> Definitions(DynamoDbOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return
        [
            KeyedBy(options.RunsTableName, DynamoDbRunRegistry.KeyAttribute),
            DynamoDbGrantLedger.TableDefinition(options.GrantsTableName),
            KeyedBy(options.ParkedRecordsTableName, DynamoDbParkedRecords.KeyAttribute),
        ];
    }

    /// <summary>Creates every table that does not exist and waits until all are active.</summary>
    /// <exception cref="TimeoutException">A table did not become active within 60 seconds.</exception>
    public static async Task CreateMissingAsync(
        IAmazonDynamoDB client, DynamoDbOptions options, ILogger? logger, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        logger ??= NullLogger.Instance;

        foreach (CreateTableRequest definition in Definitions(options))
        {
            try
            {
                await client.CreateTableAsync(definition, cancellationToken);
                logger.LogInformation("Created DynamoDB table {TableName}", definition.TableName);
            }
            catch (ResourceInUseException)
            {
                // The table exists, or another container is creating it; both end in the wait below.
            }

            await WaitUntilActiveAsync(client, definition.TableName, cancellationToken);
        }
    }

    private static async Task WaitUntilActiveAsync(IAmazonDynamoDB client, string tableName, CancellationToken cancellationToken)
    {
        DateTimeOffset deadline = DateTimeOffset.UtcNow.AddSeconds(60);
        while (true)
        {
            DescribeTableResponse description = await client.DescribeTableAsync(tableName, cancellationToken);
            bool indexesActive = (description.Table.GlobalSecondaryIndexes ?? []).All(index => index.IndexStatus == IndexStatus.ACTIVE);
            if (description.Table.TableStatus == TableStatus.ACTIVE && indexesActive)
            {
                return;
            }

            if (DateTimeOffset.UtcNow >= deadline)
            {
                throw new TimeoutException(
                    $"DynamoDB table {tableName} is still {description.Table.TableStatus} after 60 s; expected ACTIVE. Check the DynamoDB endpoint's log.");
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
        }
    }

    private static CreateTableRequest KeyedBy(string tableName, string keyAttribute) => new()
    {
        TableName = tableName,
        BillingMode = BillingMode.PAY_PER_REQUEST,
        AttributeDefinitions = [new AttributeDefinition(keyAttribute, ScalarAttributeType.S)],
        KeySchema = [new KeySchemaElement(keyAttribute, KeyType.HASH)],
    };
}
