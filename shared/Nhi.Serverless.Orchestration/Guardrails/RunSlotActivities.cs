using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Guardrails;

namespace Nhi.Serverless.Orchestration.Guardrails;

/// <summary>Input of the run slot activities: the run and the limits it must hold a slot under.</summary>
public sealed record RunSlotsInput(string RunId, IReadOnlyList<ConcurrencyLimit> Limits);

/// <summary>Takes a slot under every concurrency limit of the run, or none; returns whether it got them.</summary>
public sealed class AcquireRunSlotsActivity(IRunSlots slots, GuardrailOptions options, TimeProvider time, ILogger<AcquireRunSlotsActivity> logger)
    : TaskActivity<RunSlotsInput, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, RunSlotsInput input)
    {
        DateTimeOffset leaseUntil = time.GetUtcNow() + TimeSpan.FromSeconds(options.Concurrency.SlotLeaseSeconds);
        bool acquired = await slots.TryAcquireAsync(input.RunId, input.Limits, leaseUntil, CancellationToken.None);
        if (acquired)
        {
            logger.LogInformation(
                "Run {RunId} acquired its slots under {Limits}, leased until {LeaseUntil:O}",
                input.RunId, string.Join(", ", input.Limits.Select(limit => limit.Key)), leaseUntil);
        }

        return acquired;
    }
}

/// <summary>Gives back the run's slots; safe to repeat.</summary>
public sealed class ReleaseRunSlotsActivity(IRunSlots slots, ILogger<ReleaseRunSlotsActivity> logger)
    : TaskActivity<RunSlotsInput, bool>
{
    public override async Task<bool> RunAsync(TaskActivityContext context, RunSlotsInput input)
    {
        await slots.ReleaseAsync(input.RunId, input.Limits, CancellationToken.None);
        logger.LogInformation("Run {RunId} released its slots", input.RunId);
        return true;
    }
}
