namespace Nhi.Serverless.Guardrails;

/// <summary>A person's (or the timeout's) decision on a run that waits for approval. Holds no secret.</summary>
/// <param name="Approved">True to let the run issue its grant; false to end it without one.</param>
/// <param name="By">Who decided, such as an email address or a SOAR user name; "timeout" when no decision arrived in time.</param>
/// <param name="Channel">Through which channel, one of <see cref="ApprovalChannels"/>.</param>
/// <param name="Reason">Why, as the person wrote it; null when none was given.</param>
/// <param name="At">When the decision reached the service.</param>
public sealed record ApprovalDecision(bool Approved, string By, string Channel, string? Reason, DateTimeOffset At);

/// <summary>The channels an approval decision can arrive through.</summary>
public static class ApprovalChannels
{
    /// <summary>The HTTP API of the local host or the Functions app.</summary>
    public const string Api = "api";

    /// <summary>A SOAR tool, through its API.</summary>
    public const string Soar = "soar";

    /// <summary>An Azure Logic Apps approval callback.</summary>
    public const string LogicApps = "logic-apps";

    /// <summary>The nhi command-line tool.</summary>
    public const string Cli = "cli";

    /// <summary>No decision arrived before the approval timeout, so the run was rejected.</summary>
    public const string Timeout = "timeout";

    /// <summary>The channels a caller may name; <see cref="Timeout"/> is set by the run itself.</summary>
    public static IReadOnlyList<string> Callers { get; } = [Api, Soar, LogicApps, Cli];
}

/// <summary>Checks the fields of an approval decision sent by a caller.</summary>
public static class ApprovalInput
{
    public const int MaxByLength = 200;

    public const int MaxReasonLength = 1000;

    /// <summary>Returns the first invalid field and what it must be, or null when every field is valid.</summary>
    public static (string Field, string Expected)? Validate(string? by, string? channel, string? reason)
    {
        if (string.IsNullOrWhiteSpace(by) || by.Length > MaxByLength || by.Any(char.IsControl))
        {
            return ("by", $"who decides: 1 to {MaxByLength} characters without control characters");
        }

        if (channel is null || !ApprovalChannels.Callers.Contains(channel, StringComparer.Ordinal))
        {
            return ("channel", "one of: " + string.Join(", ", ApprovalChannels.Callers));
        }

        if (reason is not null && (reason.Length > MaxReasonLength || reason.Any(character => char.IsControl(character) && character != '\n')))
        {
            return ("reason", $"at most {MaxReasonLength} characters without control characters other than line breaks");
        }

        return null;
    }
}

/// <summary>Concurrency slots shared by every host: a run takes all of its slots or none, and waits when one is full.</summary>
public interface IRunSlots
{
    /// <summary>
    /// Takes one slot under every limit for the run, or none: when a limit is full, the slots taken by this call are
    /// given back and the method returns false. Taking again for a run that holds its slots returns true.
    /// </summary>
    /// <param name="leaseUntil">When the slots become free again if the run never releases them.</param>
    Task<bool> TryAcquireAsync(string runId, IReadOnlyList<ConcurrencyLimit> limits, DateTimeOffset leaseUntil, CancellationToken cancellationToken);

    /// <summary>Gives back every slot the run holds under the limits. Safe to repeat.</summary>
    Task ReleaseAsync(string runId, IReadOnlyList<ConcurrencyLimit> limits, CancellationToken cancellationToken);
}
