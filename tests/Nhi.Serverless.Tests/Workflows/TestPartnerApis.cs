using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Tests.Brokers;

namespace Nhi.Serverless.Tests.Workflows;

/// <summary>A credit bureau file: what GET /credit-bureau/v1/scores/{applicantId} returns for the applicant.</summary>
public sealed record CreditScoreFixture(int Score, string Band, string ReportedAt);

/// <summary>What POST /fraud-screening/v1/checks returns for one subject.</summary>
/// <param name="Decision">"clear", "review" or "decline".</param>
public sealed record FraudCheckFixture(string CheckId, int RiskScore, string Decision, IReadOnlyList<string> Reasons);

/// <summary>One insured member: the plan, its coverage window and the procedures it lists.</summary>
public sealed record InsuredMemberFixture(
    string PlanName, DateOnly CoverageStart, DateOnly CoverageEnd, IReadOnlyDictionary<string, ProcedureCoverageFixture> Procedures);

/// <summary>How a plan covers one procedure code.</summary>
public sealed record ProcedureCoverageFixture(bool Covered, decimal? Copay, string Reason);

/// <summary>One request the partner APIs received, with the status of the response; never the token.</summary>
/// <param name="Body">The JSON body of a POST; null for GET.</param>
public sealed record PartnerRequestLog(string Method, string Path, int Status, JsonNode? Body);

/// <summary>
/// The partner APIs of the business workflows (credit bureau, fraud screening, insurer) on Kestrel at 127.0.0.1 and a
/// free port, responding with data the test puts into <see cref="CreditScores"/>, <see cref="FraudChecks"/> and
/// <see cref="Members"/>. Each route checks the bearer token by RFC 7662 introspection at the local OAuth server with
/// the partner client. A missing or inactive token, or one for another audience, gets 401 invalid_token. A token without
/// the route's scope gets 403 insufficient_scope. Errors are problem+json, as in infra/local/partners/server.mjs.
/// </summary>
public sealed partial class TestPartnerApis : IAsyncDisposable
{
    public const string CreditBureauAudience = "urn:nhi:partner:credit-bureau";
    public const string FraudScreeningAudience = "urn:nhi:partner:fraud-screening";
    public const string InsurerAudience = "urn:nhi:partner:insurer";

    private static readonly string[] SubjectTypes = ["loan-applicant", "insurance-claim"];

    private readonly WebApplication _app;
    private readonly OAuthTestServer _server;
    private readonly HttpClient _introspection = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly ConcurrentQueue<PartnerRequestLog> _requests = new();
    private Uri? _introspectionEndpoint;

    private TestPartnerApis(WebApplication app, OAuthTestServer server)
    {
        _app = app;
        _server = server;
    }

    /// <summary>The base address to set as Workflows:PartnerBaseUrl, such as http://127.0.0.1:40123.</summary>
    public string BaseUrl => _app.Urls.First();

    /// <summary>Credit bureau files by applicant id.</summary>
    public ConcurrentDictionary<string, CreditScoreFixture> CreditScores { get; } = new(StringComparer.Ordinal);

    /// <summary>Fraud screening results by subject type ("loan-applicant" or "insurance-claim") and subject id.</summary>
    public ConcurrentDictionary<(string SubjectType, string SubjectId), FraudCheckFixture> FraudChecks { get; } = new();

    /// <summary>Insured members by member id.</summary>
    public ConcurrentDictionary<string, InsuredMemberFixture> Members { get; } = new(StringComparer.Ordinal);

    /// <summary>Every request received so far, in order of completion.</summary>
    public IReadOnlyList<PartnerRequestLog> Requests => _requests.ToArray();

    /// <summary>Starts the three APIs, which introspect tokens at the local OAuth server.</summary>
    public static async Task<TestPartnerApis> StartAsync()
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        WebApplication app = builder.Build();
        var partners = new TestPartnerApis(app, new OAuthTestServer());

        app.MapGet("/credit-bureau/v1/scores/{applicantId}", (HttpContext context, string applicantId) =>
            partners.HandleAsync(context, CreditBureauAudience, "credit-score:read", readsBody: false, _ => partners.CreditScore(applicantId)));
        // Typed as Func, because a lambda of HttpContext alone would bind as a RequestDelegate and drop the result.
        app.MapPost("/fraud-screening/v1/checks", (Func<HttpContext, Task<IResult>>)(context =>
            partners.HandleAsync(context, FraudScreeningAudience, "fraud:check", readsBody: true, partners.FraudCheck)));
        app.MapPost("/insurer/v1/eligibility", (Func<HttpContext, Task<IResult>>)(context =>
            partners.HandleAsync(context, InsurerAudience, "insurance:validate", readsBody: true, partners.Eligibility)));

        await app.StartAsync();
        return partners;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _introspection.Dispose();
        _server.Dispose();
    }

    // Authorizes, reads the body of a POST, runs the route and records the request with the status of the response.
    private async Task<IResult> HandleAsync(HttpContext context, string audience, string scope, bool readsBody, Func<JsonObject?, IResult> route)
    {
        JsonNode? body = null;
        IResult? result;
        try
        {
            result = await AuthorizeAsync(context, audience, scope);
            if (result is null && readsBody)
            {
                (result, body) = await ReadBodyAsync(context);
            }

            result ??= route(body as JsonObject);
        }
        catch (PartnerProblemException problem)
        {
            result = problem.Result;
        }

        int status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : 200;
        _requests.Enqueue(new PartnerRequestLog(context.Request.Method, context.Request.Path.Value ?? "", status, body));
        return result;
    }

    private async Task<IResult?> AuthorizeAsync(HttpContext context, string audience, string scope)
    {
        string? header = context.Request.Headers.Authorization;
        if (header is null || !header.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return Challenge(context, 401, audience, "invalid_token", header is null ? "The access token is missing." : "The access token is not a Bearer token.");
        }

        _introspectionEndpoint ??= await _server.IntrospectionEndpointAsync();
        using var request = new HttpRequestMessage(HttpMethod.Post, _introspectionEndpoint)
        {
            Content = new FormUrlEncodedContent([new("token", header["Bearer ".Length..].Trim())]),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_server.PartnerClientId}:{_server.PartnerClientSecret}")));
        using HttpResponseMessage response = await _introspection.SendAsync(request);
        if (!response.IsSuccessStatusCode)
        {
            return Problem(503, "Service unavailable", "The authorization server could not check the access token; retry later.");
        }

        using JsonDocument introspection = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        JsonElement root = introspection.RootElement;
        if (!root.TryGetProperty("active", out JsonElement active) || active.ValueKind != JsonValueKind.True)
        {
            return Challenge(context, 401, audience, "invalid_token", "The access token is not active.");
        }

        if (!AudiencesOf(root).Contains(audience))
        {
            return Challenge(context, 401, audience, "invalid_token", "The access token was issued for another audience.");
        }

        IReadOnlyList<string> scopes = OAuthScopes.Parse(root.TryGetProperty("scope", out JsonElement granted) ? granted.GetString() : null);
        return scopes.Contains(scope)
            ? null
            : Challenge(context, 403, audience, "insufficient_scope", $"The access token lacks the scope {scope}.", scope);
    }

    private static IEnumerable<string?> AudiencesOf(JsonElement introspection)
    {
        if (!introspection.TryGetProperty("aud", out JsonElement aud))
        {
            return [];
        }

        return aud.ValueKind == JsonValueKind.Array ? aud.EnumerateArray().Select(item => item.GetString()).ToArray() : [aud.GetString()];
    }

    // Returns the problem to return, or null and the body when the body is a JSON object.
    private static async Task<(IResult? Problem, JsonNode? Body)> ReadBodyAsync(HttpContext context)
    {
        if (context.Request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) != true)
        {
            return (Problem(415, "Unsupported media type", $"The request body must be application/json, got '{context.Request.ContentType ?? "no Content-Type"}'."), null);
        }

        JsonNode? body;
        try
        {
            using var reader = new StreamReader(context.Request.Body);
            body = JsonNode.Parse(await reader.ReadToEndAsync());
        }
        catch (JsonException exception)
        {
            return (Problem(400, "Invalid request", $"The request body is not valid JSON: {exception.Message}"), null);
        }

        return body is JsonObject ? (null, body) : (Problem(400, "Invalid request", "The request body must be a JSON object."), body);
    }

    private IResult CreditScore(string applicantId)
    {
        RequireId("applicantId", applicantId);
        if (!CreditScores.TryGetValue(applicantId, out CreditScoreFixture? file))
        {
            throw new PartnerProblemException(Problem(404, "Not found", $"The credit bureau has no file for applicant {applicantId}."));
        }

        return Results.Json(new { applicantId, score = file.Score, band = file.Band, reportedAt = file.ReportedAt });
    }

    private IResult FraudCheck(JsonObject? body)
    {
        string? subjectType = StringOf(body, "subjectType");
        if (subjectType is null || !SubjectTypes.Contains(subjectType))
        {
            throw BadRequest("subjectType", "one of \"loan-applicant\", \"insurance-claim\"", body?["subjectType"]);
        }

        string subjectId = RequireId("subjectId", StringOf(body, "subjectId"));
        JsonNode? amount = body!["amount"];
        if (amount?.GetValueKind() != JsonValueKind.Number || amount.GetValue<decimal>() < 0)
        {
            throw BadRequest("amount", "a number of 0 or more", amount);
        }

        JsonNode? signals = body["signals"];
        if (signals is not null && (signals is not JsonArray items || items.Count > 50 || items.Any(item => item?.GetValueKind() != JsonValueKind.String)))
        {
            throw BadRequest("signals", "an array of at most 50 strings", signals);
        }

        if (!FraudChecks.TryGetValue((subjectType, subjectId), out FraudCheckFixture? check))
        {
            throw new PartnerProblemException(Problem(404, "Not found", $"The fraud screening service has no record for {subjectType} {subjectId}."));
        }

        return Results.Json(new { checkId = check.CheckId, riskScore = check.RiskScore, decision = check.Decision, reasons = check.Reasons });
    }

    private IResult Eligibility(JsonObject? body)
    {
        string memberId = RequireId("memberId", StringOf(body, "memberId"));
        string? procedureCode = StringOf(body, "procedureCode");
        if (procedureCode is null || !ProcedureCodePattern().IsMatch(procedureCode))
        {
            throw BadRequest("procedureCode", "a procedure code of 5 digits or capital letters, such as \"99213\"", body?["procedureCode"]);
        }

        if (!DateOnly.TryParseExact(StringOf(body, "date"), "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateOnly date))
        {
            throw BadRequest("date", "a calendar date in the form YYYY-MM-DD", body?["date"]);
        }

        if (!Members.TryGetValue(memberId, out InsuredMemberFixture? member))
        {
            throw new PartnerProblemException(Problem(404, "Not found", $"The insurer has no member {memberId}."));
        }

        if (date < member.CoverageStart || date > member.CoverageEnd)
        {
            return NotCovered(memberId, member, $"not covered: plan {member.PlanName} is active from {member.CoverageStart:yyyy-MM-dd} to {member.CoverageEnd:yyyy-MM-dd}, not on {date:yyyy-MM-dd}");
        }

        if (!member.Procedures.TryGetValue(procedureCode, out ProcedureCoverageFixture? procedure))
        {
            return NotCovered(memberId, member, $"not covered: procedure {procedureCode} is not part of plan {member.PlanName}");
        }

        return Results.Json(new { memberId, covered = procedure.Covered, planName = member.PlanName, copay = procedure.Copay, reason = procedure.Reason });
    }

    private static IResult NotCovered(string memberId, InsuredMemberFixture member, string reason) =>
        Results.Json(new { memberId, covered = false, planName = member.PlanName, copay = (decimal?)null, reason });

    private static string? StringOf(JsonObject? body, string field) =>
        body?[field]?.GetValueKind() == JsonValueKind.String ? body[field]!.GetValue<string>() : null;

    private static string RequireId(string field, string? value) =>
        value is not null && IdPattern().IsMatch(value) ? value : throw BadRequest(field, "an id of 1 to 64 letters, digits and hyphens", value);

    private static PartnerProblemException BadRequest(string field, string expected, object? value)
    {
        string shown = value switch
        {
            null => "nothing",
            JsonNode node => node.ToJsonString(),
            _ => JsonSerializer.Serialize(value),
        };
        return new PartnerProblemException(Problem(400, "Invalid request", $"{field} must be {expected}, got {shown[..Math.Min(shown.Length, 80)]}"));
    }

    private static IResult Challenge(HttpContext context, int status, string audience, string error, string description, string? scope = null)
    {
        context.Response.Headers.WWWAuthenticate =
            $"Bearer realm=\"{audience}\", error=\"{error}\", error_description=\"{description}\"" + (scope is null ? "" : $", scope=\"{scope}\"");
        return Problem(status, status == 401 ? "Unauthorized" : "Forbidden", description);
    }

    private static IResult Problem(int status, string title, string detail) =>
        Results.Json(new { type = "about:blank", title, status, detail }, contentType: "application/problem+json", statusCode: status);

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[0-9A-Z]{5}$")]
    private static partial Regex ProcedureCodePattern();

    private sealed class PartnerProblemException(IResult result) : Exception
    {
        public IResult Result { get; } = result;
    }
}
