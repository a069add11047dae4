namespace Nhi.Serverless.Audit;

/// <summary>Forwards sealed audit records to a SIEM or log pipeline after they are stored.</summary>
public interface IAuditSink
{
    /// <summary>The sink's name in receipts and logs, such as "splunk-hec".</summary>
    string Name { get; }

    /// <summary>Delivers the records, retrying what the receiver reports as temporary.</summary>
    /// <returns>The receipt line, such as "splunk-hec: delivered 9 records in 1 request".</returns>
    /// <exception cref="AuditDeliveryException">The receiver rejected the records or stayed unavailable; the message contains no secret.</exception>
    Task<string> DeliverAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken);
}

/// <summary>Thrown when a sink could not deliver audit records. The message never contains a credential.</summary>
public sealed class AuditDeliveryException : Exception
{
    public AuditDeliveryException(string sink, string message, bool permanent, Exception? innerException = null)
        : base(message, innerException)
    {
        Sink = sink;
        Permanent = permanent;
    }

    /// <summary>The sink's name.</summary>
    public string Sink { get; }

    /// <summary>True when retrying the same request cannot succeed, such as a rejected token or malformed data.</summary>
    public bool Permanent { get; }
}
