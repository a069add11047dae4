using System.CommandLine;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Nhi.Serverless.Cli;
using Nhi.Serverless.Cli.Runs;
using Nhi.Serverless.Hosting.Https;
using Nhi.Serverless.Hosting.Identity;
using Nhi.Serverless.Tests.Identity;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Https;

/// <summary>
/// An endpoint guarded as credential hand-outs are, with RequireHttps and then RequireGitHubOidc, on the real local
/// host: its HTTPS listener and certificate, the CLI pinning that certificate, and the responses to plain HTTP and to
/// missing or rejected tokens.
/// </summary>
public sealed class CredentialEndpointTests : IAsyncLifetime
{
    private const string GuardedPath = "/test/credentials";

    private readonly TestIssuer _issuer = TestIssuer.Create();
    private NhiTestHost _host = null!;
    private HttpClient _https = null!;
    private int _handled;

    public async Task InitializeAsync()
    {
        Dictionary<string, string?> settings = new()
        {
            ["GitHubOidc:Issuer"] = LocalOidcIssuer.IssuerName,
            ["GitHubOidc:JwksUri"] = _issuer.Issuer.JwksPath,
            ["GitHubOidc:Audience"] = LocalOidcIssuer.DefaultAudience,
            ["GitHubOidc:TrustRules:0:Workflow"] = "cicd",
            ["GitHubOidc:TrustRules:0:Repository"] = "nhi-demo/app",
            ["GitHubOidc:TrustRules:0:Ref"] = "refs/heads/main",
        };
        _host = await NhiTestHost.StartAsync(settings: settings, mapEndpoints: app =>
            app.MapGet(GuardedPath, (HttpContext context) =>
                {
                    Interlocked.Increment(ref _handled);
                    WorkloadIdentity identity = context.GetWorkloadIdentity()!;
                    return Results.Ok(new { identity.Repository, identity.Ref, identity.RunId });
                })
                .RequireHttps()
                .RequireGitHubOidc("cicd"));
        _https = HostClient.Create(_host.HttpsBaseAddress, new FileInfo(_host.CertificatePath), TimeSpan.FromSeconds(30));
    }

    public async Task DisposeAsync()
    {
        _https.Dispose();
        await _host.DisposeAsync();
        _issuer.Dispose();
    }

    [Fact]
    public async Task AdmittedTokenOverHttpsIsServed()
    {
        using HttpResponseMessage response = await _https.SendAsync(Request(_issuer.Token()));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        JsonNode body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("nhi-demo/app", body["repository"]!.GetValue<string>());
        Assert.Equal("refs/heads/main", body["ref"]!.GetValue<string>());
        Assert.Contains(_host.Logs.Lines, line => line.Contains("Authenticated GitHub workload nhi-demo/app refs/heads/main", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RejectedTokenGets401()
    {
        string token = _issuer.Token(gitRef: "refs/heads/dev");

        using HttpResponseMessage response = await _https.SendAsync(Request(token));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Bearer error=\"invalid_token\"", response.Headers.WwwAuthenticate.ToString());
        string text = await response.Content.ReadAsStringAsync();
        JsonNode problem = JsonNode.Parse(text)!;
        Assert.Equal("ref", problem["field"]!.GetValue<string>());
        Assert.Contains("claim 'ref' is 'refs/heads/dev'; the trust rules for workflow 'cicd' admit refs/heads/main", problem["detail"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, _handled);
        AssertTokenNowhere(token, text);
    }

    [Fact]
    public async Task ForgedSignatureGets401()
    {
        string[] parts = _issuer.Token().Split('.');
        string token = $"{parts[0]}.{parts[1]}.{parts[2][..^4]}AAAA";

        using HttpResponseMessage response = await _https.SendAsync(Request(token));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        string text = await response.Content.ReadAsStringAsync();
        Assert.Equal("signature", JsonNode.Parse(text)!["field"]!.GetValue<string>());
        AssertTokenNowhere(token, text);
    }

    [Fact]
    public async Task MissingTokenGets401()
    {
        using HttpResponseMessage response = await _https.GetAsync(GuardedPath);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.ToString());
        JsonNode problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("Authorization", problem["field"]!.GetValue<string>());
        Assert.Equal(0, _handled);
    }

    [Fact]
    public async Task PlainHttpIsRefused()
    {
        string token = _issuer.Token();

        using HttpResponseMessage response = await _host.Http.SendAsync(Request(token));

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        string text = await response.Content.ReadAsStringAsync();
        JsonNode problem = JsonNode.Parse(text)!;
        Assert.Equal("scheme", problem["field"]!.GetValue<string>());
        Assert.Equal("https", problem["expected"]!.GetValue<string>());
        string detail = problem["detail"]!.GetValue<string>();
        Assert.Contains("credentials are handed out over HTTPS only", detail, StringComparison.Ordinal);
        Assert.Contains(new Uri(_host.HttpsBaseAddress, GuardedPath).ToString(), detail, StringComparison.Ordinal);
        Assert.Equal(0, _handled);
        Assert.DoesNotContain(_host.Logs.Lines, line => line.Contains("Authenticated GitHub workload", StringComparison.Ordinal));
        AssertTokenNowhere(token, text);
    }

    [Fact]
    public async Task ListenerPresentsGeneratedCertificate()
    {
        X509Certificate2? presented = null;
        using var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            presented = certificate is null ? null : X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            return true;
        };
        using var probe = new HttpClient(handler) { BaseAddress = _host.HttpsBaseAddress };

        using HttpResponseMessage response = await probe.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotNull(presented);
        Assert.Equal(X509Certificate2.CreateFromPem(File.ReadAllText(_host.CertificatePath)).Thumbprint, presented.Thumbprint);
        Assert.StartsWith(Path.GetTempPath(), _host.CertificatePath, StringComparison.Ordinal);
        Assert.Equal("127.0.0.1", _host.HttpsBaseAddress.Host);
        Assert.Contains(_host.Logs.Lines, line =>
            line.Contains($"HTTPS listener on {_host.HttpsBaseAddress}", StringComparison.Ordinal)
            && line.Contains(_host.CertificatePath, StringComparison.Ordinal));
    }

    [Fact]
    public async Task CliTrustsPinnedCertificate()
    {
        (int code, string output, string error) = await RunCliAsync("--ca-cert", _host.CertificatePath);

        Assert.True(code == 0, error);
        Assert.Contains("Run run-pinned: 0 grant(s)", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliWithoutCaCertRejectsHost()
    {
        (int code, _, string error) = await RunCliAsync();

        Assert.Equal(2, code);
        Assert.Contains("presented a certificate that is not trusted", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliWithOtherCertificateRejectsHost()
    {
        string otherDirectory = Path.Combine(_issuer.Root, "other-tls");
        LocalTlsCertificate other = LocalTlsCertificate.LoadOrCreate(otherDirectory, TimeProvider.System);

        (int code, _, string error) = await RunCliAsync("--ca-cert", other.CertificatePath);

        Assert.Equal(2, code);
        Assert.Contains("presented a certificate that is not trusted", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CliRejectsMissingCaCertFile()
    {
        (int code, _, string error) = await RunCliAsync("--ca-cert", Path.Combine(_issuer.Root, "absent.pem"));

        Assert.NotEqual(0, code);
        Assert.Contains("absent.pem' does not exist", error, StringComparison.Ordinal);
    }

    private static HttpRequestMessage Request(string token) =>
        new(HttpMethod.Get, GuardedPath) { Headers = { Authorization = new AuthenticationHeaderValue("Bearer", token) } };

    // Runs `nhi runs grants` against the HTTPS listener, which returns 200 for any run id.
    private async Task<(int Code, string Output, string Error)> RunCliAsync(params string[] extra)
    {
        var root = new RootCommand { RunsCommand.Create() };
        using var output = new StringWriter();
        using var error = new StringWriter();
        string[] args = ["runs", "grants", "run-pinned", "--host", _host.HttpsBaseAddress.ToString(), .. extra];
        int code = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error });
        return (code, output.ToString(), error.ToString());
    }

    private void AssertTokenNowhere(string token, string responseBody)
    {
        string signature = token.Split('.')[2];
        Assert.DoesNotContain(signature, responseBody, StringComparison.Ordinal);
        Assert.DoesNotContain(_host.Logs.Lines, line => line.Contains(signature, StringComparison.Ordinal));
    }
}
