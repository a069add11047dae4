using Azure.Data.Tables;
using Nhi.Serverless.Azure.Intake;
using Nhi.Serverless.Azure.Runs;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>The run registry and the intake journal batch concurrent writes into shared partitions; each caller
/// must still learn exactly what happened to its own entity, on Azurite.</summary>
public sealed class GroupCommitTests : IAsyncLifetime
{
    private static readonly string ConnectionString = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING");

    private readonly string _runsTable = "NhiRunsGc" + Guid.NewGuid().ToString("N")[..10];
    private readonly string _journalTable = "NhiJournalGc" + Guid.NewGuid().ToString("N")[..10];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        var service = new TableServiceClient(ConnectionString);
        await service.DeleteTableAsync(_runsTable);
        await service.DeleteTableAsync(_journalTable);
    }

    [Fact]
    public async Task ConcurrentRegistrationsStoreEachRunOnce()
    {
        var registry = TableRunRegistry.FromConnectionString(ConnectionString, _runsTable);
        string[] runIds = Enumerable.Range(0, 300).Select(i => $"run-gc-{i:D4}-{Guid.NewGuid():N}").ToArray();

        // Every id is registered three times at once, so most batches mix new ids with ids that exist.
        (string RunId, Task<RunRegistration> Call)[] calls = runIds
            .SelectMany(runId => Enumerable.Range(0, 3).Select(_ => runId))
            .OrderBy(_ => Random.Shared.Next())
            .Select(runId => (runId, Task.Run(() => registry.RegisterAsync(Request(runId), CancellationToken.None))))
            .ToArray();
        await Task.WhenAll(calls.Select(call => call.Call));

        foreach (IGrouping<string, (string RunId, Task<RunRegistration> Call)> run in calls.GroupBy(call => call.RunId))
        {
            Assert.Single(run, call => call.Call.Result.IsNew);
            Assert.All(run, call => Assert.Null(call.Call.Result.Outcome));
        }

        TableClient table = new TableServiceClient(ConnectionString).GetTableClient(_runsTable);
        List<TableEntity> stored = [];
        await foreach (TableEntity entity in table.QueryAsync<TableEntity>())
        {
            stored.Add(entity);
        }

        Assert.Equal(runIds.Order(StringComparer.Ordinal), stored.Select(entity => entity.RowKey).Order(StringComparer.Ordinal));
        Assert.All(stored, entity => Assert.Equal(TableRunRegistry.PartitionOf(entity.RowKey), entity.PartitionKey));
    }

    [Fact]
    public async Task RegistrationAfterCompletionReportsOutcome()
    {
        var registry = TableRunRegistry.FromConnectionString(ConnectionString, _runsTable);
        string runId = "run-gc-done-" + Guid.NewGuid().ToString("N");

        Assert.True((await registry.RegisterAsync(Request(runId), CancellationToken.None)).IsNew);
        await registry.MarkCompletedAsync(runId, RunOutcomes.Remediated, DateTimeOffset.UtcNow, CancellationToken.None);

        RunRegistration again = await registry.RegisterAsync(Request(runId), CancellationToken.None);
        Assert.False(again.IsNew);
        Assert.Equal(RunOutcomes.Remediated, again.Outcome);
    }

    [Fact]
    public async Task OversizedEntityFailsOnlyItsOwnInsert()
    {
        var registry = TableRunRegistry.FromConnectionString(ConnectionString, _runsTable);
        await registry.RegisterAsync(Request("run-gc-warm-" + Guid.NewGuid().ToString("N")), CancellationToken.None);

        // A title longer than a table property allows makes the service refuse that entity, and with it the
        // whole transaction it shares with the others.
        (bool Oversized, Task<RunRegistration> Call)[] calls = Enumerable.Range(0, 200)
            .Select(i => (Oversized: i % 10 == 0, RunId: $"run-gc-size-{i:D3}-{Guid.NewGuid():N}"))
            .Select(call => (call.Oversized, Task.Run(() => registry.RegisterAsync(
                Request(call.RunId, call.Oversized ? new string('T', 40_000) : "Public bucket"), CancellationToken.None))))
            .ToArray();
        await Task.WhenAll(calls.Select(call => call.Call)).ContinueWith(_ => { }, TaskScheduler.Default);

        Assert.All(calls.Where(call => !call.Oversized), call => Assert.True(call.Call.Result.IsNew));
        Assert.All(calls.Where(call => call.Oversized), call => Assert.True(call.Call.IsFaulted));
    }

    [Fact]
    public async Task ConcurrentJournalRecordsListByFinding()
    {
        var journal = TableIntakeJournal.FromConnectionString(ConnectionString, _journalTable);
        string[] findings = Enumerable.Range(0, 5).Select(i => $"arn:aws:securityhub:eu-west-1:123456789012:finding/gc-{i}-{Guid.NewGuid():N}").ToArray();
        DateTimeOffset at = DateTimeOffset.UtcNow;

        await Task.WhenAll(Enumerable.Range(0, 250).Select(i => Task.Run(() => journal.RecordAsync(
            [new IntakeRecord("securityhub", $"delivery-{i}", findings[i % findings.Length], null, IntakeOutcomes.Skipped, "record " + i, at.AddTicks(i))],
            CancellationToken.None))));

        foreach ((string finding, int index) in findings.Select((finding, index) => (finding, index)))
        {
            IReadOnlyList<IntakeRecord> listed = await journal.ListForFindingAsync(finding, CancellationToken.None);
            Assert.Equal(50, listed.Count);
            Assert.All(listed, record => Assert.Equal(finding, record.FindingId));
            Assert.Equal(
                Enumerable.Range(0, 250).Where(i => i % findings.Length == index).Select(i => "record " + i),
                listed.Select(record => record.Reason));
        }
    }

    private static RemediationRequest Request(string runId, string title = "Public bucket")
    {
        var resource = new CloudResource("aws", "aws", "123456789012", "eu-west-1", "AwsS3Bucket", "arn:aws:s3:::gc-bucket", "gc-bucket");
        var finding = new Finding(
            "finding-" + runId, "asff", "Security Hub", "S3.2", title, "HIGH", DateTimeOffset.UtcNow,
            new FindingStatus("FAILED", "NEW", "ACTIVE"), resource);
        return new RemediationRequest(runId, finding, "securityhub", DateTimeOffset.UtcNow);
    }
}
