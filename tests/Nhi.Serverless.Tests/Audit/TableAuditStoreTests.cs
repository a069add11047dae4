using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using Azure.Data.Tables;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Runs the table audit store and trail against Azurite, in tables of their own.</summary>
public sealed class TableAuditStoreTests(AuditTablesFixture tables) : IClassFixture<AuditTablesFixture>
{
    private TableAuditStore Store => tables.Store;

    [Fact]
    public async Task AppendThenGet()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();

        AuditAppendResult result = await Store.AppendAsync(records, CancellationToken.None);
        SignedAuditRecord? stored = await Store.GetAsync(records[4].Id, CancellationToken.None);

        Assert.Equal(records.Count, result.Written);
        Assert.Equal(records[4].Json, stored?.Json);
    }

    [Fact]
    public async Task GetMissingReturnsNull()
    {
        string missingId = AuditRecordIds.Create(AuditTestRuns.DefaultStart, AuditTestRuns.NewRunId(), 1);

        Assert.Null(await Store.GetAsync(missingId, CancellationToken.None));
    }

    [Fact]
    public async Task EntityKeysAreDateAndId()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);

        TableEntity entity = (await tables.ServiceClient.GetTableClient(tables.Options.RecordsTableName)
            .GetEntityAsync<TableEntity>("2025-03-01", records[0].Id)).Value;

        Assert.Equal(records[0].Hash, entity.GetString("Hash"));
        Assert.Equal(records[0].Signature, entity.GetString("Signature"));
        Assert.Equal(tables.Signer.KeyId, entity.GetString("Kid"));
    }

    [Fact]
    public async Task StoredRunVerifies()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);

        IReadOnlyList<SignedAuditRecord> read = await Store.ReadRunAsync(records[0].RunId, CancellationToken.None);
        ChainVerificationResult result = AuditVerifier.VerifyChain(read, tables.Jwks);

        Assert.True(result.Valid, result.Reason);
        Assert.Equal(records.Select(record => record.Id), read.Select(record => record.Id));
    }

    [Fact]
    public async Task DuplicateAppendIsNoOp()
    {
        string runId = AuditTestRuns.NewRunId();
        IReadOnlyList<SignedAuditRecord> first = Seal(runId);
        await Store.AppendAsync(first, CancellationToken.None);

        // Sealing again gives the same hashes but new signatures, because ECDSA signatures are randomized.
        IReadOnlyList<SignedAuditRecord> again = Seal(runId);
        AuditAppendResult result = await Store.AppendAsync(again, CancellationToken.None);
        SignedAuditRecord? stored = await Store.GetAsync(first[0].Id, CancellationToken.None);

        Assert.Equal(0, result.Written);
        Assert.Equal(first.Count, result.AlreadyStored);
        Assert.Equal(first.Select(record => record.Signature), result.Stored.Select(record => record.Signature));
        Assert.Equal(first[0].Signature, stored?.Signature);
    }

    [Fact]
    public async Task ConflictingDuplicateFails()
    {
        string runId = AuditTestRuns.NewRunId();
        IReadOnlyList<SignedAuditRecord> original = Seal(runId);
        await Store.AppendAsync(original, CancellationToken.None);
        IReadOnlyList<SignedAuditRecord> altered = AuditTestRuns.SealRemediated(runId, tables.Signer, evidence: "GetBucketAcl returned 200");
        int revokedIndex = original.ToList().FindIndex(record => record.Event == AuditEvents.GrantRevoked);

        var error = await Assert.ThrowsAsync<AuditRecordConflictException>(() => Store.AppendAsync(altered, CancellationToken.None));
        SignedAuditRecord? stored = await Store.GetAsync(original[revokedIndex].Id, CancellationToken.None);

        Assert.Equal(original[revokedIndex].Id, error.RecordId);
        Assert.Equal(original[revokedIndex].Hash, stored?.Hash);
    }

    [Fact]
    public async Task QueryByRunPages()
    {
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();

        AuditRecordPage first = await Store.QueryByRunAsync(records[0].RunId, pageSize: 1000);
        AuditRecordPage second = await Store.QueryByRunAsync(records[0].RunId, first.ContinuationToken, pageSize: 1000);

        Assert.Equal(1000, first.Records.Count);
        Assert.NotNull(first.ContinuationToken);
        Assert.Equal(100, second.Records.Count);
        Assert.Null(second.ContinuationToken);
        Assert.Equal(records.Select(record => record.Id), first.Records.Concat(second.Records).Select(record => record.Id));
    }

    [Fact]
    public async Task LargeRunVerifies()
    {
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();

        IReadOnlyList<SignedAuditRecord> read = await Store.ReadRunAsync(records[0].RunId, CancellationToken.None);
        ChainVerificationResult result = AuditVerifier.VerifyChain(read, tables.Jwks);

        Assert.Equal(1100, read.Count);
        Assert.True(result.Valid, result.Reason);
    }

    [Fact]
    public async Task QueryByTimePagesAcrossDays()
    {
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();
        DateTimeOffset from = AuditTablesFixture.LargeRunStart.AddHours(-1);
        DateTimeOffset to = AuditTablesFixture.LargeRunStart.AddHours(1);

        var read = new List<SignedAuditRecord>();
        int pages = 0;
        string? continuationToken = null;
        do
        {
            AuditRecordPage page = await Store.QueryByTimeAsync(from, to, continuationToken, pageSize: 400);
            read.AddRange(page.Records);
            continuationToken = page.ContinuationToken;
            pages++;
        }
        while (continuationToken is not null);

        Assert.True(pages >= 3, $"{pages} page(s)");
        Assert.Equal(records.Select(record => record.Id), read.Select(record => record.Id));
        Assert.Equal(["2031-07-14", "2031-07-15"], read.Select(record => AuditTableKeys.RecordPartition(record.Id)).Distinct());
    }

    [Fact]
    public async Task QueryByTimeBoundsAreHalfOpen()
    {
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();
        DateTimeOffset from = AuditRecordIds.GetTime(records[100].Id);
        DateTimeOffset to = AuditRecordIds.GetTime(records[200].Id);

        AuditRecordPage page = await Store.QueryByTimeAsync(from, to);

        Assert.Equal(records.Skip(100).Take(100).Select(record => record.Id), page.Records.Select(record => record.Id));
    }

    [Fact]
    public async Task TimeTokenNamesLastRecord()
    {
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();

        AuditRecordPage page = await Store.QueryByTimeAsync(LargeRunFrom, LargeRunTo, pageSize: 3);

        Assert.Equal(TimeToken(LargeRunFrom, LargeRunTo, records[2].Id), page.ContinuationToken);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("garbage token")]
    [InlineData("")]
    [InlineData("MjAzMS0wNy0xNA==")]
    public async Task MalformedTimeTokenRejected(string token)
    {
        await tables.GetLargeRunAsync();

        var error = await Assert.ThrowsAsync<FormatException>(() => Store.QueryByTimeAsync(LargeRunFrom, LargeRunTo, token, pageSize: 3));

        Assert.StartsWith($"Invalid continuation token '{token}': it is not a time-range query token", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StorageServiceTokenRejected()
    {
        // The storage service's own token form, next partition and row key in base64, is not a token of this API.
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();
        string serviceToken = Convert.ToBase64String(Encoding.UTF8.GetBytes("2031-07-14")) + " " + Convert.ToBase64String(Encoding.UTF8.GetBytes(records[3].Id));

        var error = await Assert.ThrowsAsync<FormatException>(
            () => Store.QueryByTimeAsync(LargeRunFrom, LargeRunTo, serviceToken, pageSize: 3));

        Assert.Contains("it is not a time-range query token", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TimeTokenWithoutRecordIdRejected()
    {
        await tables.GetLargeRunAsync();

        var error = await Assert.ThrowsAsync<FormatException>(
            () => Store.QueryByTimeAsync(LargeRunFrom, LargeRunTo, TimeToken(LargeRunFrom, LargeRunTo, "x' or true"), pageSize: 3));

        Assert.Contains("it does not contain an audit record id", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TimeTokenOfOtherRangeRejected()
    {
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();
        AuditRecordPage page = await Store.QueryByTimeAsync(LargeRunFrom, LargeRunTo, pageSize: 3);
        DateTimeOffset laterFrom = AuditRecordIds.GetTime(records[500].Id);

        var error = await Assert.ThrowsAsync<FormatException>(() => Store.QueryByTimeAsync(laterFrom, LargeRunTo, page.ContinuationToken, pageSize: 3));

        Assert.Contains("it belongs to a query of another time range", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TimeTokenPastRangeEndRejected()
    {
        // A token edited to resume after the range's last record would otherwise read as the end of the range.
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();
        DateTimeOffset to = AuditRecordIds.GetTime(records[200].Id);

        var error = await Assert.ThrowsAsync<FormatException>(
            () => Store.QueryByTimeAsync(LargeRunFrom, to, TimeToken(LargeRunFrom, to, records[200].Id), pageSize: 3));

        Assert.Contains("it resumes outside the requested time range", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TimeTokenBeforeRangeRejected()
    {
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();
        DateTimeOffset from = AuditRecordIds.GetTime(records[200].Id);

        var error = await Assert.ThrowsAsync<FormatException>(
            () => Store.QueryByTimeAsync(from, LargeRunTo, TimeToken(from, LargeRunTo, records[3].Id), pageSize: 3));

        Assert.Contains("it resumes outside the requested time range", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task QueryByGrantFindingResource()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);
        string grantId = records.First(record => record.GrantId is not null).GrantId!;

        AuditRecordPage byGrant = await Store.QueryByGrantAsync(grantId);
        AuditRecordPage byFinding = await Store.QueryByFindingAsync(records[0].FindingId!);
        AuditRecordPage byResource = await Store.QueryByResourceAsync(AuditTestRuns.Resource);

        Assert.Equal(records.Where(record => record.GrantId == grantId).Select(record => record.Id), byGrant.Records.Select(record => record.Id));
        Assert.Equal(records.Select(record => record.Id), byFinding.Records.Select(record => record.Id));
        Assert.Subset(byResource.Records.Select(record => record.Id).ToHashSet(), records.Select(record => record.Id).ToHashSet());
    }

    [Fact]
    public async Task LargeRecordSplitAndRestored()
    {
        IReadOnlyList<SignedAuditRecord> records = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), tables.Signer, evidence: new string('e', 100_000) + "\u00e9\ud83d\ude00");
        SignedAuditRecord large = records.Single(record => record.Json.Length > 100_000);
        await Store.AppendAsync(records, CancellationToken.None);

        SignedAuditRecord? stored = await Store.GetAsync(large.Id, CancellationToken.None);
        TableEntity entity = (await tables.ServiceClient.GetTableClient(tables.Options.RecordsTableName)
            .GetEntityAsync<TableEntity>(AuditTableKeys.RecordPartition(large.Id), large.Id)).Value;

        Assert.Equal(large.Json, stored?.Json);
        Assert.True(entity.GetInt32("RecordParts") > 1);
        Assert.True(AuditVerifier.VerifyRecord(stored!, tables.Jwks).Valid);
    }

    [Fact]
    public async Task OversizedRecordRejected()
    {
        IReadOnlyList<SignedAuditRecord> records = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), tables.Signer, evidence: new string('e', 600_000));

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => Store.AppendAsync(records, CancellationToken.None));

        Assert.Contains("at most 480000", error.Message, StringComparison.Ordinal);
        Assert.Null(await Store.GetAsync(records[0].Id, CancellationToken.None));
    }

    [Fact]
    public async Task TrailWritesAndDelivers()
    {
        string runId = AuditTestRuns.NewRunId();
        var trail = new TableAuditTrail(Store, tables.Signer, sinks: [new RecordingSink(), new FailingSink()]);

        AuditReceipt receipt = await trail.RecordRunAsync(AuditTestRuns.Request(runId), AuditTestRuns.Remediated(runId), CancellationToken.None);
        IReadOnlyList<SignedAuditRecord> stored = await Store.ReadRunAsync(runId, CancellationToken.None);

        Assert.Equal(stored.Select(record => record.Id), receipt.RecordIds);
        Assert.Equal(tables.Signer.KeyId, receipt.KeyId);
        Assert.Equal($"recording: delivered {stored.Count} records", receipt.SiemDeliveries[0]);
        Assert.Equal("failing: failed (receiver returned 503)", receipt.SiemDeliveries[1]);
    }

    [Fact]
    public async Task TrailRetryKeepsReceipt()
    {
        string runId = AuditTestRuns.NewRunId();
        var trail = new TableAuditTrail(Store, tables.Signer);
        RemediationRequest request = AuditTestRuns.Request(runId);
        RunResult result = AuditTestRuns.Remediated(runId);

        AuditReceipt first = await trail.RecordRunAsync(request, result, CancellationToken.None);
        AuditReceipt second = await trail.RecordRunAsync(request, result, CancellationToken.None);

        Assert.Equal(first.RecordIds, second.RecordIds);
    }

    private static DateTimeOffset LargeRunFrom => AuditTablesFixture.LargeRunStart.AddHours(-1);

    private static DateTimeOffset LargeRunTo => AuditTablesFixture.LargeRunStart.AddHours(1);

    /// <summary>Builds a time-range continuation token as the store writes it: base64url of "t1|{range tag}|{last record id}".</summary>
    private static string TimeToken(DateTimeOffset from, DateTimeOffset to, string lastRecordId)
    {
        string tag = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{from.UtcTicks}-{to.UtcTicks}")))[..8];
        return Base64Url.EncodeToString(Encoding.UTF8.GetBytes($"t1|{tag}|{lastRecordId}"));
    }

    private IReadOnlyList<SignedAuditRecord> Seal(string? runId = null) =>
        AuditTestRuns.SealRemediated(runId ?? AuditTestRuns.NewRunId(), tables.Signer);

    private sealed class RecordingSink : IAuditSink
    {
        public string Name => "recording";

        public Task<string> DeliverAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken) =>
            Task.FromResult($"recording: delivered {records.Count} records");
    }

    private sealed class FailingSink : IAuditSink
    {
        public string Name => "failing";

        public Task<string> DeliverAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken) =>
            throw new AuditDeliveryException(Name, "receiver returned 503", permanent: false);
    }
}
