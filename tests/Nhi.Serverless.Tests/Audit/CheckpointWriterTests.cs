using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Runs the checkpoint writer against fresh tables on Azurite, with ten-second windows over the sample trail.</summary>
public sealed class CheckpointWriterTests : IAsyncLifetime
{
    private static readonly TimeSpan Window = AuditTrailSample.Window;
    private AuditOutboxTables _tables = null!;
    private AuditTrailSample _trail = null!;

    public async Task InitializeAsync()
    {
        _tables = await AuditOutboxTables.CreateAsync();
        _trail = AuditTrailSample.Build(_tables.Signer, _tables.Jwks);
        await _tables.Store.AppendAsync(_trail.Records, CancellationToken.None);
    }

    public async Task DisposeAsync() => await _tables.DisposeAsync();

    [Fact]
    public async Task SealsEveryEndedWindow()
    {
        IReadOnlyList<SignedAuditCheckpoint> written = await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);

        Assert.Equal(_trail.Checkpoints.Select(checkpoint => checkpoint.Window), written.Select(checkpoint => checkpoint.Window));
        Assert.Equal(_trail.Checkpoints.Select(checkpoint => checkpoint.MerkleRoot), written.Select(checkpoint => checkpoint.MerkleRoot));
        Assert.Equal(_trail.Checkpoints.Select(checkpoint => checkpoint.RecordCount), written.Select(checkpoint => checkpoint.RecordCount));
    }

    [Fact]
    public async Task FirstWindowHoldsFirstRecord()
    {
        IReadOnlyList<SignedAuditCheckpoint> written = await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);

        Assert.Equal(_trail.Records[0].Id, written[0].FirstRecordId);
        Assert.Equal(AuditCheckpoints.GenesisHash, written[0].PreviousHash);
    }

    [Fact]
    public async Task SecondPassWritesNothing()
    {
        CheckpointWriter writer = _tables.CreateWriter(Window);
        await writer.CloseEndedWindowsAsync(At(40), CancellationToken.None);

        IReadOnlyList<SignedAuditCheckpoint> again = await writer.CloseEndedWindowsAsync(At(40), CancellationToken.None);

        Assert.Empty(again);
    }

    [Fact]
    public async Task OpenWindowWaitsForCloseDelay()
    {
        IReadOnlyList<SignedAuditCheckpoint> written = await _tables.CreateWriter(Window, closeDelay: TimeSpan.FromSeconds(15))
            .CloseEndedWindowsAsync(At(40), CancellationToken.None);

        // Windows ending at 10 and 20 seconds are 15 seconds old by 40 seconds; the one ending at 30 is not.
        Assert.Equal(2, written.Count);
    }

    [Fact]
    public async Task RestartResumesChain()
    {
        IReadOnlyList<SignedAuditCheckpoint> first = await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(20), CancellationToken.None);

        IReadOnlyList<SignedAuditCheckpoint> second = await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);

        Assert.Equal(2, first.Count);
        Assert.Equal(2, second.Count);
        Assert.Equal(first[^1].Hash, second[0].PreviousHash);
        Assert.Equal(first[^1].Window.End, second[0].Window.Start);
    }

    [Fact]
    public async Task LatestFoundWithoutHead()
    {
        // A writer that crashed after inserting a checkpoint but before moving the head leaves the head behind.
        await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);
        await _tables.ServiceClient.GetTableClient(_tables.CheckpointTableName).DeleteEntityAsync("head", "latest");

        SignedAuditCheckpoint? latest = await _tables.Checkpoints.GetLatestAsync(CancellationToken.None);

        Assert.Equal(_trail.Checkpoints[^1].Window, latest?.Window);
    }

    [Fact]
    public async Task ConcurrentWritersKeepOneChain()
    {
        using var otherKeys = new TemporaryDirectory();
        using LocalKeyFileSigner otherSigner = LocalKeyFileSigner.LoadOrCreate(otherKeys.File("other.pem"));
        CheckpointWriter[] writers = [_tables.CreateWriter(Window), _tables.CreateWriter(Window), _tables.CreateWriter(Window, signer: otherSigner)];

        await Task.WhenAll(writers.Select(writer => writer.CloseEndedWindowsAsync(At(40), CancellationToken.None)));
        IReadOnlyList<SignedAuditCheckpoint> stored = await _tables.Checkpoints.ReadRangeAsync(At(0), At(40), CancellationToken.None);
        AuditTrailReport report = AuditVerifier.VerifyTrail(_trail.Records, stored, Jwks.FromSigners(_tables.Signer, otherSigner));

        Assert.Equal(4, stored.Count);
        Assert.True(report.Valid, string.Join("; ", report.Problems));
    }

    [Fact]
    public async Task StoredTrailVerifies()
    {
        await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);

        IReadOnlyList<SignedAuditCheckpoint> stored = await _tables.Checkpoints.ReadRangeAsync(At(0), At(40), CancellationToken.None);
        IReadOnlyList<SignedAuditRecord> records = await _tables.Store.ReadWindowAsync(new AuditCheckpointWindow(At(0), At(40)), CancellationToken.None);
        AuditTrailReport report = AuditVerifier.VerifyTrail(records, stored, _tables.Jwks);

        Assert.True(report.Valid, string.Join("; ", report.Problems));
        Assert.Equal(_trail.Records.Count, report.CoveredRecordCount);
    }

    [Fact]
    public async Task ForeignRecordListedAsRejected()
    {
        using var otherKeys = new TemporaryDirectory();
        using LocalKeyFileSigner forger = LocalKeyFileSigner.LoadOrCreate(otherKeys.File("forger.pem"));
        IReadOnlyList<SignedAuditRecord> forged = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), forger, AuditTrailSample.Start.AddSeconds(14));
        await _tables.Store.AppendAsync(forged, CancellationToken.None);

        IReadOnlyList<SignedAuditCheckpoint> written = await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);

        Assert.Equal(forged.Count, written[1].RejectedRecordCount);
        Assert.Equal(forged[0].Id, written[1].RejectedRecords[0].RecordId);
    }

    [Fact]
    public async Task SigningKeyPublished()
    {
        await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);

        IReadOnlyList<JsonWebKey> keys = await _tables.Checkpoints.ReadKeysAsync(CancellationToken.None);

        Assert.Equal(_tables.Signer.PublicJwk, Assert.Single(keys));
    }

    [Fact]
    public async Task RetiredKeysPublished()
    {
        using var directory = new TemporaryDirectory();
        using LocalKeyFileSigner retired = LocalKeyFileSigner.LoadOrCreate(directory.File("retired.pem"));
        var trusted = new Jwks([_tables.Signer.PublicJwk, retired.PublicJwk]);
        var writer = new CheckpointWriter(_tables.Store, _tables.Checkpoints, _tables.Signer, trusted, new AuditCheckpointOptions
        {
            TableName = _tables.CheckpointTableName,
            Window = Window,
            CloseDelay = TimeSpan.Zero,
        });

        await writer.CloseEndedWindowsAsync(At(40), CancellationToken.None);
        IReadOnlyList<JsonWebKey> keys = await _tables.Checkpoints.ReadKeysAsync(CancellationToken.None);

        Assert.Equal(2, keys.Count);
        Assert.Contains(retired.PublicJwk, keys);
        Assert.Contains(_tables.Signer.PublicJwk, keys);
    }

    [Fact]
    public async Task RangeQueryReturnsOverlappingWindows()
    {
        await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);

        IReadOnlyList<SignedAuditCheckpoint> overlapping = await _tables.Checkpoints.ReadRangeAsync(At(15), At(25), CancellationToken.None);

        Assert.Equal([_trail.WindowAt(1), _trail.WindowAt(2)], overlapping.Select(checkpoint => checkpoint.Window));
    }

    [Fact]
    public async Task LateRecordsLoggedByTrail()
    {
        await _tables.CreateWriter(Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);
        var logs = new Infrastructure.CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs));
        var trail = new TableAuditTrail(_tables.Store, _tables.Signer, logger: loggerFactory.CreateLogger<TableAuditTrail>(), checkpoints: _tables.Checkpoints);
        string runId = AuditTestRuns.NewRunId();

        await trail.RecordRunAsync(AuditTestRuns.Request(runId, AuditTrailSample.Start.AddSeconds(25)), AuditTestRuns.Remediated(runId, AuditTrailSample.Start.AddSeconds(25)), CancellationToken.None);

        Assert.Contains(logs.Lines, line => line.StartsWith("Error", StringComparison.Ordinal) && line.Contains("sealed", StringComparison.Ordinal) && line.Contains(runId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task ReadsNeverCreateTable()
    {
        string name = "AuditCkptNone" + Guid.NewGuid().ToString("N")[..8];
        var missing = new AuditCheckpointTable(_tables.ServiceClient, name);

        SignedAuditCheckpoint? latest = await missing.GetLatestAsync(CancellationToken.None);
        IReadOnlyList<SignedAuditCheckpoint> range = await missing.ReadRangeAsync(At(0), At(40), CancellationToken.None);
        IReadOnlyList<JsonWebKey> keys = await missing.ReadKeysAsync(CancellationToken.None);

        Assert.Null(latest);
        Assert.Empty(range);
        Assert.Empty(keys);
        Assert.Empty(_tables.ServiceClient.Query(filter: $"TableName eq '{name}'"));
    }

    [Fact]
    public async Task SigningKeyNeverWritten()
    {
        var logs = new Infrastructure.CapturingLoggerProvider();
        using var loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(logs).SetMinimumLevel(LogLevel.Trace));
        var writer = new CheckpointWriter(
            _tables.Store, _tables.Checkpoints, _tables.Signer, _tables.Jwks,
            new AuditCheckpointOptions { TableName = _tables.CheckpointTableName, Window = Window, CloseDelay = TimeSpan.Zero },
            loggerFactory.CreateLogger<CheckpointWriter>());
        using var key = System.Security.Cryptography.ECDsa.Create();
        key.ImportFromPem(await File.ReadAllTextAsync(_tables.Signer.KeyFilePath));
        string privateScalar = System.Buffers.Text.Base64Url.EncodeToString(key.ExportParameters(includePrivateParameters: true).D);
        string pemBody = string.Concat((await File.ReadAllLinesAsync(_tables.Signer.KeyFilePath)).Where(line => !line.StartsWith("-----", StringComparison.Ordinal)));

        IReadOnlyList<SignedAuditCheckpoint> written = await writer.CloseEndedWindowsAsync(At(40), CancellationToken.None);
        string keys = string.Join("\n", (await _tables.Checkpoints.ReadKeysAsync(CancellationToken.None)).Select(jwk => jwk.ToJsonObject().ToJsonString()));
        string[] outputs = [.. logs.Lines, .. written.Select(checkpoint => checkpoint.Json), keys];

        Assert.NotEmpty(written);
        Assert.DoesNotContain(outputs, text => text.Contains(privateScalar, StringComparison.Ordinal));
        Assert.DoesNotContain(outputs, text => text.Contains(pemBody[..40], StringComparison.Ordinal));
        Assert.DoesNotContain("\"d\"", keys, StringComparison.Ordinal);
    }

    private static DateTimeOffset At(int seconds) => AuditTrailSample.Start.AddSeconds(seconds);
}
