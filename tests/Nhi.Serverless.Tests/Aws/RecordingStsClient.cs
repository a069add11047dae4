using Amazon.Runtime;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Nhi.Serverless.Aws;

namespace Nhi.Serverless.Tests.Aws;

/// <summary>The adapter's STS client, recording each issued credential so tests can prove it never appears in outputs.</summary>
public sealed class RecordingStsClient(AwsOptions options, List<Credentials> issued)
    : AmazonSecurityTokenServiceClient(
        new BasicAWSCredentials(options.AccessKeyId, options.SecretAccessKey),
        new AmazonSecurityTokenServiceConfig
        {
            ServiceURL = options.ResolveStsEndpoint().ToString(),
            AuthenticationRegion = options.Region,
            IgnoreConfiguredEndpointUrls = true,
        })
{
    public override async Task<AssumeRoleResponse> AssumeRoleAsync(AssumeRoleRequest request, CancellationToken cancellationToken = default)
    {
        AssumeRoleResponse response = await base.AssumeRoleAsync(request, cancellationToken);
        lock (issued)
        {
            issued.Add(response.Credentials);
        }

        return response;
    }
}
