using System.Text.Json;
using Azure.Core;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// Runs the Sentinel sink against a local receiver that responds as the Logs Ingestion API documents
/// (204, 401, 403, 413, 429 with Retry-After), with a fake credential in place of Entra ID.
/// </summary>
public sealed class SentinelSinkTests : IAsyncLifetime, IDisposable
{
    private const string DcrId = "dcr-0123456789abcdef0123456789abcdef";
    private const string Stream = "Custom-NhiAudit_CL";

    private readonly TemporaryDirectory _directory = new();
    private readonly LocalKeyFileSigner _signer;
    private readonly IReadOnlyList<SignedAuditRecord> _records;
    private readonly HttpClient _httpClient = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;
    private readonly FakeCredential _credential = new();
    private ScriptedHttpReceiver _receiver = null!;

    public SentinelSinkTests()
    {
        _signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));
        _records = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), _signer);
        _loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
    }

    public async Task InitializeAsync() => _receiver = await ScriptedHttpReceiver.StartAsync(new ScriptedResponse(204));

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    public void Dispose()
    {
        _loggerFactory.Dispose();
        _httpClient.Dispose();
        _signer.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public async Task PostsToRuleStream()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        CapturedRequest request = Assert.Single(_receiver.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal($"/dataCollectionRules/{DcrId}/streams/{Stream}", request.Path);
        Assert.Equal("?api-version=2023-01-01", request.Query);
        Assert.StartsWith("application/json", request.Headers["Content-Type"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task SendsBearerTokenForMonitorScope()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        Assert.Equal("Bearer fake-token-1", Assert.Single(_receiver.Requests).Headers["Authorization"]);
        Assert.Equal(["https://monitor.azure.com//.default"], _credential.Scopes.Single());
    }

    [Fact]
    public async Task BodyIsArrayOfRows()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        using JsonDocument body = JsonDocument.Parse(Assert.Single(_receiver.Requests).Body);
        JsonElement[] rows = body.RootElement.EnumerateArray().ToArray();

        Assert.Equal(_records.Count, rows.Length);
        for (int i = 0; i < rows.Length; i++)
        {
            Assert.Equal(_records[i].Id, rows[i].GetProperty("RecordId").GetString());
            Assert.Equal(_records[i].EventTime, rows[i].GetProperty("TimeGenerated").GetDateTimeOffset());
            Assert.Equal(_records[i].Json, rows[i].GetProperty("Record").GetRawText());
            Assert.Equal(_records[i].Hash, rows[i].GetProperty("Hash").GetString());
        }
    }

    [Fact]
    public async Task TokenCachedAcrossDeliveries()
    {
        SentinelLogsIngestionSink sink = CreateSink();

        await sink.DeliverAsync(_records, CancellationToken.None);
        await sink.DeliverAsync(_records, CancellationToken.None);

        Assert.Equal(1, _credential.Calls);
    }

    [Fact]
    public async Task Unauthorized401GetsFreshToken()
    {
        _receiver.Respond(new ScriptedResponse(401, """{"error":{"code":"InvalidToken","message":"The token has expired."}}"""));

        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        Assert.Equal(2, _credential.Calls);
        Assert.Equal("Bearer fake-token-2", _receiver.Requests.Last().Headers["Authorization"]);
    }

    [Fact]
    public async Task Repeated401Permanent()
    {
        _receiver.Respond(new ScriptedResponse(401));
        _receiver.Respond(new ScriptedResponse(401));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.True(error.Permanent);
        Assert.Contains("401", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Forbidden403NamesRole()
    {
        _receiver.Respond(new ScriptedResponse(403, """{"error":{"code":"OperationFailed","message":"The authentication token provided does not have access to ingest data for the data collection rule"}}"""));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.True(error.Permanent);
        Assert.Contains("Monitoring Metrics Publisher", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TooLarge413SplitsBatch()
    {
        _receiver.Respond(new ScriptedResponse(413, """{"error":{"code":"ContentLengthLimitExceeded","message":"Maximum allowed content length: 1048576 bytes."}}"""));

        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        CapturedRequest[] requests = _receiver.Requests.ToArray();
        int[] sizes = requests.Skip(1).Select(request => JsonDocument.Parse(request.Body).RootElement.GetArrayLength()).ToArray();
        Assert.Equal(3, requests.Length);
        Assert.Equal(_records.Count, sizes.Sum());
    }

    [Fact]
    public async Task Throttled429CarriesRetryAfter()
    {
        _receiver.Respond(new ScriptedResponse(429, "", new Dictionary<string, string> { ["Retry-After"] = "12" }));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.False(error.Permanent);
        Assert.Equal(TimeSpan.FromSeconds(12), error.RetryAfter);
    }

    [Fact]
    public async Task ServerError500Retryable()
    {
        _receiver.Respond(new ScriptedResponse(500));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.False(error.Permanent);
    }

    [Fact]
    public async Task TokenNeverInLogsOrErrors()
    {
        _receiver.Respond(new ScriptedResponse(401, """{"error":{"code":"InvalidToken","message":"token fake-token-1 rejected"}}"""));
        _receiver.Respond(new ScriptedResponse(401, """{"error":{"code":"InvalidToken","message":"token fake-token-2 rejected"}}"""));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.DoesNotContain("fake-token-", error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(_logs.Lines, line => line.Contains("fake-token-", StringComparison.Ordinal));
    }

    [Fact]
    public void ClientSecretNeverInValidation()
    {
        var options = new SentinelOptions
        {
            Endpoint = "https://dce.example.ingest.monitor.azure.com",
            DcrImmutableId = "not-a-dcr",
            StreamName = Stream,
            Credential = SentinelOptions.ClientSecretCredentialKind,
            ClientSecret = "client-secret-value-1234",
        };

        string errors = string.Join(" ", options.Validate());

        Assert.Contains("DcrImmutableId", errors, StringComparison.Ordinal);
        Assert.DoesNotContain("client-secret-value-1234", errors, StringComparison.Ordinal);
    }

    private SentinelLogsIngestionSink CreateSink() =>
        new(_httpClient, new SentinelOptions { Endpoint = _receiver.Url, DcrImmutableId = DcrId, StreamName = Stream }, _credential, _loggerFactory.CreateLogger<SentinelLogsIngestionSink>());

    /// <summary>Issues "fake-token-1", "fake-token-2" and so on, each valid for an hour, and records the scopes asked for.</summary>
    private sealed class FakeCredential : TokenCredential
    {
        private int _calls;

        public int Calls => _calls;

        public List<string[]> Scopes { get; } = [];

        public override AccessToken GetToken(TokenRequestContext requestContext, CancellationToken cancellationToken)
        {
            int call = Interlocked.Increment(ref _calls);
            lock (Scopes)
            {
                Scopes.Add(requestContext.Scopes);
            }

            return new AccessToken($"fake-token-{call}", DateTimeOffset.UtcNow.AddHours(1));
        }

        public override ValueTask<AccessToken> GetTokenAsync(TokenRequestContext requestContext, CancellationToken cancellationToken) =>
            ValueTask.FromResult(GetToken(requestContext, cancellationToken));
    }
}
