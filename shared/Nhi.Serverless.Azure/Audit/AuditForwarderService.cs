using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>Runs the <see cref="AuditForwarder"/> while the host runs.</summary>
public sealed partial class AuditForwarderService(AuditForwarder forwarder, ILogger<AuditForwarderService>? logger = null) : BackgroundService
{
    private readonly ILogger _logger = logger ?? NullLogger<AuditForwarderService>.Instance;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (forwarder.Sinks.Count == 0)
        {
            LogNoSinks(_logger);
            return;
        }

        LogStarted(_logger, string.Join(", ", forwarder.Sinks.Select(sink => sink.Name)));
        await forwarder.RunAsync(stoppingToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit outbox forwarder started for sinks {Sinks}")]
    private static partial void LogStarted(ILogger logger, string sinks);

    [LoggerMessage(Level = LogLevel.Information, Message = "No audit SIEM sink is configured, so the outbox forwarder is idle")]
    private static partial void LogNoSinks(ILogger logger);
}
