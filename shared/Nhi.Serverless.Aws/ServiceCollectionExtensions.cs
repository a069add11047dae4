using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.SecurityToken;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Aws.Iam;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.S3.Actions;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Playbooks;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Aws;

/// <summary>Registers the AWS adapter: the STS broker and revoker, the S3 actions, verifier and executor, and the playbook.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers the adapter as singletons. The host must register an <see cref="ICredentialFingerprinter"/>; logging
    /// is used when registered. Throws <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> at once
    /// when a setting is invalid.
    /// </summary>
    public static IServiceCollection AddAwsRemediation(this IServiceCollection services, AwsOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();

        services.AddSingleton(options);
        services.TryAddSingleton(TimeProvider.System);

        services.AddSingleton<IAmazonSecurityTokenService>(_ => CreateStsClient(options));
        services.AddSingleton(provider => new IamQueryClient(
            S3ClientFactory.CreateHttpClient(),
            options.ResolveIamEndpoint(),
            options.ResolveIamSigningRegion(),
            () => ServiceCredentials(options),
            provider.GetRequiredService<TimeProvider>(),
            ownsHttp: true));
        services.AddSingleton(provider => new S3ClientFactory(
            options, S3ClientFactory.CreateHttpClient(), provider.GetRequiredService<TimeProvider>(), ownsHttp: true));

        services.AddSingleton(provider => new StsGrantBroker(
            options,
            provider.GetRequiredService<IAmazonSecurityTokenService>(),
            provider.GetRequiredService<IamQueryClient>(),
            provider.GetRequiredService<S3ClientFactory>(),
            provider.GetRequiredService<ICredentialFingerprinter>(),
            provider.GetRequiredService<TimeProvider>(),
            LoggerFor<StsGrantBroker>(provider)));
        services.AddSingleton<ICredentialBroker<AwsSessionCredential>>(provider => provider.GetRequiredService<StsGrantBroker>());

        services.AddSingleton<IS3RemediationAction, RemovePublicPolicyStatements>();
        services.AddSingleton<IS3RemediationAction, RemovePublicAclGrants>();
        services.AddSingleton<IS3RemediationAction, EnableBucketPublicAccessBlock>();
        services.AddSingleton<S3PublicAccessVerifier>();
        services.AddSingleton(AwsPlaybooks.S3BucketPublicAccess);

        services.AddSingleton(provider => new S3PublicAccessExecutor(
            provider.GetRequiredService<StsGrantBroker>(),
            provider.GetRequiredService<S3ClientFactory>(),
            provider.GetServices<IS3RemediationAction>(),
            provider.GetRequiredService<S3PublicAccessVerifier>(),
            LoggerFor<S3PublicAccessExecutor>(provider)));
        services.AddSingleton<IRemediationExecutor>(provider => provider.GetRequiredService<S3PublicAccessExecutor>());

        services.AddSingleton<IGrantBroker>(provider => new GrantBroker<AwsSessionCredential>(provider.GetRequiredService<StsGrantBroker>()));

        // A host with several brokers registers a BrokerGrantRevoker, which uses this revoker for "aws-sts" grants.
        services.AddSingleton(provider => new StsGrantRevoker(provider.GetRequiredService<StsGrantBroker>(), LoggerFor<StsGrantRevoker>(provider)));
        services.AddSingleton(provider => new NamedGrantRevoker(StsGrantBroker.BrokerName, provider.GetRequiredService<StsGrantRevoker>()));
        services.TryAddSingleton<IGrantRevoker>(provider => provider.GetRequiredService<StsGrantRevoker>());

        return services;
    }

    /// <summary>Registers the adapter with settings filled in by <paramref name="configure"/>.</summary>
    public static IServiceCollection AddAwsRemediation(this IServiceCollection services, Action<AwsOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(configure);
        var options = new AwsOptions();
        configure(options);
        return services.AddAwsRemediation(options);
    }

    /// <summary>Creates the STS client for the service's own identity, on the regional (or configured) endpoint.</summary>
    public static AmazonSecurityTokenServiceClient CreateStsClient(AwsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var config = new AmazonSecurityTokenServiceConfig
        {
            ServiceURL = options.ResolveStsEndpoint().ToString(),
            AuthenticationRegion = options.Region,
            IgnoreConfiguredEndpointUrls = true,
            Timeout = TimeSpan.FromSeconds(30),
        };

        return options.AccessKeyId is null
            ? new AmazonSecurityTokenServiceClient(config)
            : new AmazonSecurityTokenServiceClient(ServiceCredentials(options), config);
    }

    // Explicit keys when configured; otherwise the SDK's default chain, resolved only when first needed.
    private static AWSCredentials ServiceCredentials(AwsOptions options) =>
        options.AccessKeyId is not null && options.SecretAccessKey is not null
            ? new BasicAWSCredentials(options.AccessKeyId, options.SecretAccessKey)
            : DefaultAWSCredentialsIdentityResolver.GetCredentials(null);

    private static ILogger<T> LoggerFor<T>(IServiceProvider provider) =>
        provider.GetService<ILogger<T>>() ?? NullLogger<T>.Instance;
}
