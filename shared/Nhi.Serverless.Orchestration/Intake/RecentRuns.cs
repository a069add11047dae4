using System.Collections.Concurrent;

namespace Nhi.Serverless.Orchestration.Intake;

/// <summary>
/// The ids of the runs this process started or found started, the newest <see cref="Capacity"/> of them, so a
/// redelivery that follows soon after is known as a duplicate without asking storage. The run registry and the
/// orchestration store still decide for every id that is not here, such as after a restart or in another host.
/// </summary>
internal sealed class RecentRuns(int capacity)
{
    private readonly ConcurrentDictionary<string, byte> _ids = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<string> _order = new();

    public int Capacity => capacity;

    public bool Contains(string runId) => _ids.ContainsKey(runId);

    /// <summary>Remembers a run id, forgetting the oldest ones beyond the capacity.</summary>
    public void Add(string runId)
    {
        if (!_ids.TryAdd(runId, 0))
        {
            return;
        }

        _order.Enqueue(runId);
        while (_ids.Count > capacity && _order.TryDequeue(out string? oldest))
        {
            _ids.TryRemove(oldest, out _);
        }
    }
}
