using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting.Http;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Ledger;

/// <summary>
/// Fault injection on the real stack: the local host runs as a child process, is killed with SIGKILL after STS
/// issued the run's credential and before the run revoked it, and is started again. The credential must be revoked
/// and verified within the sweeper interval plus the revocation time after it became due, and on the Azure Storage
/// backend the run must resume and finish. The test prints what it measured.
/// </summary>
public sealed class HostCrashTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan SweepInterval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan MaxStep = TimeSpan.FromSeconds(10);

    // Listing the open grants and reading each one's run status before the sweep reaches this grant, and a sweep that
    // was still going when the grant became due: the next one starts an interval after it ends. A full test run on
    // 2 cores measured up to 2.8 s past the interval here.
    private static readonly TimeSpan ListingAllowance = TimeSpan.FromSeconds(3);

    private readonly AwsTestStack _aws = new();
    private readonly LedgerTables _tables = new();
    private readonly string _keyDirectory = Directory.CreateTempSubdirectory("nhi-crash-keys-").FullName;
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: false);
    }

    public async Task DisposeAsync()
    {
        await _aws.DeleteBucketAsync(_bucket);
        await _tables.DisposeAsync();
        _aws.Dispose();
        Directory.Delete(_keyDirectory, recursive: true);
    }

    [Fact]
    public async Task InMemoryHostKilledAfterIssue()
    {
        CrashMeasurement measured = await KillAfterIssueAndRestartAsync("InMemory");
        await using LocalHostProcess host = measured.Host;

        // The in-memory backend lost the run, so the grant was due as soon as the new host's sweeper ran.
        AssertWithinBound(measured, measured.RestartedAt);
        Assert.Equal(GrantRevokers.Sweeper, measured.Grant.RevokedBy);
        await AssertDenyPolicyInPlaceAsync(measured.Grant);
    }

    [Fact]
    public async Task AzureStorageHostKilledAfterIssue()
    {
        CrashMeasurement measured = await KillAfterIssueAndRestartAsync("AzureStorage");
        await using LocalHostProcess host = measured.Host;

        // The run resumed on the new host, so for the sweeper the grant was due at its step deadline. The backend may
        // hand the step out again first, and then the retried step revokes it.
        AssertWithinBound(measured, Later(measured.Grant.StepDeadline, measured.RestartedAt));
        await AssertDenyPolicyInPlaceAsync(measured.Grant);

        RunResult result = await WaitForRunAsync(host, measured.RunId, TimeSpan.FromSeconds(120));
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        Assert.Equal(2, result.Attempts.Count);
        Assert.Equal(measured.Grant.GrantId, result.Attempts[0].GrantId);
        Assert.Contains(nameof(Nhi.Serverless.Orchestration.Remediation.GrantAlreadyRequestedException), result.Attempts[0].Error, StringComparison.Ordinal);
        Assert.NotEqual(result.Attempts[0].GrantId, result.Attempts[1].GrantId);
        Assert.Equal(403, await _aws.AnonymousGetStatusAsync(_bucket));
    }

    private async Task<CrashMeasurement> KillAfterIssueAndRestartAsync(string backend)
    {
        TimeSpan revocationTime = await MeasureRevocationAsync();
        Dictionary<string, string> settings = HostSettings(backend);

        LocalHostProcess first = await LocalHostProcess.StartAsync(new Dictionary<string, string>(settings)
        {
            ["FaultInjection:DelayAfterGrantIssuedSeconds"] = "120",
        });
        string runId;
        GrantRecord issued;
        DateTimeOffset killedAt;
        try
        {
            runId = await PostFindingAsync(first);
            issued = await WaitForGrantAsync(runId, grant => grant.Status == GrantStatuses.Issued, TimeSpan.FromSeconds(60), first);
            Assert.True(issued.IsOpen);

            killedAt = DateTimeOffset.UtcNow;
            await first.KillAsync();
        }
        finally
        {
            await first.DisposeAsync();
        }

        var restart = Stopwatch.StartNew();
        LocalHostProcess second = await LocalHostProcess.StartAsync(settings);
        DateTimeOffset restartedAt = DateTimeOffset.UtcNow;
        output.WriteLine($"{backend}: host {first.ProcessId} killed with SIGKILL at {Format(killedAt)}; host {second.ProcessId} responded on /healthz after {restart.Elapsed.TotalSeconds:0.00} s");

        try
        {
            GrantRecord verified = await WaitForGrantAsync(
                runId, grant => grant.GrantId == issued.GrantId && grant.VerifiedAt is not null, TimeSpan.FromSeconds(120), second);
            return new CrashMeasurement(backend, second, runId, verified, killedAt, restartedAt, revocationTime);
        }
        catch
        {
            await second.DisposeAsync();
            throw;
        }
    }

    private void AssertWithinBound(CrashMeasurement measured, DateTimeOffset dueAt)
    {
        GrantRecord grant = measured.Grant;
        output.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"{measured.Backend}: grant {grant.GrantId} revoked by {grant.RevokedBy} at {Format(grant.RevokedAt!.Value)}, verified at {Format(grant.VerifiedAt!.Value)}; "
                + $"kill to verified {(grant.VerifiedAt.Value - measured.KilledAt).TotalSeconds:0.00} s"));
        Assert.Equal(GrantStatuses.Verified, grant.Status);

        if (grant.RevokedBy != GrantRevokers.Sweeper)
        {
            return;
        }

        // The sweeper must pick the grant up within one interval of it becoming due. Revoking and verifying it then
        // takes the revocation time, which the test measures from the host's own log line.
        DateTimeOffset sweepStartedAt = SweepStartedAt(measured.Host, grant.GrantId);
        TimeSpan pickUp = sweepStartedAt - dueAt;
        TimeSpan revocation = grant.VerifiedAt.Value - sweepStartedAt;
        TimeSpan bound = SweepInterval + ListingAllowance + revocation;
        TimeSpan afterDue = grant.VerifiedAt.Value - dueAt;

        output.WriteLine(
            string.Create(
                CultureInfo.InvariantCulture,
                $"{measured.Backend}: due at {Format(dueAt)}, sweep of the grant started {pickUp.TotalSeconds:0.00} s later, revocation time {revocation.TotalSeconds:0.00} s; "
                + $"due to verified {afterDue.TotalSeconds:0.00} s within bound {bound.TotalSeconds:0.00} s = sweeper interval {SweepInterval.TotalSeconds:0} s "
                + $"+ listing allowance {ListingAllowance.TotalSeconds:0} s + revocation time (a revocation alone measured {measured.RevocationTime.TotalSeconds:0.000} s before the crash)"));

        Assert.True(afterDue <= bound, $"The grant was verified {afterDue.TotalSeconds:0.00} s after it became due; the bound is {bound.TotalSeconds:0.00} s.");
    }

    // The host logs "Sweeping grant {GrantId} ..." with a UTC timestamp prefix when the sweeper starts on a grant.
    private static DateTimeOffset SweepStartedAt(LocalHostProcess host, string grantId)
    {
        string? line = host.Output.Split('\n').FirstOrDefault(text => text.Contains($"Sweeping grant {grantId}", StringComparison.Ordinal));
        Assert.True(line is not null, $"The host logged no sweep of grant {grantId}:\n{LocalHostProcess.Tail(host.Output)}");
        return DateTimeOffset.ParseExact(line![..24], "yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
    }

    private async Task AssertDenyPolicyInPlaceAsync(GrantRecord grant)
    {
        string sessionName = SessionNames.For(grant.GrantId);
        string policy = await _aws.Iam.GetRolePolicyAsync(_aws.Options.RoleName, RevocationPolicy.NameFor(sessionName), CancellationToken.None);
        Assert.Contains(sessionName, policy, StringComparison.Ordinal);
    }

    private Dictionary<string, string> HostSettings(string backend) => new()
    {
        ["NHI_DURABLE_BACKEND"] = backend,
        ["NHI_AUDIT_SIGNING_KEY_FILE"] = Path.Combine(_keyDirectory, "signing-key.pem"),
        ["NHI_AUDIT_FINGERPRINT_KEY_FILE"] = Path.Combine(_keyDirectory, "fingerprint-key.bin"),
        ["Durable:TaskHubName"] = "NhiCrash" + Guid.NewGuid().ToString("N")[..10],
        ["Durable:WorkItemVisibilityTimeoutSeconds"] = "15",
        ["Grants:LedgerTableName"] = _tables.LedgerTableName,
        ["Grants:RunSlotsTableName"] = _tables.SlotsTableName,
        ["Grants:MaxStepSeconds"] = ((int)MaxStep.TotalSeconds).ToString(CultureInfo.InvariantCulture),
        ["Sweeper:IntervalSeconds"] = ((int)SweepInterval.TotalSeconds).ToString(CultureInfo.InvariantCulture),
    };

    // One revocation of a grant that was never issued, by the same revoker the sweeper uses.
    private async Task<TimeSpan> MeasureRevocationAsync()
    {
        GrantRequest probe = _aws.NewGrant(_aws.PlaybookScope(_bucket));
        var watch = Stopwatch.StartNew();
        RevocationOutcome outcome = await _aws.Get<IGrantRevoker>().EnsureRevokedAsync(StsGrantBroker.BrokerName, probe, CancellationToken.None);
        watch.Stop();
        Assert.Null(outcome.Error);
        return watch.Elapsed;
    }

    private async Task<string> PostFindingAsync(LocalHostProcess host)
    {
        using HttpResponseMessage response = await host.Http.PostAsync("/api/alerts/securityhub", FindingSamples.Json(FindingSamples.SecurityHubFor(_bucket)));
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"HTTP {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!["runs"]![0]!["runId"]!.GetValue<string>();
    }

    private async Task<GrantRecord> WaitForGrantAsync(string runId, Func<GrantRecord, bool> condition, TimeSpan timeout, LocalHostProcess host)
    {
        DateTimeOffset deadline = DateTimeOffset.UtcNow + timeout;
        while (DateTimeOffset.UtcNow < deadline)
        {
            GrantRecord? match = (await _tables.Ledger.ListByRunAsync(runId, CancellationToken.None)).FirstOrDefault(condition);
            if (match is not null)
            {
                return match;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"No grant of run {runId} reached the expected state within {timeout.TotalSeconds} s. Host output:\n{LocalHostProcess.Tail(host.Output)}");
        return null!;
    }

    private static async Task<RunResult> WaitForRunAsync(LocalHostProcess host, string runId, TimeSpan timeout)
    {
        DateTimeOffset deadline = DateTimeOffset.UtcNow + timeout;
        while (DateTimeOffset.UtcNow < deadline)
        {
            JsonElement status = JsonDocument.Parse(await host.Http.GetStringAsync($"/api/runs/{runId}")).RootElement;
            string state = status.GetProperty("status").GetString()!;
            if (state == "Completed")
            {
                return RunStatusEndpoint.ReadResult(status)!;
            }

            Assert.True(state is "Running" or "Pending", $"Run {runId} ended {state}: {status}");
            await Task.Delay(250);
        }

        Assert.Fail($"Run {runId} did not finish within {timeout.TotalSeconds} s after the restart. Host output:\n{LocalHostProcess.Tail(host.Output)}");
        return null!;
    }

    private static DateTimeOffset Later(DateTimeOffset first, DateTimeOffset second) => first > second ? first : second;

    private static string Format(DateTimeOffset time) => time.UtcDateTime.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture);

    private sealed record CrashMeasurement(
        string Backend, LocalHostProcess Host, string RunId, GrantRecord Grant, DateTimeOffset KilledAt, DateTimeOffset RestartedAt, TimeSpan RevocationTime);
}
