using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Aws.S3;

/// <summary>The calls made with one grant's credential, in the order they started; safe to add to from several threads.</summary>
public sealed class ApiCallLog
{
    private readonly List<ApiCall> _calls = [];
    private readonly Lock _lock = new();

    public void Add(ApiCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        lock (_lock)
        {
            _calls.Add(call);
        }
    }

    /// <summary>Returns a copy of the calls recorded so far, ordered by start time.</summary>
    public IReadOnlyList<ApiCall> Snapshot()
    {
        lock (_lock)
        {
            return _calls.OrderBy(call => call.At).ToArray();
        }
    }
}
