using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Audit.Siem;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Runs the outbox forwarder from fresh tables on Azurite to local HEC receivers.</summary>
public sealed class AuditForwarderTests : IAsyncLifetime, IDisposable
{
    private const string Token = "5a1c2d3e-4f50-6172-8394-a5b6c7d8e9f1";

    private readonly HttpClient _httpClient = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;
    private readonly DateTimeOffset _start = DateTimeOffset.UtcNow.AddMinutes(-30);
    private AuditOutboxTables _tables = null!;

    public AuditForwarderTests()
    {
        _loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
    }

    public async Task InitializeAsync() => _tables = await AuditOutboxTables.CreateAsync();

    public async Task DisposeAsync() => await _tables.DisposeAsync();

    public void Dispose()
    {
        _loggerFactory.Dispose();
        _httpClient.Dispose();
    }

    [Fact]
    public async Task DeliversEveryRecordInOrder()
    {
        List<SignedAuditRecord> records = await AppendRunsAsync(3);
        await using HecReceiver receiver = await HecReceiver.StartAsync();

        SinkForwardResult result = await CreateForwarder(Hec(receiver.Url)).ForwardPendingAsync(Hec(receiver.Url), CancellationToken.None);

        Assert.True(result.CaughtUp);
        Assert.Null(result.Failure);
        Assert.Equal(records.Select(record => record.Id), receiver.Requests.SelectMany(request => EventIds(request.Body)));
    }

    [Fact]
    public async Task CursorHoldsLastRecord()
    {
        List<SignedAuditRecord> records = await AppendRunsAsync(2);
        await using HecReceiver receiver = await HecReceiver.StartAsync();
        SplunkHecSink sink = Hec(receiver.Url);

        await CreateForwarder(sink).ForwardPendingAsync(sink, CancellationToken.None);
        AuditSinkCursor cursor = await _tables.Cursors.GetAsync(sink.Name, CancellationToken.None);

        Assert.Equal(records[^1].Id, cursor.LastAcknowledgedKey);
        Assert.Equal(records.Count, cursor.AcknowledgedCount);
    }

    [Fact]
    public async Task CaughtUpPassSendsNothing()
    {
        await AppendRunsAsync(1);
        await using HecReceiver receiver = await HecReceiver.StartAsync();
        SplunkHecSink sink = Hec(receiver.Url);
        AuditForwarder forwarder = CreateForwarder(sink);
        await forwarder.ForwardPendingAsync(sink, CancellationToken.None);
        int requests = receiver.Requests.Count;

        SinkForwardResult again = await forwarder.ForwardPendingAsync(sink, CancellationToken.None);

        Assert.Equal(0, again.Delivered);
        Assert.Equal(requests, receiver.Requests.Count);
    }

    [Fact]
    public async Task FailureKeepsCursor()
    {
        await AppendRunsAsync(1);
        await using HecReceiver receiver = await HecReceiver.StartAsync();
        receiver.Respond(503, """{"text":"Server is busy","code":9}""");
        SplunkHecSink sink = Hec(receiver.Url);

        SinkForwardResult result = await CreateForwarder(sink).ForwardPendingAsync(sink, CancellationToken.None);
        AuditSinkCursor cursor = await _tables.Cursors.GetAsync(sink.Name, CancellationToken.None);

        Assert.NotNull(result.Failure);
        Assert.False(result.Failure.Permanent);
        Assert.Null(cursor.LastAcknowledgedKey);
    }

    [Fact]
    public async Task PartialDeliveryAdvancesCursor()
    {
        List<SignedAuditRecord> records = await AppendRunsAsync(1);
        await using HecReceiver receiver = await HecReceiver.StartAsync();
        receiver.Respond(200, """{"text":"Success","code":0}""");
        receiver.Respond(400, """{"text":"Invalid data format","code":6}""");

        // About 2 KB per event, so each request carries a few records.
        SplunkHecSink sink = Hec(receiver.Url, options => options.MaxBatchBytes = 4096);
        SinkForwardResult result = await CreateForwarder(sink).ForwardPendingAsync(sink, CancellationToken.None);
        AuditSinkCursor cursor = await _tables.Cursors.GetAsync(sink.Name, CancellationToken.None);
        int firstRequest = EventIds(receiver.Requests.First().Body).Count;

        Assert.True(result.Failure?.Permanent);
        Assert.Equal(firstRequest, result.Delivered);
        Assert.Equal(records[firstRequest - 1].Id, cursor.LastAcknowledgedKey);
    }

    [Fact]
    public async Task UnsettledRecordsWait()
    {
        await AppendRunsAsync(1, start: DateTimeOffset.UtcNow.AddSeconds(-5));
        await using HecReceiver receiver = await HecReceiver.StartAsync();
        SplunkHecSink sink = Hec(receiver.Url);

        SinkForwardResult result = await CreateForwarder(sink, settleDelay: TimeSpan.FromMinutes(1)).ForwardPendingAsync(sink, CancellationToken.None);

        Assert.Equal(0, result.Delivered);
        Assert.Empty(receiver.Requests);
    }

    [Fact]
    public async Task AckPollingWaitsForIndexing()
    {
        List<SignedAuditRecord> records = await AppendRunsAsync(1);
        var ledger = new HecAckLedger { PollsBeforeIndexed = 2 };
        await using HecAckReceiver receiver = await HecAckReceiver.StartAsync(ledger);
        SplunkHecSink sink = Hec(receiver.Url, AcknowledgementsOn);

        SinkForwardResult result = await CreateForwarder(sink).ForwardPendingAsync(sink, CancellationToken.None);

        Assert.Null(result.Failure);
        Assert.Equal(records.Select(record => record.Id), ledger.Indexed);
    }

    [Fact]
    public async Task OutageLosesNothing()
    {
        List<SignedAuditRecord> before = await AppendRunsAsync(6);
        var ledger = new HecAckLedger();
        HecAckReceiver receiver = await HecAckReceiver.StartAsync(ledger);
        int port = receiver.Port;
        SplunkHecSink sink = Hec(receiver.Url, AcknowledgementsOn);
        AuditForwarder forwarder = CreateForwarder(sink, batchSize: 10);
        using var running = new CancellationTokenSource();
        Task loop = forwarder.RunAsync(running.Token);

        // Stop the receiver once part of the trail is indexed, write more records while it is down,
        // then bring a new receiver up on the same port.
        await WaitUntilAsync(() => ledger.Indexed.Count >= 20, "20 records indexed before the outage");
        await receiver.DisposeAsync();
        List<SignedAuditRecord> during = await AppendRunsAsync(3, start: _start.AddMinutes(5));
        await WaitUntilAsync(() => _logs.Lines.Any(line => line.Contains("Delivery to sink splunk-hec failed", StringComparison.Ordinal)), "a failed delivery during the outage");
        await using HecAckReceiver restarted = await HecAckReceiver.StartAsync(ledger, port);
        int expected = before.Count + during.Count;
        await WaitUntilAsync(() => ledger.Indexed.Count >= expected, $"all {expected} records indexed after the outage");
        running.Cancel();
        await loop;

        string[] indexed = ledger.Indexed.ToArray();
        AuditSinkCursor cursor = await _tables.Cursors.GetAsync(sink.Name, CancellationToken.None);
        Assert.Equal(before.Concat(during).Select(record => record.Id).Order(StringComparer.Ordinal), indexed.Order(StringComparer.Ordinal));
        Assert.Equal(indexed.Length, indexed.Distinct().Count());
        Assert.Equal(during[^1].Id, cursor.LastAcknowledgedKey);
    }

    [Fact]
    public async Task LateRunRewindsCursor()
    {
        await AppendRunsAsync(2, start: _start.AddMinutes(10));
        await using HecReceiver receiver = await HecReceiver.StartAsync();
        SplunkHecSink sink = Hec(receiver.Url);
        AuditForwarder forwarder = CreateForwarder(sink);
        await forwarder.ForwardPendingAsync(sink, CancellationToken.None);
        var trail = new TableAuditTrail(_tables.Store, _tables.Signer, cursors: _tables.Cursors, settleDelay: TimeSpan.FromSeconds(30));
        string lateRun = AuditTestRuns.NewRunId();

        AuditReceipt late = await trail.RecordRunAsync(AuditTestRuns.Request(lateRun, _start), AuditTestRuns.Remediated(lateRun, _start), CancellationToken.None);
        await forwarder.ForwardPendingAsync(sink, CancellationToken.None);

        HashSet<string> received = receiver.Requests.SelectMany(request => EventIds(request.Body)).ToHashSet();
        Assert.Subset(received, late.RecordIds.ToHashSet());
    }

    [Fact]
    public async Task DuplicateSinkNamesRejected()
    {
        await using HecReceiver receiver = await HecReceiver.StartAsync();

        var error = Assert.Throws<AuditConfigurationException>(() => CreateForwarder(Hec(receiver.Url), Hec(receiver.Url)));

        Assert.Contains("splunk-hec", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenNeverLogged()
    {
        await AppendRunsAsync(1);
        await using HecReceiver receiver = await HecReceiver.StartAsync();
        receiver.Respond(403, """{"text":"Invalid token","code":4}""");
        SplunkHecSink sink = Hec(receiver.Url);
        using var running = new CancellationTokenSource();
        Task loop = CreateForwarder(sink).RunAsync(running.Token);

        await WaitUntilAsync(() => _logs.Lines.Any(line => line.Contains("Delivery to sink splunk-hec failed", StringComparison.Ordinal)), "the rejected delivery logged");
        running.Cancel();
        await loop;

        Assert.DoesNotContain(_logs.Lines, line => line.Contains(Token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task FaultySinkKeepsLoopRunning()
    {
        await AppendRunsAsync(1);
        var sink = new ThrowingSink();
        using var running = new CancellationTokenSource();
        Task loop = CreateForwarder(sink).RunAsync(running.Token);

        await WaitUntilAsync(() => sink.Calls >= 2, "a second delivery after the sink threw");
        running.Cancel();
        await loop;

        Assert.Contains(_logs.Lines, line => line.Contains("Forwarding pass for sink throwing failed", StringComparison.Ordinal));
    }

    private static void AcknowledgementsOn(SplunkHecOptions options)
    {
        options.UseAcknowledgements = true;
        options.AckPollInterval = TimeSpan.FromMilliseconds(50);
        options.AckTimeout = TimeSpan.FromSeconds(1);
    }

    private SplunkHecSink Hec(string url, Action<SplunkHecOptions>? configure = null)
    {
        var options = new SplunkHecOptions
        {
            Url = url,
            Token = Token,
            Host = "test-host",
            MaxAttempts = 1,
            RetryDelay = TimeSpan.Zero,
        };
        configure?.Invoke(options);
        return new SplunkHecSink(_httpClient, options, _loggerFactory.CreateLogger<SplunkHecSink>());
    }

    private AuditForwarder CreateForwarder(params IAuditSink[] sinks) => CreateForwarder(sinks, TimeSpan.Zero, 100);

    private AuditForwarder CreateForwarder(IAuditSink sink, TimeSpan? settleDelay = null, int batchSize = 100) =>
        CreateForwarder([sink], settleDelay ?? TimeSpan.Zero, batchSize);

    private AuditForwarder CreateForwarder(IAuditSink[] sinks, TimeSpan settleDelay, int batchSize) =>
        new(_tables.Store, _tables.Cursors, sinks, new AuditForwarderOptions
        {
            BatchSize = batchSize,
            PollInterval = TimeSpan.FromMilliseconds(50),
            SettleDelay = settleDelay,
            InitialBackoff = TimeSpan.FromMilliseconds(100),
            MaxBackoff = TimeSpan.FromMilliseconds(400),
        }, _loggerFactory.CreateLogger<AuditForwarder>());

    /// <summary>Appends runs four seconds apart and returns their records in id order.</summary>
    private async Task<List<SignedAuditRecord>> AppendRunsAsync(int runs, DateTimeOffset? start = null)
    {
        var records = new List<SignedAuditRecord>();
        for (int run = 0; run < runs; run++)
        {
            IReadOnlyList<SignedAuditRecord> sealedRun = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), _tables.Signer, (start ?? _start).AddSeconds(4 * run));
            await _tables.Store.AppendAsync(sealedRun, CancellationToken.None);
            records.AddRange(sealedRun);
        }

        records.Sort((left, right) => string.CompareOrdinal(left.Id, right.Id));
        return records;
    }

    private static List<string> EventIds(string body)
    {
        var ids = new List<string>();
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(body);
        int offset = 0;
        while (offset < bytes.Length)
        {
            var reader = new Utf8JsonReader(bytes.AsSpan(offset));
            using JsonDocument hecEvent = JsonDocument.ParseValue(ref reader);
            ids.Add(hecEvent.RootElement.GetProperty("event").GetProperty("id").GetString()!);
            offset += (int)reader.BytesConsumed;
        }

        return ids;
    }

    /// <summary>A sink with a bug: every delivery throws an exception that is not an <see cref="AuditDeliveryException"/>.</summary>
    private sealed class ThrowingSink : IAuditSink
    {
        private int _calls;

        public int Calls => _calls;

        public string Name => "throwing";

        public Task<string> DeliverAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _calls);
            throw new InvalidOperationException("sink bug");
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string description)
    {
        var stopwatch = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(30), $"Timed out after 30 s waiting for {description}.");
            await Task.Delay(20);
        }
    }
}
