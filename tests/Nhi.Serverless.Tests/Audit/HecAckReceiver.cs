using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// What a Splunk indexer remembers across HEC restarts in these tests: events received, the events of
/// each ackId not yet indexed, and every record id reported indexed, in order.
/// </summary>
internal sealed class HecAckLedger
{
    private long _nextAckId;

    /// <summary>How many acknowledgement queries for an ackId return false before it counts as indexed.</summary>
    public int PollsBeforeIndexed { get; init; } = 1;

    public ConcurrentQueue<string> Received { get; } = new();

    public ConcurrentQueue<string> Indexed { get; } = new();

    public ConcurrentDictionary<long, (string[] RecordIds, int Polls)> Pending { get; } = new();

    public long NextAckId() => Interlocked.Increment(ref _nextAckId);
}

/// <summary>
/// A stand-in HEC with indexer acknowledgement on 127.0.0.1: /services/collector/event returns an ackId,
/// and /services/collector/ack reports it indexed after <see cref="HecAckLedger.PollsBeforeIndexed"/>
/// queries, the way Splunk documents the two endpoints.
/// </summary>
internal sealed class HecAckReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly HecAckLedger _ledger;

    private HecAckReceiver(WebApplication app, HecAckLedger ledger, int port)
    {
        _app = app;
        _ledger = ledger;
        Port = port;
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    /// <summary>Starts a receiver on the port, or on a free port when it is 0.</summary>
    public static async Task<HecAckReceiver> StartAsync(HecAckLedger ledger, int port = 0)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        WebApplication app = builder.Build();
        HecAckReceiver? receiver = null;
        app.Run(context => receiver!.HandleAsync(context));
        await app.StartAsync();
        int bound = new Uri(app.Urls.Single()).Port;
        receiver = new HecAckReceiver(app, ledger, bound);
        return receiver;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        string body = await reader.ReadToEndAsync(context.RequestAborted);
        string path = context.Request.Path.Value ?? "";
        object answer = path switch
        {
            "/services/collector/event" => Accept(body),
            "/services/collector/ack" => Query(body),
            _ => new { text = "Not found", code = 404 },
        };

        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(JsonSerializer.Serialize(answer), context.RequestAborted);
    }

    private object Accept(string body)
    {
        // HEC batches are JSON objects written one after another.
        var ids = new List<string>();
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(body);
        int offset = 0;
        while (offset < bytes.Length)
        {
            var reader = new Utf8JsonReader(bytes.AsSpan(offset));
            using JsonDocument hecEvent = JsonDocument.ParseValue(ref reader);
            ids.Add(hecEvent.RootElement.GetProperty("event").GetProperty("id").GetString()!);
            offset += (int)reader.BytesConsumed;
            while (offset < bytes.Length && char.IsWhiteSpace((char)bytes[offset]))
            {
                offset++;
            }
        }

        long ackId = _ledger.NextAckId();
        foreach (string id in ids)
        {
            _ledger.Received.Enqueue(id);
        }

        _ledger.Pending[ackId] = (ids.ToArray(), 0);
        return new { text = "Success", code = 0, ackId };
    }

    private object Query(string body)
    {
        var acks = new Dictionary<string, bool>();
        foreach (JsonNode? node in JsonNode.Parse(body)!["acks"]!.AsArray())
        {
            long ackId = node!.GetValue<long>();
            acks[ackId.ToString(System.Globalization.CultureInfo.InvariantCulture)] = Poll(ackId);
        }

        return new { acks };
    }

    private bool Poll(long ackId)
    {
        if (!_ledger.Pending.TryGetValue(ackId, out var pending))
        {
            return false;
        }

        if (pending.Polls < _ledger.PollsBeforeIndexed)
        {
            _ledger.Pending[ackId] = (pending.RecordIds, pending.Polls + 1);
            return false;
        }

        if (_ledger.Pending.TryRemove(ackId, out _))
        {
            foreach (string id in pending.RecordIds)
            {
                _ledger.Indexed.Enqueue(id);
            }
        }

        return true;
    }
}
