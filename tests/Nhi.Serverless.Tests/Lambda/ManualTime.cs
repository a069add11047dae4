namespace Nhi.Serverless.Tests.Lambda;

/// <summary>A clock that tests move by hand, so lease expiry needs no waiting.</summary>
public sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    private DateTimeOffset _now = start;

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}
