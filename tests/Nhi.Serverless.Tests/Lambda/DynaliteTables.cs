using Amazon.DynamoDBv2;
using Amazon.DynamoDBv2.Model;
using Amazon.Runtime;
using Nhi.Serverless.Aws.DynamoDb;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Lambda;

/// <summary>
/// A fresh set of the adapter's three tables on the local stack's dynalite, named nhi-test-{random}-*, deleted on
/// dispose. A missing dynalite fails the test with the command that starts it.
/// </summary>
public sealed class DynaliteTables : IAsyncDisposable
{
    private DynaliteTables(AmazonDynamoDBClient client, DynamoDbOptions options)
    {
        Client = client;
        Options = options;
    }

    public AmazonDynamoDBClient Client { get; }

    public DynamoDbOptions Options { get; }

    public static async Task<DynaliteTables> CreateAsync()
    {
        Environment.SetEnvironmentVariable("AWS_EC2_METADATA_DISABLED", "true");
        string endpoint = LocalStack.Get("NHI_DYNAMODB_ENDPOINT");
        await RequireReachableAsync(new Uri(endpoint));

        string prefix = "nhi-test-" + Guid.NewGuid().ToString("N")[..10];
        var options = new DynamoDbOptions
        {
            Endpoint = endpoint,
            Region = LocalStack.Get("NHI_AWS_REGION"),
            RunsTableName = prefix + "-runs",
            GrantsTableName = prefix + "-grants",
            ParkedRecordsTableName = prefix + "-parked",
        };

        // dynalite checks that requests are signed but not with which key, so these keys are placeholders.
        AmazonDynamoDBClient client = DynamoDbClientFactory.Create(options, new BasicAWSCredentials("nhi-test", "nhi-test-placeholder"));
        await DynamoDbTables.CreateMissingAsync(client, options, null, CancellationToken.None);
        return new DynaliteTables(client, options);
    }

    /// <summary>Returns every item of a table as text, for searches that must find no secret.</summary>
    public async Task<IReadOnlyList<string>> ScanTextAsync(string tableName)
    {
        List<string> items = [];
        Dictionary<string, AttributeValue>? startKey = null;
        do
        {
            ScanResponse page = await Client.ScanAsync(new ScanRequest { TableName = tableName, ExclusiveStartKey = startKey });
            items.AddRange((page.Items ?? []).Select(Describe));
            startKey = page.LastEvaluatedKey is { Count: > 0 } next ? next : null;
        }
        while (startKey is not null);

        return items;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (string table in new[] { Options.RunsTableName, Options.GrantsTableName, Options.ParkedRecordsTableName })
        {
            try
            {
                await Client.DeleteTableAsync(table);
            }
            catch (ResourceNotFoundException)
            {
            }
        }

        Client.Dispose();
    }

    private static string Describe(Dictionary<string, AttributeValue> item) =>
        string.Join("; ", item.Select(pair =>
            $"{pair.Key}={pair.Value.S ?? pair.Value.N ?? string.Join(",", (pair.Value.L ?? []).Select(element => element.S))}"));

    private static async Task RequireReachableAsync(Uri endpoint)
    {
        using var client = new System.Net.Sockets.TcpClient();
        try
        {
            await client.ConnectAsync(endpoint.Host, endpoint.Port).WaitAsync(TimeSpan.FromSeconds(3));
            return;
        }
        catch (Exception exception) when (exception is System.Net.Sockets.SocketException or TimeoutException)
        {
            throw new InvalidOperationException(
                $"dynalite is not reachable at {endpoint}. Start the local stack with `infra/local/stack.sh up`.", exception);
        }
    }
}
