using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Cli.Runs;

/// <summary>Calls the host's approval and grant ledger endpoints and prints what they return.</summary>
/// <remarks>Exit codes: 0 on success, 1 when the host rejected the request or a swept grant stays open, 2 when the host could not be reached.</remarks>
/// <param name="caCert">The certificate to pin for an https host, or null for the system's CA store.</param>
public sealed class RunsClient(Uri host, TextWriter output, TextWriter error, FileInfo? caCert = null) : IDisposable
{
    private readonly HttpClient _http = HostClient.Create(host, caCert, TimeSpan.FromSeconds(120));

    public async Task<int> DecideAsync(string runId, bool approve, string by, string? reason, CancellationToken cancellationToken)
    {
        string path = $"api/runs/{Uri.EscapeDataString(runId)}/{(approve ? "approve" : "reject")}";
        var body = new { by, channel = "cli", reason };
        return await SendAsync(
            () => _http.PostAsJsonAsync(path, body, cancellationToken),
            response => output.WriteLine(
                $"Run {runId} {response["decision"]} by {response["by"]} through {response["channel"]} at {response["at"]}"),
            cancellationToken);
    }

    public Task<int> ListGrantsAsync(string runId, CancellationToken cancellationToken) =>
        SendAsync(
            () => _http.GetAsync($"api/runs/{Uri.EscapeDataString(runId)}/grants", cancellationToken),
            response =>
            {
                JsonArray grants = response["grants"]?.AsArray() ?? [];
                output.WriteLine($"Run {runId}: {grants.Count} grant(s)");
                foreach (JsonNode? grant in grants)
                {
                    output.WriteLine(
                        $"  {grant?["grantId"]}  {grant?["status"],-9}  {grant?["broker"]}  requested {grant?["requestedAt"]}  revoked {grant?["revokedAt"] ?? "-"} by {grant?["revokedBy"] ?? "-"}  verified {grant?["verifiedAt"] ?? "-"}");
                }
            },
            cancellationToken);

    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        int failed = 0;
        int code = await SendAsync(
            () => _http.PostAsync("api/grants/sweep", content: null, cancellationToken),
            response =>
            {
                JsonArray swept = response["swept"]?.AsArray() ?? [];
                output.WriteLine($"Open grants: {response["openGrants"]}; swept: {swept.Count}");
                foreach (JsonNode? grant in swept)
                {
                    bool verified = grant?["verified"]?.GetValue<bool>() ?? false;
                    failed += verified ? 0 : 1;
                    output.WriteLine(
                        $"  {grant?["grantId"]} of {grant?["runId"]}: {(verified ? "revoked and verified" : "NOT revoked and verified")} ({grant?["reason"]}){(grant?["error"] is { } e ? "; " + e : "")}");
                }
            },
            cancellationToken);
        return code == 0 && failed > 0 ? 1 : code;
    }

    public void Dispose() => _http.Dispose();

    private async Task<int> SendAsync(Func<Task<HttpResponseMessage>> send, Action<JsonNode> print, CancellationToken cancellationToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await send();
        }
        catch (HttpRequestException failure) when (failure.InnerException is System.Security.Authentication.AuthenticationException)
        {
            error.WriteLine($"The host at {_http.BaseAddress} presented a certificate that is not trusted. Pass the host's certificate with --ca-cert FILE.");
            return 2;
        }
        catch (HttpRequestException failure)
        {
            error.WriteLine($"Could not reach the host at {_http.BaseAddress}: {failure.Message}. Start it with infra/local/host.sh or pass --host.");
            return 2;
        }

        using (response)
        {
            string text = await response.Content.ReadAsStringAsync(cancellationToken);
            JsonNode? body = TryParse(text);
            if (!response.IsSuccessStatusCode)
            {
                string detail = body?["detail"]?.GetValue<string>() ?? text;
                string expected = body?["expected"] is { } value ? $" Expected {body["field"]}: {value}." : "";
                error.WriteLine($"The host returned HTTP {((int)response.StatusCode).ToString(CultureInfo.InvariantCulture)}: {detail}{expected}");
                return 1;
            }

            if (body is null)
            {
                error.WriteLine("The host returned a body that is not JSON.");
                return 1;
            }

            print(body);
            return 0;
        }
    }

    private static JsonNode? TryParse(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
