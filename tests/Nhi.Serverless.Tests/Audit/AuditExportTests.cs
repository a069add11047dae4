using System.CommandLine;
using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Cli.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Exports the sample trail from Azurite with the exporter and the "nhi audit" commands, and verifies the folder offline.</summary>
public sealed class AuditExportTests : IAsyncLifetime, IDisposable
{
    private readonly TemporaryDirectory _directory = new();
    private AuditOutboxTables _tables = null!;
    private AuditTrailSample _trail = null!;

    public async Task InitializeAsync()
    {
        _tables = await AuditOutboxTables.CreateAsync();
        _trail = AuditTrailSample.Build(_tables.Signer, _tables.Jwks);
        await _tables.Store.AppendAsync(_trail.Records, CancellationToken.None);
        await _tables.CreateWriter(AuditTrailSample.Window).CloseEndedWindowsAsync(At(40), CancellationToken.None);
    }

    public async Task DisposeAsync() => await _tables.DisposeAsync();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public async Task ExportVerifies()
    {
        string folder = await ExportAsync(At(0), At(40));

        AuditExportReport report = AuditExportFolder.Verify(folder);

        Assert.True(report.Valid, string.Join("; ", report.Trail.Problems.Select(problem => problem.ToString()).Concat(report.FolderProblems)));
        Assert.Equal(_trail.Records.Count, report.Trail.RecordCount);
        Assert.Equal(4, report.Trail.CheckpointCount);
        Assert.Equal(_tables.Signer.KeyId, report.ManifestKeyId);
    }

    [Fact]
    public async Task EditedManifestFailsVerification()
    {
        string folder = await ExportAsync(At(0), At(40));
        string records = Path.Combine(folder, AuditExportFolder.RecordsFile);
        List<string> lines = (await File.ReadAllLinesAsync(records)).ToList();
        lines.RemoveAt(lines.Count - 1);
        await File.WriteAllLinesAsync(records, lines);
        await EditManifestAsync(folder, manifest => manifest["record_count"] = lines.Count);

        AuditExportReport report = AuditExportFolder.Verify(folder);

        Assert.False(report.Valid);
        Assert.Contains("manifest.json does not match its hash: its content changed after it was signed", report.FolderProblems);
        Assert.DoesNotContain(report.FolderProblems, problem => problem.Contains("records.jsonl has", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ShortenedRangeFailsVerification()
    {
        string folder = await ExportAsync(At(0), At(40));
        string checkpoints = Path.Combine(folder, AuditExportFolder.CheckpointsFile);
        List<string> lines = (await File.ReadAllLinesAsync(checkpoints)).ToList();
        lines.RemoveAt(lines.Count - 1);
        await File.WriteAllLinesAsync(checkpoints, lines);
        await EditManifestAsync(folder, manifest =>
        {
            manifest["checkpoint_count"] = lines.Count;
            manifest["checkpointed_through"] = AuditExportFolder.FormatTime(At(30));
        });

        AuditExportReport report = AuditExportFolder.Verify(folder);

        Assert.True(report.Trail.Valid, string.Join("; ", report.Trail.Problems));
        Assert.Equal(["manifest.json does not match its hash: its content changed after it was signed"], report.FolderProblems);
    }

    [Fact]
    public async Task EditedJwksFailsVerification()
    {
        string folder = await ExportAsync(At(0), At(40));
        using var keys = new TemporaryDirectory();
        using LocalKeyFileSigner other = LocalKeyFileSigner.LoadOrCreate(keys.File("other.pem"));
        string jwksPath = Path.Combine(folder, AuditExportFolder.JwksFile);
        Jwks edited = new([.. Jwks.Parse(await File.ReadAllTextAsync(jwksPath)).Keys, other.PublicJwk]);
        await File.WriteAllTextAsync(jwksPath, edited.ToJson());

        AuditExportReport report = AuditExportFolder.Verify(folder);

        Assert.False(report.Valid);
        Assert.Contains("jwks.json differs from the signed copy in manifest.json: a key was added, removed or changed after the export", report.FolderProblems);
    }

    [Fact]
    public async Task ResignedManifestFailsWithTrustedKeys()
    {
        string folder = await ExportAsync(At(0), At(40));
        using var keys = new TemporaryDirectory();
        using LocalKeyFileSigner forger = LocalKeyFileSigner.LoadOrCreate(keys.File("forger.pem"));
        AuditExportManifest original = AuditExportFolder.ReadManifest(folder);
        var forgedKeys = new Jwks([.. Jwks.Parse(await File.ReadAllTextAsync(Path.Combine(folder, AuditExportFolder.JwksFile))).Keys, forger.PublicJwk]);
        await AuditExportFolder.WriteManifestAsync(folder, original with { CheckpointedThrough = At(20) }, forgedKeys, forger, CancellationToken.None);

        AuditExportReport selfContained = AuditExportFolder.Verify(folder);
        AuditExportReport trusted = AuditExportFolder.Verify(folder, _tables.Jwks);

        Assert.Equal(forger.KeyId, selfContained.ManifestKeyId);
        Assert.Empty(selfContained.FolderProblems);
        Assert.False(trusted.Valid);
        Assert.Contains($"manifest.json: unknown kid '{forger.KeyId}': no key in the JWKS has this id", trusted.FolderProblems);
    }

    [Fact]
    public async Task UnsignedManifestFailsVerification()
    {
        string folder = await ExportAsync(At(0), At(40));
        await EditManifestAsync(folder, manifest =>
        {
            manifest.Remove("kid");
            manifest.Remove("alg");
            manifest.Remove("hash");
            manifest.Remove("signature");
        });

        AuditExportReport report = AuditExportFolder.Verify(folder);

        Assert.Null(report.ManifestKeyId);
        Assert.Contains(report.FolderProblems, problem => problem.StartsWith("manifest.json is not signed", StringComparison.Ordinal));
    }

    [Fact]
    public async Task CliVerifyReportsEditedManifest()
    {
        string folder = await ExportAsync(At(0), At(40));
        await EditManifestAsync(folder, manifest => manifest["to"] = AuditExportFolder.FormatTime(At(20)));

        (int code, string output) = await RunCliAsync("verify", folder);

        Assert.Equal(1, code);
        Assert.Contains($"manifest signed with key {_tables.Signer.KeyId}", output, StringComparison.Ordinal);
        Assert.Contains("PROBLEM Folder: manifest.json does not match its hash", output, StringComparison.Ordinal);
        Assert.Contains("FAILED", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliExportNeedsSigningKey()
    {
        var root = new RootCommand { AuditCommand.Create() };
        using var output = new StringWriter();
        string[] args =
        [
            "audit", "export", "--from", "2032-01-05T08:00:00Z", "--to", "2032-01-05T08:00:40Z", "--out", _directory.File("unsigned"),
            "--connection-string", Infrastructure.LocalStack.Get(AuditTablesFixture.ConnectionStringKey),
            "--signing-key", _directory.File("missing.pem"),
        ];

        int code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = output });

        Assert.Equal(2, code);
        Assert.Contains($"'{_directory.File("missing.pem")}' does not exist", output.ToString(), StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_directory.File("unsigned"), AuditExportFolder.ManifestFile)));
    }

    [Fact]
    public async Task ExportWidensToWholeWindows()
    {
        AuditExportManifest manifest = await new AuditExporter(_tables.Store, _tables.Checkpoints, _tables.Signer)
            .ExportAsync(At(13), At(17), _directory.File("partial"), null, CancellationToken.None);

        Assert.Equal(At(10), manifest.RecordsFrom);
        Assert.Equal(At(20), manifest.RecordsTo);
        Assert.Equal(_trail.RecordsIn(1).Count, manifest.RecordCount);
    }

    [Fact]
    public async Task ExportCarriesPublishedKeys()
    {
        string folder = await ExportAsync(At(0), At(40));

        Jwks jwks = Jwks.Parse(await File.ReadAllTextAsync(Path.Combine(folder, AuditExportFolder.JwksFile)));

        Assert.Equal(_tables.Signer.KeyId, Assert.Single(jwks.Keys).Kid);
    }

    [Fact]
    public async Task DeletedLineFailsVerification()
    {
        string folder = await ExportAsync(At(0), At(40));
        string records = Path.Combine(folder, AuditExportFolder.RecordsFile);
        List<string> lines = (await File.ReadAllLinesAsync(records)).ToList();
        string deleted = (string)JsonNode.Parse(lines[^1])!["id"]!;
        lines.RemoveAt(lines.Count - 1);
        await File.WriteAllLinesAsync(records, lines);

        AuditExportReport report = AuditExportFolder.Verify(folder);

        Assert.False(report.Valid);
        Assert.Contains(report.Trail.Problems, problem => problem.Kind == AuditProblemKind.MissingRecord && problem.RecordId == deleted);
    }

    [Fact]
    public async Task NonEmptyFolderRejected()
    {
        string folder = await ExportAsync(At(0), At(40));

        await Assert.ThrowsAsync<IOException>(() => new AuditExporter(_tables.Store, _tables.Checkpoints, _tables.Signer).ExportAsync(At(0), At(40), folder, null, CancellationToken.None));
    }

    [Fact]
    public async Task CliExportThenVerifyExitsZero()
    {
        string folder = _directory.File("cli");

        (int exportCode, string exportOutput) = await RunCliAsync("export", "--from", "2032-01-05T08:00:00Z", "--to", "2032-01-05T08:00:40Z", "--out", folder);
        (int verifyCode, string verifyOutput) = await RunCliAsync("verify", folder);

        Assert.Equal(0, exportCode);
        Assert.Contains($"exported {_trail.Records.Count} records and 4 checkpoints", exportOutput, StringComparison.Ordinal);
        Assert.Equal(0, verifyCode);
        Assert.Contains("VALID", verifyOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliVerifyExitsOneOnTampering()
    {
        string folder = await ExportAsync(At(0), At(40));
        string checkpoints = Path.Combine(folder, AuditExportFolder.CheckpointsFile);
        List<string> lines = (await File.ReadAllLinesAsync(checkpoints)).ToList();
        lines.RemoveAt(1);
        await File.WriteAllLinesAsync(checkpoints, lines);

        (int code, string output) = await RunCliAsync("verify", folder);

        Assert.Equal(1, code);
        Assert.Contains("PROBLEM CheckpointGap", output, StringComparison.Ordinal);
        Assert.Contains("FAILED", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliVerifyExitsOneOnMissingFolder()
    {
        (int code, string output) = await RunCliAsync("verify", _directory.File("missing"));

        Assert.Equal(1, code);
        Assert.Contains("cannot be read", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliQueryPagesByRun()
    {
        string runId = _trail.Records[0].RunId;

        (int code, string output, string error) = await RunCliWithErrorAsync("query", "--run", runId, "--limit", "5");
        string continuation = error.Split('\n').Single(line => line.StartsWith("continuation: ", StringComparison.Ordinal))["continuation: ".Length..].Trim();
        (int nextCode, string next, _) = await RunCliWithErrorAsync("query", "--run", runId, "--limit", "5", "--continuation", continuation);

        string[] expected = _trail.Records.Where(record => record.RunId == runId).Select(record => record.Json).ToArray();
        Assert.Equal(0, code);
        Assert.Equal(0, nextCode);
        Assert.Equal(expected.Take(5), Lines(output));
        Assert.Equal(expected.Skip(5).Take(5), Lines(next));
    }

    [Fact]
    public async Task CliQueryRejectsBadContinuation()
    {
        (int code, string output, string error) = await RunCliWithErrorAsync("query", "--run", _trail.Records[0].RunId, "--continuation", "not-a-token");

        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("error: Invalid continuation token 'not-a-token'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliQueryByTimeRange()
    {
        (int code, string output, _) = await RunCliWithErrorAsync("query", "--from", "2032-01-05T08:00:10Z", "--to", "2032-01-05T08:00:20Z", "--all");

        Assert.Equal(0, code);
        Assert.Equal(_trail.RecordsIn(1).Select(record => record.Json), Lines(output));
    }

    [Fact]
    public async Task CliTimeQueryRejectsBadContinuation()
    {
        (int code, string output, string error) = await RunCliWithErrorAsync(
            "query", "--from", "2032-01-05T08:00:10Z", "--to", "2032-01-05T08:00:20Z", "--continuation", "garbage");

        Assert.Equal(2, code);
        Assert.Equal("", output);
        Assert.Contains("error: Invalid continuation token 'garbage'", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliQueryNeedsOneSelector()
    {
        (int code, _, string error) = await RunCliWithErrorAsync("query", "--run", "a", "--grant", "b");

        Assert.Equal(2, code);
        Assert.Contains("exactly one", error, StringComparison.Ordinal);
    }

    private async Task<string> ExportAsync(DateTimeOffset from, DateTimeOffset to)
    {
        string folder = _directory.File("export-" + Guid.NewGuid().ToString("N")[..6]);
        await new AuditExporter(_tables.Store, _tables.Checkpoints, _tables.Signer).ExportAsync(from, to, folder, null, CancellationToken.None);
        return folder;
    }

    private static async Task EditManifestAsync(string folder, Action<JsonObject> edit)
    {
        string path = Path.Combine(folder, AuditExportFolder.ManifestFile);
        JsonObject manifest = JsonNode.Parse(await File.ReadAllTextAsync(path))!.AsObject();
        edit(manifest);
        await File.WriteAllTextAsync(path, manifest.ToJsonString());
    }

    private async Task<(int Code, string Output)> RunCliAsync(params string[] args)
    {
        (int code, string output, string error) = await RunCliWithErrorAsync(args);
        return (code, output + error);
    }

    /// <summary>Runs "nhi audit ..." in process against this test's tables.</summary>
    private async Task<(int Code, string Output, string Error)> RunCliWithErrorAsync(params string[] args)
    {
        string[] tableArgs =
        [
            "--connection-string", Infrastructure.LocalStack.Get(AuditTablesFixture.ConnectionStringKey),
            "--records-table", _tables.StoreOptions.RecordsTableName,
            "--index-table", _tables.StoreOptions.IndexTableName,
            "--checkpoints-table", _tables.CheckpointTableName,
        ];
        string[] full = args[0] switch
        {
            "verify" => ["audit", .. args],
            "export" => ["audit", .. args, .. tableArgs, "--signing-key", _tables.Signer.KeyFilePath],
            _ => ["audit", .. args, .. tableArgs],
        };
        var root = new RootCommand { AuditCommand.Create() };
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = await root.Parse(full).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    private static IEnumerable<string> Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.TrimEnd('\r'));

    private static DateTimeOffset At(int seconds) => AuditTrailSample.Start.AddSeconds(seconds);
}
