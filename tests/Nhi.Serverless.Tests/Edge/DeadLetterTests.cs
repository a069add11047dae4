using System.Text.Json.Nodes;
using Azure;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Azure.DeadLetter;
using Nhi.Serverless.Azure.Runs;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>An accepted alert whose run cannot start is parked, listed and replayed; when parking fails too, the
/// sender gets 503 and delivers again.</summary>
public sealed class DeadLetterTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly SwitchableRunRegistry _registry = new(TableRunRegistry.FromConnectionString(LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING")));
    private readonly SwitchableDeadLetterStore _deadLetters = new(TableDeadLetterStore.FromConnectionString(LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING")));
    private NhiTestHost _host = null!;
    private string _bucket = null!;

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
        _aws.Dispose();
    }

    [Fact]
    public async Task ParkedRunIsListedAndReplayed()
    {
        _registry.Failing = true;
        (int status, JsonNode? accepted, _) = await PostWizAsync(Guid.NewGuid().ToString());
        _registry.Failing = false;

        Assert.Equal(202, status);
        JsonNode run = accepted!["runs"]![0]!;
        Assert.True(run["parked"]!.GetValue<bool>());
        string deadLetterId = run["deadLetterId"]!.GetValue<string>();
        string runId = run["runId"]!.GetValue<string>();

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
