using System.Diagnostics;
using System.Text.Json.Nodes;
using Azure;
using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Azure.DeadLetter;
using Nhi.Serverless.Azure.Runs;
using Nhi.Serverless.Cli.DeadLetter;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>An accepted alert whose run cannot start is parked, listed and replayed, over the HTTP API and with the
/// `nhi deadletter` commands; when parking fails too, the sender gets 503 and delivers again.</summary>
public sealed class DeadLetterTests : IAsyncLifetime
{
    private static readonly string ConnectionString = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING");

    // A table of this class's own, so a listing contains only the letters these tests parked.
    private readonly string _deadLetterTable = "NhiDeadLettersT" + Guid.NewGuid().ToString("N")[..10];
    private readonly AwsTestStack _aws = new();
    private readonly SwitchableRunRegistry _registry = new(TableRunRegistry.FromConnectionString(ConnectionString));
    private readonly SwitchableDeadLetterStore _deadLetters;
    private NhiTestHost _host = null!;
    private string _bucket = null!;

    public DeadLetterTests()
    {
        _deadLetters = new(TableDeadLetterStore.FromConnectionString(ConnectionString, _deadLetterTable));
    }

    public async Task InitializeAsync()
    {
        _host = await NhiTestHost.StartAsync(
            settings: EdgeRequests.SecuredSettings(),
            configureServices: services =>
            {
                services.AddSingleton<IRunRegistry>(_registry);
                services.AddSingleton<IDeadLetterStore>(_deadLetters);
            });
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: false);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _aws.DeleteBucketAsync(_bucket);
        await new TableServiceClient(ConnectionString).DeleteTableAsync(_deadLetterTable);
        _aws.Dispose();
    }

    [Fact]
    public async Task ParkedRunIsListedAndReplayed()
    {
        (string deadLetterId, string runId) = await ParkWizAlertAsync();

        (_, JsonNode? listed, _) = await AdminAsync(HttpMethod.Get, "/api/deadletters?status=parked&max=1000");
        Assert.Contains(listed!["deadLetters"]!.AsArray(), letter => letter!["id"]!.GetValue<string>() == deadLetterId);

        (int replayStatus, JsonNode? replayed, _) = await AdminAsync(HttpMethod.Post, $"/api/deadletters/{deadLetterId}/replay");
        Assert.Equal(200, replayStatus);
        Assert.Equal("started", replayed!["result"]!.GetValue<string>());
        Assert.Equal(RunOutcomes.Remediated, (await _host.WaitForRunAsync(runId)).Outcome);

        DeadLetterItem? letter = await _deadLetters.GetAsync(deadLetterId, CancellationToken.None);
        Assert.Equal(DeadLetterStatuses.Replayed, letter!.Status);
    }

    [Fact]
    public async Task SecondReplayFindsRun()
    {
        _registry.Failing = true;
        (_, JsonNode? accepted, _) = await PostWizAsync(Guid.NewGuid().ToString());
        _registry.Failing = false;
        string deadLetterId = accepted!["runs"]![0]!["deadLetterId"]!.GetValue<string>();
        await AdminAsync(HttpMethod.Post, $"/api/deadletters/{deadLetterId}/replay");

        (_, JsonNode? replayed, _) = await AdminAsync(HttpMethod.Post, $"/api/deadletters/{deadLetterId}/replay");

        Assert.Equal("already-existed", replayed!["result"]!.GetValue<string>());
    }

    [Fact]
    public async Task CliListsAndReplaysParkedAlert()
    {
        (string deadLetterId, string runId) = await ParkWizAlertAsync();

        (int listCode, string listed, _) = await RunCliAsync(EdgeRequests.AdminSecret, "deadletter", "list", "--status", "parked");
        (int replayCode, string replayed, _) = await RunCliAsync(EdgeRequests.AdminSecret, "deadletter", "replay", deadLetterId);

        Assert.Equal(0, listCode);
        JsonNode letter = Assert.Single(JsonNode.Parse(listed)!["deadLetters"]!.AsArray(), letter => letter!["id"]!.GetValue<string>() == deadLetterId)!;
        Assert.Equal(DeadLetterStatuses.Parked, letter["status"]!.GetValue<string>());
        Assert.Equal(0, replayCode);
        Assert.Equal("started", JsonNode.Parse(replayed)!["result"]!.GetValue<string>());
        Assert.Equal(RunOutcomes.Remediated, (await _host.WaitForRunAsync(runId)).Outcome);
        Assert.Equal(DeadLetterStatuses.Replayed, (await _deadLetters.GetAsync(deadLetterId, CancellationToken.None))!.Status);
    }

    [Fact]
    public async Task CliWithoutSecretIsRejected()
    {
        (int code, string output, string error) = await RunCliAsync(secret: null, "deadletter", "list");

        Assert.Equal(1, code);
        Assert.Equal("unauthenticated", JsonNode.Parse(output)!["type"]!.GetValue<string>().Split('/')[^1]);
        Assert.Contains("The host answered 401", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliReplayOfUnknownLetterFails()
    {
        (int code, _, string error) = await RunCliAsync(EdgeRequests.AdminSecret, "deadletter", "replay", "dl-unknown");

        Assert.Equal(1, code);
        Assert.Contains("The host answered 404", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliWithUnreachableHostFails()
    {
        (int code, _, string error) = await RunCliAsync(EdgeRequests.AdminSecret, new Uri("http://127.0.0.1:9/"), "deadletter", "list");

        Assert.Equal(2, code);
        Assert.StartsWith("Could not reach the host at http://127.0.0.1:9/", error, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnparkableAlertIsNotAccepted()
    {
        _registry.Failing = true;
        _deadLetters.Failing = true;
        (int status, _, HttpResponseMessage response) = await PostWizAsync(Guid.NewGuid().ToString());
        _registry.Failing = false;
        _deadLetters.Failing = false;

        Assert.Equal(503, status);
        Assert.NotNull(response.Headers.RetryAfter);
    }

    [Fact]
    public async Task ListingNeedsAdminSecret()
    {
        HttpRequestMessage request = EdgeRequests.Signed(HttpMethod.Get, "/api/deadletters", "", EdgeRequests.WizSecret);

        (int status, _, _) = await EdgeRequests.SendAsync(_host.Http, request);

        Assert.Equal(401, status);
    }

    [Fact]
    public async Task UnknownDeadLetterIsNotFound()
    {
        (int status, _, _) = await AdminAsync(HttpMethod.Post, "/api/deadletters/dl-unknown/replay");

        Assert.Equal(404, status);
    }

    /// <summary>Posts a Wiz alert while the run registry fails, so the alert is parked; returns its dead letter and run ids.</summary>
    private async Task<(string DeadLetterId, string RunId)> ParkWizAlertAsync()
    {
        _registry.Failing = true;
        (int status, JsonNode? accepted, _) = await PostWizAsync(Guid.NewGuid().ToString());
        _registry.Failing = false;

        Assert.Equal(202, status);
        JsonNode run = accepted!["runs"]![0]!;
        Assert.True(run["parked"]!.GetValue<bool>());
        return (run["deadLetterId"]!.GetValue<string>(), run["runId"]!.GetValue<string>());
    }

    private Task<(int ExitCode, string Output, string Error)> RunCliAsync(string? secret, params string[] arguments) =>
        RunCliAsync(secret, _host.Http.BaseAddress!, arguments);

    /// <summary>Runs the nhi command-line tool as its own process, so its exit code and console output are its own.</summary>
    /// <param name="secret">The admin secret in NHI_ADMIN_SECRET; null leaves the variable unset.</param>
    /// <param name="host">The host's base URL, passed as --host.</param>
    private static async Task<(int ExitCode, string Output, string Error)> RunCliAsync(string? secret, Uri host, params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "nhi.dll"));
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.ArgumentList.Add("--host");
        start.ArgumentList.Add(host.ToString());
        start.Environment.Remove(DeadLetterCommand.SecretVariable);
        if (secret is not null)
        {
            start.Environment[DeadLetterCommand.SecretVariable] = secret;
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await output, await error);
    }

    private Task<(int, JsonNode?, HttpResponseMessage)> PostWizAsync(string issueId) =>
        EdgeRequests.SendAsync(_host.Http, EdgeRequests.Signed(HttpMethod.Post, "/api/alerts/wiz", EdgeIntakeTests.WizIssueFor(_bucket, issueId), EdgeRequests.WizSecret));

    private Task<(int, JsonNode?, HttpResponseMessage)> AdminAsync(HttpMethod method, string path) =>
        EdgeRequests.SendAsync(_host.Http, EdgeRequests.Signed(method, path, "", EdgeRequests.AdminSecret));

    /// <summary>The real run registry, which fails like an unreachable storage account while <see cref="Failing"/> is set.</summary>
    private sealed class SwitchableRunRegistry(IRunRegistry inner) : IRunRegistry
    {
        public volatile bool Failing;

        public Task<RunRegistration> RegisterAsync(RemediationRequest request, CancellationToken cancellationToken) =>
            Failing ? throw new RequestFailedException(503, "The storage account is unavailable.") : inner.RegisterAsync(request, cancellationToken);

        public Task MarkCompletedAsync(string runId, string outcome, DateTimeOffset completedAt, CancellationToken cancellationToken) =>
            inner.MarkCompletedAsync(runId, outcome, completedAt, cancellationToken);
    }

    /// <summary>The real dead-letter store, which fails to park while <see cref="Failing"/> is set.</summary>
    private sealed class SwitchableDeadLetterStore(IDeadLetterStore inner) : IDeadLetterStore
    {
        public volatile bool Failing;

        public Task ParkAsync(DeadLetterItem letter, CancellationToken cancellationToken) =>
            Failing ? throw new RequestFailedException(503, "The storage account is unavailable.") : inner.ParkAsync(letter, cancellationToken);

        public Task<IReadOnlyList<DeadLetterItem>> ListAsync(string? status, int max, CancellationToken cancellationToken) =>
            inner.ListAsync(status, max, cancellationToken);

        public Task<DeadLetterItem?> GetAsync(string id, CancellationToken cancellationToken) => inner.GetAsync(id, cancellationToken);

        public Task RecordReplayAsync(string id, DateTimeOffset at, string? error, CancellationToken cancellationToken) =>
            inner.RecordReplayAsync(id, at, error, cancellationToken);
    }
}
