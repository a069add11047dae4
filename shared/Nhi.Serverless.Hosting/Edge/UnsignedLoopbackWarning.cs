using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Nhi.Serverless.Hosting.Edge;

/// <summary>
/// Warns once at start that sources without secrets accept unsigned requests from loopback, so an operator who
/// deploys the local host's settings learns that its edge is open to every process on the machine.
/// </summary>
internal sealed class UnsignedLoopbackWarning(EdgeOptions options, ILogger<UnsignedLoopbackWarning> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.AllowUnsignedLoopback)
        {
            string[] signed = options.Sources.Keys.Order(StringComparer.OrdinalIgnoreCase).ToArray();
            logger.LogWarning(
                "Edge:AllowUnsignedLoopback is on: every source without secrets accepts unsigned requests from loopback addresses. "
                + "Sources with secrets: {SignedSources}. Set Edge:Sources:{{source}}:Secrets for each source, or Edge:AllowUnsignedLoopback=false, outside a developer machine",
                signed.Length == 0 ? "none" : string.Join(", ", signed));
        }

        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
