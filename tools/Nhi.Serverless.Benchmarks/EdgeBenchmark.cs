using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Benchmarks;

/// <summary>
/// Measures accepted alerts per second and accept latency at the HTTP edge of a running local host: each request is
/// an HMAC-signed webhook that the host authenticates, parses, de-duplicates and records. The load generator is
/// closed-loop, bounded by a request count and a duration per workload, and sends only to the host URL.
/// </summary>
/// <remarks>Workloads: "new-runs" (new Security Hub findings: authenticate, parse, register the run in the run
/// registry and schedule its orchestration), "redelivery" (findings accepted before: authenticate, parse, find the
/// run in the registry and the orchestration store, and write a duplicate record), and "skipped" (new Wiz issues
/// whose control is not about public access: authenticate, parse and write a skip record). The new-runs findings
/// name control S3.1, which no playbook answers, so each run is planned, skipped and audited without calling AWS:
/// a benchmark must not issue and revoke thousands of grants on the shared remediation role.</remarks>
public sealed class EdgeBenchmark(Uri host, int hostPid, string secret, int concurrency, TimeSpan duration, int maxRequests, string backend, string azurite, FileInfo output)
{
    /// <summary>The environment variable that contains the webhook secret of the wiz and securityhub sources, which
    /// run.sh passes to the host as Edge:Sources:wiz:Secret and Edge:Sources:securityhub:Secret.</summary>
    public const string SecretVariable = "NHI_BENCH_EDGE_SECRET";

    /// <summary>The environment variable through which run.sh passes Durable:MaxConcurrentWorkItems to the host: how
    /// many orchestration and activity work items run at once while the edge accepts alerts.</summary>
    public const string WorkItemsVariable = "Durable__MaxConcurrentWorkItems";

    private readonly HttpClient _http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = host, Timeout = TimeSpan.FromSeconds(30) };

    public static Command CreateCommand()
    {
        var hostOption = new Option<Uri>("--host")
        {
            Description = "Base URL of the running local host, on 127.0.0.1.",
            DefaultValueFactory = _ => new Uri("http://127.0.0.1:7081"),
            CustomParser = result => Uri.TryCreate(result.Tokens[0].Value, UriKind.Absolute, out Uri? url) ? url : throw new FormatException($"--host: invalid URL '{result.Tokens[0].Value}'."),
        };
        var pidOption = new Option<int>("--host-pid") { Description = "Process id of the local host, for its peak memory (VmHWM).", Required = true };
        var concurrencyOption = new Option<int>("--concurrency") { Description = "Requests in flight at once.", DefaultValueFactory = _ => 16 };
        var secondsOption = new Option<int>("--seconds") { Description = "Measured duration of each workload, in seconds.", DefaultValueFactory = _ => 15 };
        var maxOption = new Option<int>("--max-requests") { Description = "Most requests per workload; the workload stops at whichever bound comes first.", DefaultValueFactory = _ => 30_000 };
        var backendOption = new Option<string>("--backend") { Description = "The host's Durable backend, for the report.", DefaultValueFactory = _ => "InMemory" };
        var azuriteOption = new Option<string>("--azurite") { Description = "Which Azurite the host uses, for the report: own-memory, own-disk or shared.", DefaultValueFactory = _ => "shared" };
        var outputOption = new Option<FileInfo>("--output") { Description = "Markdown results page to write.", DefaultValueFactory = _ => new FileInfo("docs/benchmarks/edge.md") };

        var command = new Command("edge", "Signed alert webhooks at the HTTP edge: accepted alerts per second and accept latency.")
        {
            hostOption, pidOption, concurrencyOption, secondsOption, maxOption, backendOption, azuriteOption, outputOption,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string secret = Environment.GetEnvironmentVariable(SecretVariable) is { Length: >= 16 } value
                ? value
                : throw new InvalidOperationException($"Environment variable {SecretVariable} must hold the wiz webhook secret (16 characters or more) that the host was started with.");
            var benchmark = new EdgeBenchmark(
                parse.GetValue(hostOption)!, parse.GetValue(pidOption), secret, parse.GetValue(concurrencyOption),
                TimeSpan.FromSeconds(parse.GetValue(secondsOption)), parse.GetValue(maxOption), parse.GetValue(backendOption)!, parse.GetValue(azuriteOption)!, parse.GetValue(outputOption)!);
            return await benchmark.RunAsync(cancellationToken);
        });
        return command;
    }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        string template = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "samples", "wiz", "issue-public-bucket.json"));
        string securityHub = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "samples", "securityhub", "asff-s3.2-public-policy.json"))
            .Replace("S3.2", "S3.1", StringComparison.Ordinal);
        string prefix = Guid.NewGuid().ToString("N")[..8];

        Console.WriteLine($"warming up on {host}");
        await MeasureAsync("warm-up", index => ("wiz", Body(template, $"warm-{prefix}-{index}")), TimeSpan.FromSeconds(3), 2_000, cancellationToken);

        // The redelivery workload repeats 200 findings that were accepted once before it starts.
        string[] accepted = Enumerable.Range(0, 200).Select(index => Finding(securityHub, $"{prefix}-redeliver-{index}")).ToArray();
        foreach (string body in accepted)
        {
            using HttpResponseMessage response = await _http.SendAsync(Signed("securityhub", body), cancellationToken);
        }

        List<WorkloadResult> results =
        [
            await MeasureAsync("new-runs", index => ("securityhub", Finding(securityHub, $"{prefix}-new-{index}")), duration, maxRequests, cancellationToken),
            await MeasureAsync("redelivery", index => ("securityhub", accepted[index % accepted.Length]), duration, maxRequests, cancellationToken),
            await MeasureAsync("skipped", index => ("wiz", Body(template, $"skip-{prefix}-{index}")), duration, maxRequests, cancellationToken),
        ];

        long peakKiB = PeakResidentKiB(hostPid);
        await WriteReportAsync(results, peakKiB, cancellationToken);
        Console.WriteLine($"results written to {output.FullName}");
        return results.All(result => result.Failed == 0) ? 0 : 1;
    }

    private async Task<WorkloadResult> MeasureAsync(string name, Func<int, (string Source, string Body)> requestFor, TimeSpan limit, int count, CancellationToken cancellationToken)
    {
        var latencies = new ConcurrentBag<double>();
        int next = -1;
        int failed = 0;
        var clock = Stopwatch.StartNew();

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (clock.Elapsed < limit)
            {
                int index = Interlocked.Increment(ref next);
                if (index >= count)
                {
                    return;
                }

                (string source, string body) = requestFor(index);
                using HttpRequestMessage request = Signed(source, body);
                long started = Stopwatch.GetTimestamp();
                using HttpResponseMessage response = await _http.SendAsync(request, cancellationToken);
                latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref failed);
                }
            }
        }));

        clock.Stop();
        var result = new WorkloadResult(name, latencies.Count, failed, latencies.Count / clock.Elapsed.TotalSeconds, LatencyStats.From(latencies));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {result.Requests} requests, {result.Failed} not 2xx, {result.PerSecond:F0} accepted/s, p50 {result.Latency.P50Ms:F1} ms, p99 {result.Latency.P99Ms:F1} ms"));
        return result;
    }

    private HttpRequestMessage Signed(string source, string body)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        long seconds = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        string timestamp = seconds.ToString(CultureInfo.InvariantCulture);

        // The same HMAC-SHA256 over "{timestamp}.{body}" that WebhookAuthenticator checks, written out here because
        // this tool does not reference the hosting project.
        byte[] payload = [.. Encoding.ASCII.GetBytes(timestamp), (byte)'.', .. bytes];
        string signature = "v1=" + Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), payload));

        var request = new HttpRequestMessage(HttpMethod.Post, $"api/alerts/{source}") { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-Nhi-Timestamp", timestamp);
        request.Headers.Add("X-Nhi-Signature", signature);
        return request;
    }

    /// <summary>Returns the Wiz sample with its own issue id and a control that is not about public access.</summary>
    private static string Body(string template, string issueId)
    {
        JsonNode issue = JsonNode.Parse(template)!;
        issue["issue"]!["id"] = issueId;
        issue["control"]!["name"] = "S3 bucket without access logging";
        return issue.ToJsonString();
    }

    /// <summary>Returns the Security Hub sample with its own finding id.</summary>
    private static string Finding(string template, string suffix) =>
        template.Replace("f6f00e71-935b-4bf7-b1ed-e9cb869b5b1a", "bench-" + suffix, StringComparison.Ordinal);

    // VmHWM is the process's peak resident set size, in KiB.
    private static long PeakResidentKiB(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(line => line.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    private async Task WriteReportAsync(IReadOnlyList<WorkloadResult> results, long peakKiB, CancellationToken cancellationToken)
    {
        var page = new StringBuilder();
        page.AppendLine(CultureInfo.InvariantCulture, $"## {backend} Durable backend");
        page.AppendLine();
        page.AppendLine(CultureInfo.InvariantCulture, $"Written by `tools/Nhi.Serverless.Benchmarks/run.sh edge --backend {backend}` on {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        page.AppendLine(CultureInfo.InvariantCulture, $"Machine: {MachineDescription()}. Load: {concurrency} requests in flight, at most {duration.TotalSeconds:F0} s per workload, over loopback.");
        page.AppendLine(CultureInfo.InvariantCulture, $"Host setting Durable:MaxConcurrentWorkItems: {Environment.GetEnvironmentVariable(WorkItemsVariable) ?? "64 (the default)"}. Azurite: {AzuriteDescription(azurite)}.");
        page.AppendLine();
        page.AppendLine("| workload | requests | not 2xx | accepted/s | p50 (ms) | p90 (ms) | p99 (ms) | max (ms) |");
        page.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (WorkloadResult result in results)
        {
            page.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {result.Name} | {result.Requests} | {result.Failed} | {result.PerSecond:F0} | {result.Latency.P50Ms:F1} | {result.Latency.P90Ms:F1} | {result.Latency.P99Ms:F1} | {result.Latency.MaxMs:F1} |"));
        }

        page.AppendLine();
        page.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Host peak resident memory (VmHWM): {peakKiB / 1024.0:F0} MiB."));

        output.Directory?.Create();
        await File.WriteAllTextAsync(output.FullName, page.ToString(), cancellationToken);
    }

    private static string AzuriteDescription(string azurite) => azurite switch
    {
        "own-memory" => "an empty one of the benchmark's own, data in memory",
        "own-disk" => "an empty one of the benchmark's own, data on disk",
        _ => "the local stack's, with whatever it had stored",
    };

    private static string MachineDescription()
    {
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
            : "unknown CPU";
        return $"{Environment.ProcessorCount} cores ({cpu}), {Environment.OSVersion}, .NET {Environment.Version}";
    }

    private sealed record WorkloadResult(string Name, int Requests, int Failed, double PerSecond, LatencyStats Latency);
}
