using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting.Sweeper;

namespace Nhi.Serverless.Functions;

/// <summary>The grant sweeper on a timer: revokes grants that runs left open after they ended or overran their step.</summary>
public sealed class SweeperFunctions(IServiceProvider services, ILogger<SweeperFunctions> logger)
{
    /// <summary>Sweeps once a minute, the default of Sweeper:IntervalSeconds that the local host's loop uses.</summary>
    [Function("SweepGrants")]
    public async Task SweepAsync(
        [TimerTrigger("0 * * * * *")] TimerInfo timer,
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
