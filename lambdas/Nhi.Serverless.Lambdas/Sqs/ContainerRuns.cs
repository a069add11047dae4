using DurableTask.Core.Exceptions;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Aws.DynamoDb.Runs;
using Nhi.Serverless.Lambdas.Container;
using Nhi.Serverless.Orchestration;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Lambdas.Sqs;

/// <summary>How one delivery of a finding ended.</summary>
internal enum RunDeliveryState
{
    /// <summary>This delivery started the run, and the run finished.</summary>
    Started,

    /// <summary>A run of the same finding version was already running in this container; this delivery waited for it.</summary>
    Joined,

    /// <summary>The run had finished before; nothing was started.</summary>
    Duplicate,

    /// <summary>Another container holds the run's lease; the record is retried later.</summary>
    InProgressElsewhere,

    /// <summary>The run did not finish within the wait; it goes on in this container and the record is retried later.</summary>
    TimedOut,

    /// <summary>The orchestration ended without completing; the lease was released and the record is retried.</summary>
    Failed,
}

/// <summary>The result of <see cref="ContainerRuns.RunAsync"/>.</summary>
/// <param name="Outcome">The run's outcome when it finished (one of <see cref="RunOutcomes"/>).</param>
internal sealed record RunDelivery(string RunId, RunDeliveryState State, string? Outcome)
{
    /// <summary>True when the record needs no further delivery for this finding.</summary>
    public bool Settled => State is RunDeliveryState.Started or RunDeliveryState.Joined or RunDeliveryState.Duplicate;
}

/// <summary>
/// Runs a finding version only while holding its lease in DynamoDB, so at most one container runs it at a time
/// and none runs it again once it finished. The run is the shared orchestrator on this container's sidecar.
/// Deliveries of a run already in progress in this container wait for the same orchestration.
/// </summary>
internal sealed class ContainerRuns(
    DurableTaskClient client,
    DynamoDbRunRegistry registry,
    ContainerIdentity identity,
    LambdaOptions options,
    TimeProvider time,
    ILogger<ContainerRuns> logger)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    private readonly object _gate = new();
    private readonly Dictionary<string, Task<RunResult>> _inFlight = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _failedStarts = new(StringComparer.Ordinal);

    /// <summary>Runs the request's finding version unless it ran before or runs elsewhere, and waits until <paramref name="deadline"/> at the latest.</summary>
    public async Task<RunDelivery> RunAsync(RemediationRequest request, DateTimeOffset deadline, CancellationToken cancellationToken)
    {
        string runId = request.RunId;
        RunLease lease = await registry.TryAcquireLeaseAsync(request, identity.Owner, options.LeaseDuration, cancellationToken);
        switch (lease.State)
        {
            case RunLeaseState.Completed:
                logger.LogInformation(
                    "Duplicate delivery of finding {FindingId}; run {RunId} already finished with outcome {Outcome}",
                    request.Finding.Id, runId, lease.Outcome);
                return new RunDelivery(runId, RunDeliveryState.Duplicate, lease.Outcome);
            case RunLeaseState.Held:
                logger.LogInformation(
                    "Run {RunId} for finding {FindingId} is in progress in container {LeaseOwner} until {LeaseExpiresAt:O}; the record will be retried",
                    runId, request.Finding.Id, lease.Owner, lease.ExpiresAt);
                return new RunDelivery(runId, RunDeliveryState.InProgressElsewhere, null);
        }

        (Task<RunResult> run, bool joined) = StartOrJoin(request);

        TimeSpan wait = Min(options.RunTimeout, deadline - time.GetUtcNow());
        try
        {
            RunResult result = wait > TimeSpan.Zero
                ? await run.WaitAsync(wait, time, cancellationToken)
                : throw new TimeoutException();
            logger.LogInformation(
                "Run {RunId} for finding {FindingId} on {Resource} finished with outcome {Outcome}; delivery joined a run already in progress: {Joined}",
                runId, request.Finding.Id, request.Finding.Resource.Id, result.Outcome, joined);
            return new RunDelivery(runId, joined ? RunDeliveryState.Joined : RunDeliveryState.Started, result.Outcome);
        }
        catch (TimeoutException)
        {
            logger.LogWarning(
                "Run {RunId} for finding {FindingId} did not finish within {Wait}; it goes on in this container, which keeps the lease until {LeaseExpiresAt:O}, and the record will be retried",
                runId, request.Finding.Id, wait, lease.ExpiresAt);
            return new RunDelivery(runId, RunDeliveryState.TimedOut, null);
        }
        catch (RunNotCompletedException failure)
        {
            bool released = await registry.ReleaseLeaseAsync(runId, identity.Owner, CancellationToken.None);
            logger.LogError(
                "Run {RunId} for finding {FindingId} ended {RuntimeStatus}: {Error}; lease released: {Released}; the record will be retried",
                runId, request.Finding.Id, failure.RuntimeStatus, failure.Message, released);
            return new RunDelivery(runId, RunDeliveryState.Failed, null);
        }
    }

    private (Task<RunResult> Run, bool Joined) StartOrJoin(RemediationRequest request)
    {
        lock (_gate)
        {
            if (_inFlight.TryGetValue(request.RunId, out Task<RunResult>? running))
            {
                return (running, true);
            }

            // A restart after a failed orchestration in this container gets a new instance id, because the
            // in-memory backend keeps the failed instance under its id. The orchestrator reads the run id from
            // its input, not from the instance id.
            int failedStarts = _failedStarts.GetValueOrDefault(request.RunId);
            string instanceId = failedStarts == 0 ? request.RunId : $"{request.RunId}-{failedStarts + 1}";
            Task<RunResult> started = Task.Run(() => ExecuteAsync(request, instanceId));
            _inFlight[request.RunId] = started;
            return (started, false);
        }
    }

    private async Task<RunResult> ExecuteAsync(RemediationRequest request, string instanceId)
    {
        try
        {
            try
            {
                // NOTE: a run whose guardrails require approval waits for an external event that only this
                // container's in-memory store could receive. Nothing raises it there, so on Lambda such a run is never approved.
                await client.ScheduleNewOrchestrationInstanceAsync(
                    RemediationOrchestrators.Current, request, new StartOrchestrationOptions(instanceId), CancellationToken.None);
                logger.LogInformation(
                    "Started run {RunId} as instance {InstanceId} for finding {FindingId} from {Source} on {Resource}",
                    request.RunId, instanceId, request.Finding.Id, request.Source, request.Finding.Resource.Id);
            }
            catch (OrchestrationAlreadyExistsException)
            {
                // Started by an earlier delivery in this container; its result is read below.
            }

            OrchestrationMetadata finished = await WaitForCompletionAsync(instanceId);
            if (finished.RuntimeStatus != OrchestrationRuntimeStatus.Completed)
            {
                lock (_gate)
                {
                    _failedStarts[request.RunId] = _failedStarts.GetValueOrDefault(request.RunId) + 1;
                }

                throw new RunNotCompletedException(request.RunId, finished.RuntimeStatus, finished.FailureDetails?.ErrorMessage);
            }

            return finished.ReadOutputAs<RunResult>()
                ?? throw new RunNotCompletedException(request.RunId, finished.RuntimeStatus, "the orchestration completed without output");
        }
        finally
        {
            lock (_gate)
            {
                _inFlight.Remove(request.RunId);
            }
        }
    }

    // Polls, because cheap local status reads return sooner than the sidecar's completion wait.
    private async Task<OrchestrationMetadata> WaitForCompletionAsync(string instanceId)
    {
        while (true)
        {
            OrchestrationMetadata? status = await client.GetInstanceAsync(instanceId, getInputsAndOutputs: false, CancellationToken.None);
            if (status is { IsCompleted: true })
            {
                return (await client.GetInstanceAsync(instanceId, getInputsAndOutputs: true, CancellationToken.None))!;
            }

            await Task.Delay(PollInterval, time, CancellationToken.None);
        }
    }

    private static TimeSpan Min(TimeSpan first, TimeSpan second) => first < second ? first : second;
}

/// <summary>Thrown when a run's orchestration ended failed or terminated. The message contains no secret.</summary>
internal sealed class RunNotCompletedException(string runId, OrchestrationRuntimeStatus status, string? error)
    : Exception($"Run {runId} ended {status}: {error ?? "no error details"}")
{
    public OrchestrationRuntimeStatus RuntimeStatus { get; } = status;
}
