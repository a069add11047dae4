using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Azure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>
/// The read-only auditor API: GET /api/audit/records and GET /api/audit/checkpoints, authenticated by
/// a bearer API key whose SHA-256 is listed in <see cref="ApiKeyHashesSetting"/>.
/// </summary>
/// <remarks>
/// Only the keys' hashes are configured, so the configuration does not contain a usable key. The
/// presented key is hashed and compared with every configured hash in constant time. Without a
/// configured hash every request gets 401.
/// </remarks>
public static partial class AuditorEndpoints
{
    /// <summary>The setting with the comma-separated lowercase or uppercase hex SHA-256 hashes of the accepted API keys.</summary>
    public const string ApiKeyHashesSetting = "Audit:Auditors:ApiKeySha256";

    public const int DefaultPageSize = 100;

    /// <summary>Maps the auditor endpoints; reads and validates the configured key hashes once.</summary>
    /// <exception cref="InvalidOperationException">An entry of <see cref="ApiKeyHashesSetting"/> is not 64 hex digits.</exception>
    public static IEndpointRouteBuilder MapAuditorEndpoints(this IEndpointRouteBuilder endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        IConfiguration configuration = endpoints.ServiceProvider.GetRequiredService<IConfiguration>();
        ILogger logger = endpoints.ServiceProvider.GetService<ILoggerFactory>()?.CreateLogger(typeof(AuditorEndpoints).FullName!) ?? NullLogger.Instance;
        byte[][] keyHashes = ParseKeyHashes(configuration[ApiKeyHashesSetting]);
        if (keyHashes.Length == 0)
        {
            LogNoKeys(logger, ApiKeyHashesSetting);
        }

        var authorizer = new ApiKeyAuthorizer(keyHashes, logger);
        endpoints.MapGet("/api/audit/records", (HttpContext context, TableAuditStore store) => RecordsAsync(context, store, authorizer));
        endpoints.MapGet("/api/audit/checkpoints", (HttpContext context, AuditCheckpointTable checkpoints) => CheckpointsAsync(context, checkpoints, authorizer));
        return endpoints;
    }

    /// <summary>Reads the configured hashes.</summary>
    /// <exception cref="InvalidOperationException">An entry is not 64 hex digits.</exception>
    public static byte[][] ParseKeyHashes(string? setting)
    {
        var hashes = new List<byte[]>();
        foreach (string entry in (setting ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (entry.Length != 64 || !entry.All(Uri.IsHexDigit))
            {
                throw new InvalidOperationException(
                    $"Invalid setting {ApiKeyHashesSetting}: an entry has {entry.Length.ToString(CultureInfo.InvariantCulture)} characters or a non-hex character; expected the hex SHA-256 of each API key, separated by commas (for example the output of `printf %s KEY | sha256sum`).");
            }

            hashes.Add(Convert.FromHexString(entry));
        }

        return hashes.ToArray();
    }

    /// <summary>GET /api/audit/records?run=|resource=|finding=|grant=|from=&amp;to=, with continuation= and limit=.</summary>
    private static async Task RecordsAsync(HttpContext context, TableAuditStore store, ApiKeyAuthorizer authorizer)
    {
        if (!await authorizer.AuthorizeAsync(context))
        {
            return;
        }

        if (await RejectRepeatedAsync(context, "run", "resource", "finding", "grant", "from", "to", "continuation", "limit"))
        {
            return;
        }

        IQueryCollection query = context.Request.Query;
        string[] selectors = ["run", "resource", "finding", "grant"];
        string[] selected = selectors.Where(name => !string.IsNullOrEmpty(query[name])).ToArray();
        bool timeRange = !string.IsNullOrEmpty(query["from"]) || !string.IsNullOrEmpty(query["to"]);
        if (selected.Length + (timeRange ? 1 : 0) != 1)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-audit-query", "Invalid audit query",
                "Give exactly one of run, resource, finding and grant, or a time range with from and to.", "query", "one of run, resource, finding, grant, or from and to");
            return;
        }

        if (await ReadPageSizeAsync(context) is not { } limit)
        {
            return;
        }

        string? continuation = query["continuation"];
        AuditRecordPage page;
        try
        {
            if (timeRange)
            {
                if (await ReadRangeAsync(context) is not { } range)
                {
                    return;
                }

                page = await store.QueryByTimeAsync(range.From, range.To, continuation, limit, context.RequestAborted);
            }
            else
            {
                string value = query[selected[0]]!;
                page = selected[0] switch
                {
                    "run" => await store.QueryByRunAsync(value, continuation, limit, context.RequestAborted),
                    "resource" => await store.QueryByResourceAsync(value, continuation, limit, context.RequestAborted),
                    "finding" => await store.QueryByFindingAsync(value, continuation, limit, context.RequestAborted),
                    _ => await store.QueryByGrantAsync(value, continuation, limit, context.RequestAborted),
                };
            }
        }
        catch (Exception ex) when (IsBadContinuation(ex, continuation))
        {
            await WriteBadContinuationAsync(context);
            return;
        }

        await WritePageAsync(context, "records", page.Records.Select(record => record.Json), page.ContinuationToken);
    }

    /// <summary>GET /api/audit/checkpoints?from=&amp;to=, with continuation= and limit=.</summary>
    private static async Task CheckpointsAsync(HttpContext context, AuditCheckpointTable checkpoints, ApiKeyAuthorizer authorizer)
    {
        if (!await authorizer.AuthorizeAsync(context))
        {
            return;
        }

        if (await RejectRepeatedAsync(context, "from", "to", "continuation", "limit")
            || await ReadRangeAsync(context) is not { } range
            || await ReadPageSizeAsync(context) is not { } limit)
        {
            return;
        }

        string? continuation = context.Request.Query["continuation"];
        AuditCheckpointPage page;
        try
        {
            page = await checkpoints.QueryAsync(range.From, range.To, continuation, limit, context.RequestAborted);
        }
        catch (Exception ex) when (IsBadContinuation(ex, continuation))
        {
            await WriteBadContinuationAsync(context);
            return;
        }

        await WritePageAsync(context, "checkpoints", page.Checkpoints.Select(checkpoint => checkpoint.Json), page.ContinuationToken);
    }

    /// <summary>
    /// Writes 400 and returns true when a query parameter is given more than once. ASP.NET Core joins repeated
    /// values with commas, so run=x&amp;run=y would otherwise read as the one run "x,y".
    /// </summary>
    private static async Task<bool> RejectRepeatedAsync(HttpContext context, params string[] names)
    {
        string? repeated = names.FirstOrDefault(name => context.Request.Query[name].Count > 1);
        if (repeated is null)
        {
            return false;
        }

        await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-audit-query", "Invalid audit query",
            $"The query parameter {repeated} is given {context.Request.Query[repeated].Count.ToString(CultureInfo.InvariantCulture)} times; give it one value.", repeated, "one value");
        return true;
    }

    private static async Task<(DateTimeOffset From, DateTimeOffset To)?> ReadRangeAsync(HttpContext context)
    {
        string? fromText = context.Request.Query["from"];
        string? toText = context.Request.Query["to"];
        if (!TryParseTime(fromText, out DateTimeOffset from) || !TryParseTime(toText, out DateTimeOffset to) || to <= from)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-audit-time-range", "Invalid time range",
                $"from '{fromText}' and to '{toText}' must both be ISO 8601 times with to after from, such as 2025-03-01T10:00:00Z.", "from,to", "ISO 8601 UTC times, to after from");
            return null;
        }

        return (from, to);
    }

    private static async Task<int?> ReadPageSizeAsync(HttpContext context)
    {
        string? text = context.Request.Query["limit"];
        if (string.IsNullOrEmpty(text))
        {
            return DefaultPageSize;
        }

        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int limit) && limit is >= 1 and <= TableAuditStore.MaxPageSize)
        {
            return limit;
        }

        await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-audit-limit", "Invalid page size",
            $"limit '{text}' is not a whole number from 1 to {TableAuditStore.MaxPageSize.ToString(CultureInfo.InvariantCulture)}.", "limit", "1 to 1000");
        return null;
    }

    private static bool TryParseTime(string? text, out DateTimeOffset time) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out time);

    /// <summary>A continuation token that Table Storage cannot use shows up as one of these failures.</summary>
    private static bool IsBadContinuation(Exception ex, string? continuation) =>
        continuation is not null && (ex is ArgumentException or FormatException || (ex is RequestFailedException { Status: 400 }));

    private static Task WriteBadContinuationAsync(HttpContext context) =>
        Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-audit-continuation", "Invalid continuation token",
            "The continuation token is not one this API returned for the same query.", "continuation", "the continuation value of the previous page");

    /// <summary>Writes <c>{"{name}":[...],"continuation":...}</c> with each item's stored JSON as it is.</summary>
    private static async Task WritePageAsync(HttpContext context, string name, IEnumerable<string> items, string? continuation)
    {
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteStartArray(name);
        foreach (string item in items)
        {
            writer.WriteRawValue(item, skipInputValidation: true);
        }

        writer.WriteEndArray();
        writer.WriteString("continuation", continuation);
        writer.WriteEndObject();
        await writer.FlushAsync(context.RequestAborted);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "No auditor API key is configured in {Setting}, so every auditor API request gets 401")]
    private static partial void LogNoKeys(ILogger logger, string setting);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Rejected auditor API request {Method} {Path} from {RemoteAddress}: {Reason}")]
    private static partial void LogRejected(ILogger logger, string method, string path, string remoteAddress, string reason);

    /// <summary>Checks the bearer API key of a request against the configured hashes.</summary>
    private sealed class ApiKeyAuthorizer(byte[][] keyHashes, ILogger logger)
    {
        /// <summary>Returns true for a configured key; otherwise writes 401 and returns false.</summary>
        public async Task<bool> AuthorizeAsync(HttpContext context)
        {
            string header = context.Request.Headers.Authorization.ToString();
            string? reason = null;
            if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) || header.Length <= "Bearer ".Length)
            {
                reason = "no bearer API key";
            }
            else if (!Matches(header["Bearer ".Length..].Trim()))
            {
                reason = "the API key matches no configured hash";
            }

            if (reason is null)
            {
                return true;
            }

            LogRejected(logger, context.Request.Method, context.Request.Path.Value ?? "", context.Connection.RemoteIpAddress?.ToString() ?? "(unknown)", reason);
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"nhi-audit\"";
            await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, "auditor-unauthorized", "Unauthorized",
                $"Send an auditor API key as 'Authorization: Bearer <key>'; its SHA-256 must be listed in {ApiKeyHashesSetting}.");
            return false;
        }

        private bool Matches(string key)
        {
            byte[] presented = SHA256.HashData(Encoding.UTF8.GetBytes(key));
            bool match = false;

            // Every hash is compared, so the time taken does not show which entry matched.
            foreach (byte[] hash in keyHashes)
            {
                match |= CryptographicOperations.FixedTimeEquals(presented, hash);
            }

            return match;
        }
    }
}
