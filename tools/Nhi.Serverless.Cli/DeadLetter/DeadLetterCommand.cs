using System.CommandLine;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Cli.DeadLetter;

/// <summary>
/// `nhi deadletter list` and `nhi deadletter replay ID`: the host's dead letters over its HTTP API, signed with the
/// "admin" source's secret from NHI_ADMIN_SECRET when it is set (a local host without one accepts loopback calls).
/// </summary>
/// <remarks>Exit codes: 0 on success, 1 when the host rejected the request, 2 when the host could not be reached.</remarks>
public static class DeadLetterCommand
{
    public const string SecretVariable = "NHI_ADMIN_SECRET";

    public static Command Create()
    {
        var hostOption = new Option<Uri>("--host")
        {
            Description = "Base URL of the host.",
            DefaultValueFactory = _ => new Uri("http://127.0.0.1:7071"),
            CustomParser = CommandLineUrls.Parse!,
        };
        Option<FileInfo?> caCertOption = HostClient.CaCertOption();
        var statusOption = new Option<string?>("--status") { Description = "Only dead letters in this status: parked or replayed." };
        var idArgument = new Argument<string>("id") { Description = "The dead letter's id, as `nhi deadletter list` prints it." };

        var list = new Command("list", "Lists dead letters, oldest first.") { hostOption, caCertOption, statusOption };
        list.SetAction(async (parse, cancellationToken) =>
        {
            string query = parse.GetValue(statusOption) is { } status ? $"?status={Uri.EscapeDataString(status)}" : "";
            return await SendAsync(parse.GetValue(hostOption)!, parse.GetValue(caCertOption), HttpMethod.Get, $"api/deadletters{query}", cancellationToken);
        });

        var replay = new Command("replay", "Processes one dead letter again: starts its run, or queues its callback again.") { hostOption, caCertOption, idArgument };
        replay.SetAction(async (parse, cancellationToken) =>
            await SendAsync(parse.GetValue(hostOption)!, parse.GetValue(caCertOption), HttpMethod.Post, $"api/deadletters/{Uri.EscapeDataString(parse.GetValue(idArgument)!)}/replay", cancellationToken));

        return new Command("deadletter", "Lists and replays accepted alerts that could not be processed.") { list, replay };
    }

    private static async Task<int> SendAsync(Uri host, FileInfo? caCert, HttpMethod method, string path, CancellationToken cancellationToken)
    {
        using HttpClient http = HostClient.Create(host, caCert, TimeSpan.FromSeconds(60));
        using var request = new HttpRequestMessage(method, path);
        if (method == HttpMethod.Post)
        {
            request.Content = new ByteArrayContent([]);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        if (Environment.GetEnvironmentVariable(SecretVariable) is { Length: > 0 } secret)
        {
            // HMAC-SHA256 over "{timestamp}." and the empty body, as the host's webhook authentication expects.
            string timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
            byte[] mac = HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.ASCII.GetBytes(timestamp + "."));
            request.Headers.Add("X-Nhi-Timestamp", timestamp);
            request.Headers.Add("X-Nhi-Signature", "v1=" + Convert.ToHexStringLower(mac));
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, cancellationToken);
        }
        catch (HttpRequestException failure)
        {
            await Console.Error.WriteLineAsync($"Could not reach the host at {host}: {failure.Message}. Start it with infra/local/host.sh or pass --host.");
            return 2;
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync($"The request to the host at {host} timed out after {http.Timeout.TotalSeconds:F0} seconds.");
            return 2;
        }

        using (response)
        {
            return await PrintAsync(response, cancellationToken);
        }
    }

    // Prints the body, indented when it is JSON, and returns 1 when the host rejected the request.
    private static async Task<int> PrintAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        string text = await response.Content.ReadAsStringAsync(cancellationToken);
        try
        {
            Console.WriteLine(text.Length > 0 ? JsonNode.Parse(text)!.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) : "");
        }
        catch (System.Text.Json.JsonException)
        {
            Console.WriteLine(text);
        }

        if (!response.IsSuccessStatusCode)
        {
            await Console.Error.WriteLineAsync($"The host answered {(int)response.StatusCode} {response.ReasonPhrase}.");
            return 1;
        }

        return 0;
    }
}
