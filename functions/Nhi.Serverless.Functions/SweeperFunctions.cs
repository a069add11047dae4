using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting.Sweeper;

namespace Nhi.Serverless.Functions;

/// <summary>The grant sweeper on a timer: revokes grants that runs left open after they ended or overran their step.</summary>
public sealed class SweeperFunctions(IServiceProvider services, ILogger<SweeperFunctions> logger)
{
    /// <summary>
    /// Sweeps on the NCRONTAB schedule in the app setting NHI_SWEEP_SCHEDULE, which the Functions host resolves when it
    /// loads the function. local.settings.json sets it to every minute ("0 * * * * *"), the default of
    /// Sweeper:IntervalSeconds that the local host's loop uses.
    /// </summary>
    /// <remarks>NOTE: nothing but local.settings.json supplies a value, so every deployment must set
    /// NHI_SWEEP_SCHEDULE in its app settings, or the host cannot resolve the schedule.</remarks>
    [Function("SweepGrants")]
    public async Task SweepAsync(
        [TimerTrigger("%NHI_SWEEP_SCHEDULE%")] TimerInfo timer,
        [DurableClient] DurableTaskClient client,
        FunctionContext context)
    {
        _ = timer;
        SweepReport report = await GrantSweepers.Create(services, client).SweepAsync(context.CancellationToken);
        if (report.Failed > 0)
        {
            logger.LogError("Grant sweep left {FailedGrants} of {SweptGrants} due grants not revoked and verified", report.Failed, report.Swept.Count);
        }
    }
}
