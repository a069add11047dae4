using System.CommandLine;
using Azure.Data.Tables;
using Azure.Data.Tables.Models;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Cli.Audit;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Reads audit tables that do not exist through every auditor read path and checks that none of them creates a table.</summary>
public sealed class AuditReadOnlyTests : IAsyncLifetime, IDisposable
{
    private readonly TemporaryDirectory _directory = new();
    private readonly string _suffix = Guid.NewGuid().ToString("N")[..10];
    private TableServiceClient _service = null!;
    private TableAuditStore _store = null!;
    private AuditCheckpointTable _checkpoints = null!;
    private LocalKeyFileSigner _signer = null!;

    private string RecordsTable => "AuditRecRO" + _suffix;

    private string IndexTable => "AuditIdxRO" + _suffix;

    private string CheckpointTable => "AuditCkptRO" + _suffix;

    public async Task InitializeAsync()
    {
        string connectionString = LocalStack.Get(AuditTablesFixture.ConnectionStringKey);
        await AuditTablesFixture.ProbeAzuriteAsync(connectionString);
        _service = new TableServiceClient(connectionString);
        _store = new TableAuditStore(_service, new TableAuditStoreOptions { RecordsTableName = RecordsTable, IndexTableName = IndexTable });
        _checkpoints = new AuditCheckpointTable(_service, CheckpointTable);
        _signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));
    }

    public async Task DisposeAsync()
    {
        if (_service is null)
        {
            return;
        }

        // Deletes whatever a failing test created, so a failure does not leave tables behind.
        foreach (string table in new[] { RecordsTable, IndexTable, CheckpointTable })
        {
            await _service.DeleteTableAsync(table);
        }
    }

    public void Dispose()
    {
        _signer?.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public async Task StoreReadsCreateNoTable()
    {
        DateTimeOffset from = AuditTrailSample.Start;
        DateTimeOffset to = from.AddMinutes(1);
        string recordId = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), _signer, from)[0].Id;

        AuditRecordPage byTime = await _store.QueryByTimeAsync(from, to);
        AuditRecordPage byRun = await _store.QueryByRunAsync("run-missing");
        AuditRecordPage byResource = await _store.QueryByResourceAsync(AuditTestRuns.Resource);
        SignedAuditRecord? record = await _store.GetAsync(recordId, CancellationToken.None);
        string? firstId = await _store.GetFirstRecordIdAsync(CancellationToken.None);
        IReadOnlyList<SignedAuditRecord> after = await _store.ReadAfterAsync(null, to, 10, CancellationToken.None);
        IReadOnlyList<SignedAuditRecord> window = await _store.ReadWindowAsync(new AuditCheckpointWindow(from, to), CancellationToken.None);
        IReadOnlyList<string> missing = await _store.FindMissingTablesAsync(CancellationToken.None);

        Assert.Empty(byTime.Records);
        Assert.Null(byTime.ContinuationToken);
        Assert.Empty(byRun.Records);
        Assert.Empty(byResource.Records);
        Assert.Null(record);
        Assert.Null(firstId);
        Assert.Empty(after);
        Assert.Empty(window);
        Assert.Equal([RecordsTable, IndexTable], missing);
        Assert.Empty(await ExistingTablesAsync());
    }

    [Fact]
    public async Task CheckpointReadsCreateNoTable()
    {
        DateTimeOffset from = AuditTrailSample.Start;

        AuditCheckpointPage page = await _checkpoints.QueryAsync(from, from.AddMinutes(1));
        SignedAuditCheckpoint? latest = await _checkpoints.GetLatestAsync(CancellationToken.None);
        IReadOnlyList<JsonWebKey> keys = await _checkpoints.ReadKeysAsync(CancellationToken.None);
        bool exists = await _checkpoints.ExistsAsync(CancellationToken.None);

        Assert.Empty(page.Checkpoints);
        Assert.Null(latest);
        Assert.Empty(keys);
        Assert.False(exists);
        Assert.Empty(await ExistingTablesAsync());
    }

    [Fact]
    public async Task ExportOfMissingTablesIsEmpty()
    {
        string folder = _directory.File("export");

        AuditExportManifest manifest = await new AuditExporter(_store, _checkpoints, _signer)
            .ExportAsync(AuditTrailSample.Start, AuditTrailSample.Start.AddMinutes(1), folder, null, CancellationToken.None);
        AuditExportReport report = AuditExportFolder.Verify(folder);

        Assert.Equal(0, manifest.RecordCount);
        Assert.Equal(0, manifest.CheckpointCount);
        Assert.True(report.Valid, string.Join("; ", report.FolderProblems.Concat(report.Trail.Problems.Select(problem => problem.ToString()))));
        Assert.Empty(await ExistingTablesAsync());
    }

    [Fact]
    public async Task CliQueryNamesMissingTables()
    {
        (int code, string output) = await RunCliAsync("query", "--run", "run-missing");

        Assert.Equal(2, code);
        Assert.Contains($"The audit table '{RecordsTable}' and '{IndexTable}' does not exist", output, StringComparison.Ordinal);
        Assert.Contains("Nothing was created.", output, StringComparison.Ordinal);
        Assert.Empty(await ExistingTablesAsync());
    }

    [Fact]
    public async Task CliExportNamesMissingTable()
    {
        string folder = _directory.File("cli-export");

        (int code, string output) = await RunCliAsync("export", "--from", "2032-01-05T08:00:00Z", "--to", "2032-01-05T08:01:00Z", "--out", folder, "--signing-key", _signer.KeyFilePath);

        Assert.Equal(2, code);
        Assert.Contains($"The audit table '{RecordsTable}' does not exist", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder));
        Assert.Empty(await ExistingTablesAsync());
    }

    /// <summary>Returns which of this test's tables exist.</summary>
    private async Task<List<string>> ExistingTablesAsync()
    {
        var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase) { RecordsTable, IndexTable, CheckpointTable };
        var existing = new List<string>();
        await foreach (TableItem table in _service.QueryAsync())
        {
            if (names.Contains(table.Name))
            {
                existing.Add(table.Name);
            }
        }

        return existing;
    }

    private async Task<(int Code, string Output)> RunCliAsync(params string[] args)
    {
        string[] tableArgs =
        [
            "--connection-string", LocalStack.Get(AuditTablesFixture.ConnectionStringKey),
            "--records-table", RecordsTable,
            "--index-table", IndexTable,
            "--checkpoints-table", CheckpointTable,
        ];
        var root = new RootCommand { AuditCommand.Create() };
        using var output = new StringWriter();
        int code = await root.Parse(["audit", .. args, .. tableArgs]).InvokeAsync(new InvocationConfiguration { Output = output, Error = output });
        return (code, output.ToString());
    }
}
