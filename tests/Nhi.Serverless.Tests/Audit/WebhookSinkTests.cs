using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Audit.Siem;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Runs the webhook sink against a local receiver that checks the HMAC signature as a receiver would.</summary>
public sealed class WebhookSinkTests : IAsyncLifetime, IDisposable
{
    private const string Secret = "whsec-0123456789abcdef0123456789abcdef";

    private readonly TemporaryDirectory _directory = new();
    private readonly LocalKeyFileSigner _signer;
    private readonly IReadOnlyList<SignedAuditRecord> _records;
    private readonly HttpClient _httpClient = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;
    private ScriptedHttpReceiver _receiver = null!;

    public WebhookSinkTests()
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
    public async Task SignatureVerifiesWithSecret()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        CapturedRequest request = Assert.Single(_receiver.Requests);
        string timestamp = request.Headers[WebhookSink.TimestampHeader];
        byte[] signed = Encoding.UTF8.GetBytes(timestamp + "." + request.Body);
        string expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), signed));
        Assert.Equal(expected, request.Headers[WebhookSink.SignatureHeader]);
    }

    [Fact]
    public async Task TimestampIsCurrent()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        long timestamp = long.Parse(Assert.Single(_receiver.Requests).Headers[WebhookSink.TimestampHeader], CultureInfo.InvariantCulture);

        Assert.InRange(timestamp, DateTimeOffset.UtcNow.AddMinutes(-1).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.AddMinutes(1).ToUnixTimeSeconds());
    }

    [Fact]
    public async Task BodyCarriesSignedRecords()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        using JsonDocument body = JsonDocument.Parse(Assert.Single(_receiver.Requests).Body);
        JsonElement[] records = body.RootElement.GetProperty("records").EnumerateArray().ToArray();

        Assert.Equal(_records.Select(record => record.Json), records.Select(record => record.GetRawText()));
    }

    [Fact]
    public async Task TamperedBodyFailsSignature()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        CapturedRequest request = Assert.Single(_receiver.Requests);
        string timestamp = request.Headers[WebhookSink.TimestampHeader];
        string forged = WebhookSink.ComputeSignature(Encoding.UTF8.GetBytes(Secret), long.Parse(timestamp, CultureInfo.InvariantCulture), Encoding.UTF8.GetBytes(request.Body.Replace("Success", "Failure", StringComparison.Ordinal)));

        Assert.NotEqual(request.Headers[WebhookSink.SignatureHeader], forged);
    }

    [Fact]
    public async Task LargeBatchSplit()
    {
        await CreateSink(maxBatchBytes: 4096).DeliverAsync(_records, CancellationToken.None);

        Assert.True(_receiver.Requests.Count > 1);
        Assert.Equal(_records.Count, _receiver.Requests.Sum(request => JsonDocument.Parse(request.Body).RootElement.GetProperty("records").GetArrayLength()));
    }

    [Fact]
    public async Task ServerErrorRetryable()
    {
        _receiver.Respond(new ScriptedResponse(503, "", new Dictionary<string, string> { ["Retry-After"] = "7" }));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.False(error.Permanent);
        Assert.Equal(TimeSpan.FromSeconds(7), error.RetryAfter);
    }

    [Fact]
    public async Task ClientErrorPermanent()
    {
        _receiver.Respond(new ScriptedResponse(400, """{"error":"bad signature"}"""));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.True(error.Permanent);
    }

    [Fact]
    public async Task PartialFailureCountsDelivered()
    {
        _receiver.Respond(new ScriptedResponse(204));
        _receiver.Respond(new ScriptedResponse(500));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink(maxBatchBytes: 4096).DeliverAsync(_records, CancellationToken.None));

        int first = JsonDocument.Parse(_receiver.Requests.First().Body).RootElement.GetProperty("records").GetArrayLength();
        Assert.Equal(first, error.DeliveredCount);
    }

    [Fact]
    public async Task SecretNeverInLogsOrErrors()
    {
        _receiver.Respond(new ScriptedResponse(401, $$"""{"error":"expected secret {{Secret}}"}"""));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.DoesNotContain(Secret, error.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(_logs.Lines, line => line.Contains(Secret, StringComparison.Ordinal));
    }

    [Fact]
    public void ShortSecretRejected()
    {
        var options = new WebhookOptions { Url = "https://siem.example.com/hook", Secret = "too-short" };

        string error = string.Join(" ", options.Validate());

        Assert.Contains("Audit:Webhook:Secret", error, StringComparison.Ordinal);
        Assert.DoesNotContain("too-short", error, StringComparison.Ordinal);
    }

    [Fact]
    public void PlainHttpRejectedOffLoopback()
    {
        var options = new WebhookOptions { Url = "http://siem.example.com/hook", Secret = Secret };

        Assert.Contains(options.Validate(), error => error.Contains("expected https", StringComparison.Ordinal));
    }

    private WebhookSink CreateSink(int maxBatchBytes = 1024 * 1024) =>
        new(_httpClient, new WebhookOptions { Url = _receiver.Url + "/hook", Secret = Secret, MaxBatchBytes = maxBatchBytes }, _loggerFactory.CreateLogger<WebhookSink>());
}
