using Amazon;
using Amazon.DynamoDBv2;
using Amazon.Runtime;

namespace Nhi.Serverless.Aws.DynamoDb;

/// <summary>Creates the DynamoDB client for the configured endpoint and region.</summary>
public static class DynamoDbClientFactory
{
    /// <summary>
    /// Creates a client that signs with <paramref name="credentials"/>, or with the SDK's default credential chain
    /// (on Lambda, the function's execution role) when it is null.
    /// </summary>
    public static AmazonDynamoDBClient Create(DynamoDbOptions options, AWSCredentials? credentials)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();

        var config = new AmazonDynamoDBConfig
        {
            IgnoreConfiguredEndpointUrls = true,
            Timeout = TimeSpan.FromSeconds(10),
            MaxErrorRetry = 3,
        };

        if (options.Endpoint is not null)
        {
            config.ServiceURL = options.Endpoint;
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }

        return credentials is null ? new AmazonDynamoDBClient(config) : new AmazonDynamoDBClient(credentials, config);
    }
}
