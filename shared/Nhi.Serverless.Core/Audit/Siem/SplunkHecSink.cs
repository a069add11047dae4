using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Nhi.Serverless.Audit.Siem;

/// <summary>
/// Sends sealed audit records to a Splunk HTTP Event Collector: one HEC event per record, batched by
/// concatenation into POSTs to {url}/services/collector/event.
/// </summary>
/// <remarks>
/// HEC returns 200 with <c>{"text":"Success","code":0}</c>. The sink retries HTTP 408, 429, 500, 502,
/// 503 (such as code 9, server busy) and 504, and failed or timed-out connections. Every other status
/// fails at once, such as 400 with code 5, 6 or 12 (malformed data) or 401 and 403 (token errors).
/// With <see cref="SplunkHecOptions.UseAcknowledgements"/>, each request's ackId is polled at
/// /services/collector/ack until HEC reports the events indexed; a request not indexed within
/// <see cref="SplunkHecOptions.AckTimeout"/> fails as retryable, so the outbox forwarder sends it again.
/// The token is sent only in the Authorization header and appears in no log line or exception message.
/// </remarks>
public sealed partial class SplunkHecSink : IAuditSink
{
    public const string SinkName = "splunk-hec";
    public const string EventSource = "nhi-serverless";
    public const string EventSourceType = "nhi:audit";

    private const int MaxResponseTextLength = 200;

    private readonly HttpClient _httpClient;
    private readonly SplunkHecOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly Uri _endpoint;
    private readonly Uri _ackEndpoint;
    private readonly string _host;
    private readonly Guid _channel;

    /// <summary>Creates the sink.</summary>
    /// <exception cref="AuditConfigurationException">The options are invalid.</exception>
    public SplunkHecSink(HttpClient httpClient, SplunkHecOptions options, ILogger<SplunkHecSink>? logger = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(httpClient);
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();

        _httpClient = httpClient;
        _options = options;
        _logger = logger ?? NullLogger<SplunkHecSink>.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _endpoint = new Uri(options.Url.TrimEnd('/') + "/services/collector/event", UriKind.Absolute);
        _host = options.Host ?? Environment.MachineName;
        _channel = options.Channel ?? Guid.NewGuid();
        _ackEndpoint = new Uri($"{options.Url.TrimEnd('/')}/services/collector/ack?channel={_channel:D}", UriKind.Absolute);
    }

    public string Name => SinkName;

    /// <summary>The full event endpoint the sink posts to.</summary>
    public Uri Endpoint => _endpoint;

    public async Task<string> DeliverAsync(IReadOnlyList<SignedAuditRecord> records, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(records);
        if (records.Count == 0)
        {
            return $"{SinkName}: no records to deliver";
        }

        List<Batch> batches = BuildBatches(records);
        int delivered = 0;
        foreach (Batch batch in batches)
        {
            try
            {
                await SendWithRetriesAsync(batch, cancellationToken).ConfigureAwait(false);
            }
            catch (AuditDeliveryException ex)
            {
                throw new AuditDeliveryException(
                    SinkName,
                    $"{ex.Message}; {delivered.ToString(CultureInfo.InvariantCulture)} of {records.Count.ToString(CultureInfo.InvariantCulture)} records were delivered before",
                    ex.Permanent,
                    delivered,
                    ex.RetryAfter,
                    ex.InnerException);
            }

            delivered += batch.RecordCount;
        }

        return $"{SinkName}: delivered {records.Count.ToString(CultureInfo.InvariantCulture)} records in {batches.Count.ToString(CultureInfo.InvariantCulture)} request(s)";
    }

    /// <summary>Writes the HEC event envelope of one record: time in epoch seconds with a millisecond fraction, host, source, sourcetype, index and the record as event.</summary>
    internal byte[] CreateEventEnvelope(SignedAuditRecord record)
    {
        var buffer = new ArrayBufferWriter<byte>(record.Json.Length + 256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("time", record.EventTime.ToUnixTimeMilliseconds() / 1000m);
            writer.WriteString("host", _host);
            writer.WriteString("source", EventSource);
            writer.WriteString("sourcetype", EventSourceType);
            if (_options.Index is not null)
            {
                writer.WriteString("index", _options.Index);
            }

            writer.WritePropertyName("event");
            writer.WriteRawValue(record.Json);
            writer.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }

    private List<Batch> BuildBatches(IReadOnlyList<SignedAuditRecord> records)
    {
        var batches = new List<Batch>();
        var body = new MemoryStream();
        int count = 0;
        string runId = records[0].RunId;
        foreach (SignedAuditRecord record in records)
        {
            byte[] envelope = CreateEventEnvelope(record);

            // A record larger than the limit still goes out, alone in its request.
            if (count > 0 && body.Length + envelope.Length > _options.MaxBatchBytes)
            {
                batches.Add(new Batch(body.ToArray(), count, runId));
                body = new MemoryStream();
                count = 0;
            }

            body.Write(envelope);
            count++;
        }

        batches.Add(new Batch(body.ToArray(), count, runId));
        return batches;
    }

    private async Task SendWithRetriesAsync(Batch batch, CancellationToken cancellationToken)
    {
        TimeSpan delay = _options.RetryDelay;
        string lastFailure = "no request was sent";
        TimeSpan? lastRetryAfter = null;
        for (int attempt = 1; attempt <= _options.MaxAttempts; attempt++)
        {
            HecAttempt result = await SendOnceAsync(batch, cancellationToken).ConfigureAwait(false);
            if (result.Delivered)
            {
                LogDelivered(_logger, batch.RecordCount, batch.RunId, result.AckId);
                if (_options.UseAcknowledgements)
                {
                    await WaitUntilIndexedAsync(batch, result.AckId, cancellationToken).ConfigureAwait(false);
                }

                return;
            }

            if (!result.Retryable)
            {
                LogRejected(_logger, batch.RecordCount, batch.RunId, result.Failure);
                throw new AuditDeliveryException(SinkName, $"Splunk HEC rejected the records ({result.Failure})", permanent: true);
            }

            lastFailure = result.Failure;
            lastRetryAfter = result.RetryAfter;
            if (attempt < _options.MaxAttempts)
            {
                TimeSpan wait = result.RetryAfter is { } retryAfter && retryAfter > delay ? retryAfter : delay;
                LogRetrying(_logger, batch.RecordCount, batch.RunId, result.Failure, attempt, wait);
                await Task.Delay(wait, _timeProvider, cancellationToken).ConfigureAwait(false);
                delay *= 2;
            }
        }

        LogGaveUp(_logger, batch.RecordCount, batch.RunId, lastFailure, _options.MaxAttempts);
        throw new AuditDeliveryException(
            SinkName,
            $"Splunk HEC stayed unavailable after {_options.MaxAttempts.ToString(CultureInfo.InvariantCulture)} attempts ({lastFailure})",
            permanent: false,
            deliveredCount: 0,
            retryAfter: lastRetryAfter);
    }

    /// <summary>Polls /services/collector/ack until HEC reports the request's events indexed.</summary>
    /// <exception cref="AuditDeliveryException">HEC returned no ackId, rejected the query, or did not report the events indexed in time.</exception>
    private async Task WaitUntilIndexedAsync(Batch batch, long? ackId, CancellationToken cancellationToken)
    {
        if (ackId is not { } id)
        {
            throw new AuditDeliveryException(
                SinkName,
                $"Splunk HEC accepted the records but returned no ackId; turn on indexer acknowledgement for the token or set {SplunkHecOptions.SectionName}:{nameof(SplunkHecOptions.UseAcknowledgements)} to false",
                permanent: true);
        }

        long deadline = _timeProvider.GetTimestamp() + (long)(_options.AckTimeout.TotalSeconds * _timeProvider.TimestampFrequency);
        string lastAnswer = "no answer yet";
        while (true)
        {
            AckQuery query = await QueryAckAsync(id, cancellationToken).ConfigureAwait(false);
            if (query.Indexed)
            {
                LogIndexed(_logger, batch.RecordCount, batch.RunId, id);
                return;
            }

            if (query.PermanentFailure is { } permanent)
            {
                throw new AuditDeliveryException(SinkName, $"Splunk HEC rejected the acknowledgement query for ackId {id.ToString(CultureInfo.InvariantCulture)} ({permanent})", permanent: true);
            }

            lastAnswer = query.Answer;
            if (_timeProvider.GetTimestamp() >= deadline)
            {
                LogNotIndexed(_logger, batch.RecordCount, batch.RunId, id, _options.AckTimeout, lastAnswer);
                throw new AuditDeliveryException(
                    SinkName,
                    $"Splunk HEC did not report ackId {id.ToString(CultureInfo.InvariantCulture)} indexed within {_options.AckTimeout} ({lastAnswer}); the records will be sent again",
                    permanent: false);
            }

            await Task.Delay(_options.AckPollInterval, _timeProvider, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<AckQuery> QueryAckAsync(long ackId, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _ackEndpoint);
        request.Content = new StringContent($"{{\"acks\":[{ackId.ToString(CultureInfo.InvariantCulture)}]}}", System.Text.Encoding.UTF8, "application/json");
        request.Headers.TryAddWithoutValidation("Authorization", "Splunk " + _options.Token);
        request.Headers.TryAddWithoutValidation("X-Splunk-Request-Channel", _channel.ToString("D"));
        try
        {
            using HttpResponseMessage response = await _httpClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
            string body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            int status = (int)response.StatusCode;
            if (status == 200)
            {
                return AckQuery.FromBody(body, ackId);
            }

            string answer = $"HTTP {status.ToString(CultureInfo.InvariantCulture)}: {Scrub(body)}";
            return IsRetryable(response.StatusCode) ? AckQuery.NotYet(answer) : AckQuery.Rejected(answer);
        }
        catch (HttpRequestException ex)
        {
            return AckQuery.NotYet($"request failed: {Scrub(ex.Message)}");
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return AckQuery.NotYet($"request timed out after {_httpClient.Timeout}");
        }
    }

    private async Task<HecAttempt> SendOnceAsync(Batch batch, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint);
        request.Content = new ByteArrayContent(batch.Body);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("Authorization", "Splunk " + _options.Token);
        if (_options.UseAcknowledgements)
        {
            request.Headers.TryAddWithoutValidation("X-Splunk-Request-Channel", _channel.ToString("D"));
        }

        try
        {
            using HttpResponseMessage response = await _httpClient.SendAsync(request, cancellationToken).ConfigureAwait(false);
            string body = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            HecResponse hec = HecResponse.Parse(body);
            int status = (int)response.StatusCode;

            if (status == 200 && (hec.Code is null || hec.Code == 0))
            {
                return HecAttempt.Success(hec.AckId);
            }

            string failure = $"HTTP {status.ToString(CultureInfo.InvariantCulture)}"
                + (hec.Code is { } code ? $", HEC code {code.ToString(CultureInfo.InvariantCulture)}" : "")
                + (hec.Text is { } text ? $": {Scrub(text)}" : "")
                + (status is 401 or 403 ? $"; check {SplunkHecOptions.SectionName}:{nameof(SplunkHecOptions.Token)}" : "");
            return HecAttempt.Failed(failure, IsRetryable(response.StatusCode), response.Headers.RetryAfter?.Delta);
        }
        catch (HttpRequestException ex)
        {
            return HecAttempt.Failed($"request failed: {Scrub(ex.Message)}", retryable: true, retryAfter: null);
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return HecAttempt.Failed($"request timed out after {_httpClient.Timeout}", retryable: true, retryAfter: null);
        }
    }

    private static bool IsRetryable(HttpStatusCode status) => status is
        HttpStatusCode.TooManyRequests or
        HttpStatusCode.RequestTimeout or
        HttpStatusCode.InternalServerError or
        HttpStatusCode.BadGateway or
        HttpStatusCode.ServiceUnavailable or
        HttpStatusCode.GatewayTimeout;

    /// <summary>Shortens receiver text for messages and removes the token in case a receiver echoes it.</summary>
    private string Scrub(string text)
    {
        string scrubbed = text.Replace(_options.Token, "[redacted]", StringComparison.Ordinal).ReplaceLineEndings(" ");
        return scrubbed.Length <= MaxResponseTextLength ? scrubbed : scrubbed[..MaxResponseTextLength] + "...";
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Splunk HEC accepted {RecordCount} audit records of run {RunId} (ackId {AckId})")]
    private static partial void LogDelivered(ILogger logger, int recordCount, string runId, long? ackId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Splunk HEC indexed {RecordCount} audit records of run {RunId} (ackId {AckId})")]
    private static partial void LogIndexed(ILogger logger, int recordCount, string runId, long ackId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Splunk HEC did not report {RecordCount} audit records of run {RunId} indexed (ackId {AckId}) within {AckTimeout}: {LastAnswer}")]
    private static partial void LogNotIndexed(ILogger logger, int recordCount, string runId, long ackId, TimeSpan ackTimeout, string lastAnswer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Splunk HEC failed for {RecordCount} audit records of run {RunId}: {Failure}; attempt {Attempt}, retrying in {Delay}")]
    private static partial void LogRetrying(ILogger logger, int recordCount, string runId, string failure, int attempt, TimeSpan delay);

    [LoggerMessage(Level = LogLevel.Error, Message = "Splunk HEC rejected {RecordCount} audit records of run {RunId}: {Failure}")]
    private static partial void LogRejected(ILogger logger, int recordCount, string runId, string failure);

    [LoggerMessage(Level = LogLevel.Error, Message = "Splunk HEC stayed unavailable for {RecordCount} audit records of run {RunId} after {Attempts} attempts: {Failure}")]
    private static partial void LogGaveUp(ILogger logger, int recordCount, string runId, string failure, int attempts);

    private sealed record Batch(byte[] Body, int RecordCount, string RunId);

    /// <summary>The result of one acknowledgement query.</summary>
    private sealed record AckQuery(bool Indexed, string Answer, string? PermanentFailure)
    {
        public static AckQuery NotYet(string answer) => new(false, answer, null);

        public static AckQuery Rejected(string answer) => new(false, answer, answer);

        /// <summary>Reads <c>{"acks":{"7":true}}</c>.</summary>
        public static AckQuery FromBody(string body, long ackId)
        {
            try
            {
                using JsonDocument document = JsonDocument.Parse(body);
                if (document.RootElement.ValueKind == JsonValueKind.Object
                    && document.RootElement.TryGetProperty("acks", out JsonElement acks)
                    && acks.ValueKind == JsonValueKind.Object
                    && acks.TryGetProperty(ackId.ToString(CultureInfo.InvariantCulture), out JsonElement state)
                    && state.ValueKind is JsonValueKind.True or JsonValueKind.False)
                {
                    return state.ValueKind == JsonValueKind.True ? new AckQuery(true, "indexed", null) : NotYet("not indexed yet");
                }
            }
            catch (JsonException)
            {
                // Handled below like any response without the ackId.
            }

            return NotYet("the answer did not contain the ackId");
        }
    }

    private sealed record HecAttempt(bool Delivered, long? AckId, string Failure, bool Retryable, TimeSpan? RetryAfter)
    {
        public static HecAttempt Success(long? ackId) => new(true, ackId, "", false, null);

        public static HecAttempt Failed(string failure, bool retryable, TimeSpan? retryAfter) => new(false, null, failure, retryable, retryAfter);
    }

    /// <summary>The JSON body HEC returns: text, code and, with acknowledgements on, ackId.</summary>
    private sealed record HecResponse(string? Text, int? Code, long? AckId)
    {
        public static HecResponse Parse(string body)
        {
            try
            {
                using JsonDocument document = JsonDocument.Parse(body);
                JsonElement root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    return new HecResponse(null, null, null);
                }

                string? text = root.TryGetProperty("text", out JsonElement textElement) && textElement.ValueKind == JsonValueKind.String ? textElement.GetString() : null;
                int? code = root.TryGetProperty("code", out JsonElement codeElement) && codeElement.ValueKind == JsonValueKind.Number && codeElement.TryGetInt32(out int parsedCode) ? parsedCode : null;
                long? ackId = root.TryGetProperty("ackId", out JsonElement ackElement) && ackElement.ValueKind == JsonValueKind.Number && ackElement.TryGetInt64(out long parsedAck) ? parsedAck : null;
                return new HecResponse(text, code, ackId);
            }
            catch (JsonException)
            {
                // Proxies in front of HEC respond with HTML or plain text, so only the status code counts.
                return new HecResponse(string.IsNullOrWhiteSpace(body) ? null : body, null, null);
            }
        }
    }
}
