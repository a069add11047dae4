using System.Buffers.Text;
using System.Text;
using Azure;
using Azure.Data.Tables;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// Runs the grouped index of the table audit store against Azurite: one index entity per partition and append,
/// pages that stop inside one, retries that group records differently, and entities of the older one-per-record layout.
/// </summary>
public sealed class AuditIndexTests(AuditTablesFixture tables) : IClassFixture<AuditTablesFixture>
{
    private TableAuditStore Store => tables.Store;

    private TableClient Index => tables.ServiceClient.GetTableClient(tables.Options.IndexTableName);

    [Fact]
    public async Task OneEntityPerPartitionPerAppend()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);
        string grantId = records.First(record => record.GrantId is not null).GrantId!;

        List<TableEntity> byRun = await ReadPartitionAsync(AuditTableKeys.RunKind, records[0].RunId);
        List<TableEntity> byFinding = await ReadPartitionAsync(AuditTableKeys.FindingKind, records[0].FindingId!);
        List<TableEntity> byGrant = await ReadPartitionAsync(AuditTableKeys.GrantKind, grantId);
        List<TableEntity> byResource = (await ReadPartitionAsync(AuditTableKeys.ResourceKind, AuditTestRuns.Resource))
            .Where(entity => records.Any(record => record.Id == entity.RowKey))
            .ToList();

        TableEntity run = Assert.Single(byRun);
        Assert.Equal(records[0].Id, run.RowKey);
        Assert.Equal(string.Join(',', records.Select(record => record.Id)), run.GetString("RecordIds"));
        Assert.Equal(records.Count, run.GetInt32("RecordCount"));
        Assert.Equal("2025-03-01", run.GetString("RecordPartitionKeys"));
        Assert.Single(byFinding);
        Assert.Single(byGrant);
        Assert.Single(byResource);
    }

    [Fact]
    public async Task LongListSplitsAcrossEntities()
    {
        IReadOnlyList<SignedAuditRecord> records = await tables.GetLargeRunAsync();

        List<TableEntity> byRun = await ReadPartitionAsync(AuditTableKeys.RunKind, records[0].RunId);

        Assert.Equal(2, byRun.Count);
        Assert.All(byRun, entity => Assert.True(entity.GetString("RecordIds")!.Length <= TableAuditStore.MaxCharactersPerProperty));
        Assert.Equal(records.Select(record => record.Id), byRun.SelectMany(entity => entity.GetString("RecordIds")!.Split(',')));
    }

    [Fact]
    public async Task PageStopsInsideEntity()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);

        AuditRecordPage first = await Store.QueryByRunAsync(records[0].RunId, pageSize: 4);
        AuditRecordPage second = await Store.QueryByRunAsync(records[0].RunId, first.ContinuationToken, pageSize: 4);
        AuditRecordPage third = await Store.QueryByRunAsync(records[0].RunId, second.ContinuationToken, pageSize: 4);

        Assert.Equal(Ids(records.Take(4)), Ids(first.Records));
        Assert.Equal(Ids(records.Skip(4).Take(4)), Ids(second.Records));
        Assert.Equal(Ids(records.Skip(8)), Ids(third.Records));
        Assert.NotNull(first.ContinuationToken);
        Assert.NotNull(second.ContinuationToken);
        Assert.Null(third.ContinuationToken);
    }

    [Fact]
    public async Task LastFullPageHasNoToken()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);

        AuditRecordPage page = await Store.QueryByRunAsync(records[0].RunId, pageSize: records.Count);

        Assert.Equal(Ids(records), Ids(page.Records));
        Assert.Null(page.ContinuationToken);
    }

    [Fact]
    public async Task InterleavedAppendsMergeInIdOrder()
    {
        // Two runs on the same resource whose records interleave in time, appended in two calls.
        DateTimeOffset start = new(2032, 2, 3, 4, 5, 6, 0, TimeSpan.Zero);
        IReadOnlyList<SignedAuditRecord> early = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), tables.Signer, start);
        IReadOnlyList<SignedAuditRecord> late = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), tables.Signer, start.AddMilliseconds(250));
        await Store.AppendAsync(late, CancellationToken.None);
        await Store.AppendAsync(early, CancellationToken.None);

        List<string> read = Ids(await ReadAllAsync(Store.QueryByResourceAsync, AuditTestRuns.Resource, pageSize: 3));
        var ours = early.Concat(late).Select(record => record.Id).ToHashSet(StringComparer.Ordinal);

        Assert.Equal(read.Order(StringComparer.Ordinal), read);
        Assert.Equal(read.Count, read.Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(ours.Order(StringComparer.Ordinal), read.Where(ours.Contains));
    }

    [Fact]
    public async Task RetryOfMoreRecordsListsEachOnce()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records.Take(5).ToList(), CancellationToken.None);

        AuditAppendResult retry = await Store.AppendAsync(records, CancellationToken.None);
        List<TableEntity> byRun = await ReadPartitionAsync(AuditTableKeys.RunKind, records[0].RunId);

        Assert.Equal(records.Count - 5, retry.Written);
        Assert.Equal(5, retry.AlreadyStored);
        Assert.Equal([records[0].Id, records[5].Id], byRun.Select(entity => entity.RowKey));
        Assert.Equal(Ids(records), Ids(await ReadAllAsync(Store.QueryByRunAsync, records[0].RunId, pageSize: 3)));
        Assert.Equal(Ids(records), Ids(await Store.ReadRunAsync(records[0].RunId, CancellationToken.None)));
    }

    [Fact]
    public async Task RetryFromEarlierRecordListsEachOnce()
    {
        // The first attempt stored the later records only, so the retry's entity starts before it and repeats its ids.
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records.Skip(3).ToList(), CancellationToken.None);

        await Store.AppendAsync(records, CancellationToken.None);
        List<TableEntity> byRun = await ReadPartitionAsync(AuditTableKeys.RunKind, records[0].RunId);

        Assert.Equal(2, byRun.Count);
        Assert.Equal(Ids(records), Ids(await ReadAllAsync(Store.QueryByRunAsync, records[0].RunId, pageSize: 3)));
        Assert.Equal(Ids(records), Ids(await ReadAllAsync(Store.QueryByRunAsync, records[0].RunId, pageSize: 1)));
    }

    [Fact]
    public async Task RetryOfFewerRecordsStoredBefore()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);

        AuditAppendResult retry = await Store.AppendAsync(records.Take(5).ToList(), CancellationToken.None);
        List<TableEntity> byRun = await ReadPartitionAsync(AuditTableKeys.RunKind, records[0].RunId);

        Assert.Equal(0, retry.Written);
        Assert.Equal(5, retry.AlreadyStored);
        Assert.Single(byRun);
        Assert.Equal(Ids(records), Ids(await Store.ReadRunAsync(records[0].RunId, CancellationToken.None)));
    }

    [Fact]
    public async Task AlteredIndexEntityConflicts()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);
        TableEntity run = Assert.Single(await ReadPartitionAsync(AuditTableKeys.RunKind, records[0].RunId));
        run["Hash"] = new string('0', 64);
        await Index.UpdateEntityAsync(run, ETag.All, TableUpdateMode.Replace);

        var error = await Assert.ThrowsAsync<AuditRecordConflictException>(() => Store.AppendAsync(records, CancellationToken.None));

        Assert.Equal(records[0].Id, error.RecordId);
        Assert.Contains(tables.Options.IndexTableName, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OldSingleRecordEntitiesRead()
    {
        // A table written before grouped entities: one entity per record for the first six records, then a grouped append of the rest.
        IReadOnlyList<SignedAuditRecord> records = Seal();
        string partitionKey = AuditTableKeys.IndexPartition(AuditTableKeys.RunKind, records[0].RunId);
        await Store.AppendAsync(records, CancellationToken.None);
        await Index.DeleteEntityAsync(partitionKey, records[0].Id);
        foreach (SignedAuditRecord record in records.Take(6))
        {
            await Index.AddEntityAsync(OldIndexEntity(partitionKey, record));
        }

        await Store.AppendAsync(records.Skip(6).ToList(), CancellationToken.None);
        List<string> paged = Ids(await ReadAllAsync(Store.QueryByRunAsync, records[0].RunId, pageSize: 4));
        AuditAppendResult retry = await Store.AppendAsync(records, CancellationToken.None);
        List<string> afterRetry = Ids(await ReadAllAsync(Store.QueryByRunAsync, records[0].RunId, pageSize: 4));

        Assert.Equal(7, (await ReadPartitionAsync(AuditTableKeys.RunKind, records[0].RunId)).Count);
        Assert.Equal(Ids(records), paged);
        Assert.Equal(records.Count, retry.AlreadyStored);
        Assert.Equal(Ids(records), afterRetry);
    }

    [Fact]
    public async Task HashedValueNeverMatchesReadable()
    {
        // The literal text of a long value's hashed form is a readable value that must not share its partition.
        string longRunId = "run-" + new string('x', AuditTableKeys.MaxReadableValueLength + 100);
        string hashedForm = AuditTableKeys.IndexPartition(AuditTableKeys.RunKind, longRunId)[(AuditTableKeys.RunKind.Length + 1)..];
        IReadOnlyList<SignedAuditRecord> longRun = AuditTestRuns.SealRemediated(longRunId, tables.Signer);
        IReadOnlyList<SignedAuditRecord> literalRun = AuditTestRuns.SealRemediated(hashedForm, tables.Signer);
        await Store.AppendAsync(longRun, CancellationToken.None);
        await Store.AppendAsync(literalRun, CancellationToken.None);

        AuditRecordPage byLongRun = await Store.QueryByRunAsync(longRunId);
        AuditRecordPage byLiteral = await Store.QueryByRunAsync(hashedForm);

        Assert.StartsWith(AuditTableKeys.HashedValuePrefix, hashedForm, StringComparison.Ordinal);
        Assert.NotEqual(
            AuditTableKeys.IndexPartition(AuditTableKeys.RunKind, longRunId),
            AuditTableKeys.IndexPartition(AuditTableKeys.RunKind, hashedForm));
        Assert.Equal(Ids(longRun), Ids(byLongRun.Records));
        Assert.Equal(Ids(literalRun), Ids(byLiteral.Records));
    }

    [Theory]
    [InlineData("not base64!")]
    [InlineData("")]
    [InlineData("bm90IGEgdG9rZW4")]
    [InlineData("aTF8MDAwMDAwMDB8eHx5")]
    public async Task MalformedContinuationRejected(string token)
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);

        var error = await Assert.ThrowsAsync<FormatException>(() => Store.QueryByRunAsync(records[0].RunId, token, pageSize: 4));

        Assert.StartsWith($"Invalid continuation token '{token}'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OtherQueryContinuationRejected()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);
        AuditRecordPage byRun = await Store.QueryByRunAsync(records[0].RunId, pageSize: 4);

        var error = await Assert.ThrowsAsync<FormatException>(() => Store.QueryByFindingAsync(records[0].FindingId!, byRun.ContinuationToken, pageSize: 4));

        Assert.Contains("another run, resource, finding or grant", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenWithoutRecordIdsRejected()
    {
        IReadOnlyList<SignedAuditRecord> records = Seal();
        await Store.AppendAsync(records, CancellationToken.None);
        AuditRecordPage page = await Store.QueryByRunAsync(records[0].RunId, pageSize: 4);
        string text = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(page.ContinuationToken));
        string edited = Base64Url.EncodeToString(Encoding.UTF8.GetBytes(text[..text.LastIndexOf('|')] + "|' or true"));

        var error = await Assert.ThrowsAsync<FormatException>(() => Store.QueryByRunAsync(records[0].RunId, edited, pageSize: 4));

        Assert.Contains("does not contain audit record ids", error.Message, StringComparison.Ordinal);
    }

    private IReadOnlyList<SignedAuditRecord> Seal() => AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), tables.Signer);

    private async Task<List<TableEntity>> ReadPartitionAsync(string kind, string value)
    {
        string partitionKey = AuditTableKeys.IndexPartition(kind, value);
        var entities = new List<TableEntity>();
        await foreach (TableEntity entity in Index.QueryAsync<TableEntity>(TableClient.CreateQueryFilter($"PartitionKey eq {partitionKey}")))
        {
            entities.Add(entity);
        }

        return entities;
    }

    private static async Task<List<SignedAuditRecord>> ReadAllAsync(
        Func<string, string?, int, CancellationToken, Task<AuditRecordPage>> query, string value, int pageSize)
    {
        var records = new List<SignedAuditRecord>();
        string? continuationToken = null;
        int pages = 0;
        do
        {
            Assert.True(++pages <= 1000, "The query returned more than 1000 pages; its continuation tokens do not advance.");
            AuditRecordPage page = await query(value, continuationToken, pageSize, CancellationToken.None);
            Assert.True(page.Records.Count == pageSize || page.ContinuationToken is null, $"A page of {page.Records.Count} records has a continuation token.");
            records.AddRange(page.Records);
            continuationToken = page.ContinuationToken;
        }
        while (continuationToken is not null);

        return records;
    }

    /// <summary>An index entity as stores wrote them before grouping: one per record, keyed by its id.</summary>
    private static TableEntity OldIndexEntity(string partitionKey, SignedAuditRecord record) => new(partitionKey, record.Id)
    {
        ["RecordPartitionKey"] = AuditTableKeys.RecordPartition(record.Id),
        ["Hash"] = record.Hash,
        ["Event"] = record.Event,
        ["Stream"] = record.Stream,
        ["Seq"] = record.Seq,
    };

    private static List<string> Ids(IEnumerable<SignedAuditRecord> records) => records.Select(record => record.Id).ToList();
}
