using System.Globalization;

namespace Nhi.Serverless.Audit;

/// <summary>
/// The time window a checkpoint covers, from <see cref="Start"/> inclusive to <see cref="End"/>
/// exclusive. A record belongs to the window that contains the time prefix of its id.
/// </summary>
/// <remarks>
/// Windows lie on a grid of fixed length counted from the Unix epoch, so every writer computes the
/// same windows. When the length changes between runs, the next window ends at the first boundary of
/// the new grid after the previous window's end, so windows stay contiguous.
/// </remarks>
public readonly record struct AuditCheckpointWindow
{
    /// <summary>The shortest window length allowed.</summary>
    public static readonly TimeSpan MinLength = TimeSpan.FromSeconds(1);

    /// <summary>The longest window length allowed; the checkpoint table partitions by the UTC date of a window's start.</summary>
    public static readonly TimeSpan MaxLength = TimeSpan.FromDays(1);

    /// <summary>Creates a window.</summary>
    /// <exception cref="ArgumentException">The end is not after the start, or a bound has a fraction of a millisecond.</exception>
    public AuditCheckpointWindow(DateTimeOffset start, DateTimeOffset end)
    {
        if (end <= start)
        {
            throw new ArgumentException($"The window end {AuditRecordStream.FormatTime(end)} is not after its start {AuditRecordStream.FormatTime(start)}.", nameof(end));
        }

        if (start.UtcTicks % TimeSpan.TicksPerMillisecond != 0 || end.UtcTicks % TimeSpan.TicksPerMillisecond != 0)
        {
            throw new ArgumentException("Window bounds must be whole milliseconds, because record ids carry millisecond times.", nameof(start));
        }

        Start = start.ToUniversalTime();
        End = end.ToUniversalTime();
    }

    public DateTimeOffset Start { get; }

    public DateTimeOffset End { get; }

    /// <summary>The checkpoint id of this window: its start in the record id time format, such as "20250301T100000000Z".</summary>
    public string Id => AuditRecordIds.FormatTime(Start);

    /// <summary>The smallest record id key in the window; every record id in it sorts at or after this string.</summary>
    public string StartKey => AuditRecordIds.FormatTime(Start);

    /// <summary>The first key after the window; every record id in it sorts before this string.</summary>
    public string EndKey => AuditRecordIds.FormatTime(End);

    /// <summary>Returns true when the record id's time lies in the window, by ordinal comparison of the id with the bounds.</summary>
    public bool Contains(string recordId)
    {
        ArgumentNullException.ThrowIfNull(recordId);
        return string.CompareOrdinal(recordId, StartKey) >= 0 && string.CompareOrdinal(recordId, EndKey) < 0;
    }

    /// <summary>Returns the grid window of the given length that contains <paramref name="time"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The length is outside <see cref="MinLength"/> to <see cref="MaxLength"/> or not whole milliseconds.</exception>
    public static AuditCheckpointWindow Containing(DateTimeOffset time, TimeSpan length)
    {
        long lengthMs = CheckLength(length);
        long ms = time.ToUnixTimeMilliseconds();
        long start = ms - Mod(ms, lengthMs);
        return new AuditCheckpointWindow(DateTimeOffset.FromUnixTimeMilliseconds(start), DateTimeOffset.FromUnixTimeMilliseconds(start + lengthMs));
    }

    /// <summary>Returns the window that starts at <paramref name="start"/> and ends at the next boundary of the grid of the given length.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The length is outside <see cref="MinLength"/> to <see cref="MaxLength"/> or not whole milliseconds.</exception>
    public static AuditCheckpointWindow StartingAt(DateTimeOffset start, TimeSpan length)
    {
        long lengthMs = CheckLength(length);
        long ms = start.ToUnixTimeMilliseconds();
        long end = ms - Mod(ms, lengthMs) + lengthMs;
        return new AuditCheckpointWindow(DateTimeOffset.FromUnixTimeMilliseconds(ms), DateTimeOffset.FromUnixTimeMilliseconds(end));
    }

    /// <summary>Throws unless the length is a whole number of milliseconds from <see cref="MinLength"/> to <see cref="MaxLength"/>.</summary>
    /// <returns>The length in milliseconds.</returns>
    public static long CheckLength(TimeSpan length)
    {
        if (length < MinLength || length > MaxLength || length.Ticks % TimeSpan.TicksPerMillisecond != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(length), length, $"A checkpoint window must be whole milliseconds from {MinLength} to {MaxLength}.");
        }

        return (long)length.TotalMilliseconds;
    }

    public override string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"[{AuditRecordStream.FormatTime(Start)}, {AuditRecordStream.FormatTime(End)})");

    private static long Mod(long value, long divisor) => ((value % divisor) + divisor) % divisor;
}
