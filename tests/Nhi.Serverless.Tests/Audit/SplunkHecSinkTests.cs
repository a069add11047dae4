using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Audit.Siem;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Runs the HEC sink against a local receiver that responds the way HEC documents.</summary>
public sealed class SplunkHecSinkTests : IAsyncLifetime, IDisposable
{
    private const string Token = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

    private readonly TemporaryDirectory _directory = new();
    private readonly LocalKeyFileSigner _signer;
    private readonly IReadOnlyList<SignedAuditRecord> _records;
    private readonly HttpClient _httpClient = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;
    private HecReceiver _receiver = null!;

    public SplunkHecSinkTests()
    {
        _signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));
        _records = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), _signer);
        _loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
    }

    public async Task InitializeAsync() => _receiver = await HecReceiver.StartAsync();

    public async Task DisposeAsync() => await _receiver.DisposeAsync();

    public void Dispose()
    {
        _loggerFactory.Dispose();
        _httpClient.Dispose();
        _signer.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public async Task PostsToEventEndpoint()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        ReceivedRequest request = Assert.Single(_receiver.Requests);
        Assert.Equal("POST", request.Method);
        Assert.Equal("/services/collector/event", request.Path);
        Assert.Equal("application/json", request.ContentType);
    }

    [Fact]
    public async Task SendsSplunkAuthorization()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        Assert.Equal($"Splunk {Token}", Assert.Single(_receiver.Requests).Authorization);
    }

    [Fact]
    public async Task BodyHasOneEventPerRecord()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        List<JsonElement> events = ReadConcatenatedObjects(Assert.Single(_receiver.Requests).Body);

        Assert.Equal(_records.Count, events.Count);
        for (int i = 0; i < events.Count; i++)
        {
            JsonElement hecEvent = events[i];
            Assert.Equal(JsonValueKind.Number, hecEvent.GetProperty("time").ValueKind);
            Assert.Equal(_records[i].EventTime.ToUnixTimeMilliseconds() / 1000m, hecEvent.GetProperty("time").GetDecimal());
            Assert.Equal("test-host", hecEvent.GetProperty("host").GetString());
            Assert.Equal("nhi-serverless", hecEvent.GetProperty("source").GetString());
            Assert.Equal("nhi:audit", hecEvent.GetProperty("sourcetype").GetString());
            Assert.Equal("nhi_audit", hecEvent.GetProperty("index").GetString());
            Assert.Equal(_records[i].Json, hecEvent.GetProperty("event").GetRawText());
        }
    }

    [Fact]
    public async Task TimeHasMillisecondFraction()
    {
        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        JsonElement first = ReadConcatenatedObjects(Assert.Single(_receiver.Requests).Body)[0];

        // DefaultStart is 10:15:00.123 UTC on 2025-03-01.
        Assert.Equal("1740824100.123", first.GetProperty("time").GetRawText());
    }

    [Fact]
    public async Task OmitsIndexWhenUnset()
    {
        await CreateSink(options => options.Index = null).DeliverAsync(_records, CancellationToken.None);

        JsonElement first = ReadConcatenatedObjects(Assert.Single(_receiver.Requests).Body)[0];

        Assert.False(first.TryGetProperty("index", out _));
    }

    [Fact]
    public async Task ChannelHeaderOnlyWithAcknowledgements()
    {
        var channel = Guid.Parse("5f0c9a8e-1b2d-4c3e-9f4a-6b7c8d9e0f1a");
        _receiver.Respond(200, """{"text":"Success","code":0}""");
        _receiver.Respond(200, """{"text":"Success","code":0,"ackId":0}""");
        _receiver.Respond(200, """{"acks":{"0":true}}""");

        await CreateSink().DeliverAsync(_records, CancellationToken.None);
        await CreateSink(options =>
        {
            options.UseAcknowledgements = true;
            options.Channel = channel;
        }).DeliverAsync(_records, CancellationToken.None);

        ReceivedRequest[] requests = _receiver.Requests.ToArray();
        Assert.Equal("", requests[0].Channel);
        Assert.Equal(channel.ToString("D"), requests[1].Channel);
        Assert.Equal(channel.ToString("D"), requests[2].Channel);
    }

    [Fact]
    public async Task AckQueryNamesChannel()
    {
        var channel = Guid.Parse("5f0c9a8e-1b2d-4c3e-9f4a-6b7c8d9e0f1a");
        _receiver.Respond(200, """{"text":"Success","code":0,"ackId":7}""");
        _receiver.Respond(200, """{"acks":{"7":false}}""");
        _receiver.Respond(200, """{"acks":{"7":true}}""");

        await CreateSink(options => Acknowledge(options, channel)).DeliverAsync(_records, CancellationToken.None);

        ReceivedRequest[] requests = _receiver.Requests.ToArray();
        Assert.Equal(3, requests.Length);
        Assert.Equal("/services/collector/ack", requests[1].Path);
        Assert.Equal("""{"acks":[7]}""", requests[1].Body);
        Assert.Equal($"Splunk {Token}", requests[2].Authorization);
    }

    [Fact]
    public async Task AckTimeoutRetryable()
    {
        _receiver.Respond(200, """{"text":"Success","code":0,"ackId":3}""");
        for (int i = 0; i < 100; i++)
        {
            _receiver.Respond(200, """{"acks":{"3":false}}""");
        }

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() =>
            CreateSink(options => Acknowledge(options, Guid.NewGuid())).DeliverAsync(_records, CancellationToken.None));

        Assert.False(error.Permanent);
        Assert.Contains("did not report ackId 3 indexed", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingAckIdPermanent()
    {
        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() =>
            CreateSink(options => Acknowledge(options, Guid.NewGuid())).DeliverAsync(_records, CancellationToken.None));

        Assert.True(error.Permanent);
        Assert.Contains("no ackId", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AckDisabledPermanent()
    {
        _receiver.Respond(200, """{"text":"Success","code":0,"ackId":1}""");
        _receiver.Respond(400, """{"text":"ACK is disabled","code":14}""");

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() =>
            CreateSink(options => Acknowledge(options, Guid.NewGuid())).DeliverAsync(_records, CancellationToken.None));

        Assert.True(error.Permanent);
        Assert.Contains("ACK is disabled", error.Message, StringComparison.Ordinal);
    }

    private static void Acknowledge(SplunkHecOptions options, Guid channel)
    {
        options.UseAcknowledgements = true;
        options.Channel = channel;
        options.AckPollInterval = TimeSpan.FromMilliseconds(10);
        options.AckTimeout = TimeSpan.FromSeconds(1);
    }

    [Fact]
    public async Task RetriesServerBusy()
    {
        _receiver.Respond(503, """{"text":"Server is busy","code":9}""");

        string delivery = await CreateSink().DeliverAsync(_records, CancellationToken.None);

        Assert.Equal(2, _receiver.Requests.Count);
        Assert.Equal($"splunk-hec: delivered {_records.Count} records in 1 request(s)", delivery);
    }

    [Fact]
    public async Task GivesUpAfterMaxAttempts()
    {
        for (int i = 0; i < 3; i++)
        {
            _receiver.Respond(503, """{"text":"Server is busy","code":9}""");
        }

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.False(error.Permanent);
        Assert.Equal(3, _receiver.Requests.Count);
        Assert.Contains("HEC code 9", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ForbiddenIsPermanent()
    {
        _receiver.Respond(403, """{"text":"Invalid token","code":4}""");

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.True(error.Permanent);
        Assert.Single(_receiver.Requests);
        Assert.Contains("HTTP 403", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EchoedTokenNotInMessageOrLogs()
    {
        _receiver.Respond(401, $$"""{"text":"Invalid authorization: Splunk {{Token}}","code":3}""");

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.DoesNotContain(Token, error.Message, StringComparison.Ordinal);
        Assert.NotEmpty(_logs.Lines);
        Assert.DoesNotContain(_logs.Lines, line => line.Contains(Token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task InvalidDataFormatIsPermanent()
    {
        _receiver.Respond(400, """{"text":"Invalid data format","code":6}""");

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => CreateSink().DeliverAsync(_records, CancellationToken.None));

        Assert.True(error.Permanent);
        Assert.Single(_receiver.Requests);
    }

    [Fact]
    public async Task SplitsBatchesAtLimit()
    {
        string delivery = await CreateSink(options => options.MaxBatchBytes = 4096).DeliverAsync(_records, CancellationToken.None);

        int received = _receiver.Requests.Sum(request => ReadConcatenatedObjects(request.Body).Count);
        Assert.True(_receiver.Requests.Count > 1, $"{_receiver.Requests.Count} request(s)");
        Assert.True(_receiver.Requests.All(request => Encoding.UTF8.GetByteCount(request.Body) <= 4096));
        Assert.Equal(_records.Count, received);
        Assert.Contains($"in {_receiver.Requests.Count} request(s)", delivery, StringComparison.Ordinal);
    }

    [Fact]
    public async Task LogsCarryNoToken()
    {
        _receiver.Respond(503, """{"text":"Server is busy","code":9}""");

        await CreateSink().DeliverAsync(_records, CancellationToken.None);

        Assert.NotEmpty(_logs.Lines);
        Assert.DoesNotContain(_logs.Lines, line => line.Contains(Token, StringComparison.Ordinal));
    }

    private SplunkHecSink CreateSink(Action<SplunkHecOptions>? configure = null)
    {
        var options = new SplunkHecOptions
        {
            Url = _receiver.Url,
            Token = Token,
            Index = "nhi_audit",
            Host = "test-host",
            RetryDelay = TimeSpan.FromMilliseconds(10),
        };
        configure?.Invoke(options);
        return new SplunkHecSink(_httpClient, options, _loggerFactory.CreateLogger<SplunkHecSink>());
    }

    /// <summary>Reads a body of JSON objects written one after another, as HEC batches are.</summary>
    private static List<JsonElement> ReadConcatenatedObjects(string body)
    {
        var events = new List<JsonElement>();
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(body), new JsonReaderOptions { AllowMultipleValues = true });
        while (reader.Read())
        {
            using JsonDocument document = JsonDocument.ParseValue(ref reader);
            events.Add(document.RootElement.Clone());
        }

        return events;
    }
}
