using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting.Identity;
using Nhi.Serverless.Hosting.Workflows;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Workflows;
using Npgsql;

namespace Nhi.Serverless.Tests.Workflows;

/// <summary>
/// The CI/CD deploy workflow end to end over HTTP. The job starts a run and claims a PostgreSQL schema-change role and an
/// S3 read session over HTTPS once. It applies a schema change, reads its logs bucket and reports done. Every credential
/// is denied outside its scope and after revocation. Runs on PostgreSQL, Ceph RGW and Azurite.
/// </summary>
public sealed class CicdDeployWorkflowTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly string _issuerDirectory = Directory.CreateTempSubdirectory("nhi-test-oidc-").FullName;
    private LocalOidcIssuer? _issuer;
    private string _logsBucket = "";
    private string _otherBucket = "";

    public async Task InitializeAsync()
    {
        _logsBucket = await _aws.CreateBucketAsync();
        _otherBucket = await _aws.CreateBucketAsync();
    }

    public async Task DisposeAsync()
    {
        await _aws.DeleteBucketAsync(_logsBucket);
        await _aws.DeleteBucketAsync(_otherBucket);
        _aws.Dispose();
        _issuer?.Dispose();
        Directory.Delete(_issuerDirectory, recursive: true);
    }

    [Fact]
    public async Task Deploy_DoneRevokesBothGrants()
    {
        await using WorkflowTestHost host = await StartAsync("00:05:00");
        (string runId, string ticket) = await StartRunAsync(host);
        await WaitForOpenStepAsync(host, runId);

        string credentialsPath = $"/api/workflows/runs/{runId}/steps/deploy/credentials";
        using (HttpResponseMessage overHttp = await PostAsync(host.Host.Http, credentialsPath, ticket, null))
        {
            await ExpectProblemAsync(overHttp, HttpStatusCode.Forbidden, "scheme");
        }

        using (HttpResponseMessage noTicket = await PostAsync(host.Host.Https, credentialsPath, null, null))
        {
            await ExpectProblemAsync(noTicket, HttpStatusCode.Unauthorized, WorkflowTickets.Header);
        }

        JsonObject credentials;
        using (HttpResponseMessage otherJob = await PostAsync(host.Host.Https, credentialsPath, ticket, null, Token("refs/heads/release")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, otherJob.StatusCode);
        }

        using (HttpResponseMessage claimed = await PostAsync(host.Host.Https, credentialsPath, ticket, null, Token()))
        {
            Assert.Equal(HttpStatusCode.OK, claimed.StatusCode);
            Assert.Equal("no-store", claimed.Headers.CacheControl?.ToString());
            credentials = (await claimed.Content.ReadFromJsonAsync<JsonObject>())!["credentials"]!.AsObject();
        }

        using (HttpResponseMessage again = await PostAsync(host.Host.Https, credentialsPath, ticket, null, Token()))
        {
            await ExpectProblemAsync(again, HttpStatusCode.Conflict, "step");
        }

        // The job's work: a schema change in its schema, and reading its logs bucket.
        JsonObject schema = credentials["schema"]!.AsObject();
        string table = "deploy_" + Guid.NewGuid().ToString("N")[..10];
        string connectionString = schema["connectionString"]!.GetValue<string>();
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, $"CREATE TABLE app.{table} (id integer PRIMARY KEY, note text)");
            PostgresException denied = await Assert.ThrowsAsync<PostgresException>(() => ExecuteAsync(connection, "SELECT count(*) FROM erp.vendors"));
            Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, denied.SqlState);
        }

        JsonObject logs = credentials["logs"]!.AsObject();
        using AmazonS3Client s3 = _aws.S3Clients.CreateClient(new SessionAWSCredentials(
            logs["accessKeyId"]!.GetValue<string>(), logs["secretAccessKey"]!.GetValue<string>(), logs["sessionToken"]!.GetValue<string>()));
        ListObjectsV2Response listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _logsBucket });
        Assert.Contains(listed.S3Objects, item => item.Key == "hello.txt");
        AmazonS3Exception outside = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _otherBucket }));
        Assert.Equal(HttpStatusCode.Forbidden, outside.StatusCode);

        var done = new JsonObject
        {
            ["succeeded"] = true,
            ["checks"] = new JsonArray("migration applied", "logs read"),
            ["output"] = new JsonObject { ["table"] = table },
        };
        using (HttpResponseMessage overHttp = await PostAsync(host.Host.Http, $"/api/workflows/runs/{runId}/steps/deploy/done", ticket, done))
        {
            await ExpectProblemAsync(overHttp, HttpStatusCode.Forbidden, "scheme");
        }

        using (HttpResponseMessage reported = await PostAsync(host.Host.Https, $"/api/workflows/runs/{runId}/steps/deploy/done", ticket, done))
        {
            Assert.Equal(HttpStatusCode.Accepted, reported.StatusCode);
        }

        WorkflowResult result = await host.WaitAsync(runId);
        Assert.Equal(WorkflowOutcomes.Completed, result.Outcome);
        Assert.Equal("deployed", result.Decision);
        StepResult step = Assert.Single(result.Steps);
        Assert.Equal("done", step.EndedBy);
        Assert.Equal(2, step.Report!.Grants.Count);
        Assert.All(step.Cleanup, revocation => Assert.True(revocation.Proven, revocation.Evidence));

        // After the run: the role cannot log in, the new table belongs to the owner role, and the S3 session is denied.
        await using (var refused = new NpgsqlConnection(connectionString))
        {
            PostgresException login = await Assert.ThrowsAsync<PostgresException>(() => refused.OpenAsync());
            Assert.Contains(login.SqlState, new[] { PostgresErrorCodes.InvalidPassword, PostgresErrorCodes.InvalidAuthorizationSpecification });
        }

        Assert.Equal(LocalStack.Get("NHI_POSTGRES_OWNER_ROLE"), await TableOwnerAsync(table));
        AmazonS3Exception afterRevocation = await Assert.ThrowsAsync<AmazonS3Exception>(() => s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = _logsBucket }));
        Assert.Equal(HttpStatusCode.Forbidden, afterRevocation.StatusCode);

        IReadOnlyList<SignedAuditRecord> records = await host.AuditRecordsAsync(runId);
        foreach (IssuedGrant grant in step.Report.Grants)
        {
            Assert.Contains(records, record => record.Json.Contains($"\"grant_id\":\"{grant.GrantId}\"", StringComparison.Ordinal)
                && record.Json.Contains("\"event\":\"grant.revoked\"", StringComparison.Ordinal));
        }

        await host.AssertNoSecretLeakedAsync(runId);
    }

    [Fact]
    public async Task Deploy_WindowCloseRevokes()
    {
        await using WorkflowTestHost host = await StartAsync("00:00:06");
        (string runId, string ticket) = await StartRunAsync(host);
        await WaitForOpenStepAsync(host, runId);

        string connectionString;
        using (HttpResponseMessage claimed = await PostAsync(host.Host.Https, $"/api/workflows/runs/{runId}/steps/deploy/credentials", ticket, null, Token()))
        {
            Assert.Equal(HttpStatusCode.OK, claimed.StatusCode);
            connectionString = (await claimed.Content.ReadFromJsonAsync<JsonObject>())!["credentials"]!["schema"]!["connectionString"]!.GetValue<string>();
        }

        WorkflowResult result = await host.WaitAsync(runId);
        Assert.Equal(WorkflowOutcomes.Failed, result.Outcome);
        StepResult step = Assert.Single(result.Steps);
        Assert.Equal("window-closed", step.EndedBy);
        Assert.All(step.Cleanup, revocation => Assert.True(revocation.Proven, revocation.Evidence));
        await using var refused = new NpgsqlConnection(connectionString);
        await Assert.ThrowsAsync<PostgresException>(() => refused.OpenAsync());
        await host.AssertNoSecretLeakedAsync(runId);
    }

    [Fact]
    public async Task Deploy_CancelNeedsTicketAndRevokes()
    {
        await using WorkflowTestHost host = await StartAsync("00:05:00");
        (string runId, string ticket) = await StartRunAsync(host);
        await WaitForOpenStepAsync(host, runId);

        using (HttpResponseMessage claimed = await PostAsync(host.Host.Https, $"/api/workflows/runs/{runId}/steps/deploy/credentials", ticket, null, Token()))
        {
            Assert.Equal(HttpStatusCode.OK, claimed.StatusCode);
        }

        using (HttpResponseMessage wrongTicket = await PostAsync(host.Host.Https, $"/api/workflows/runs/{runId}/cancel", "not-the-ticket", new JsonObject()))
        {
            await ExpectProblemAsync(wrongTicket, HttpStatusCode.Unauthorized, WorkflowTickets.Header);
        }

        using (HttpResponseMessage soar = await PostAsync(host.Host.Http, $"/api/soar/runs/{runId}/cancel", null, new JsonObject { ["by"] = "someone" }))
        {
            Assert.Equal(HttpStatusCode.NotFound, soar.StatusCode);
        }

        using (HttpResponseMessage cancelled = await PostAsync(host.Host.Https, $"/api/workflows/runs/{runId}/cancel", ticket, new JsonObject { ["reason"] = "pipeline aborted" }))
        {
            Assert.Equal(HttpStatusCode.Accepted, cancelled.StatusCode);
        }

        WorkflowResult result = await host.WaitAsync(runId);
        Assert.Equal(WorkflowOutcomes.Cancelled, result.Outcome);
        Assert.Contains("pipeline aborted", Assert.Single(result.Reasons), StringComparison.Ordinal);
        Assert.All(Assert.Single(result.Steps).Cleanup, revocation => Assert.True(revocation.Proven, revocation.Evidence));
    }

    [Fact]
    public async Task Deploy_DoneWithoutClaimFails()
    {
        await using WorkflowTestHost host = await StartAsync("00:05:00");
        (string runId, string ticket) = await StartRunAsync(host);
        await WaitForOpenStepAsync(host, runId);

        using (HttpResponseMessage reported = await PostAsync(
            host.Host.Https, $"/api/workflows/runs/{runId}/steps/deploy/done", ticket, new JsonObject { ["succeeded"] = true }))
        {
            Assert.Equal(HttpStatusCode.Accepted, reported.StatusCode);
        }

        WorkflowResult result = await host.WaitAsync(runId);
        Assert.Equal(WorkflowOutcomes.Failed, result.Outcome);
        StepResult step = Assert.Single(result.Steps);
        Assert.Equal("done-unclaimed", step.EndedBy);
        Assert.False(step.Report!.Verification.Passed);
    }

    [Fact]
    public async Task Start_SameRunIdOtherRequestConflicts()
    {
        await using WorkflowTestHost host = await StartAsync("00:05:00");
        string runId = "wf-conflict-" + Guid.NewGuid().ToString("N");
        var first = new JsonObject { ["runId"] = runId, ["parameters"] = new JsonObject { ["commit"] = "3f9c2a1b7d4e" } };
        var other = new JsonObject { ["runId"] = runId, ["parameters"] = new JsonObject { ["commit"] = "0000000000aa" } };

        using (HttpResponseMessage started = await PostAsync(host.Host.Https, "/api/workflows/cicd/runs", null, first, Token()))
        {
            Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        }

        using (HttpResponseMessage again = await PostAsync(host.Host.Https, "/api/workflows/cicd/runs", null, first, Token()))
        {
            Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
            Assert.True((await again.Content.ReadFromJsonAsync<JsonObject>())!["duplicate"]!.GetValue<bool>());
        }

        using HttpResponseMessage conflict = await PostAsync(host.Host.Https, "/api/workflows/cicd/runs", null, other, Token());
        await ExpectProblemAsync(conflict, HttpStatusCode.Conflict, "runId");
    }

    [Fact]
    public async Task Start_NeedsTokenHttpsAndCommit()
    {
        await using WorkflowTestHost host = await StartAsync("00:05:00");
        var good = new JsonObject { ["parameters"] = new JsonObject { ["commit"] = "3f9c2a1b7d4e" } };

        using (HttpResponseMessage overHttp = await PostAsync(host.Host.Http, "/api/workflows/cicd/runs", null, good, Token()))
        {
            await ExpectProblemAsync(overHttp, HttpStatusCode.Forbidden, "scheme");
        }

        using (HttpResponseMessage noToken = await PostAsync(host.Host.Https, "/api/workflows/cicd/runs", null, good))
        {
            await ExpectProblemAsync(noToken, HttpStatusCode.Unauthorized, "Authorization");
        }

        using (HttpResponseMessage otherBranch = await PostAsync(host.Host.Https, "/api/workflows/cicd/runs", null, good, Token("refs/heads/feature-x")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, otherBranch.StatusCode);
            Assert.Contains("refs/heads/feature-x", await otherBranch.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var bad = new JsonObject { ["parameters"] = new JsonObject { ["commit"] = "not a commit" } };
        using HttpResponseMessage response = await PostAsync(host.Host.Https, "/api/workflows/cicd/runs", null, bad, Token());
        await ExpectProblemAsync(response, HttpStatusCode.BadRequest, "parameters.commit");

        using HttpResponseMessage unknown = await host.Host.Http.PostAsJsonAsync("/api/workflows/nope/runs", new { parameters = new { } });
        await ExpectProblemAsync(unknown, HttpStatusCode.NotFound, "workflow");
    }

    private Task<WorkflowTestHost> StartAsync(string window)
    {
        LocalOidcIssuer issuer = Issuer();
        return WorkflowTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Workflows:DeployLogsBucket"] = _logsBucket,
            ["Workflows:DeployWindow"] = window,
            ["GitHubOidc:Issuer"] = LocalOidcIssuer.IssuerName,
            ["GitHubOidc:JwksUri"] = issuer.JwksPath,
            ["GitHubOidc:Audience"] = LocalOidcIssuer.DefaultAudience,
            ["GitHubOidc:TrustRules:0:Workflow"] = "cicd",
            ["GitHubOidc:TrustRules:0:Repository"] = "nhi-demo/app",
            ["GitHubOidc:TrustRules:0:Ref"] = "refs/heads/main",
        });
    }

    /// <summary>A GitHub Actions OIDC token from the test's local issuer, for repository nhi-demo/app.</summary>
    private string Token(string gitRef = "refs/heads/main") => Issuer().CreateToken(new GitHubTokenRequest("nhi-demo/app", gitRef));

    // One issuer per test: the token handler caches signature providers by key, so the key object must outlive the test.
    private LocalOidcIssuer Issuer() => _issuer ??= LocalOidcIssuer.LoadOrCreate(_issuerDirectory);

    private async Task<(string RunId, string Ticket)> StartRunAsync(WorkflowTestHost host)
    {
        var start = new JsonObject { ["parameters"] = new JsonObject { ["commit"] = "3f9c2a1b7d4e", ["migration"] = "0042_add_deploy_table" } };
        using HttpResponseMessage response = await PostAsync(host.Host.Https, "/api/workflows/cicd/runs", null, start, Token());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        JsonObject body = (await response.Content.ReadFromJsonAsync<JsonObject>())!;
        return (body["runId"]!.GetValue<string>(), body["ticket"]!.GetValue<string>());
    }

    private static async Task WaitForOpenStepAsync(WorkflowTestHost host, string runId)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            JsonObject status = (await host.Host.Http.GetFromJsonAsync<JsonObject>($"/api/workflows/runs/{runId}", timeout.Token))!;
            if (status["state"]!.GetValue<string>() == "awaiting-caller")
            {
                return;
            }

            await Task.Delay(100, timeout.Token);
        }
    }

    private static async Task<HttpResponseMessage> PostAsync(HttpClient client, string path, string? ticket, JsonObject? body, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        if (token is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        }

        if (ticket is not null)
        {
            request.Headers.Add(WorkflowTickets.Header, ticket);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        return await client.SendAsync(request);
    }

    private static async Task ExpectProblemAsync(HttpResponseMessage response, HttpStatusCode status, string field)
    {
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using JsonDocument problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal(field, problem.RootElement.GetProperty("field").GetString());
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string?> TableOwnerAsync(string table)
    {
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = LocalStack.Get("NHI_POSTGRES_HOST"),
            Port = int.Parse(LocalStack.Get("NHI_POSTGRES_PORT"), System.Globalization.CultureInfo.InvariantCulture),
            Database = LocalStack.Get("NHI_POSTGRES_DATABASE"),
            Username = LocalStack.Get("NHI_POSTGRES_USERNAME"),
            Password = LocalStack.Get("NHI_POSTGRES_PASSWORD"),
            SslMode = SslMode.Disable,
        };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT tableowner FROM pg_tables WHERE schemaname = 'app' AND tablename = @table", connection);
        command.Parameters.AddWithValue("table", table);
        return (string?)await command.ExecuteScalarAsync();
    }
}
