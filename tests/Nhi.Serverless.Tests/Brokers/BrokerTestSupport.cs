using System.Net.Sockets;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Brokers;

/// <summary>Helpers shared by the broker tests: reachability checks, grant requests, loggers and secret scans.</summary>
internal static class BrokerTestSupport
{
    /// <summary>Fails at once with the command that starts the stack, instead of with a connection error deep in a test.</summary>
    public static void RequireReachable(string service, string host, int port)
    {
        using var client = new TcpClient();
        try
        {
            if (client.ConnectAsync(host, port).Wait(TimeSpan.FromSeconds(3)))
            {
                return;
            }
        }
        catch (AggregateException)
        {
            // Connection refused; reported below.
        }

        throw new InvalidOperationException($"{service} is not reachable at {host}:{port}. Start the local stack with `infra/local/stack.sh up`.");
    }

    /// <summary>Returns a grant request with a fresh id, requested now.</summary>
    public static GrantRequest NewGrant(Scope scope, TimeSpan? lifetime = null) => new(
        Guid.NewGuid().ToString(),
        "run-test-" + Guid.NewGuid().ToString("N")[..8],
        scope,
        lifetime ?? TimeSpan.FromMinutes(5),
        DateTimeOffset.UtcNow);

    /// <summary>Returns a logger that writes every line, at every level, to <paramref name="logs"/>.</summary>
    public static ILogger<T> LoggerFor<T>(CapturingLoggerProvider logs) =>
        LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Trace)).CreateLogger<T>();

    /// <summary>Returns the JSON of a record as the orchestration would store it.</summary>
    public static string Json(object value) => JsonSerializer.Serialize(value, value.GetType());

    /// <summary>Returns the log lines that contain <paramref name="secret"/>; empty when none does.</summary>
    public static string[] LinesContaining(CapturingLoggerProvider logs, string secret) =>
        logs.Lines.Where(line => line.Contains(secret, StringComparison.Ordinal)).ToArray();

    /// <summary>Reads a port setting of the local stack.</summary>
    public static int Port(string key) => int.Parse(LocalStack.Get(key), System.Globalization.CultureInfo.InvariantCulture);
}
