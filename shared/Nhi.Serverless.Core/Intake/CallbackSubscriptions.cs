namespace Nhi.Serverless.Intake;

/// <summary>A Logic Apps webhook-action subscription: the run to watch and the URL that receives its result.</summary>
/// <remarks>The callback URL carries the Logic App's signature in its query string, so it is a secret: it is kept
/// only in the subscription store, and <see cref="ToString"/> and logs show <see cref="CallbackTarget"/> instead.</remarks>
public sealed class CallbackSubscription
{
    public required string Id { get; init; }

    public required string RunId { get; init; }

    /// <summary>The full callback URL, including its signature.</summary>
    public required Uri CallbackUrl { get; init; }

    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>One of <see cref="CallbackStatuses"/>.</summary>
    public string Status { get; init; } = CallbackStatuses.Pending;

    /// <summary>How many deliveries were tried.</summary>
    public int Attempts { get; init; }

    /// <summary>When the dispatcher next looks at the run; delivery waits until the run has finished.</summary>
    public DateTimeOffset NextAttemptAt { get; init; }

    /// <summary>The last delivery error, without the URL; null when none failed.</summary>
    public string? LastError { get; init; }

    /// <summary>The callback's scheme, host and port, without path or query: what logs may show.</summary>
    public string CallbackTarget => CallbackUrl.GetLeftPart(UriPartial.Authority);

    public override string ToString() => $"callback {Id} for run {RunId} to {CallbackTarget} ({Status})";
}

/// <summary>The states of a callback subscription.</summary>
public static class CallbackStatuses
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Unsubscribed = "unsubscribed";
    public const string Failed = "failed";
}

/// <summary>Keeps callback subscriptions until their result is delivered.</summary>
public interface ICallbackSubscriptionStore
{
    Task AddAsync(CallbackSubscription subscription, CancellationToken cancellationToken);

    Task<CallbackSubscription?> GetAsync(string id, CancellationToken cancellationToken);

    /// <summary>Returns pending subscriptions whose next attempt is due at <paramref name="now"/>, at most <paramref name="max"/>.</summary>
    Task<IReadOnlyList<CallbackSubscription>> ListDueAsync(DateTimeOffset now, int max, CancellationToken cancellationToken);

    /// <summary>Replaces the stored state of a subscription.</summary>
    Task UpdateAsync(CallbackSubscription subscription, CancellationToken cancellationToken);
}
