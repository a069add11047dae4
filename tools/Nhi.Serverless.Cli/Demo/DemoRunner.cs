using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Cli.Demo;

/// <summary>Posts the sample alerts to a host, waits for the runs, and reports what each did.</summary>
/// <param name="caCert">The certificate to pin for an https host, or null for the system's CA store.</param>
public sealed class DemoRunner(Uri host, DirectoryInfo samples, FileInfo? summaryFile, TimeSpan timeout, TextWriter output, FileInfo? caCert = null)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly HttpClient _http = HostClient.Create(host, caCert, TimeSpan.FromSeconds(30));

    /// <summary>The host's HTTPS address, where brokered credentials are claimed; workflows with brokered steps need it.</summary>
    public Uri? HttpsHost { get; init; }

    /// <summary>When set, only this workflow runs, and no remediation sample.</summary>
    public string? OnlyWorkflow { get; init; }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        List<object> summary = [];
        int failed = 0;
        if (OnlyWorkflow is null)
        {
            (IReadOnlyList<DemoRunFacts> remediation, int remediationFailed) = await RunRemediationAsync(cancellationToken);
            summary.AddRange(remediation);
            failed += remediationFailed;
        }

        IReadOnlyList<Workflows.WorkflowDemoFacts> workflows = await RunWorkflowsAsync(cancellationToken);
        summary.AddRange(workflows);
        int workflowsFailed = workflows.Count(fact => !fact.Passed);
        failed += workflowsFailed;
        if (workflows.Count > 0)
        {
            output.WriteLine();
            output.WriteLine(workflowsFailed == 0
                ? $"==> all {workflows.Count} workflow runs verified: every grant denied outside its scope, revoked with proof, and audited"
                : $"==> {workflowsFailed} of {workflows.Count} workflow runs did not verify; see above");
        }
        else if (OnlyWorkflow is not null)
        {
            failed++;
        }

        if (summaryFile is not null)
        {
            await File.WriteAllTextAsync(summaryFile.FullName, JsonSerializer.Serialize<object>(summary, Json), cancellationToken);
            output.WriteLine($"==> summary written to {summaryFile.FullName}");
        }

        return failed == 0 ? 0 : 1;
    }

    private async Task<IReadOnlyList<Workflows.WorkflowDemoFacts>> RunWorkflowsAsync(CancellationToken cancellationToken)
    {
        using HttpClient? https = HttpsHost is null ? null : HostClient.Create(HttpsHost, caCert, TimeSpan.FromSeconds(30));
        using var tokens = new WorkloadTokens();
        var runner = new Workflows.WorkflowDemoRunner(_http, https, samples, OnlyWorkflow, tokens.ForWorkflowAsync, timeout, output);
        return await runner.RunAsync(cancellationToken);
    }

    private async Task<(IReadOnlyList<DemoRunFacts> Facts, int Failed)> RunRemediationAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<SampleAlert> alerts = SampleAlert.Discover(samples);
        if (alerts.Count == 0)
        {
            output.WriteLine($"No sample alerts found under {samples.FullName}.");
            return ([], 1);
        }

        // The seed just made the buckets public again, so the findings are stamped as observed now.
        DateTimeOffset observedAt = DateTimeOffset.UtcNow;
        output.WriteLine($"==> posting {alerts.Count} sample alerts to {host}, with finding update times set to {observedAt:HH:mm:ss}");
        Dictionary<string, string> bodies = [];
        Dictionary<string, PostedRun> runs = [];
        foreach (SampleAlert alert in alerts)
        {
            string text = await File.ReadAllTextAsync(alert.Path, cancellationToken);
            bodies[alert.Path] = FindingTimes.StampNow(text, alert.ContentType == "application/x-ndjson", observedAt);
            await PostAsync(alert, bodies[alert.Path], runs, cancellationToken);
        }

        output.WriteLine("==> posting the first sample again: its findings must not start a second run");
        await PostAsync(alerts[0], bodies[alerts[0].Path], runs, cancellationToken);

        output.WriteLine($"==> waiting for {runs.Count} runs");
        Dictionary<string, RunResult?> results = await WaitForRunsAsync(runs.Keys, cancellationToken);

        var verifier = new DemoVerifier(_http, Environment.GetEnvironmentVariable("NHI_S3_ENDPOINT"));
        List<DemoRunFacts> facts = [];
        foreach ((string runId, PostedRun posted) in runs.OrderBy(pair => pair.Value.Resource, StringComparer.Ordinal))
        {
            RunResult? result = results[runId];
            DemoRunFacts runFacts = await verifier.CollectAsync(runId, posted, result, cancellationToken);
            facts.Add(runFacts);
            DemoReport.Print(output, runFacts, result);
        }

        int failed = facts.Count(fact => !fact.Passed);
        output.WriteLine(failed == 0
            ? $"==> all {facts.Count} runs verified: remediated or correctly skipped, scope denied outside the bucket, revocation proven, audit signatures valid"
            : $"==> {failed} of {facts.Count} runs did not verify; see above");
        return (facts, failed);
    }

    private async Task PostAsync(SampleAlert alert, string body, Dictionary<string, PostedRun> runs, CancellationToken cancellationToken)
    {
        using var content = new StringContent(body, System.Text.Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue(alert.ContentType);

        using HttpResponseMessage response = await _http.PostAsync($"api/alerts/{alert.Source}", content, cancellationToken);
        string answer = await response.Content.ReadAsStringAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            output.WriteLine($"    {alert.Name}: HTTP {(int)response.StatusCode} {answer}");
            return;
        }

        JsonNode accepted = JsonNode.Parse(answer)!;
        int started = 0, duplicates = 0;
        foreach (JsonNode? run in accepted["runs"]!.AsArray())
        {
            string runId = run!["runId"]!.GetValue<string>();
            bool duplicate = run["duplicate"]!.GetValue<bool>();
            if (duplicate)
            {
                duplicates++;
            }
            else
            {
                started++;
            }

            runs.TryAdd(runId, new PostedRun(alert.Name, run["findingId"]!.GetValue<string>(), run["resource"]!.GetValue<string>()));
        }

        output.WriteLine($"    {alert.Name} -> /api/alerts/{alert.Source}: HTTP {(int)response.StatusCode}, {started} started, {duplicates} duplicate");
        foreach (JsonNode? skipped in accepted["skipped"]!.AsArray())
        {
            output.WriteLine($"        skipped {skipped!["findingId"]}: {skipped["reason"]}");
        }
    }

    private async Task<Dictionary<string, RunResult?>> WaitForRunsAsync(IEnumerable<string> runIds, CancellationToken cancellationToken)
    {
        Dictionary<string, RunResult?> results = [];
        HashSet<string> pending = [.. runIds];
        var clock = Stopwatch.StartNew();
        string lastProgress = string.Empty;

        while (pending.Count > 0 && clock.Elapsed < timeout)
        {
            foreach (string runId in pending.ToArray())
            {
                using HttpResponseMessage response = await _http.GetAsync($"api/runs/{runId}", cancellationToken);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    continue;
                }

                JsonElement status = JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancellationToken)).RootElement;
                string runtimeStatus = status.GetProperty("status").GetString()!;
                if (runtimeStatus is "Completed" or "Failed" or "Terminated")
                {
                    results[runId] = status.TryGetProperty("result", out JsonElement result) && result.ValueKind == JsonValueKind.Object
                        ? result.Deserialize<RunResult>(Json)
                        : null;
                    pending.Remove(runId);
                }
            }

            string progress = $"    {results.Count} finished, {pending.Count} running ({clock.Elapsed.TotalSeconds:F1} s)";
            if (progress != lastProgress && (pending.Count == 0 || clock.ElapsedMilliseconds % 1000 < 250))
            {
                output.WriteLine(progress);
                lastProgress = progress;
            }

            if (pending.Count > 0)
            {
                await Task.Delay(200, cancellationToken);
            }
        }

        foreach (string runId in pending)
        {
            output.WriteLine($"    run {runId} did not finish within {timeout.TotalSeconds:F0} s");
            results[runId] = null;
        }

        return results;
    }
}

/// <summary>A run as the intake response reported it.</summary>
public sealed record PostedRun(string SampleName, string FindingId, string Resource);
