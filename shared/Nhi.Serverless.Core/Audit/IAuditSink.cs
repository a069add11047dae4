namespace Nhi.Serverless.Audit;

/// <summary>Forwards sealed audit records to a SIEM or log pipeline after they are stored.</summary>
public interface IAuditSink
{
    /// <summary>The sink's name in receipts and logs, such as "splunk-hec".</summary>
    string Name { get; }

    /// <summary>
    /// Delivers the records in order and returns once the receiver has acknowledged all of them, as far
    /// as its protocol allows (see each sink). Each record's <c>id</c> is a stable event id, so a
    /// receiver can drop copies that a retry sends again.
    /// </summary>
    /// <returns>The receipt line, such as "splunk-hec: delivered 9 records in 1 request".</returns>
    /// <exception cref="AuditDeliveryException">The receiver rejected the records or stayed unavailable; the message contains no secret.</exception>
    Task<string> DeliverAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken);
}

/// <summary>Thrown when a sink could not deliver audit records. The message never contains a credential.</summary>
public sealed class AuditDeliveryException : Exception
{
    public AuditDeliveryException(string sink, string message, bool permanent, Exception? innerException = null)
        : this(sink, message, permanent, deliveredCount: 0, retryAfter: null, innerException)
    {
    }

    /// <param name="sink">The sink's name.</param>
    /// <param name="message">What failed; no secret.</param>
    /// <param name="permanent">True when retrying the same request cannot succeed.</param>
    /// <param name="deliveredCount">How many of the records, from the first, the receiver acknowledged before the failure.</param>
    /// <param name="retryAfter">The wait the receiver asked for, such as a Retry-After header; null when it named none.</param>
    /// <param name="innerException">The cause.</param>
    public AuditDeliveryException(string sink, string message, bool permanent, int deliveredCount, TimeSpan? retryAfter, Exception? innerException = null)
        : base(message, innerException)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(deliveredCount);
        Sink = sink;
        Permanent = permanent;
        DeliveredCount = deliveredCount;
        RetryAfter = retryAfter;
    }

    /// <summary>The sink's name.</summary>
    public string Sink { get; }

    /// <summary>True when retrying the same request cannot succeed, such as a rejected token or malformed data.</summary>
    public bool Permanent { get; }

    /// <summary>How many of the records, from the first, were acknowledged before the failure; the rest must be sent again.</summary>
    public int DeliveredCount { get; }

    /// <summary>The wait the receiver asked for before the next attempt, or null.</summary>
    public TimeSpan? RetryAfter { get; }
}
