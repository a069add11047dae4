using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Checks what <see cref="AuditOutboxServiceCollectionExtensions"/> registers from configuration, without starting a host.</summary>
public sealed class AuditOutboxRegistrationTests
{
    private static readonly Dictionary<string, string?> Required = new()
    {
        ["Audit:Table:ConnectionString"] = "UseDevelopmentStorage=true",
    };

    [Fact]
    public void BackgroundServicesRegistered()
    {
        ServiceCollection services = Register(Required);

        Assert.Contains(services, item => item.ServiceType == typeof(IHostedService) && item.ImplementationType == typeof(AuditCheckpointService));
        Assert.Contains(services, item => item.ServiceType == typeof(IHostedService) && item.ImplementationType == typeof(AuditForwarderService));
    }

    [Fact]
    public void DisabledCheckpointsNotRun()
    {
        ServiceCollection services = Register(new(Required) { ["Audit:Checkpoints:Enabled"] = "false" });

        Assert.DoesNotContain(services, item => item.ImplementationType == typeof(AuditCheckpointService));
        Assert.Contains(services, item => item.ServiceType == typeof(CheckpointWriter));
    }

    [Fact]
    public void CheckpointLoopRemovable()
    {
        ServiceCollection services = Register(Required);

        services.RemoveAuditCheckpointService();

        Assert.DoesNotContain(services, item => item.ImplementationType == typeof(AuditCheckpointService));
        Assert.Contains(services, item => item.ServiceType == typeof(CheckpointWriter));
    }

    [Fact]
    public void ForwarderLoopRemovable()
    {
        ServiceCollection services = Register(Required);

        services.RemoveAuditForwarderService();

        Assert.DoesNotContain(services, item => item.ImplementationType == typeof(AuditForwarderService));
    }

    [Fact]
    public void ConfiguredSinksRegistered()
    {
        ServiceCollection services = Register(new(Required)
        {
            ["Audit:Syslog:Host"] = "127.0.0.1",
            ["Audit:Syslog:PinnedCertificateSha256"] = new string('a', 64),
            ["Audit:Sentinel:Endpoint"] = "https://dce.example.ingest.monitor.azure.com",
            ["Audit:Sentinel:DcrImmutableId"] = "dcr-0123456789abcdef0123456789abcdef",
            ["Audit:Sentinel:StreamName"] = "Custom-NhiAudit_CL",
            ["Audit:Webhook:Url"] = "https://siem.example.com/hook",
            ["Audit:Webhook:Secret"] = new string('s', 40),
        });

        Assert.Equal(3, services.Count(item => item.ServiceType == typeof(IAuditSink)));
    }

    [Fact]
    public void NoSinkWithoutTarget()
    {
        ServiceCollection services = Register(Required);

        Assert.DoesNotContain(services, item => item.ServiceType == typeof(IAuditSink));
    }

    [Fact]
    public void InvalidWindowRejected()
    {
        var error = Assert.Throws<AuditConfigurationException>(() => Register(new(Required) { ["Audit:Checkpoints:Window"] = "00:00:00.500" }));

        Assert.Contains("Audit:Checkpoints:Window", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidWebhookSecretNotEchoed()
    {
        var error = Assert.Throws<AuditConfigurationException>(() => Register(new(Required)
        {
            ["Audit:Webhook:Url"] = "https://siem.example.com/hook",
            ["Audit:Webhook:Secret"] = "short-secret-value",
        }));

        Assert.Contains("Audit:Webhook:Secret", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("short-secret-value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingConnectionStringRejected()
    {
        var error = Assert.Throws<AuditConfigurationException>(() => Register([]));

        Assert.Contains("Audit:Table:ConnectionString", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ForwarderBackoffBelowInitialRejected()
    {
        var error = Assert.Throws<AuditConfigurationException>(() => Register(new(Required)
        {
            ["Audit:Forwarder:InitialBackoff"] = "00:00:10",
            ["Audit:Forwarder:MaxBackoff"] = "00:00:01",
        }));

        Assert.Contains("Audit:Forwarder:MaxBackoff", error.Message, StringComparison.Ordinal);
    }

    private static ServiceCollection Register(Dictionary<string, string?> settings)
    {
        IConfiguration configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddAuditCheckpointsAndForwarding(configuration);
        return services;
    }
}
