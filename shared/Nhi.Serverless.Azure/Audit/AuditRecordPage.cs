using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>One page of audit records from a query.</summary>
/// <param name="Records">The records of the page, in row key order, which is time order.</param>
/// <param name="ContinuationToken">Pass it to the same query for the next page; null on the last page.</param>
/// <remarks>A page can be shorter than the page size and still have a continuation token, as Table Storage returns partial pages.</remarks>
public sealed record AuditRecordPage(IReadOnlyList<SignedAuditRecord> Records, string? ContinuationToken);

/// <summary>The outcome of appending records.</summary>
/// <param name="Written">How many records were new.</param>
/// <param name="AlreadyStored">How many were stored before with the same hash, as when a run's audit step is retried.</param>
/// <param name="Stored">The records as they are now stored, in the order given: for those stored before, the earlier copy with its own signature.</param>
public sealed record AuditAppendResult(int Written, int AlreadyStored, IReadOnlyList<SignedAuditRecord> Stored);

/// <summary>Thrown when a record id is already stored with a different hash; the stored record is left unchanged.</summary>
public sealed class AuditRecordConflictException(string recordId, string table, string storedHash, string newHash)
    : Exception($"Audit record {recordId} is already stored in table '{table}' with hash {storedHash}, and the record to append has hash {newHash}. The stored record was not changed; the run's audit records differ from those written before.")
{
    public string RecordId { get; } = recordId;
}
