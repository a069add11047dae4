using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Azure;
using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Sends audit records to Microsoft Sentinel through the Azure Monitor Logs Ingestion API:
/// POST {endpoint}/dataCollectionRules/{dcrImmutableId}/streams/{stream}?api-version=2023-01-01 with a
/// JSON array of rows and a bearer token for https://monitor.azure.com from a <see cref="TokenCredential"/>.
/// </summary>
/// <remarks>
/// Each row has the columns TimeGenerated, RecordId, RunId, Seq, Event, FindingId, GrantId, Resource,
/// Message, SeverityId, Status, Hash, PrevHash, KeyId, Signature and Record. Record is the whole signed
/// record as a dynamic value, so it can be verified later. The data collection rule's stream must
/// declare these columns.
/// The service returns 204 on success. On 401 the token is fetched again and the request sent once more;
/// 403 (the identity lacks the Monitoring Metrics Publisher role on the rule) and other 4xx are
/// permanent; 413 splits the batch in half; 408, 429 and 5xx are retryable with their Retry-After.
/// Tokens are cached until five minutes before they expire and never logged.
/// </remarks>
public sealed partial class SentinelLogsIngestionSink : IAuditSink
{
    public const string SinkName = "sentinel";
    public const string ApiVersion = "2023-01-01";

    /// <summary>The token scope of the Logs Ingestion API; the double slash is part of the resource id.</summary>
    public const string Scope = "https://monitor.azure.com//.default";

    private const int MaxResponseTextLength = 300;
    private static readonly TimeSpan TokenRefreshMargin = TimeSpan.FromMinutes(5);

    private readonly HttpClient _httpClient;
    private readonly SentinelOptions _options;
    private readonly TokenCredential _credential;
    private readonly Uri _url;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _tokenLock = new(1, 1);
    private AccessToken? _token;

    /// <summary>Creates the sink.</summary>
    /// <exception cref="AuditConfigurationException">The options are invalid.</exception>
    public SentinelLogsIngestionSink(HttpClient httpClient, SentinelOptions options, TokenCredential credential, ILogger<SentinelLogsIngestionSink>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(credential);
        options.ThrowIfInvalid();
        _httpClient = httpClient;
        _options = options;
        _credential = credential;
        _url = new Uri(
            $"{options.Endpoint.TrimEnd('/')}/dataCollectionRules/{Uri.EscapeDataString(options.DcrImmutableId)}/streams/{Uri.EscapeDataString(options.StreamName)}?api-version={ApiVersion}",
            UriKind.Absolute);
        _logger = logger ?? NullLogger<SentinelLogsIngestionSink>.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    public string Name => SinkName;

    /// <summary>The full request URL.</summary>
    public Uri Url => _url;

    public async Task<string> DeliverAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return $"{SinkName}: no records to deliver";
        }

        List<byte[]> rows = records.Select(CreateRow).ToList();
        var progress = new Progress();
        int start = 0;
        foreach (int count in PlanBatches(rows))
        {
            await SendRowsAsync(rows, start, count, progress, cancellationToken).ConfigureAwait(false);
            start += count;
        }

        LogDelivered(_logger, records.Count, _options.StreamName, progress.Requests);
        return $"{SinkName}: delivered {records.Count.ToString(CultureInfo.InvariantCulture)} records in {progress.Requests.ToString(CultureInfo.InvariantCulture)} request(s)";
    }

    /// <summary>Writes the row of one record.</summary>
    internal static byte[] CreateRow(SignedAuditRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(record.Json.Length + 1024);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            using JsonDocument parsed = JsonDocument.Parse(record.Json);
            JsonElement root = parsed.RootElement;
            writer.WriteStartObject();
            writer.WriteString("TimeGenerated", record.EventTime.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture));
            writer.WriteString("RecordId", record.Id);
            writer.WriteString("RunId", record.RunId);
            writer.WriteNumber("Seq", record.Seq);
            writer.WriteString("Event", record.Event);
            writer.WriteString("FindingId", record.FindingId);
            writer.WriteString("GrantId", record.GrantId);
            writer.WriteString("Resource", record.Resource);
            writer.WriteString("Message", root.TryGetProperty("message", out JsonElement message) && message.ValueKind == JsonValueKind.String ? message.GetString() : null);
            if (root.TryGetProperty("severity_id", out JsonElement severity) && severity.TryGetInt32(out int severityId))
            {
                writer.WriteNumber("SeverityId", severityId);
            }

            writer.WriteString("Status", root.TryGetProperty("status", out JsonElement status) && status.ValueKind == JsonValueKind.String ? status.GetString() : null);
            writer.WriteString("Hash", record.Hash);
            writer.WriteString("PrevHash", record.PrevHash);
            writer.WriteString("KeyId", record.KeyId);
            writer.WriteString("Signature", record.Signature);
            writer.WritePropertyName("Record");
            writer.WriteRawValue(record.Json);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>Splits rows into batches whose JSON array stays within the byte limit; an oversized row goes alone.</summary>
    private IEnumerable<int> PlanBatches(List<byte[]> rows)
    {
        int count = 0;
        long bytes = 2;
        foreach (byte[] row in rows)
        {
            if (count > 0 && bytes + row.Length + 1 > _options.MaxBatchBytes)
            {
                yield return count;
                count = 0;
                bytes = 2;
            }

            count++;
            bytes += row.Length + 1;
        }

        yield return count;
    }

    private async Task SendRowsAsync(List<byte[]> rows, int start, int count, Progress progress, CancellationToken cancellationToken)
    {
        IngestionAttempt attempt = await SendOnceAsync(rows, start, count, cancellationToken).ConfigureAwait(false);
        if (attempt.Status == 401)
        {
            // A token can be revoked or rotated before it expires; one fresh token gets one more try.
            await InvalidateTokenAsync(cancellationToken).ConfigureAwait(false);
            attempt = await SendOnceAsync(rows, start, count, cancellationToken).ConfigureAwait(false);
        }

        progress.Requests++;
        if (attempt.Delivered)
        {
            progress.Delivered += count;
            return;
        }

        if (attempt.Status == 413 && count > 1)
        {
            LogSplitting(_logger, count, _options.MaxBatchBytes);
            int half = count / 2;
            await SendRowsAsync(rows, start, half, progress, cancellationToken).ConfigureAwait(false);
            await SendRowsAsync(rows, start + half, count - half, progress, cancellationToken).ConfigureAwait(false);
            return;
        }

        LogFailed(_logger, count, _options.StreamName, attempt.Failure, !attempt.Retryable);
        throw new AuditDeliveryException(
            SinkName,
            $"the Logs Ingestion API failed ({attempt.Failure}); {progress.Delivered.ToString(CultureInfo.InvariantCulture)} records were delivered before",
            permanent: !attempt.Retryable,
            progress.Delivered,
            attempt.RetryAfter);
    }

    private async Task<IngestionAttempt> SendOnceAsync(List<byte[]> rows, int start, int count, CancellationToken cancellationToken)
    {
        string token;
        try
        {
            token = await GetTokenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AuthenticationFailedException or CredentialUnavailableException or RequestFailedException)
        {
            return new IngestionAttempt(false, null, $"no Entra ID token for {Scope}: {ex.GetType().Name}: {Scrub(ex.Message)}", true, null);
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, _url);
        request.Content = new ByteArrayContent(JoinRows(rows, start, count));
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        try
        {
            using HttpResponseMessage response = await _httpClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                return new IngestionAttempt(true, status, "", false, null);
            }

            string body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            string failure = $"HTTP {status.ToString(CultureInfo.InvariantCulture)}{DescribeError(body)}" + status switch
            {
                401 => "; the service rejected a freshly issued token",
                403 => $"; grant the identity the Monitoring Metrics Publisher role on data collection rule {_options.DcrImmutableId}",
                413 => "; a single record is larger than the service accepts",
                _ => "",
            };
            return new IngestionAttempt(false, status, failure, IsRetryable(response.StatusCode), RetryAfterOf(response));
        }
        catch (HttpRequestException ex)
        {
            return new IngestionAttempt(false, null, $"request failed: {Scrub(ex.Message)}", true, null);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new IngestionAttempt(false, null, $"request timed out after {_httpClient.Timeout}", true, null);
        }
    }

    private async Task<string> GetTokenAsync(CancellationToken cancellationToken)
    {
        await _tokenLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            DateTimeOffset now = _timeProvider.GetUtcNow();
            if (_token is not { } cached || cached.ExpiresOn - TokenRefreshMargin <= now || (cached.RefreshOn is { } refreshOn && refreshOn <= now))
            {
                cached = await _credential.GetTokenAsync(new TokenRequestContext([Scope]), cancellationToken).ConfigureAwait(false);
                _token = cached;
            }

            return cached.Token;
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    private async Task InvalidateTokenAsync(CancellationToken cancellationToken)
    {
        await _tokenLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            _token = null;
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    private static byte[] JoinRows(List<byte[]> rows, int start, int count)
    {
        var body = new MemoryStream();
        body.WriteByte((byte)'[');
        for (int i = start; i < start + count; i++)
        {
            if (i > start)
            {
                body.WriteByte((byte)',');
            }

            body.Write(rows[i]);
        }

        body.WriteByte((byte)']');
        return body.ToArray();
    }

    /// <summary>Reads the error code and message of an Azure error body, <c>{"error":{"code":...,"message":...}}</c>.</summary>
    private string DescribeError(string body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return "";
        }

        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("error", out JsonElement error)
                && error.ValueKind == JsonValueKind.Object)
            {
                string? code = error.TryGetProperty("code", out JsonElement codeElement) ? codeElement.ToString() : null;
                string? message = error.TryGetProperty("message", out JsonElement messageElement) ? messageElement.ToString() : null;
                return $", {Scrub(code ?? "no code")}: {Scrub(message ?? "no message")}";
            }
        }
        catch (JsonException)
        {
            // Gateways in front of the service respond with HTML or plain text.
        }

        return $": {Scrub(body)}";
    }

    private TimeSpan? RetryAfterOf(HttpResponseMessage response)
    {
        RetryConditionHeaderValue? retryAfter = response.Headers.RetryAfter;
        if (retryAfter?.Delta is { } delta)
        {
            return delta;
        }

        if (retryAfter?.Date is not { } date)
        {
            return null;
        }

        TimeSpan wait = date - _timeProvider.GetUtcNow();
        return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
    }

    private static bool IsRetryable(HttpStatusCode status) =>
        status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || (int)status >= 500;

    /// <summary>Shortens text for messages and removes the client secret and the cached token in case they are echoed.</summary>
    private string Scrub(string text)
    {
        string scrubbed = text.ReplaceLineEndings(" ");
        if (_options.ClientSecret is { Length: > 0 } secret)
        {
            scrubbed = scrubbed.Replace(secret, "[redacted]", StringComparison.Ordinal);
        }

        if (_token?.Token is { Length: > 0 } token)
        {
            scrubbed = scrubbed.Replace(token, "[redacted]", StringComparison.Ordinal);
        }

        return scrubbed.Length <= MaxResponseTextLength ? scrubbed : scrubbed[..MaxResponseTextLength] + "...";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Logs Ingestion API accepted {Count} audit records for stream {Stream} in {Requests} request(s)")]
    private static partial void LogDelivered(ILogger logger, int count, string stream, int requests);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Logs Ingestion API rejected a batch of {Count} audit records as too large (413); sending it in two halves. Lower MaxBatchBytes ({MaxBatchBytes}) to avoid this")]
    private static partial void LogSplitting(ILogger logger, int count, int maxBatchBytes);

    [LoggerMessage(Level = LogLevel.Error, Message = "Logs Ingestion API failed for {Count} audit records of stream {Stream} (permanent: {Permanent}): {Failure}")]
    private static partial void LogFailed(ILogger logger, int count, string stream, string failure, bool permanent);

    private sealed record IngestionAttempt(bool Delivered, int? Status, string Failure, bool Retryable, TimeSpan? RetryAfter);

    /// <summary>What one delivery has achieved so far, across batches and halves.</summary>
    private sealed class Progress
    {
        public int Delivered { get; set; }

        public int Requests { get; set; }
    }
}
