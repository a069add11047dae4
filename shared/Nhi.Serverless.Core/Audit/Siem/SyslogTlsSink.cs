using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Nhi.Serverless.Audit.Siem;

/// <summary>
/// Sends audit records to a syslog collector as RFC 5424 messages whose MSG is a CEF event, over TLS
/// with the octet-counted framing of RFC 5425 (<c>MSG-LEN SP SYSLOG-MSG</c>). One connection is kept
/// open between deliveries and opened again after a failure.
/// </summary>
/// <remarks>
/// The header is <c>&lt;PRI&gt;1 TIMESTAMP HOSTNAME APP-NAME - MSGID -</c>: PRI from the configured facility
/// and the record's severity, TIMESTAMP the event time in UTC with milliseconds, MSGID the event name,
/// and no structured data. MSG is sent as MSG-ANY, without the UTF-8 byte order mark that RFC 5424 requires
/// with MSG-UTF8, because CEF parsers expect the text to start with "CEF:".
/// NOTE: syslog over TLS has no acknowledgement, so "delivered" means written and flushed to the
/// connection. Before each batch the sink checks that the collector has not closed the connection, but
/// records written just before a connection breaks can still be lost; a collector that must not lose
/// any needs RELP or the HEC or webhook sinks.
/// </remarks>
public sealed partial class SyslogTlsSink : IAuditSink, IAsyncDisposable
{
    public const string SinkName = "syslog-tls";

    private readonly SyslogTlsOptions _options;
    private readonly IReadOnlyList<string> _pins;
    private readonly string _hostname;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _connectionLock = new(1, 1);
    private TcpClient? _client;
    private SslStream? _stream;
    private string? _certificateRejection;

    /// <summary>Creates the sink; it connects on the first delivery.</summary>
    /// <exception cref="AuditConfigurationException">The options are invalid.</exception>
    public SyslogTlsSink(SyslogTlsOptions options, ILogger<SyslogTlsSink>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _options = options;
        _pins = options.ReadPins();
        _hostname = options.Hostname ?? SanitizeField(Environment.MachineName, 255);
        _logger = logger ?? NullLogger<SyslogTlsSink>.Instance;
    }

    public string Name => SinkName;

    public async Task<string> DeliverAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return $"{SinkName}: no records to deliver";
        }

        var frames = new MemoryStream();
        foreach (SignedAuditRecord record in records)
        {
            byte[] frame = Frame(FormatMessage(record));
            frames.Write(frame);
        }

        await _connectionLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            SslStream stream = await ConnectIfNeededAsync(cancellationToken).ConfigureAwait(false);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.WriteTimeout);
            try
            {
                await stream.WriteAsync(frames.GetBuffer().AsMemory(0, (int)frames.Length), timeout.Token).ConfigureAwait(false);
                await stream.FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new IOException($"writing {records.Count.ToString(CultureInfo.InvariantCulture)} messages timed out after {_options.WriteTimeout}");
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or AuthenticationException or ObjectDisposedException)
        {
            CloseConnection();
            bool permanent = ex is AuthenticationException && _certificateRejection is not null;
            string reason = permanent ? _certificateRejection! : ex.Message;
            LogFailed(_logger, records.Count, Endpoint, reason, permanent);
            throw new AuditDeliveryException(SinkName, $"syslog collector {Endpoint} failed: {reason}", permanent, ex);
        }
        finally
        {
            _connectionLock.Release();
        }

        LogSent(_logger, records.Count, Endpoint, records[0].Id, records[^1].Id);
        return $"{SinkName}: sent {records.Count.ToString(CultureInfo.InvariantCulture)} records to {Endpoint}";
    }

    /// <summary>The collector as host:port.</summary>
    public string Endpoint => $"{_options.Host}:{_options.Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Formats the RFC 5424 message of one record, without framing.</summary>
    public string FormatMessage(SignedAuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        int priority = (_options.Facility * 8) + MapSeverity(record);
        string timestamp = record.EventTime.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
        string messageId = SanitizeField(record.Event, 32);
        return $"<{priority.ToString(CultureInfo.InvariantCulture)}>1 {timestamp} {_hostname} {_options.AppName} - {messageId} - {CefFormatter.Format(record)}";
    }

    /// <summary>Frames a message for TLS transport: its length in UTF-8 bytes, a space, then the bytes (RFC 5425 section 4.3).</summary>
    public static byte[] Frame(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        byte[] body = Encoding.UTF8.GetBytes(message);
        byte[] prefix = Encoding.ASCII.GetBytes(body.Length.ToString(CultureInfo.InvariantCulture) + " ");
        return [.. prefix, .. body];
    }

    public ValueTask DisposeAsync()
    {
        CloseConnection();
        _connectionLock.Dispose();
        return ValueTask.CompletedTask;
    }

    private async Task<SslStream> ConnectIfNeededAsync(CancellationToken cancellationToken)
    {
        if (_stream is not null && _client is not null && IsOpen(_client.Client))
        {
            return _stream;
        }

        CloseConnection();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ConnectTimeout);
        var client = new TcpClient();
        try
        {
            await client.ConnectAsync(_options.Host, _options.Port, timeout.Token).ConfigureAwait(false);
            var stream = new SslStream(client.GetStream(), leaveInnerStreamOpen: false);
            _certificateRejection = null;
            await stream.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = _options.ServerName ?? _options.Host,
                    RemoteCertificateValidationCallback = ValidateServerCertificate,
                },
                timeout.Token).ConfigureAwait(false);
            _client = client;
            _stream = stream;
            LogConnected(_logger, Endpoint, stream.SslProtocol.ToString());
            return stream;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            client.Dispose();
            throw new IOException($"connecting and the TLS handshake did not finish within {_options.ConnectTimeout}");
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private bool ValidateServerCertificate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_pins.Count == 0)
        {
            if (errors != SslPolicyErrors.None)
            {
                _certificateRejection = $"the server certificate failed validation ({errors}); pin its SHA-256 fingerprint in {SyslogTlsOptions.SectionName}:{nameof(SyslogTlsOptions.PinnedCertificateSha256)} if it is self-signed";
            }

            return errors == SslPolicyErrors.None;
        }

        if (certificate is null)
        {
            _certificateRejection = "the server sent no certificate";
            return false;
        }

        string fingerprint = Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256));
        if (_pins.Contains(fingerprint, StringComparer.Ordinal))
        {
            return true;
        }

        _certificateRejection = $"the server certificate has SHA-256 fingerprint {fingerprint}, which is not among the pinned fingerprints in {SyslogTlsOptions.SectionName}:{nameof(SyslogTlsOptions.PinnedCertificateSha256)}";
        return false;
    }

    /// <summary>Returns false when the collector closed the connection: the socket is readable but has no data.</summary>
    private static bool IsOpen(Socket socket)
    {
        try
        {
            return !(socket.Poll(0, SelectMode.SelectRead) && socket.Available == 0);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    private void CloseConnection()
    {
        _stream?.Dispose();
        _client?.Dispose();
        _stream = null;
        _client = null;
    }

    /// <summary>Maps OCSF severity_id to the syslog severity: Critical 2, High 3, Medium 4, Low 5, anything else 6 (informational).</summary>
    private static int MapSeverity(SignedAuditRecord record)
    {
        long? severityId = JsonRead.Integer(record.ToJsonObject(), "severity_id");
        return severityId switch
        {
            >= 5 => 2,
            4 => 3,
            3 => 4,
            2 => 5,
            _ => 6,
        };
    }

    /// <summary>Keeps printable ASCII without spaces, as RFC 5424 header fields require, and cuts to the field's length.</summary>
    private static string SanitizeField(string value, int maxLength)
    {
        var field = new StringBuilder(Math.Min(value.Length, maxLength));
        foreach (char c in value)
        {
            if (field.Length == maxLength)
            {
                break;
            }

            field.Append(c is > ' ' and <= '~' ? c : '_');
        }

        return field.Length == 0 ? "-" : field.ToString();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to syslog collector {Endpoint} over {Protocol}")]
    private static partial void LogConnected(ILogger logger, string endpoint, string protocol);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sent {Count} audit records to syslog collector {Endpoint}, {FirstRecordId} to {LastRecordId}")]
    private static partial void LogSent(ILogger logger, int count, string endpoint, string firstRecordId, string lastRecordId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Sending {Count} audit records to syslog collector {Endpoint} failed (permanent: {Permanent}): {Reason}")]
    private static partial void LogFailed(ILogger logger, int count, string endpoint, string reason, bool permanent);
}
