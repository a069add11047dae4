using DurableTask.Core;
using Microsoft.DurableTask.Testing.Sidecar;
using Microsoft.Extensions.Logging;

namespace Nhi.Serverless.Hosting.Durable;

/// <summary>
/// The sidecar's in-memory backend with configurable work-item concurrency. The packaged service allows
/// as many concurrent orchestration and activity work items as the machine has cores, and its
/// dispatcher sleeps 500 ms whenever that limit is reached, which serialized runs whose activities wait
/// on the network.
/// </summary>
/// <remarks>Re-implementing <see cref="IOrchestrationService"/> maps only these two members; every other
/// member stays the base class's implementation.</remarks>
public sealed class TunedInMemoryOrchestrationService(ILoggerFactory loggerFactory, int maxConcurrentWorkItems)
    : InMemoryOrchestrationService(loggerFactory), IOrchestrationService
{
    int IOrchestrationService.MaxConcurrentTaskOrchestrationWorkItems => maxConcurrentWorkItems;

    int IOrchestrationService.MaxConcurrentTaskActivityWorkItems => maxConcurrentWorkItems;
}
