using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.S3;

namespace Nhi.Serverless.Benchmarks;

/// <summary>
/// Runs public-bucket findings through a running local host against the local stack, at several
/// concurrency levels, and reports latency from acceptance to proven revocation, the exposure window,
/// throughput and the host's peak memory.
/// </summary>
public sealed class RemediationBenchmark(Uri host, int hostPid, int findings, IReadOnlyList<int> concurrencyLevels, string backend, FileInfo output)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly HttpClient _http = new() { BaseAddress = host, Timeout = TimeSpan.FromSeconds(60) };

    public static Command CreateCommand()
    {
        var hostOption = new Option<Uri>("--host")
        {
            Description = "Base URL of the running local host.",
            DefaultValueFactory = _ => new Uri("http://127.0.0.1:7081"),
            CustomParser = result => Uri.TryCreate(result.Tokens[0].Value, UriKind.Absolute, out Uri? url) ? url : throw new FormatException($"--host: invalid URL '{result.Tokens[0].Value}'."),
        };
        var pidOption = new Option<int>("--host-pid") { Description = "Process id of the local host, for its peak memory (VmHWM).", Required = true };
        var findingsOption = new Option<int>("--findings") { Description = "Findings per concurrency level.", DefaultValueFactory = _ => 100 };
        var concurrencyOption = new Option<string>("--concurrency") { Description = "Comma-separated concurrency levels.", DefaultValueFactory = _ => "1,8" };
        var backendOption = new Option<string>("--backend") { Description = "The host's Durable backend, for the report.", DefaultValueFactory = _ => "InMemory" };
        var outputOption = new Option<FileInfo>("--output") { Description = "Markdown results page to write.", DefaultValueFactory = _ => new FileInfo("docs/benchmarks/remediation.md") };

        var command = new Command("remediation", "Public-bucket remediation runs: latency, exposure window, runs per second, host memory.")
        {
            hostOption, pidOption, findingsOption, concurrencyOption, backendOption, outputOption,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            int[] levels = parse.GetValue(concurrencyOption)!.Split(',').Select(level => int.Parse(level, CultureInfo.InvariantCulture)).ToArray();
            var benchmark = new RemediationBenchmark(
                parse.GetValue(hostOption)!, parse.GetValue(pidOption), parse.GetValue(findingsOption), levels, parse.GetValue(backendOption)!, parse.GetValue(outputOption)!);
            return await benchmark.RunAsync(cancellationToken);
        });
        return command;
    }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        using var owner = OwnerClient();
        List<LevelResult> levels = [];

        Console.WriteLine($"warming up with 3 runs on {host}");
        await RunLevelAsync(owner, concurrency: 1, count: 3, cancellationToken);

        foreach (int concurrency in concurrencyLevels)
        {
            LevelResult level = await RunLevelAsync(owner, concurrency, findings, cancellationToken);
            levels.Add(level);
            Console.WriteLine(
                $"concurrency {concurrency}: {level.RunsPerSecond:F1} runs/s, accepted to revocation proven p50 {level.AcceptedToProven.P50Ms:F0} ms, " +
                $"p99 {level.AcceptedToProven.P99Ms:F0} ms, exposure p50 {level.Exposure.P50Ms:F0} ms, {level.Failed} failed");
        }

        long peakKiB = PeakResidentKiB(hostPid);
        Console.WriteLine($"host peak resident memory: {peakKiB / 1024.0:F0} MiB");
        await WriteReportAsync(levels, peakKiB, cancellationToken);
        Console.WriteLine($"results written to {output.FullName}");
        return levels.All(level => level.Failed == 0) ? 0 : 1;
    }

    private async Task<LevelResult> RunLevelAsync(AmazonS3Client owner, int concurrency, int count, CancellationToken cancellationToken)
    {
        Console.WriteLine($"concurrency {concurrency}: creating {count} public buckets");
        string prefix = "nhi-bench-" + Guid.NewGuid().ToString("N")[..8];
        string[] buckets = Enumerable.Range(0, count).Select(index => $"{prefix}-{index:D4}").ToArray();
        await Parallel.ForEachAsync(buckets, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (bucket, token) => await CreatePublicBucketAsync(owner, bucket, token));

        var samples = new ConcurrentBag<RunSample>();
        var queue = new ConcurrentQueue<string>(buckets);
        int failed = 0;
        int done = 0;
        Console.WriteLine($"concurrency {concurrency}: running {count} findings");
        var clock = Stopwatch.StartNew();

        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
        {
            while (queue.TryDequeue(out string? bucket))
            {
                RunSample? sample = await RunOneAsync(bucket, cancellationToken);
                if (sample is null)
                {
                    Interlocked.Increment(ref failed);
                }
                else
                {
                    samples.Add(sample);
                }

                int finished = Interlocked.Increment(ref done);
                if (finished % Math.Max(1, count / 10) == 0)
                {
                    Console.WriteLine($"    {finished}/{count} runs finished ({clock.Elapsed.TotalSeconds:F1} s)");
                }
            }
        }));

        clock.Stop();
        await Parallel.ForEachAsync(buckets, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (bucket, token) => await DeleteBucketAsync(owner, bucket, token));

        return new LevelResult(
            concurrency,
            count,
            failed,
            count / clock.Elapsed.TotalSeconds,
            LatencyStats.From(samples.Select(sample => sample.AcceptedToProvenMs)),
            LatencyStats.From(samples.Select(sample => sample.AcceptedToCompletedMs)),
            LatencyStats.From(samples.Select(sample => sample.ExposureMs)));
    }

    // Returns null when the run did not remediate, or its revocation was not proven.
    private async Task<RunSample?> RunOneAsync(string bucket, CancellationToken cancellationToken)
    {
        string body = FindingFor(bucket);
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using HttpResponseMessage accepted = await _http.PostAsync("api/alerts/securityhub", content, cancellationToken);
        DateTimeOffset acceptedAt = DateTimeOffset.UtcNow;
        if (!accepted.IsSuccessStatusCode)
        {
            return null;
        }

        JsonNode response = (await accepted.Content.ReadFromJsonAsync<JsonNode>(cancellationToken))!;
        string runId = response["runs"]![0]!["runId"]!.GetValue<string>();

        while (true)
        {
            JsonNode status = (await _http.GetFromJsonAsync<JsonNode>($"api/runs/{runId}", cancellationToken))!;
            string runtimeStatus = status["status"]!.GetValue<string>();
            if (runtimeStatus is "Failed" or "Terminated")
            {
                return null;
            }

            if (runtimeStatus == "Completed")
            {
                DateTimeOffset completedAt = DateTimeOffset.UtcNow;
                JsonNode? report = status["result"]?["attempts"]?.AsArray().LastOrDefault()?["report"];
                if (status["result"]?["outcome"]?.GetValue<string>() != "remediated" || report is null
                    || report["revocation"]?["proven"]?.GetValue<bool>() != true)
                {
                    return null;
                }

                DateTimeOffset issuedAt = report["grant"]!["issuedAt"]!.GetValue<DateTimeOffset>();
                DateTimeOffset provenAt = report["revocation"]!["provenAt"]!.GetValue<DateTimeOffset>();
                return new RunSample(
                    (provenAt - acceptedAt).TotalMilliseconds,
                    (completedAt - acceptedAt).TotalMilliseconds,
                    (provenAt - issuedAt).TotalMilliseconds);
            }

            await Task.Delay(5, cancellationToken);
        }
    }

    private static string FindingFor(string bucket)
    {
        string template = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "samples", "securityhub", "asff-s3.2-public-policy.json"));
        return template
            .Replace("nhi-demo-public-policy", bucket, StringComparison.Ordinal)
            .Replace("f6f00e71-935b-4bf7-b1ed-e9cb869b5b1a", Guid.NewGuid().ToString(), StringComparison.Ordinal);
    }

    private static AmazonS3Client OwnerClient()
    {
        var options = new AwsOptions
        {
            Region = StackSettings.Get("NHI_AWS_REGION"),
            S3Endpoint = StackSettings.Get("NHI_S3_ENDPOINT"),
            ForcePathStyle = true,
        };
        using var factory = new S3ClientFactory(options, new HttpClient(), TimeProvider.System, ownsHttp: true);
        return factory.CreateClient(new BasicAWSCredentials(StackSettings.Get("NHI_OWNER_ACCESS_KEY_ID"), StackSettings.Get("NHI_OWNER_SECRET_ACCESS_KEY")));
    }

    private static async Task CreatePublicBucketAsync(AmazonS3Client owner, string bucket, CancellationToken cancellationToken)
    {
        await owner.PutBucketAsync(new PutBucketRequest { BucketName = bucket }, cancellationToken);
        await owner.PutObjectAsync(new PutObjectRequest { BucketName = bucket, Key = "index.html", ContentBody = "public" }, cancellationToken);
        await owner.PutBucketAclAsync(new PutBucketAclRequest { BucketName = bucket, ACL = S3CannedACL.PublicRead }, cancellationToken);
        string policy = $$"""{"Version":"2012-10-17","Statement":[{"Sid":"PublicRead","Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::{{bucket}}/*"}]}""";
        await owner.PutBucketPolicyAsync(new PutBucketPolicyRequest { BucketName = bucket, Policy = policy }, cancellationToken);
    }

    private static async Task DeleteBucketAsync(AmazonS3Client owner, string bucket, CancellationToken cancellationToken)
    {
        await owner.DeleteObjectAsync(bucket, "index.html", cancellationToken);
        await owner.DeleteBucketAsync(bucket, cancellationToken);
    }

    // VmHWM is the process's peak resident set size, in KiB.
    private static long PeakResidentKiB(int pid)
    {
        string line = File.ReadLines($"/proc/{pid}/status").First(line => line.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    private async Task WriteReportAsync(IReadOnlyList<LevelResult> levels, long peakKiB, CancellationToken cancellationToken)
    {
        var page = new StringBuilder();
        page.AppendLine("# Benchmark: public-bucket remediation runs");
        page.AppendLine();
        page.AppendLine($"Written by `tools/Nhi.Serverless.Benchmarks/run.sh remediation` on {DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm} UTC.");
        page.AppendLine($"Machine: {MachineDescription()}. Local stack: Ceph RGW 16.2 (S3, STS, IAM) and Azurite on 127.0.0.1.");
        page.AppendLine($"Host: tools/Nhi.Serverless.LocalHost, Release build, {backend} Durable backend, Azurite audit table.");
        page.AppendLine();
        page.AppendLine("Each run: Security Hub finding posted over HTTP, plan, STS AssumeRole with a one-bucket session policy, scope probe on");
        page.AppendLine("another bucket, three remediation actions, read-back verification, revocation by a per-session deny policy, a denied");
        page.AppendLine("probe that proves it, the cleanup revocation check, and the signed audit records written to the table.");
        page.AppendLine();
        page.AppendLine("- accepted → proven: from the 202 response to the moment a call with the revoked credential was denied.");
        page.AppendLine("- accepted → completed: until the status endpoint reported the run completed (audit records written); includes 5 ms polling.");
        page.AppendLine("- exposure: from STS issuing the credential to the denied probe; the credential could be used only in this window.");
        page.AppendLine();
        page.AppendLine("| concurrency | runs | failed | runs/s | accepted → proven p50 / p99 (ms) | accepted → completed p50 / p99 (ms) | exposure p50 / p99 / max (ms) |");
        page.AppendLine("|---:|---:|---:|---:|---:|---:|---:|");
        foreach (LevelResult level in levels)
        {
            page.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {level.Concurrency} | {level.Runs} | {level.Failed} | {level.RunsPerSecond:F1} | {level.AcceptedToProven.P50Ms:F0} / {level.AcceptedToProven.P99Ms:F0} | {level.AcceptedToCompleted.P50Ms:F0} / {level.AcceptedToCompleted.P99Ms:F0} | {level.Exposure.P50Ms:F0} / {level.Exposure.P99Ms:F0} / {level.Exposure.MaxMs:F0} |"));
        }

        page.AppendLine();
        page.AppendLine(string.Create(CultureInfo.InvariantCulture, $"Host peak resident memory (VmHWM): {peakKiB / 1024.0:F0} MiB."));
        page.AppendLine();
        page.AppendLine("Goals on a 2-core machine with the in-memory backend: accepted → proven p50 under 150 ms and p99 under 500 ms,");
        page.AppendLine("at least 20 runs per second at concurrency 8, host memory under 300 MB.");

        output.Directory?.Create();
        await File.WriteAllTextAsync(output.FullName, page.ToString(), cancellationToken);
    }

    private static string MachineDescription()
    {
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
            : "unknown CPU";
        return $"{Environment.ProcessorCount} cores ({cpu}), {Environment.OSVersion}, .NET {Environment.Version}";
    }

    private sealed record RunSample(double AcceptedToProvenMs, double AcceptedToCompletedMs, double ExposureMs);

    private sealed record LevelResult(
        int Concurrency, int Runs, int Failed, double RunsPerSecond, LatencyStats AcceptedToProven, LatencyStats AcceptedToCompleted, LatencyStats Exposure);
}
