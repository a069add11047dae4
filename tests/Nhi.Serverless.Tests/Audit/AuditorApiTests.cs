using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// The local host started in process with fresh audit tables, one-second checkpoint windows and one
/// auditor API key, with three runs signed by the host's own key.
/// </summary>
public sealed class AuditorApiFixture : IAsyncLifetime
{
    public const string ApiKey = "nhi-auditor-key-6f1c0d9a2b7e4c83";

    private readonly string _suffix = Guid.NewGuid().ToString("N")[..10];

    public NhiTestHost Host { get; private set; } = null!;

    public List<SignedAuditRecord> Records { get; } = [];

    /// <summary>When the first run started: 20 seconds ago, in whole milliseconds like record ids.</summary>
    public DateTimeOffset Start { get; } = DateTimeOffset.FromUnixTimeMilliseconds(DateTimeOffset.UtcNow.AddSeconds(-20).ToUnixTimeMilliseconds());

    public async Task InitializeAsync()
    {
        Host = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?>
        {
            ["Audit:Table:RecordsTableName"] = "AuditRecA" + _suffix,
            ["Audit:Table:IndexTableName"] = "AuditIdxA" + _suffix,
            ["Audit:Checkpoints:TableName"] = "AuditCkptA" + _suffix,
            ["Audit:Checkpoints:Window"] = "00:00:01",
            ["Audit:Checkpoints:CloseDelay"] = "00:00:00",
            ["Audit:Checkpoints:PollInterval"] = "00:00:00.200",
            ["Audit:Checkpoints:FirstWindowStart"] = Start.AddSeconds(-5).ToString("O"),
            ["Audit:Forwarder:CursorTableName"] = "AuditCurA" + _suffix,
            ["Audit:Auditors:ApiKeySha256"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ApiKey))) + "," + new string('0', 64),
        });

        IAuditSigner signer = Host.Services.GetRequiredService<IAuditSigner>();
        TableAuditStore store = Host.Services.GetRequiredService<TableAuditStore>();
        for (int run = 0; run < 3; run++)
        {
            IReadOnlyList<SignedAuditRecord> records = AuditTestRuns.SealRemediated(AuditTestRuns.NewRunId(), signer, Start.AddSeconds(3 * run));
            await store.AppendAsync(records, CancellationToken.None);
            Records.AddRange(records);
        }

        Records.Sort((left, right) => string.CompareOrdinal(left.Id, right.Id));
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        var tables = new TableServiceClient(LocalStack.Get(AuditTablesFixture.ConnectionStringKey));
        foreach (string prefix in new[] { "AuditRecA", "AuditIdxA", "AuditCkptA", "AuditCurA" })
        {
            await tables.DeleteTableAsync(prefix + _suffix);
        }
    }
}

/// <summary>Calls the auditor API of a real local host.</summary>
public sealed class AuditorApiTests(AuditorApiFixture fixture) : IClassFixture<AuditorApiFixture>
{
    private HttpClient Http => fixture.Host.Http;

    [Fact]
    public async Task MissingKeyUnauthorized()
    {
        using HttpResponseMessage response = await Http.GetAsync($"api/audit/records?run={RunId(0)}");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Bearer", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task WrongKeyUnauthorized()
    {
        using HttpResponseMessage response = await SendAsync($"api/audit/records?run={RunId(0)}", "not-the-key");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task CheckpointsNeedKey()
    {
        using HttpResponseMessage response = await Http.GetAsync($"api/audit/checkpoints?from={Time(0)}&to={Time(30)}");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task RecordsByRunReturned()
    {
        string runId = RunId(1);

        JsonObject page = await GetPageAsync($"api/audit/records?run={runId}");

        Assert.Equal(fixture.Records.Where(record => record.RunId == runId).Select(record => record.Id), Ids(page, "records"));
    }

    [Fact]
    public async Task RecordsKeepSignedJson()
    {
        JsonObject page = await GetPageAsync($"api/audit/records?run={RunId(0)}");

        string first = page["records"]![0]!.ToJsonString();

        Assert.Equal(fixture.Records.First(record => record.RunId == RunId(0)).Json, first);
    }

    [Fact]
    public async Task RecordsByGrantReturned()
    {
        SignedAuditRecord withGrant = fixture.Records.First(record => record.GrantId is not null);

        JsonObject page = await GetPageAsync($"api/audit/records?grant={Uri.EscapeDataString(withGrant.GrantId!)}");

        Assert.Equal(fixture.Records.Where(record => record.GrantId == withGrant.GrantId).Select(record => record.Id), Ids(page, "records"));
    }

    [Theory]
    [InlineData("run")]
    [InlineData("time")]
    public async Task PagesFollowContinuation(string selector)
    {
        string runId = fixture.Records[0].RunId;
        string[] expected = fixture.Records.Where(record => record.RunId == runId).Select(record => record.Id).ToArray();

        JsonObject first = await GetPageAsync($"api/audit/records?{Selection(selector)}&limit=4");
        string continuation = (string)first["continuation"]!;
        JsonObject second = await GetPageAsync($"api/audit/records?{Selection(selector)}&limit=4&continuation={Uri.EscapeDataString(continuation)}");

        Assert.Equal(expected.Take(4), Ids(first, "records"));
        Assert.Equal(expected.Skip(4).Take(4), Ids(second, "records"));
    }

    [Theory]
    [InlineData("run", "not base64!")]
    [InlineData("run", "aTF8MDAwMDAwMDB8eHx5")]
    [InlineData("time", "abc")]
    [InlineData("time", "aTF8MDAwMDAwMDB8eHx5")]
    [InlineData("time", "MjAzMS0wNy0xNA== MjAzMTA3MTRUMjM1OTU5ODAwWi1mMTdkZjk5ZGY3MDctMDAwNA==")]
    public async Task BadContinuationRejected(string selector, string continuation)
    {
        using HttpResponseMessage response = await SendAsync($"api/audit/records?{Selection(selector)}&limit=4&continuation={Uri.EscapeDataString(continuation)}");
        JsonObject problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.EndsWith("/invalid-audit-continuation", (string)problem["type"]!, StringComparison.Ordinal);
        Assert.Equal("continuation", (string)problem["field"]!);
    }

    [Fact]
    public async Task OtherQueryContinuationRejected()
    {
        JsonObject first = await GetPageAsync($"api/audit/records?run={RunId(1)}&limit=4");
        string continuation = (string)first["continuation"]!;

        using HttpResponseMessage response = await SendAsync($"api/audit/records?run={RunId(0)}&limit=4&continuation={Uri.EscapeDataString(continuation)}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Theory]
    [InlineData("api/audit/records?run={run}&run=other", "run")]
    [InlineData("api/audit/records?grant=a&grant=b", "grant")]
    [InlineData("api/audit/records?from={from}&from={from}&to={to}", "from")]
    [InlineData("api/audit/records?run={run}&limit=4&limit=5", "limit")]
    [InlineData("api/audit/checkpoints?from={from}&to={to}&to={to}", "to")]
    public async Task RepeatedParameterRejected(string path, string parameter)
    {
        using HttpResponseMessage response = await SendAsync(path.Replace("{run}", RunId(0), StringComparison.Ordinal)
            .Replace("{from}", Time(0), StringComparison.Ordinal)
            .Replace("{to}", Time(3), StringComparison.Ordinal));
        JsonObject problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(parameter, (string)problem["field"]!);
        Assert.Contains("one value", (string)problem["detail"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TimeRangeReturned()
    {
        JsonObject page = await GetPageAsync($"api/audit/records?from={Time(0)}&to={Time(3)}&limit=1000");

        Assert.Equal(fixture.Records.Where(record => AuditRecordIds.GetTime(record.Id) < fixture.Start.AddSeconds(3)).Select(record => record.Id), Ids(page, "records"));
    }

    [Fact]
    public async Task TwoSelectorsRejected()
    {
        using HttpResponseMessage response = await SendAsync($"api/audit/records?run={RunId(0)}&grant=g");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task LimitAboveMaxRejected()
    {
        using HttpResponseMessage response = await SendAsync($"api/audit/records?run={RunId(0)}&limit=5000");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task BackgroundCheckpointsVerifyTrail()
    {
        string to = Time(12);
        JsonObject checkpoints = await WaitForCheckpointsAsync(fixture.Start.AddSeconds(12));
        JsonObject records = await GetPageAsync($"api/audit/records?from={Time(-5)}&to={to}&limit=1000");
        Jwks jwks = Jwks.Parse(await Http.GetStringAsync(".well-known/jwks.json"));

        AuditTrailReport report = AuditVerifier.VerifyTrail(
            records["records"]!.AsArray().Select(record => record!.AsObject()),
            checkpoints["checkpoints"]!.AsArray().Select(checkpoint => checkpoint!.AsObject()),
            jwks);

        Assert.True(report.Valid, string.Join("; ", report.Problems));
        Assert.Equal(fixture.Records.Count, report.CoveredRecordCount);
    }

    [Fact]
    public async Task ApiKeyNeverLogged()
    {
        using HttpResponseMessage good = await SendAsync($"api/audit/records?run={RunId(0)}");
        using HttpResponseMessage bad = await SendAsync($"api/audit/records?run={RunId(0)}", AuditorApiFixture.ApiKey + "x");

        Assert.DoesNotContain(fixture.Host.Logs.Lines, line => line.Contains(AuditorApiFixture.ApiKey, StringComparison.Ordinal));
    }

    private async Task<JsonObject> WaitForCheckpointsAsync(DateTimeOffset through)
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            JsonObject page = await GetPageAsync($"api/audit/checkpoints?from={Time(-5)}&to={Time(12)}&limit=1000");
            JsonArray checkpoints = page["checkpoints"]!.AsArray();
            if (checkpoints.Count > 0 && SignedAuditCheckpoint.Parse(checkpoints[^1]!.ToJsonString()).Window.End >= through)
            {
                return page;
            }

            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(20), $"The host's checkpoint writer did not reach {through:O} within 20 s.");
            await Task.Delay(200);
        }
    }

    private async Task<JsonObject> GetPageAsync(string path)
    {
        using HttpResponseMessage response = await SendAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET {path} returned {(int)response.StatusCode}: {body}");
        return JsonNode.Parse(body)!.AsObject();
    }

    private Task<HttpResponseMessage> SendAsync(string path, string key = AuditorApiFixture.ApiKey)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return Http.SendAsync(request);
    }

    /// <summary>Returns the query of the earliest run's records: by its run id for "run", or by the 3 seconds its records were written in for "time".</summary>
    private string Selection(string selector) => selector == "run" ? $"run={fixture.Records[0].RunId}" : $"from={Time(0)}&to={Time(3)}";

    private string RunId(int run) => fixture.Records.Select(record => record.RunId).Distinct().Order(StringComparer.Ordinal).ElementAt(run);

    private string Time(int seconds) => Uri.EscapeDataString(fixture.Start.AddSeconds(seconds).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture));

    private static IEnumerable<string> Ids(JsonObject page, string name) =>
        page[name]!.AsArray().Select(item => (string)item!["id"]!);
}
