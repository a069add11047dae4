using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Audit.Siem;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Azure.Runs;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Http;
using Nhi.Serverless.Hosting.Identity;
using Nhi.Serverless.Hosting.Sweeper;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Orchestration;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Hosting;

/// <summary>The composition root every host calls: the same services from the same configuration keys.</summary>
public static class NhiServices
{
    /// <summary>
    /// Registers the orchestration, the alert parsers and HTTP edge, GitHub OIDC authentication when it is
    /// configured, the AWS adapter and the audit trail.
    /// Settings are validated here, so a host with a bad setting fails at start with the setting's name.
    /// </summary>
    public static IServiceCollection AddNhiServerless(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddNhiOrchestration(NhiConfiguration.ReadPlanner(configuration));

        services.AddSingleton<IAlertParser, SecurityHubAlertParser>();
        services.AddSingleton<IAlertParser, OcsfAlertParser>();
        services.AddSingleton(NhiConfiguration.ReadIntake(configuration));
        services.AddSingleton<AlertEndpoint>();
        services.AddNhiEdge(configuration);
        services.AddGitHubOidc(configuration);

        var aws = new AwsOptions();
        configuration.GetSection(AwsOptions.SectionName).Bind(aws);
        services.AddAwsRemediation(aws);
        services.AddSingleton(new BrokerRoute("aws", "aws-sts"));

        services.AddAuditTrail(configuration, aws);
        services.AddAuditCheckpointsAndForwarding(configuration);
        services.AddGrantSafety(configuration);
        services.AddWorkflowBrokers(configuration);
        return services;
    }

    /// <summary>
    /// Registers the business workflows with the brokers whose settings are present, and the revoker that revokes any
    /// broker's grant by name for the cleanup path and the sweeper.
    /// </summary>
    private static void AddWorkflowBrokers(this IServiceCollection services, IConfiguration configuration)
    {
        var workflows = new WorkflowOptions();
        configuration.GetSection(WorkflowOptions.SectionName).Bind(workflows);
        services.AddBusinessWorkflows(workflows, new WorkflowBrokerSettings(
            ReadOptional<PostgresRoleBrokerOptions>(configuration, PostgresRoleBrokerOptions.SectionName, "Host"),
            ReadOptional<BlobSasBrokerOptions>(configuration, BlobSasBrokerOptions.SectionName, "ConnectionString"),
            ReadOptional<OAuthClientCredentialsOptions>(configuration, OAuthClientCredentialsOptions.SectionName, "Issuer")));

        services.AddSingleton(provider => new GrantBrokers(provider.GetServices<IGrantBroker>()));
        services.AddSingleton<LeaseVault>();
        services.Replace(ServiceDescriptor.Singleton<IGrantRevoker>(provider => new BrokerGrantRevoker(
            provider.GetRequiredService<GrantBrokers>(),
            provider.GetRequiredService<LeaseVault>(),
            provider.GetServices<NamedGrantRevoker>())));
    }

    // A broker is configured when its section names its endpoint; its other settings are validated by its constructor.
    private static T? ReadOptional<T>(IConfiguration configuration, string section, string requiredKey)
        where T : class, new()
    {
        IConfigurationSection settings = configuration.GetSection(section);
        if (string.IsNullOrWhiteSpace(settings[requiredKey]))
        {
            return null;
        }

        var options = new T();
        settings.Bind(options);
        return options;
    }

    private static void AddAuditTrail(this IServiceCollection services, IConfiguration configuration, AwsOptions aws)
    {
        var signing = new AuditSigningOptions();
        configuration.GetSection(AuditSigningOptions.SectionName).Bind(signing);
        if (string.IsNullOrWhiteSpace(signing.KeyFilePath))
        {
            signing.KeyFilePath = Path.Combine(
                Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
                "nhi-serverless", "audit-signing-key.pem");
        }

        signing.ThrowIfInvalid();
        services.AddSingleton(signing);
        services.AddSingleton<IAuditSigner>(_ => AuditSigners.Create(signing, aws));
        services.AddHostedService<AuditSignerStartupCheck>();
        services.AddSingleton<ICredentialFingerprinter>(_ => CredentialFingerprinter.LoadOrCreate(signing));
        services.AddSingleton(provider => RetiredAuditKeys.Publish(provider.GetRequiredService<IAuditSigner>(), signing));

        IConfigurationSection tableSection = configuration.GetSection(TableAuditStoreOptions.SectionName);
        var table = new TableAuditStoreOptions();
        tableSection.Bind(table);
        table.ThrowIfInvalid();
        string connectionString = tableSection["ConnectionString"] is { Length: > 0 } configured
            ? configured
            : throw new InvalidOperationException(
                $"Missing setting {TableAuditStoreOptions.SectionName}:ConnectionString: expected an Azure Storage connection string for the audit tables.");
        services.AddSingleton<IRunRegistry>(sp => TableRunRegistry.FromConnectionString(
            connectionString, configuration["Runs:TableName"] is { Length: > 0 } runsTable ? runsTable : TableRunRegistry.DefaultTableName,
            sp.GetService<ILogger<TableRunRegistry>>(), configuration["Runs:HostId"]));
        services.AddSingleton(provider => TableAuditStore.FromConnectionString(
            connectionString, table, provider.GetService<ILogger<TableAuditStore>>()));

        IConfigurationSection hecSection = configuration.GetSection(SplunkHecOptions.SectionName);
        if (!string.IsNullOrWhiteSpace(hecSection["Url"]))
        {
            var hec = new SplunkHecOptions();
            hecSection.Bind(hec);
            hec.ThrowIfInvalid();
            services.AddSingleton<IAuditSink>(provider => new SplunkHecSink(
                new HttpClient { Timeout = TimeSpan.FromSeconds(15) }, hec, provider.GetService<ILogger<SplunkHecSink>>()));
        }

        services.AddSingleton<IAuditTrail>(provider => new TableAuditTrail(
            provider.GetRequiredService<TableAuditStore>(),
            provider.GetRequiredService<IAuditSigner>(),
            provider.GetRequiredService<ICredentialFingerprinter>(),
            provider.GetServices<IAuditSink>(),
            provider.GetService<ILogger<TableAuditTrail>>()));
    }
}
