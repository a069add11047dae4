using Microsoft.DurableTask.Client;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Hosting.Sweeper;

/// <summary>Reads whether a run is over from the Durable Task orchestration store.</summary>
public sealed class DurableRunStatusReader(DurableTaskClient client) : IRunStatusReader
{
    public async Task<bool?> HasEndedAsync(string runId, CancellationToken cancellationToken)
    {
        OrchestrationMetadata? run = await client.GetInstanceAsync(runId, getInputsAndOutputs: false, cancellationToken);

        // No instance: the run's store lost it (an in-memory backend across a restart), so nothing will revoke its grants.
        return run is null || run.IsCompleted;
    }
}
