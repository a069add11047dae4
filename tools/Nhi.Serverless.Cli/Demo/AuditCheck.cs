using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Cli.Demo;

/// <summary>Fetches a run's audit records and the host's JWKS, and verifies every signature and the hash chain.</summary>
public static class AuditCheck
{
    public static async Task<(bool Valid, string? Detail)> VerifyAsync(
        HttpClient host, string runId, IReadOnlyList<string> expectedRecordIds, CancellationToken cancellationToken)
    {
        if (expectedRecordIds.Count == 0)
        {
            return (false, "the run reported no audit records");
        }

        Jwks jwks = Jwks.Parse(await host.GetStringAsync(".well-known/jwks.json", cancellationToken));
        string lines = await host.GetStringAsync($"api/audit/runs/{runId}/records", cancellationToken);
        SignedAuditRecord[] records = lines
            .Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(SignedAuditRecord.Parse)
            .ToArray();

        string[] storedIds = records.Select(record => record.Id).ToArray();
        if (!storedIds.SequenceEqual(expectedRecordIds))
        {
            return (false, $"the table holds {storedIds.Length} records for the run, the run reported {expectedRecordIds.Count}");
        }

        ChainVerificationResult chain = AuditVerifier.VerifyChain(records, jwks);
        return chain.Valid
            ? (true, $"{records.Length} signatures and the hash chain verified with key {records[^1].KeyId}")
            : (false, $"{chain.RecordId}: {chain.Reason}");
    }
}
