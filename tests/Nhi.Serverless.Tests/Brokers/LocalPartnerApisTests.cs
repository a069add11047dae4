using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Brokers;

// Runs against the partner APIs (infra/local/partners/server.mjs) and the oidc-provider from infra/local/stack.sh, with
// tokens from the OAuth broker. Expected responses come from infra/local/partners/fixtures.json, which the server reads.
public sealed class LocalPartnerApisTests(ITestOutputHelper output) : IDisposable
{
    private const string ScorePath = "/credit-bureau/v1/scores/";
    private const string ChecksPath = "/fraud-screening/v1/checks";
    private const string EligibilityPath = "/insurer/v1/eligibility";

    private static readonly Lazy<JsonDocument> Fixtures = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(LocalStack.RepositoryRoot, "infra", "local", "partners", "fixtures.json"))));

    private readonly OAuthTestServer _server = new();
    private readonly HttpClient _http = new() { BaseAddress = new Uri(LocalStack.Get("NHI_PARTNER_BASE_URL")), Timeout = TimeSpan.FromSeconds(15) };

    public void Dispose()
    {
        _http.Dispose();
        _server.Dispose();
    }

    [Fact]
    public async Task CreditBureau_ReturnsFixtureScores()
    {
        string token = await IssueAsync(OAuthTestServer.CreditBureau, "credit-score:read");

        foreach (JsonProperty applicant in Fixtures.Value.RootElement.GetProperty("creditBureau").GetProperty("scores").EnumerateObject())
        {
            using HttpResponseMessage response = await SendAsync(HttpMethod.Get, ScorePath + applicant.Name, token);
            JsonElement body = await response.Content.ReadFromJsonAsync<JsonElement>();

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(applicant.Name, body.GetProperty("applicantId").GetString());
            Assert.Equal(applicant.Value.GetProperty("score").GetInt32(), body.GetProperty("score").GetInt32());
            Assert.Equal(applicant.Value.GetProperty("band").GetString(), body.GetProperty("band").GetString());
            Assert.Equal(applicant.Value.GetProperty("reportedAt").GetString(), body.GetProperty("reportedAt").GetString());
        }
    }

    [Fact]
    public async Task CreditBureau_UnknownApplicantIsNotFound()
    {
        string token = await IssueAsync(OAuthTestServer.CreditBureau, "credit-score:read");

        using HttpResponseMessage response = await SendAsync(HttpMethod.Get, ScorePath + "6", token);
        string body = await response.Content.ReadAsStringAsync();
        output.WriteLine(body);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("applicant 6", body);
    }

    [Fact]
    public async Task FraudScreening_ReturnsFixtureDecisions()
    {
        string token = await IssueAsync(OAuthTestServer.FraudScreening, "fraud:check");
        JsonElement checks = Fixtures.Value.RootElement.GetProperty("fraudScreening").GetProperty("checks");

        foreach ((string subjectType, string subjectId) in new[] { ("loan-applicant", "4"), ("insurance-claim", "CLM-2002") })
        {
            JsonElement expected = checks.GetProperty(subjectType).GetProperty(subjectId);
            using HttpResponseMessage response = await SendAsync(
                HttpMethod.Post, ChecksPath, token, new { subjectType, subjectId, amount = 40000, signals = new[] { "new-device" } });
            JsonElement body = await response.Content.ReadFromJsonAsync<JsonElement>();
            output.WriteLine(body.ToString());

            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(expected.GetProperty("checkId").GetString(), body.GetProperty("checkId").GetString());
            Assert.Equal(expected.GetProperty("riskScore").GetInt32(), body.GetProperty("riskScore").GetInt32());
            Assert.Equal(expected.GetProperty("decision").GetString(), body.GetProperty("decision").GetString());
            Assert.Equal(Strings(expected.GetProperty("reasons")), Strings(body.GetProperty("reasons")));
        }
    }

    [Fact]
    public async Task FraudScreening_InvalidInputNamesField()
    {
        string token = await IssueAsync(OAuthTestServer.FraudScreening, "fraud:check");

        using HttpResponseMessage badType = await SendAsync(HttpMethod.Post, ChecksPath, token, new { subjectType = "car", subjectId = "4", amount = 1 });
        using HttpResponseMessage badAmount = await SendAsync(HttpMethod.Post, ChecksPath, token, new { subjectType = "loan-applicant", subjectId = "4", amount = -1 });
        using HttpResponseMessage unknown = await SendAsync(HttpMethod.Post, ChecksPath, token, new { subjectType = "loan-applicant", subjectId = "99", amount = 1 });

        Assert.Equal(HttpStatusCode.BadRequest, badType.StatusCode);
        Assert.StartsWith("subjectType must be one of", await DetailAsync(badType));
        Assert.Equal(HttpStatusCode.BadRequest, badAmount.StatusCode);
        Assert.StartsWith("amount must be a number of 0 or more", await DetailAsync(badAmount));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Insurer_ChecksPlanProcedureAndDate()
    {
        string token = await IssueAsync(OAuthTestServer.Insurer, "insurance:validate");

        JsonElement covered = await EligibilityAsync(token, "M-1001", "99213", "2026-11-18");
        JsonElement needsAuthorization = await EligibilityAsync(token, "M-1002", "70551", "2026-11-20");
        JsonElement lapsed = await EligibilityAsync(token, "M-1003", "99213", "2026-11-19");
        JsonElement beforeLapse = await EligibilityAsync(token, "M-1003", "99213", "2026-05-20");

        Assert.True(covered.GetProperty("covered").GetBoolean());
        Assert.Equal(25m, covered.GetProperty("copay").GetDecimal());
        Assert.Equal("Silver PPO", covered.GetProperty("planName").GetString());
        Assert.False(needsAuthorization.GetProperty("covered").GetBoolean());
        Assert.Equal(JsonValueKind.Null, needsAuthorization.GetProperty("copay").ValueKind);
        Assert.Contains("prior authorization", needsAuthorization.GetProperty("reason").GetString());
        Assert.False(lapsed.GetProperty("covered").GetBoolean());
        Assert.Contains("2026-06-30", lapsed.GetProperty("reason").GetString());
        Assert.True(beforeLapse.GetProperty("covered").GetBoolean());
    }

    [Fact]
    public async Task Insurer_InvalidDateNamesField()
    {
        string token = await IssueAsync(OAuthTestServer.Insurer, "insurance:validate");

        using HttpResponseMessage response = await SendAsync(
            HttpMethod.Post, EligibilityPath, token, new { memberId = "M-1001", procedureCode = "99213", date = "2026-02-30" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith("date must be a calendar date in the form YYYY-MM-DD", await DetailAsync(response));
    }

    [Fact]
    public async Task PartnerApis_RejectMissingAndForeignTokens()
    {
        string fraudToken = await IssueAsync(OAuthTestServer.FraudScreening, "fraud:check");

        using HttpResponseMessage missing = await SendAsync(HttpMethod.Get, ScorePath + "1", token: null);
        using HttpResponseMessage foreign = await SendAsync(HttpMethod.Get, ScorePath + "1", fraudToken);
        using HttpResponseMessage unknown = await SendAsync(HttpMethod.Get, ScorePath + "1", "not-a-token-the-server-issued");

        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Contains("error=\"invalid_token\"", Challenge(missing));
        Assert.Equal(HttpStatusCode.Unauthorized, foreign.StatusCode);
        Assert.Contains("another audience", Challenge(foreign));
        Assert.Equal(HttpStatusCode.Unauthorized, unknown.StatusCode);
        Assert.Contains("not active", Challenge(unknown));
    }

    [Fact]
    public async Task PartnerApis_RejectTokenWithoutScope()
    {
        string token = await RequestTokenWithoutScopeAsync(OAuthTestServer.CreditBureau);

        using HttpResponseMessage response = await SendAsync(HttpMethod.Get, ScorePath + "1", token);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("error=\"insufficient_scope\"", Challenge(response));
        Assert.Contains("scope=\"credit-score:read\"", Challenge(response));
    }

    [Fact]
    public async Task PartnerApis_RejectRevokedToken()
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(OAuthScopes.For(OAuthTestServer.CreditBureau, "credit-score:read"));
        Lease<OAuthAccessToken> lease = await broker.IssueAsync(grant, CancellationToken.None);
        using HttpResponseMessage before = await SendAsync(HttpMethod.Get, ScorePath + "1", lease.Credential.AccessToken);

        await broker.RevokeAsync(grant, CancellationToken.None);
        using HttpResponseMessage after = await SendAsync(HttpMethod.Get, ScorePath + "1", lease.Credential.AccessToken);

        Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, after.StatusCode);
    }

    [Fact]
    public async Task PartnerApis_LogRequestsWithoutToken()
    {
        string token = await IssueAsync(OAuthTestServer.CreditBureau, "credit-score:read");
        string applicant = Fixtures.Value.RootElement.GetProperty("creditBureau").GetProperty("scores").EnumerateObject().First().Name;

        string pathField = $"\"path\":\"{ScorePath}{applicant}\"";
        int linesBefore = (await ReadLogAsync(pathField, 0)).Count(line => line.Contains(pathField, StringComparison.Ordinal));

        using HttpResponseMessage response = await SendAsync(HttpMethod.Get, ScorePath + applicant, token);
        string[] lines = await ReadLogAsync(pathField, linesBefore + 1);
        string[] requestLines = lines.Where(line => line.Contains(pathField, StringComparison.Ordinal)).Skip(linesBefore).ToArray();
        output.WriteLine(string.Join(Environment.NewLine, requestLines));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains(requestLines, line => line.Contains($"\"client_id\":\"{_server.ClientId}\"", StringComparison.Ordinal)
            && line.Contains("\"scopes\":[\"credit-score:read\"]", StringComparison.Ordinal)
            && line.Contains("\"status\":200", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains(token, StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.Contains(_server.PartnerClientSecret, StringComparison.Ordinal));
    }

    // Issues a token through the OAuth broker, as a workflow step would, and returns its value.
    private async Task<string> IssueAsync(string audience, string scope)
    {
        OAuthClientCredentialsBroker broker = _server.Broker();
        Lease<OAuthAccessToken> lease = await broker.IssueAsync(BrokerTestSupport.NewGrant(OAuthScopes.For(audience, scope)), CancellationToken.None);
        return lease.Credential.AccessToken;
    }

    // The broker always names scopes, so a token without one needs a direct token request.
    private async Task<string> RequestTokenWithoutScopeAsync(string audience)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"{_server.Issuer}/token")
        {
            Content = new FormUrlEncodedContent([new("grant_type", "client_credentials"), new("resource", audience)]),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{_server.ClientId}:{_server.ClientSecret}")));
        using HttpResponseMessage response = await _http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        JsonElement body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.False(body.TryGetProperty("scope", out _), $"the token request without scope returned scope {body}");
        return body.GetProperty("access_token").GetString()!;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return await _http.SendAsync(request);
    }

    private async Task<JsonElement> EligibilityAsync(string token, string memberId, string procedureCode, string date)
    {
        using HttpResponseMessage response = await SendAsync(HttpMethod.Post, EligibilityPath, token, new { memberId, procedureCode, date });
        JsonElement body = await response.Content.ReadFromJsonAsync<JsonElement>();
        output.WriteLine(body.ToString());
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(memberId, body.GetProperty("memberId").GetString());
        return body;
    }

    private static async Task<string?> DetailAsync(HttpResponseMessage response)
    {
        JsonElement problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        return problem.GetProperty("detail").GetString();
    }

    private static string?[] Strings(JsonElement array) => array.EnumerateArray().Select(item => item.GetString()).ToArray();

    private static string Challenge(HttpResponseMessage response) => response.Headers.WwwAuthenticate.ToString();

    // Returns the lines of the partner APIs' log once COUNT of them contain TEXT, or after 2 s. The server writes a
    // request's line after sending the response, so the line can trail the response.
    private static async Task<string[]> ReadLogAsync(string text, int count)
    {
        string path = Path.Combine(LocalStack.WorkFolder, "partners.log");
        for (int attempt = 0; ; attempt++)
        {
            string[] lines = await File.ReadAllLinesAsync(path);
            if (attempt == 40 || lines.Count(line => line.Contains(text, StringComparison.Ordinal)) >= count)
            {
                return lines;
            }

            await Task.Delay(50);
        }
    }
}
