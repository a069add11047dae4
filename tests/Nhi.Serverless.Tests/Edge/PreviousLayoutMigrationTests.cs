using System.CommandLine;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure.Data.Tables;
using Nhi.Serverless.Azure.Intake;
using Nhi.Serverless.Azure.Runs;
using Nhi.Serverless.Cli.Intake;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>`nhi intake migrate` against Azurite: entities written by hand in the previous key layout must be found
/// by the current run registry and intake journal, and the copy must never overwrite the destination.</summary>
public sealed class PreviousLayoutMigrationTests : IAsyncLifetime
{
    private static readonly string ConnectionString = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING");

    private readonly TableServiceClient _service = new(ConnectionString);
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..10];

    private string OldRuns => "MigOldRuns" + _suffix;

    private string NewRuns => "MigNewRuns" + _suffix;

    private string OldJournal => "MigOldJournal" + _suffix;

    private string NewJournal => "MigNewJournal" + _suffix;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (string table in new[] { OldRuns, NewRuns, OldJournal, NewJournal })
        {
            await _service.DeleteTableAsync(table);
        }
    }

    [Fact]
    public async Task MigratedEntitiesAreFoundByHost()
    {
        string finishedRun = "run-mig-done-" + Guid.NewGuid().ToString("N");
        string openRun = "run-mig-open-" + Guid.NewGuid().ToString("N");
        string finding = "arn:aws:securityhub:eu-west-1:123456789012:finding/mig-" + Guid.NewGuid().ToString("N");
        string otherFinding = finding + "-other";
        DateTimeOffset at = new(2026, 3, 1, 10, 0, 0, TimeSpan.Zero);
        byte[] blob = [1, 2, 3];
        Guid marker = Guid.NewGuid();
        TableEntity finished = OldRun(finishedRun);
        finished["Outcome"] = RunOutcomes.Remediated;
        finished["CompletedAt"] = at.AddMinutes(5);
        finished["Attempts"] = 3L;
        finished["Marker"] = marker;
        finished["Blob"] = blob;
        finished["Ratio"] = 2.5;
        finished["Retried"] = true;
        await WriteAsync(OldRuns, finished, OldRun(openRun));
        await WriteAsync(
            OldJournal,
            OldRecord(finding, "first", at),
            OldRecord(finding, "second", at.AddSeconds(1)),
            OldRecord(finding, "third", at.AddSeconds(2)),
            OldRecord(otherFinding, "other", at));

        (int code, string output, string error) = await MigrateAsync("--progress-every", "2");

        Assert.Equal(0, code);
        Assert.Equal("", error);
        Assert.Contains($"{OldRuns} -> {NewRuns}: 2 read, 2 copied, 0 skipped", output);
        Assert.Contains($"{OldJournal} -> {NewJournal}: 2 read, 2 copied, 0 skipped", output);
        Assert.Contains($"{OldJournal} -> {NewJournal}: 4 read, 4 copied, 0 skipped", output);
        Assert.Contains($"{OldRuns} -> {NewRuns}: 2 copied, 0 skipped (already there).", output);
        Assert.Contains($"{OldJournal} -> {NewJournal}: 4 copied, 0 skipped (already there).", output);

        var registry = TableRunRegistry.FromConnectionString(ConnectionString, NewRuns);
        RunRegistration again = await registry.RegisterAsync(Request(finishedRun), CancellationToken.None);
        Assert.False(again.IsNew);
        Assert.Equal(RunOutcomes.Remediated, again.Outcome);
        RunRegistration open = await registry.RegisterAsync(Request(openRun), CancellationToken.None);
        Assert.False(open.IsNew);
        Assert.Null(open.Outcome);

        TableEntity copy = (await _service.GetTableClient(NewRuns).GetEntityAsync<TableEntity>(TableRunRegistry.PartitionOf(finishedRun), finishedRun)).Value;
        Assert.Equal(at.AddMinutes(5), copy.GetDateTimeOffset("CompletedAt"));
        Assert.Equal(3L, copy.GetInt64("Attempts"));
        Assert.Equal(marker, copy.GetGuid("Marker"));
        Assert.Equal(blob, copy.GetBinary("Blob"));
        Assert.Equal(2.5, copy.GetDouble("Ratio"));
        Assert.True(copy.GetBoolean("Retried") is true);
        Assert.Equal(finished.GetString("Request"), copy.GetString("Request"));

        var journal = TableIntakeJournal.FromConnectionString(ConnectionString, NewJournal);
        IReadOnlyList<IntakeRecord> records = await journal.ListForFindingAsync(finding, CancellationToken.None);
        Assert.Equal(new[] { "first", "second", "third" }, records.Select(record => record.Reason));
        Assert.All(records, record => Assert.Equal(finding, record.FindingId));
        Assert.Equal(at, records[0].At);
        IReadOnlyList<IntakeRecord> other = await journal.ListForFindingAsync(otherFinding, CancellationToken.None);
        Assert.Equal("other", Assert.Single(other).Reason);

        Assert.Equal(2, await CountAsync(OldRuns));
        Assert.Equal(4, await CountAsync(OldJournal));
    }

    [Fact]
    public async Task SecondMigrationCopiesNothing()
    {
        string runId = "run-mig-twice-" + Guid.NewGuid().ToString("N");
        string finding = "finding-mig-twice-" + Guid.NewGuid().ToString("N");
        await WriteAsync(OldRuns, OldRun(runId));
        await WriteAsync(OldJournal, OldRecord(finding, "once", DateTimeOffset.UtcNow), OldRecord(finding, "twice", DateTimeOffset.UtcNow));

        (int firstCode, _, _) = await MigrateAsync();
        (int secondCode, string output, string error) = await MigrateAsync();

        Assert.Equal(0, firstCode);
        Assert.Equal(0, secondCode);
        Assert.Equal("", error);
        Assert.Contains($"{OldRuns} -> {NewRuns}: 0 copied, 1 skipped (already there).", output);
        Assert.Contains($"{OldJournal} -> {NewJournal}: 0 copied, 2 skipped (already there).", output);
        Assert.Equal(1, await CountAsync(NewRuns));
        Assert.Equal(2, await CountAsync(NewJournal));
    }

    [Fact]
    public async Task ExistingRunIdIsNotOverwritten()
    {
        string runId = "run-mig-both-" + Guid.NewGuid().ToString("N");
        var registry = TableRunRegistry.FromConnectionString(ConnectionString, NewRuns);
        Assert.True((await registry.RegisterAsync(Request(runId), CancellationToken.None)).IsNew);
        await registry.MarkCompletedAsync(runId, RunOutcomes.Failed, DateTimeOffset.UtcNow, CancellationToken.None);
        TableEntity old = OldRun(runId);
        old["Outcome"] = RunOutcomes.Remediated;
        old["OnlyInOldTable"] = "old";
        await WriteAsync(OldRuns, old);
        await _service.CreateTableIfNotExistsAsync(OldJournal);

        (int code, string output, _) = await MigrateAsync();

        Assert.Equal(0, code);
        Assert.Contains($"{OldRuns} -> {NewRuns}: 0 copied, 1 skipped (already there).", output);
        RunRegistration again = await registry.RegisterAsync(Request(runId), CancellationToken.None);
        Assert.False(again.IsNew);
        Assert.Equal(RunOutcomes.Failed, again.Outcome);
        TableEntity kept = (await _service.GetTableClient(NewRuns).GetEntityAsync<TableEntity>(TableRunRegistry.PartitionOf(runId), runId)).Value;
        Assert.False(kept.ContainsKey("OnlyInOldTable"));
    }

    [Fact]
    public async Task MissingSourceTableIsNamed()
    {
        await WriteAsync(OldRuns, OldRun("run-mig-missing-" + Guid.NewGuid().ToString("N")));

        (int code, string output, string error) = await MigrateAsync();

        Assert.Equal(1, code);
        Assert.Contains($"the source table '{OldJournal}' does not exist", error);
        Assert.DoesNotContain(OldRuns + "'", error);
        Assert.DoesNotContain("copied", output);
        Assert.Empty(await PreviousLayoutMigration.FindMissingTablesAsync(_service, [OldRuns], CancellationToken.None));
        Assert.Equal(new[] { NewRuns }, await PreviousLayoutMigration.FindMissingTablesAsync(_service, [NewRuns], CancellationToken.None));
    }

    [Fact]
    public async Task MissingConnectionStringIsRejected()
    {
        (int code, _, string error) = await RunCliAsync("--connection-string", "");

        Assert.Equal(1, code);
        Assert.Contains("No storage connection string", error);
        Assert.Contains("NHI_AZURE_STORAGE_CONNECTION_STRING", error);
    }

    [Fact]
    public async Task UnknownKeysAreReported()
    {
        string runId = "run-mig-keys-" + Guid.NewGuid().ToString("N");
        await WriteAsync(OldRuns, OldRun(runId), new TableEntity(TableRunRegistry.PartitionOf(runId), runId));
        await WriteAsync(OldJournal, new TableEntity("journal-0", "not-a-previous-key"));

        (int code, string output, string error) = await MigrateAsync();

        Assert.Equal(2, code);
        Assert.Contains($"{OldRuns} -> {NewRuns}: 1 copied, 0 skipped (already there).", output);
        Assert.Contains($"1 of 2 entities in {OldRuns} were not copied", error);
        Assert.Contains($"1 of 1 entities in {OldJournal} were not copied", error);
        Assert.Equal(1, await CountAsync(NewRuns));
    }

    private Task<(int Code, string Output, string Error)> MigrateAsync(params string[] extra) =>
        RunCliAsync(["--connection-string", ConnectionString, .. extra]);

    private async Task<(int Code, string Output, string Error)> RunCliAsync(params string[] extra)
    {
        var root = new RootCommand { IntakeCommand.Create() };
        string[] args =
        [
            "intake", "migrate", "--from-runs", OldRuns, "--to-runs", NewRuns, "--from-journal", OldJournal, "--to-journal", NewJournal, .. extra,
        ];
        var output = new StringWriter();
        var error = new StringWriter();
        int code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    private async Task WriteAsync(string table, params TableEntity[] entities)
    {
        TableClient client = _service.GetTableClient(table);
        await client.CreateIfNotExistsAsync();
        foreach (TableEntity entity in entities)
        {
            await client.AddEntityAsync(entity);
        }
    }

    private async Task<int> CountAsync(string table)
    {
        int count = 0;
        await foreach (TableEntity _ in _service.GetTableClient(table).QueryAsync<TableEntity>())
        {
            count++;
        }

        return count;
    }

    // The previous run registry layout: PartitionKey the run id, RowKey "run".
    private static TableEntity OldRun(string runId)
    {
        RemediationRequest request = Request(runId);
        return new TableEntity(runId, "run")
        {
            ["FindingId"] = request.Finding.Id,
            ["Source"] = request.Source,
            ["Resource"] = request.Finding.Resource.Id,
            ["AcceptedAt"] = request.ReceivedAt,
            ["Request"] = JsonSerializer.Serialize(request),
        };
    }

    // The previous intake journal layout: PartitionKey "f-" and the first 16 bytes of the finding id's SHA-256 in
    // lowercase hex, RowKey the record time and a GUID.
    private static TableEntity OldRecord(string findingId, string reason, DateTimeOffset at)
    {
        string partitionKey = "f-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(findingId)).AsSpan(0, 16));
        return new TableEntity(partitionKey, $"{at.UtcDateTime:yyyyMMddHHmmssfffffff}-{Guid.NewGuid():N}")
        {
            ["Source"] = "securityhub",
            ["DeliveryId"] = "delivery-" + reason,
            ["FindingId"] = findingId,
            ["RunId"] = null,
            ["Outcome"] = IntakeOutcomes.Skipped,
            ["Reason"] = reason,
            ["At"] = at,
        };
    }

    private static RemediationRequest Request(string runId)
    {
        var resource = new CloudResource("aws", "aws", "123456789012", "eu-west-1", "AwsS3Bucket", "arn:aws:s3:::mig-bucket", "mig-bucket");
        var finding = new Finding(
            "finding-" + runId, "asff", "Security Hub", "S3.2", "Public bucket", "HIGH", new DateTimeOffset(2026, 3, 1, 9, 0, 0, TimeSpan.Zero),
            new FindingStatus("FAILED", "NEW", "ACTIVE"), resource);
        return new RemediationRequest(runId, finding, "securityhub", new DateTimeOffset(2026, 3, 1, 9, 1, 0, TimeSpan.Zero));
    }
}
