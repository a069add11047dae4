using Amazon.DynamoDBv2;
using Amazon.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.DynamoDb;
using Nhi.Serverless.Aws.DynamoDb.Grants;
using Nhi.Serverless.Aws.DynamoDb.Parking;
using Nhi.Serverless.Aws.DynamoDb.Runs;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting;
using Nhi.Serverless.Hosting.Sweeper;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Lambdas.Container;

/// <summary>The configuration and services of both Lambda handlers: the shared composition root plus DynamoDB.</summary>
internal static class LambdaServices
{
    /// <summary>
    /// Reads configuration from the function's environment: the local stack's NHI_* variables, then the standard
    /// .NET form (Aws__RoleArn for Aws:RoleArn), which wins. Lambda's own AWS_REGION sets Aws:Region when nothing
    /// else does.
    /// </summary>
    public static IConfiguration BuildConfiguration()
    {
        var fallbacks = new Dictionary<string, string?>();
        if (Environment.GetEnvironmentVariable("AWS_REGION") is { Length: > 0 } lambdaRegion)
        {
            fallbacks["Aws:Region"] = lambdaRegion;
        }

        var stackOnly = new Dictionary<string, string?>();
        if (Environment.GetEnvironmentVariable("NHI_DYNAMODB_ENDPOINT") is { Length: > 0 } endpoint)
        {
            stackOnly["DynamoDb:Endpoint"] = endpoint;
        }

        return new ConfigurationBuilder()
            .AddInMemoryCollection(fallbacks)
            .AddStackEnvironment()
            .AddInMemoryCollection(stackOnly)
            .AddEnvironmentVariables()
            .Build();
    }

    /// <summary>
    /// Registers the shared services (parsers, planner, AWS adapter, audit trail, grant safety) and replaces the run
    /// registry and grant ledger with their DynamoDB implementations, which every container of the function shares.
    /// The in-process sweeper loop is removed: the sweeper function runs on a schedule instead, and a loop would
    /// only run while a container is thawed.
    /// </summary>
    public static IServiceCollection AddLambdaServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddNhiServerless(configuration);
        services.RemoveGrantSweeperLoop();

        DynamoDbOptions dynamo = ReadDynamoDb(configuration);
        services.AddSingleton(dynamo);
        services.AddSingleton(LambdaOptions.Read(configuration));
        services.AddSingleton<IAmazonDynamoDB>(provider => DynamoDbClientFactory.Create(dynamo, ServiceCredentials(provider.GetRequiredService<AwsOptions>())));

        services.AddSingleton<DynamoDbRunRegistry>();
        services.AddSingleton<IRunRegistry>(provider => provider.GetRequiredService<DynamoDbRunRegistry>());
        services.AddSingleton<DynamoDbGrantLedger>();
        services.AddSingleton<IGrantLedger>(provider => provider.GetRequiredService<DynamoDbGrantLedger>());
        services.AddSingleton<DynamoDbParkedRecords>();
        return services;
    }

    /// <summary>Creates the tables when DynamoDb:CreateTables is set, as on a local stack.</summary>
    public static async Task PrepareTablesAsync(IServiceProvider services, CancellationToken cancellationToken)
    {
        DynamoDbOptions options = services.GetRequiredService<DynamoDbOptions>();
        if (options.CreateTables)
        {
            await DynamoDbTables.CreateMissingAsync(
                services.GetRequiredService<IAmazonDynamoDB>(), options, services.GetService<ILogger<DynamoDbOptions>>(), cancellationToken);
        }
    }

    /// <summary>Adds single-line console logs, which Lambda sends to CloudWatch Logs.</summary>
    public static void AddLambdaConsole(this ILoggingBuilder logging, IConfiguration configuration)
    {
        logging.AddConfiguration(configuration.GetSection("Logging"));
        logging.SetMinimumLevel(LogLevel.Information);
        logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.UseUtcTimestamp = true;
            console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });
    }

    private static DynamoDbOptions ReadDynamoDb(IConfiguration configuration)
    {
        var options = new DynamoDbOptions();
        configuration.GetSection(DynamoDbOptions.SectionName).Bind(options);
        if (string.IsNullOrEmpty(options.Region))
        {
            options.Region = configuration["Aws:Region"] ?? "";
        }

        options.ThrowIfInvalid();
        return options;
    }

    // The function's identity for DynamoDB is the same one the AWS adapter uses for STS and IAM: explicit keys
    // on a local stack, the execution role (the SDK's default chain) on Lambda.
    private static AWSCredentials? ServiceCredentials(AwsOptions aws) =>
        aws.AccessKeyId is { } keyId && aws.SecretAccessKey is { } secret ? new BasicAWSCredentials(keyId, secret) : null;
}
