using System.Text;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Audit.Siem;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Sends records to a real rsyslogd over TLS with octet-counted framing, and checks the CEF it wrote.</summary>
public sealed class SyslogTlsSinkTests : IAsyncLifetime, IDisposable
{
    /// <summary>A skip reason with every character CEF escapes: backslash, pipe, equals, line feed and carriage return.</summary>
    private const string AwkwardReason = @"policy a|b says x=1 \ done" + "\nsecond line\r";

    private readonly TemporaryDirectory _directory = new();
    private readonly LocalKeyFileSigner _signer;
    private readonly IReadOnlyList<SignedAuditRecord> _records;
    private readonly CapturingLoggerProvider _logs = new();
    private readonly ILoggerFactory _loggerFactory;
    private RsyslogServer _server = null!;

    public SyslogTlsSinkTests()
    {
        _signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));
        _records = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), _signer);
        _loggerFactory = LoggerFactory.Create(builder => builder.AddProvider(_logs).SetMinimumLevel(LogLevel.Trace));
    }

    public async Task InitializeAsync() => _server = await RsyslogServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public void Dispose()
    {
        _loggerFactory.Dispose();
        _signer.Dispose();
        _directory.Dispose();
    }

    [Fact]
    public async Task RsyslogReceivesEveryRecord()
    {
        await using SyslogTlsSink sink = CreateSink();

        await sink.DeliverAsync(_records, CancellationToken.None);
        string[] lines = await _server.WaitForLinesAsync(_records.Count);

        Assert.Equal(_records.Count, lines.Length);
        for (int i = 0; i < lines.Length; i++)
        {
            Assert.Contains($"externalId={_records[i].Id}", lines[i], StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ReceivedLineIsRfc5424WithCef()
    {
        await using SyslogTlsSink sink = CreateSink();

        await sink.DeliverAsync(_records, CancellationToken.None);
        string line = (await _server.WaitForLinesAsync(_records.Count))[0];

        Assert.Equal(sink.FormatMessage(_records[0]), line);
        // PRI = facility 13 (log audit) * 8 + severity 3 (error), the syslog severity of a High finding.
        Assert.StartsWith("<107>1 ", line, StringComparison.Ordinal);
        Assert.Contains(" nhi-serverless - finding.received - CEF:0|Nhi.Serverless|Nhi.Serverless|", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EscapedCharactersArriveIntact()
    {
        string runId = AuditTestRuns.NewRunId();
        RunResult skipped = AuditTestRuns.Skipped(runId) with { SkipReason = AwkwardReason };
        IReadOnlyList<SignedAuditRecord> records = AuditChain.Seal(AuditRecordFactory.ForRun(AuditTestRuns.Request(runId), skipped), _signer);
        await using SyslogTlsSink sink = CreateSink();

        await sink.DeliverAsync(records, CancellationToken.None);
        string line = (await _server.WaitForLinesAsync(records.Count))[0];

        Assert.Contains(@"msg=Finding finding-" + runId + @" from securityhub skipped: policy a|b says x\=1 \\ done\nsecond line\r", line, StringComparison.Ordinal);
        Assert.Contains(@"skipped: policy a\|b says x=1 \\ done second line |", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ConnectionReusedAcrossDeliveries()
    {
        await using SyslogTlsSink sink = CreateSink();

        await sink.DeliverAsync(_records.Take(3).ToArray(), CancellationToken.None);
        await sink.DeliverAsync(_records.Skip(3).ToArray(), CancellationToken.None);
        await _server.WaitForLinesAsync(_records.Count);

        Assert.Single(_logs.Lines, line => line.Contains("Connected to syslog collector", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ReconnectsAfterCollectorRestart()
    {
        await using SyslogTlsSink sink = CreateSink();
        await sink.DeliverAsync(_records.Take(2).ToArray(), CancellationToken.None);
        await _server.WaitForLinesAsync(2);
        (int port, var certificate) = (_server.Port, _server.Certificate);
        await _server.DisposeAsync();
        _server = await RsyslogServer.StartAsync(port, certificate);

        await sink.DeliverAsync(_records.Skip(2).ToArray(), CancellationToken.None);
        string[] lines = await _server.WaitForLinesAsync(_records.Count - 2);

        Assert.Equal(_records.Skip(2).Select(record => sink.FormatMessage(record)), lines);
        Assert.Equal(2, _logs.Lines.Count(line => line.Contains("Connected to syslog collector", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task NewCertificateFailsPin()
    {
        await using SyslogTlsSink sink = CreateSink();
        await sink.DeliverAsync(_records.Take(2).ToArray(), CancellationToken.None);
        int port = _server.Port;
        await _server.DisposeAsync();
        _server = await RsyslogServer.StartAsync(port);

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => sink.DeliverAsync(_records.Skip(2).ToArray(), CancellationToken.None));

        Assert.True(error.Permanent);
        Assert.Contains("not among the pinned fingerprints", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongPinRejected()
    {
        await using SyslogTlsSink sink = CreateSink(pins: new string('A', 64));

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => sink.DeliverAsync(_records, CancellationToken.None));

        Assert.True(error.Permanent);
        Assert.Contains(_server.CertificateSha256, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnpinnedSelfSignedRejected()
    {
        await using SyslogTlsSink sink = new(new SyslogTlsOptions { Host = "127.0.0.1", Port = _server.Port }, _loggerFactory.CreateLogger<SyslogTlsSink>());

        var error = await Assert.ThrowsAsync<AuditDeliveryException>(() => sink.DeliverAsync(_records, CancellationToken.None));

        Assert.Contains("failed validation", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FrameCountsUtf8Bytes()
    {
        byte[] frame = SyslogTlsSink.Frame("<110>1 é");

        Assert.Equal("9 <110>1 é", Encoding.UTF8.GetString(frame));
    }

    [Fact]
    public void InvalidPinRejectedByOptions()
    {
        var options = new SyslogTlsOptions { Host = "127.0.0.1", PinnedCertificateSha256 = "abc" };

        Assert.Contains(options.Validate(), error => error.Contains("PinnedCertificateSha256", StringComparison.Ordinal));
    }

    private SyslogTlsSink CreateSink(string? pins = null) =>
        new(new SyslogTlsOptions
        {
            Host = "127.0.0.1",
            Port = _server.Port,
            PinnedCertificateSha256 = pins ?? _server.CertificateSha256,
            Hostname = "nhi-test",
        }, _loggerFactory.CreateLogger<SyslogTlsSink>());
}
