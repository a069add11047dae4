using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Nhi.Serverless.Audit.Siem;

/// <summary>
/// POSTs audit records to an HTTPS endpoint as <c>{"records":[...]}</c>, each record its signed JSON,
/// with an HMAC-SHA256 signature the receiver checks with the shared secret.
/// </summary>
/// <remarks>
/// Headers: <c>X-Nhi-Timestamp</c> is the Unix time in seconds when the request was signed, and
/// <c>X-Nhi-Signature</c> is <c>sha256=</c> plus the lowercase hex HMAC-SHA256, keyed with the UTF-8
/// secret, of the timestamp's decimal digits, a period, and the body bytes. A receiver should reject
/// timestamps far from its clock to stop replays, and drop records whose <c>id</c> it has seen.
/// A 2xx status acknowledges the request. 408, 429 and 5xx are retryable (Retry-After is honoured), as are
/// failed connections and timeouts; any other status is permanent.
/// </remarks>
public sealed partial class WebhookSink : IAuditSink
{
    public const string SinkName = "webhook";
    public const string TimestampHeader = "X-Nhi-Timestamp";
    public const string SignatureHeader = "X-Nhi-Signature";
    public const string SignaturePrefix = "sha256=";

    private const int MaxResponseTextLength = 200;

    private readonly HttpClient _httpClient;
    private readonly WebhookOptions _options;
    private readonly byte[] _key;
    private readonly Uri _url;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates the sink.</summary>
    /// <exception cref="AuditConfigurationException">The options are invalid.</exception>
    public WebhookSink(HttpClient httpClient, WebhookOptions options, ILogger<WebhookSink>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _httpClient = httpClient;
        _options = options;
        _key = Encoding.UTF8.GetBytes(options.Secret);
        _url = new Uri(options.Url, UriKind.Absolute);
        _logger = logger ?? NullLogger<WebhookSink>.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    public string Name => SinkName;

    /// <summary>Computes the <see cref="SignatureHeader"/> value for a timestamp and body.</summary>
    public static string ComputeSignature(ReadOnlySpan<byte> key, long timestamp, ReadOnlySpan<byte> body)
    {
        byte[] prefix = Encoding.ASCII.GetBytes(timestamp.ToString(CultureInfo.InvariantCulture) + ".");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(prefix);
        hmac.AppendData(body);
        return SignaturePrefix + Convert.ToHexStringLower(hmac.GetHashAndReset());
    }

    public async Task<string> DeliverAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return $"{SinkName}: no records to deliver";
        }

        int delivered = 0;
        int requests = 0;
        foreach ((byte[] body, int count) in BuildBatches(records))
        {
            WebhookAttempt attempt = await SendAsync(body, cancellationToken).ConfigureAwait(false);
            if (!attempt.Delivered)
            {
                LogFailed(_logger, count, _url.Host, attempt.Failure, !attempt.Retryable);
                throw new AuditDeliveryException(
                    SinkName,
                    $"webhook {_url.Host} failed ({attempt.Failure}); {delivered.ToString(CultureInfo.InvariantCulture)} of {records.Count.ToString(CultureInfo.InvariantCulture)} records were delivered before",
                    permanent: !attempt.Retryable,
                    delivered,
                    attempt.RetryAfter);
            }

            delivered += count;
            requests++;
        }

        LogDelivered(_logger, records.Count, _url.Host, requests);
        return $"{SinkName}: delivered {records.Count.ToString(CultureInfo.InvariantCulture)} records in {requests.ToString(CultureInfo.InvariantCulture)} request(s)";
    }

    private IEnumerable<(byte[] Body, int Count)> BuildBatches(IReadOnlyList<SignedAuditRecord> records)
    {
        byte[] open = "{\"records\":["u8.ToArray();
        byte[] close = "]}"u8.ToArray();
        var body = new MemoryStream();
        int count = 0;
        foreach (SignedAuditRecord record in records)
        {
            byte[] json = Encoding.UTF8.GetBytes(record.Json);

            // A record larger than the limit still goes out, alone in its request.
            if (count > 0 && body.Length + json.Length + 1 + close.Length > _options.MaxBatchBytes)
            {
                body.Write(close);
                yield return (body.ToArray(), count);
                body = new MemoryStream();
                count = 0;
            }

            if (count == 0)
            {
                body.Write(open);
            }
            else
            {
                body.WriteByte((byte)',');
            }

            body.Write(json);
            count++;
        }

        body.Write(close);
        yield return (body.ToArray(), count);
    }

    private async Task<WebhookAttempt> SendAsync(byte[] body, CancellationToken cancellationToken)
    {
        long timestamp = _timeProvider.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, _url);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation(TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation(SignatureHeader, ComputeSignature(_key, timestamp, body));
        try
        {
            using HttpResponseMessage response = await _httpClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                return WebhookAttempt.Success;
            }

            string text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            string failure = $"HTTP {status.ToString(CultureInfo.InvariantCulture)}" + (string.IsNullOrWhiteSpace(text) ? "" : $": {Scrub(text)}");
            return new WebhookAttempt(false, failure, IsRetryable(response.StatusCode), RetryAfterOf(response));
        }
        catch (HttpRequestException ex)
        {
            return new WebhookAttempt(false, $"request failed: {Scrub(ex.Message)}", true, null);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WebhookAttempt(false, $"request timed out after {_httpClient.Timeout}", true, null);
        }
    }

    private TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        RetryConditionHeaderValue? retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta;
        }

        return retryAfter?.Date is { } date ? Max(date - _timeProvider.GetUtcNow(), TimeSpan.Zero) : null;
    }

    private static bool IsRetryable(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>Shortens receiver text for messages and removes the secret in case a receiver echoes it.</summary>
    private string Scrub(string text)
    {
        string scrubbed = text.Replace(_options.Secret, "[redacted]", StringComparison.Ordinal).ReplaceLineEndings(" ");
        return scrubbed.Length <= MaxResponseTextLength ? scrubbed : scrubbed[..MaxResponseTextLength] + "...";
    }

    private static TimeSpan Max(TimeSpan left, TimeSpan right) => left > right ? left : right;

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {Host} acknowledged {Count} audit records in {Requests} request(s)")]
    private static partial void LogDelivered(ILogger logger, int count, string host, int requests);

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook {Host} failed for {Count} audit records (permanent: {Permanent}): {Failure}")]
    private static partial void LogFailed(ILogger logger, int count, string host, string failure, bool permanent);

    private sealed record WebhookAttempt(bool Delivered, string Failure, bool Retryable, TimeSpan? RetryAfter)
    {
        public static WebhookAttempt Success { get; } = new(true, "", false, null);
    }
}
