using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Hosting.Sweeper;

/// <summary>Runs the grant sweeper in the local host every <see cref="GrantLedgerOptions.SweepInterval"/>, starting right after the host starts.</summary>
/// <remarks>The Functions app sweeps from a timer trigger instead, and the Lambda path from a scheduled handler.</remarks>
public sealed class GrantSweeperLoop(IServiceProvider services, GrantLedgerOptions options, TimeProvider time, ILogger<GrantSweeperLoop> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        GrantSweeper sweeper = GrantSweepers.Create(services, services.GetService<Microsoft.DurableTask.Client.DurableTaskClient>());
        logger.LogInformation("Grant sweeper started; sweeping every {IntervalSeconds} s", options.SweepInterval.TotalSeconds);

        using var timer = new PeriodicTimer(options.SweepInterval, time);
        do
        {
            try
            {
                await sweeper.SweepAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception exception)
            {
                // A failed sweep (the ledger's store unreachable) must not stop the host; the next tick tries again.
                logger.LogError(exception, "Grant sweep failed; retrying in {IntervalSeconds} s", options.SweepInterval.TotalSeconds);
            }
        }
        while (await WaitForNextTickAsync(timer, stoppingToken));

        logger.LogInformation("Grant sweeper stopped");
    }

    private static async Task<bool> WaitForNextTickAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}

/// <summary>Creates grant sweepers from the registered services.</summary>
public static class GrantSweepers
{
    /// <summary>Creates a sweeper that also queries <paramref name="client"/>'s orchestration store for whether runs have ended; without one it relies on the ledger alone.</summary>
    public static GrantSweeper Create(IServiceProvider services, Microsoft.DurableTask.Client.DurableTaskClient? client) =>
        new(
            services.GetRequiredService<IGrantLedger>(),
            services.GetRequiredService<Nhi.Serverless.Runs.IGrantRevoker>(),
            services.GetRequiredService<IGrantAuditLog>(),
            services.GetRequiredService<TimeProvider>(),
            services.GetRequiredService<ILogger<GrantSweeper>>(),
            client is null ? null : new DurableRunStatusReader(client));
}
