using Azure.Data.Tables;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Audit.Siem;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>Registers the checkpoint writer, the SIEM sinks and the outbox forwarder from configuration.</summary>
public static class AuditOutboxServiceCollectionExtensions
{
    /// <summary>
    /// Registers, on top of the audit trail: the checkpoint table and <see cref="CheckpointWriter"/>
    /// (Audit:Checkpoints), the syslog, Sentinel and webhook sinks when their sections name a target
    /// (Audit:Syslog, Audit:Sentinel, Audit:Webhook), the sink cursors and <see cref="AuditForwarder"/>
    /// (Audit:Forwarder), and a background service for each enabled part.
    /// </summary>
    /// <remarks>
    /// Call it after the audit trail and the Splunk HEC sink are registered. With the forwarder enabled,
    /// the <see cref="IAuditTrail"/> registration is replaced by one that stores records without sending
    /// them, because the forwarder delivers every record from the table; it also rewinds the sink
    /// cursors for records written late and reports records written into sealed windows.
    /// The audit tables' connection string is Audit:Table:ConnectionString, as for the trail.
    /// </remarks>
    /// <exception cref="AuditConfigurationException">A setting is invalid.</exception>
    public static IServiceCollection AddAuditCheckpointsAndForwarding(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        string connectionString = configuration[$"{TableAuditStoreOptions.SectionName}:ConnectionString"] is { Length: > 0 } configured
            ? configured
            : throw new AuditConfigurationException([$"{TableAuditStoreOptions.SectionName}:ConnectionString is missing; expected an Azure Storage connection string for the audit tables."]);
        var tables = new TableServiceClient(connectionString);

        AuditCheckpointOptions checkpoints = Bind<AuditCheckpointOptions>(configuration, AuditCheckpointOptions.SectionName);
        checkpoints.ThrowIfInvalid();
        services.AddSingleton(checkpoints);
        services.AddSingleton(provider => new AuditCheckpointTable(tables, checkpoints.TableName, provider.GetService<ILogger<AuditCheckpointTable>>()));
        services.AddSingleton(provider => new CheckpointWriter(
            provider.GetRequiredService<TableAuditStore>(),
            provider.GetRequiredService<AuditCheckpointTable>(),
            provider.GetRequiredService<IAuditSigner>(),
            provider.GetRequiredService<Jwks>(),
            checkpoints,
            provider.GetService<ILogger<CheckpointWriter>>()));
        if (checkpoints.Enabled)
        {
            services.AddHostedService<AuditCheckpointService>();
        }

        AddSinks(services, configuration);

        AuditForwarderOptions forwarder = Bind<AuditForwarderOptions>(configuration, AuditForwarderOptions.SectionName);
        forwarder.ThrowIfInvalid();
        services.AddSingleton(forwarder);
        services.AddSingleton(provider => new AuditSinkCursorTable(tables, forwarder.CursorTableName, provider.GetService<ILogger<AuditSinkCursorTable>>()));
        services.AddSingleton(provider => new AuditForwarder(
            provider.GetRequiredService<TableAuditStore>(),
            provider.GetRequiredService<AuditSinkCursorTable>(),
            provider.GetServices<IAuditSink>(),
            forwarder,
            provider.GetService<ILogger<AuditForwarder>>()));
        if (forwarder.Enabled)
        {
            services.AddHostedService<AuditForwarderService>();
        }

        services.Replace(ServiceDescriptor.Singleton<IAuditTrail>(provider => new TableAuditTrail(
            provider.GetRequiredService<TableAuditStore>(),
            provider.GetRequiredService<IAuditSigner>(),
            provider.GetRequiredService<ICredentialFingerprinter>(),
            sinks: forwarder.Enabled ? null : provider.GetServices<IAuditSink>(),
            provider.GetService<ILogger<TableAuditTrail>>(),
            cursors: forwarder.Enabled ? provider.GetRequiredService<AuditSinkCursorTable>() : null,
            settleDelay: forwarder.SettleDelay,
            checkpoints: provider.GetRequiredService<AuditCheckpointTable>())));
        return services;
    }

    /// <summary>
    /// Removes the background checkpoint loop, for a host that calls
    /// <see cref="CheckpointWriter.CloseEndedWindowsAsync(CancellationToken)"/> from a timer instead.
    /// The writer itself stays registered.
    /// </summary>
    public static IServiceCollection RemoveAuditCheckpointService(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        foreach (ServiceDescriptor descriptor in services.Where(item => item.ServiceType == typeof(IHostedService) && item.ImplementationType == typeof(AuditCheckpointService)).ToList())
        {
            services.Remove(descriptor);
        }

        return services;
    }

    /// <summary>Removes the background forwarder loop, for a host that calls <see cref="AuditForwarder.ForwardPendingAsync"/> itself. The forwarder stays registered.</summary>
    public static IServiceCollection RemoveAuditForwarderService(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        foreach (ServiceDescriptor descriptor in services.Where(item => item.ServiceType == typeof(IHostedService) && item.ImplementationType == typeof(AuditForwarderService)).ToList())
        {
            services.Remove(descriptor);
        }

        return services;
    }

    private static void AddSinks(IServiceCollection services, IConfiguration configuration)
    {
        SyslogTlsOptions syslog = Bind<SyslogTlsOptions>(configuration, SyslogTlsOptions.SectionName);
        if (syslog.IsConfigured)
        {
            syslog.ThrowIfInvalid();
            services.AddSingleton<IAuditSink>(provider => new SyslogTlsSink(syslog, provider.GetService<ILogger<SyslogTlsSink>>()));
        }

        SentinelOptions sentinel = Bind<SentinelOptions>(configuration, SentinelOptions.SectionName);
        if (sentinel.IsConfigured)
        {
            sentinel.ThrowIfInvalid();
            services.AddSingleton<IAuditSink>(provider => new SentinelLogsIngestionSink(
                new HttpClient { Timeout = TimeSpan.FromSeconds(30) },
                sentinel,
                sentinel.CreateCredential(),
                provider.GetService<ILogger<SentinelLogsIngestionSink>>()));
        }

        WebhookOptions webhook = Bind<WebhookOptions>(configuration, WebhookOptions.SectionName);
        if (webhook.IsConfigured)
        {
            webhook.ThrowIfInvalid();
            services.AddSingleton<IAuditSink>(provider => new WebhookSink(
                new HttpClient { Timeout = TimeSpan.FromSeconds(30) }, webhook, provider.GetService<ILogger<WebhookSink>>()));
        }
    }

    private static T Bind<T>(IConfiguration configuration, string section)
        where T : new()
    {
        var options = new T();
        configuration.GetSection(section).Bind(options);
        return options;
    }
}
