using System.CommandLine;
using System.Runtime.Versioning;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Cli.Audit;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Rotates the local signing key in the middle of a trail and verifies the trail with and without the retired key.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class AuditKeyRotationTests : IDisposable
{
    private readonly TemporaryDirectory _directory = new();
    private readonly AuditSigningOptions _options;

    public AuditKeyRotationTests() => _options = new AuditSigningOptions { KeyFilePath = _directory.File("keys", "signing.pem") };

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void RotationRetiresOldPublicKey()
    {
        string oldKid;
        using (LocalKeyFileSigner first = LocalKeyFileSigner.LoadOrCreate(_options))
        {
            oldKid = first.KeyId;
        }

        using LocalKeyFileSigner rotated = LocalKeyFileSigner.Rotate(_options);
        using LocalKeyFileSigner reloaded = LocalKeyFileSigner.Load(_options.KeyFilePath);

        Assert.NotEqual(oldKid, rotated.KeyId);
        Assert.Equal(rotated.KeyId, reloaded.KeyId);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(_options.KeyFilePath));
        Assert.Equal([oldKid], RetiredAuditKeys.Read(_directory.File("keys", AuditSigningOptions.DefaultRetiredKeysFileName)).Select(key => key.Kid));
        Assert.Equal([rotated.KeyId, oldKid], RetiredAuditKeys.Publish(rotated, _options).Keys.Select(key => key.Kid));
        Assert.Empty(Directory.GetFiles(_directory.File("keys"), "*.tmp"));
    }

    [Fact]
    public void SecondRotationKeepsBothRetiredKeys()
    {
        var kids = new List<string>();
        using (LocalKeyFileSigner first = LocalKeyFileSigner.LoadOrCreate(_options))
        {
            kids.Add(first.KeyId);
        }

        using (LocalKeyFileSigner second = LocalKeyFileSigner.Rotate(_options))
        {
            kids.Add(second.KeyId);
        }

        using LocalKeyFileSigner third = LocalKeyFileSigner.Rotate(_options);

        Assert.Equal([third.KeyId, kids[0], kids[1]], RetiredAuditKeys.Publish(third, _options).Keys.Select(key => key.Kid));
    }

    [Fact]
    public void RotationNeedsExistingKey()
    {
        var error = Assert.Throws<InvalidOperationException>(() => LocalKeyFileSigner.Rotate(_options));

        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
        Assert.False(File.Exists(_options.KeyFilePath));
        Assert.False(File.Exists(_options.ResolveRetiredKeysFilePath()));
    }

    [Fact]
    public void TrailAcrossRotationVerifies()
    {
        RotatedTrail trail = BuildRotatedTrail();
        Jwks published = Jwks.Parse(trail.Published.ToJson());

        AuditTrailReport report = AuditVerifier.VerifyTrail(trail.Records, trail.Checkpoints, published, new AuditTrailVerificationOptions { VerifyAllSignatures = true });

        Assert.True(report.Valid, string.Join("; ", report.Problems));
        Assert.Equal(trail.Records.Count, report.SignaturesVerified);
        Assert.Equal(4, report.CheckpointCount);
        Assert.Equal(new[] { trail.OldKid, trail.NewKid }.Order(StringComparer.Ordinal), report.KeyIds);
    }

    [Fact]
    public void RemovedKeyReportsItsRecords()
    {
        RotatedTrail trail = BuildRotatedTrail();
        var withoutOldKey = new Jwks(trail.Published.Keys.Where(key => key.Kid != trail.OldKid));
        HashSet<string> oldKeyRecords = trail.Records.Where(record => record.KeyId == trail.OldKid).Select(record => record.Id).ToHashSet();

        AuditTrailReport report = AuditVerifier.VerifyTrail(trail.Records, trail.Checkpoints, withoutOldKey);

        List<AuditTrailProblem> unknownRecords = report.Problems.Where(problem => problem.Kind == AuditProblemKind.UnknownKey && problem.RecordId is not null).ToList();
        Assert.False(report.Valid);
        Assert.Equal(trail.Records.Count / 2, oldKeyRecords.Count);
        Assert.Equal(oldKeyRecords, unknownRecords.Select(problem => problem.RecordId!).ToHashSet());
        Assert.All(unknownRecords, problem => Assert.Contains($"record {problem.RecordId} is signed with kid '{trail.OldKid}'", problem.Message, StringComparison.Ordinal));
        Assert.Contains(report.Problems, problem => problem.Kind == AuditProblemKind.UnknownKey && problem.CheckpointId == trail.Checkpoints[0].Id);
        Assert.DoesNotContain(report.Problems, problem => problem.RecordId is { } id && !oldKeyRecords.Contains(id));
    }

    [Fact]
    public async Task HostPublishesRetiredKeys()
    {
        JsonWebKey retired;
        using (LocalKeyFileSigner earlier = LocalKeyFileSigner.LoadOrCreate(_directory.File("earlier.pem")))
        {
            retired = earlier.PublicJwk;
        }

        string retiredKeysFile = _directory.File("retired.jwks.json");
        RetiredAuditKeys.Add(retiredKeysFile, retired);

        await using NhiTestHost host = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?> { ["Audit:Signing:RetiredKeysFilePath"] = retiredKeysFile });
        Jwks published = Jwks.Parse(await host.Http.GetStringAsync("/.well-known/jwks.json"));

        Assert.Equal(2, published.Keys.Count);
        Assert.Equal(retired, published.Keys[1]);
    }

    [Fact]
    public async Task CliRotatesKeyFile()
    {
        string oldKid;
        using (LocalKeyFileSigner first = LocalKeyFileSigner.LoadOrCreate(_options))
        {
            oldKid = first.KeyId;
        }

        (int code, string output) = await RunCliAsync("audit", "rotate-key", "--key-file", _options.KeyFilePath);

        using LocalKeyFileSigner rotated = LocalKeyFileSigner.Load(_options.KeyFilePath);
        Assert.Equal(0, code);
        Assert.Contains($"retired key {oldKid}", output, StringComparison.Ordinal);
        Assert.Contains($"new key {rotated.KeyId}", output, StringComparison.Ordinal);
        Assert.Equal([oldKid], RetiredAuditKeys.Read(_options.ResolveRetiredKeysFilePath()!).Select(key => key.Kid));
    }

    [Fact]
    public async Task CliRotateFailsWithoutKeyFile()
    {
        (int code, string output) = await RunCliAsync("audit", "rotate-key", "--key-file", _options.KeyFilePath);

        Assert.Equal(2, code);
        Assert.Contains($"'{_options.KeyFilePath}' does not exist", output, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Output)> RunCliAsync(params string[] args)
    {
        var root = new RootCommand { AuditCommand.Create() };
        using var output = new StringWriter();
        int code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = output });
        return (code, output.ToString());
    }

    /// <summary>Seals three runs with the first key and checkpoints their window, rotates, then seals three more runs and three more windows with the new key.</summary>
    private RotatedTrail BuildRotatedTrail()
    {
        var records = new List<SignedAuditRecord>();
        var checkpoints = new List<SignedAuditCheckpoint>();
        AuditCheckpointWindow window = AuditCheckpointWindow.Containing(AuditTrailSample.Start, AuditTrailSample.Window);
        string oldKid;
        using (LocalKeyFileSigner first = LocalKeyFileSigner.LoadOrCreate(_options))
        {
            oldKid = first.KeyId;
            SealRuns(records, first, 0, 3);
            checkpoints.Add(AuditCheckpoints.Seal(null, window, records.ToList(), Jwks.FromSigners(first), first, window.End.AddSeconds(1)));
        }

        using LocalKeyFileSigner rotated = LocalKeyFileSigner.Rotate(_options);
        Jwks published = RetiredAuditKeys.Publish(rotated, _options);
        SealRuns(records, rotated, 3, 6);
        for (int i = 1; i < 4; i++)
        {
            window = AuditCheckpointWindow.StartingAt(window.End, AuditTrailSample.Window);
            AuditCheckpointWindow current = window;
            List<SignedAuditRecord> inWindow = records.Where(record => current.Contains(record.Id)).ToList();
            checkpoints.Add(AuditCheckpoints.Seal(checkpoints[^1], current, inWindow, published, rotated, current.End.AddSeconds(1)));
        }

        return new RotatedTrail(records, checkpoints, published, oldKid, rotated.KeyId);
    }

    /// <summary>Seals runs that start 4 seconds apart, as <see cref="AuditTrailSample"/> does, and keeps the records in id order.</summary>
    private static void SealRuns(List<SignedAuditRecord> records, IAuditSigner signer, int firstRun, int endRun)
    {
        for (int run = firstRun; run < endRun; run++)
        {
            records.AddRange(AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), signer, AuditTrailSample.Start.AddSeconds(4 * run)));
        }

        records.Sort((left, right) => string.CompareOrdinal(left.Id, right.Id));
    }

    private sealed record RotatedTrail(List<SignedAuditRecord> Records, List<SignedAuditCheckpoint> Checkpoints, Jwks Published, string OldKid, string NewKid);
}
