using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Workflows.Cicd;
using Nhi.Serverless.Workflows.Claims;
using Nhi.Serverless.Workflows.Healthcare;

namespace Nhi.Serverless.Workflows;

/// <summary>The brokers the business workflows need, each present only when its settings are.</summary>
/// <param name="Postgres">The PostgreSQL role broker's settings; null when no database is configured.</param>
/// <param name="BlobSas">The Blob SAS broker's settings; null when no storage account is configured.</param>
/// <param name="OAuth">The OAuth client credentials broker's settings; null when no authorization server is configured.</param>
public sealed record WorkflowBrokerSettings(
    PostgresRoleBrokerOptions? Postgres,
    BlobSasBrokerOptions? BlobSas,
    OAuthClientCredentialsOptions? OAuth);

/// <summary>Registers the business workflows and the brokers they use.</summary>
public static class ServiceCollectionExtensions
{
    /// <summary>
    /// Registers each configured broker as itself and as an <see cref="IGrantBroker"/>, the partner API client, and every
    /// workflow whose brokers are all configured. The AWS adapter (for S3 reads) must be registered already. Settings are
    /// validated here, so a bad setting fails the host at start with its name.
    /// </summary>
    public static IServiceCollection AddBusinessWorkflows(this IServiceCollection services, WorkflowOptions options, WorkflowBrokerSettings brokers)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(brokers);
        options.ThrowIfInvalid();

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton(brokers);
        services.AddSingleton(provider => new PartnerApiClient(new HttpClient { Timeout = TimeSpan.FromSeconds(15) }, options));

        if (brokers.Postgres is { } postgres)
        {
            services.AddSingleton(provider => new PostgresRoleBroker(
                postgres,
                provider.GetRequiredService<ICredentialFingerprinter>(),
                provider.GetRequiredService<TimeProvider>(),
                LoggerFor<PostgresRoleBroker>(provider)));
            services.AddSingleton<IGrantBroker>(provider => new GrantBroker<PostgresRoleCredential>(provider.GetRequiredService<PostgresRoleBroker>()));
        }

        if (brokers.BlobSas is { } blob)
        {
            services.AddSingleton(provider => new BlobContainerSasBroker(
                blob,
                provider.GetRequiredService<ICredentialFingerprinter>(),
                provider.GetRequiredService<TimeProvider>(),
                LoggerFor<BlobContainerSasBroker>(provider)));
            services.AddSingleton<IGrantBroker>(provider => new GrantBroker<BlobContainerSasCredential>(provider.GetRequiredService<BlobContainerSasBroker>()));
        }

        if (brokers.OAuth is { } oauth)
        {
            services.AddSingleton(provider => new OAuthClientCredentialsBroker(
                oauth,
                provider.GetRequiredService<ICredentialFingerprinter>(),
                provider.GetRequiredService<TimeProvider>(),
                LoggerFor<OAuthClientCredentialsBroker>(provider)));
            services.AddSingleton<IGrantBroker>(provider => new GrantBroker<OAuthAccessToken>(provider.GetRequiredService<OAuthClientCredentialsBroker>()));
        }

        AddWorkflows(services, options, brokers);
        return services;
    }

    /// <summary>The S3 bucket ARN of <paramref name="bucket"/> in the AWS adapter's partition.</summary>
    public static string BucketArn(AwsOptions aws, string bucket)
    {
        ArgumentNullException.ThrowIfNull(aws);
        return $"arn:{aws.Partition}:s3:::{bucket}";
    }

    // Each workflow only when every broker its plan names is configured, so a plan never names a missing broker.
    private static void AddWorkflows(IServiceCollection services, WorkflowOptions options, WorkflowBrokerSettings brokers)
    {
        // The deploy's logs grant comes from the AWS adapter's STS broker, which every host registers.
        if (brokers.Postgres is not null)
        {
            services.AddSingleton<IWorkflow>(provider => new CicdDeployWorkflow(
                provider.GetRequiredService<PostgresRoleBroker>(), provider.GetRequiredService<AwsOptions>(), options));
        }

        if (brokers.BlobSas is not null && brokers.OAuth is not null)
        {
            services.AddSingleton<IWorkflow>(provider => new ClaimsWorkflow(options, provider.GetRequiredService<BlobContainerSasBroker>()));
            services.AddSingleton<IWorkflowStep>(new ReadClaimDocumentsStep(options));
            services.AddSingleton<IWorkflowStep>(provider => new FraudCheckStep(provider.GetRequiredService<PartnerApiClient>()));
        }

        // Healthcare also needs the AWS adapter's STS broker, which every host registers.
        if (brokers.BlobSas is not null && brokers.OAuth is not null)
        {
            services.AddSingleton<IWorkflow>(provider => new HealthcareWorkflow(
                options, provider.GetRequiredService<BlobContainerSasBroker>(), provider.GetRequiredService<AwsOptions>()));
            services.AddSingleton<IWorkflowStep>(new PatientRecordsStep(options));
            services.AddSingleton<IWorkflowStep>(provider => new BillingStep(
                options, provider.GetRequiredService<S3ClientFactory>(), provider.GetRequiredService<AwsOptions>()));
            services.AddSingleton<IWorkflowStep>(provider => new InsuranceStep(provider.GetRequiredService<PartnerApiClient>()));
        }

        if (brokers.Postgres is not null)
        {
            services.AddSingleton<IWorkflow>(provider => new Rpa.RpaWorkflow(options, DatabaseResource(provider, options)));
            services.AddSingleton<IWorkflowStep, Rpa.CheckBatchStep>();
        }

        if (brokers.Postgres is not null && brokers.OAuth is not null)
        {
            services.AddSingleton<IWorkflow>(provider => new Loan.LoanWorkflow(options, DatabaseResource(provider, options)));
            services.AddSingleton<IWorkflowStep, Loan.ReadApplicantStep>();
            services.AddSingleton<IWorkflowStep>(provider => new Loan.PartnerChecksStep(provider.GetRequiredService<PartnerApiClient>()));
        }
    }

    private static string DatabaseResource(IServiceProvider provider, WorkflowOptions options) =>
        provider.GetRequiredService<PostgresRoleBroker>().DatabaseResource(options.Database);

    private static ILogger<T> LoggerFor<T>(IServiceProvider provider) =>
        provider.GetService<ILogger<T>>() ?? NullLogger<T>.Instance;
}
