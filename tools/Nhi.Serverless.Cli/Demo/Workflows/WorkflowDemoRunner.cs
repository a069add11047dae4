using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Cli.Demo.Workflows;

/// <summary>
/// Runs each business workflow on its sample. It starts the run through its trigger and plays the caller of each
/// brokered step: it claims the credentials over HTTPS, does the work and reports done. Then it waits for the result
/// and checks every grant's scope denial and revocation proof, and the run's signed audit records.
/// </summary>
public sealed class WorkflowDemoRunner(
    HttpClient http,
    HttpClient? https,
    DirectoryInfo samples,
    string? only,
    Func<string, CancellationToken, Task<string?>> workloadToken,
    TimeSpan timeout,
    TextWriter output)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The workflow samples, samples/workflows/*.json, in name order.</summary>
    public static IReadOnlyList<FileInfo> Discover(DirectoryInfo samples)
    {
        var folder = new DirectoryInfo(Path.Combine(samples.FullName, "workflows"));
        return folder.Exists ? folder.GetFiles("*.json").OrderBy(file => file.Name, StringComparer.Ordinal).ToArray() : [];
    }

    public async Task<IReadOnlyList<WorkflowDemoFacts>> RunAsync(CancellationToken cancellationToken)
    {
        var facts = new List<WorkflowDemoFacts>();
        foreach (FileInfo sample in Discover(samples))
        {
            JsonObject definition = JsonNode.Parse(await File.ReadAllTextAsync(sample.FullName, cancellationToken))!.AsObject();
            string workflow = definition["workflow"]!.GetValue<string>();
            if (only is not null && workflow != only)
            {
                continue;
            }

            facts.Add(await RunOneAsync(sample.Name, workflow, definition, cancellationToken));
        }

        if (facts.Count == 0)
        {
            output.WriteLine(only is null
                ? $"No workflow samples found under {samples.FullName}/workflows."
                : $"No sample under {samples.FullName}/workflows names workflow '{only}'.");
        }

        return facts;
    }

    private async Task<WorkflowDemoFacts> RunOneAsync(string sample, string workflow, JsonObject definition, CancellationToken cancellationToken)
    {
        Dictionary<string, string> parameters = (definition["parameters"] as JsonObject ?? [])
            .ToDictionary(pair => pair.Key, pair => pair.Value!.GetValueKind() == JsonValueKind.String ? pair.Value.GetValue<string>() : pair.Value.ToJsonString());
        bool logicApp = definition["trigger"]?.GetValue<string>() == "logicapps";
        string path = logicApp ? $"api/logicapps/workflows/{workflow}" : $"api/workflows/{workflow}/runs";

        output.WriteLine();
        output.WriteLine($"==> workflow {workflow}: {sample} -> POST /{path}");
        using var start = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(new { parameters }) };
        // The start may return a run ticket and may carry a workload identity token, so it goes over HTTPS when it can.
        HttpClient trigger = https ?? http;
        if (await workloadToken(workflow, cancellationToken) is { } token)
        {
            if (https is null)
            {
                output.WriteLine("    this workflow needs a workload identity token over HTTPS, but the demo has no HTTPS address");
                return new WorkflowDemoFacts { RunId = "", Sample = sample, Workflow = workflow, Outcome = "not-started" };
            }

            start.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            output.WriteLine("    authenticated over HTTPS with a GitHub Actions OIDC token from the local issuer (repo nhi-demo/app, refs/heads/main)");
        }

        using HttpResponseMessage started = await trigger.SendAsync(start, cancellationToken);
        string answer = await started.Content.ReadAsStringAsync(cancellationToken);
        if (!started.IsSuccessStatusCode)
        {
            output.WriteLine($"    HTTP {(int)started.StatusCode}: {answer}");
            return new WorkflowDemoFacts { RunId = "", Sample = sample, Workflow = workflow, Outcome = "not-started", Reasons = [answer] };
        }

        JsonObject body = JsonNode.Parse(answer)!.AsObject();
        string runId = body["runId"]!.GetValue<string>();
        string? ticket = body["ticket"]?.GetValue<string>();
        output.WriteLine($"    HTTP {(int)started.StatusCode}, run {runId} for {body["subject"]}"
            + (logicApp ? $", polling {started.Headers.Location} every {started.Headers.RetryAfter} s" : ""));

        var jobChecks = new Dictionary<string, (bool Denied, string Evidence)>(StringComparer.Ordinal);
        WorkflowResult? result = await DriveAsync(workflow, runId, ticket, parameters, logicApp ? started.Headers.Location : null, jobChecks, cancellationToken);
        WorkflowDemoFacts facts = await CollectAsync(sample, workflow, runId, result, jobChecks, cancellationToken);
        WorkflowDemoReport.Print(output, facts);
        return facts;
    }

    // Polls the run, plays the caller of each brokered step that waits, and returns the result once the run ended.
    private async Task<WorkflowResult?> DriveAsync(
        string workflow,
        string runId,
        string? ticket,
        IReadOnlyDictionary<string, string> parameters,
        Uri? logicAppLocation,
        Dictionary<string, (bool Denied, string Evidence)> jobChecks,
        CancellationToken cancellationToken)
    {
        var handled = new HashSet<string>(StringComparer.Ordinal);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (logicAppLocation is not null)
            {
                using HttpResponseMessage poll = await http.GetAsync(logicAppLocation, cancellationToken);
                if (poll.StatusCode == System.Net.HttpStatusCode.OK)
                {
                    output.WriteLine($"    Logic Apps poll answered 200 after {clock.Elapsed.TotalSeconds:F1} s");
                    logicAppLocation = null;
                }
                else
                {
                    await Task.Delay(TimeSpan.FromSeconds(Math.Min(2, poll.Headers.RetryAfter?.Delta?.TotalSeconds ?? 1)) / 4, cancellationToken);
                    continue;
                }
            }

            JsonObject status = (await http.GetFromJsonAsync<JsonObject>($"api/workflows/runs/{runId}", cancellationToken))!;
            string state = status["state"]!.GetValue<string>();
            if (status["result"] is JsonObject finished)
            {
                return finished.Deserialize<WorkflowResult>(Json);
            }

            if (state is "failed" or "terminated")
            {
                output.WriteLine($"    run ended {state}: {status["failure"]}");
                return null;
            }

            foreach (JsonNode? open in status["openSteps"]?.AsArray() ?? [])
            {
                string step = open!["step"]!.GetValue<string>();
                if (!handled.Add(step))
                {
                    continue;
                }

                await PlayCallerAsync(workflow, runId, step, ticket, parameters, jobChecks, cancellationToken);
            }

            await Task.Delay(200, cancellationToken);
        }

        output.WriteLine($"    run {runId} did not finish within {timeout.TotalSeconds:F0} s");
        return null;
    }

    private async Task PlayCallerAsync(
        string workflow,
        string runId,
        string step,
        string? ticket,
        IReadOnlyDictionary<string, string> parameters,
        Dictionary<string, (bool Denied, string Evidence)> jobChecks,
        CancellationToken cancellationToken)
    {
        if (https is null || ticket is null)
        {
            output.WriteLine($"    step {step} waits for its caller, but the demo has no HTTPS address or ticket; the window will close it");
            return;
        }

        using var claim = new HttpRequestMessage(HttpMethod.Post, $"api/workflows/runs/{runId}/steps/{step}/credentials");
        claim.Headers.Add("Nhi-Run-Ticket", ticket);
        if (await workloadToken(workflow, cancellationToken) is { } token)
        {
            claim.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using HttpResponseMessage claimed = await https.SendAsync(claim, cancellationToken);
        string answer = await claimed.Content.ReadAsStringAsync(cancellationToken);
        if (!claimed.IsSuccessStatusCode)
        {
            output.WriteLine($"    claim of step {step}: HTTP {(int)claimed.StatusCode} {answer}");
            return;
        }

        JsonObject credentials = JsonNode.Parse(answer)!["credentials"]!.AsObject();
        output.WriteLine($"    step {step}: claimed {credentials.Count} credentials once over {https.BaseAddress}, as the caller");

        JobReport report;
        Task<JobReport>? job = BrokeredJobs.Run(workflow, step, credentials, parameters, cancellationToken);
        try
        {
            report = job is null
                ? new JobReport(false, ["the demo has no caller for this step"], [], new Dictionary<string, (bool, string)>())
                : await job;
        }
        catch (Exception failure) when (failure is not OperationCanceledException)
        {
            report = new JobReport(false, [$"the caller's work failed: {failure.GetType().Name}"], [], new Dictionary<string, (bool, string)>());
        }

        foreach ((string grantName, (bool denied, string evidence)) in report.ScopeChecks)
        {
            jobChecks[credentials[grantName]!["grantId"]!.GetValue<string>()] = (denied, evidence);
        }

        foreach (string check in report.Checks)
        {
            output.WriteLine($"        {check}");
        }

        using var done = new HttpRequestMessage(HttpMethod.Post, $"api/workflows/runs/{runId}/steps/{step}/done")
        {
            Content = JsonContent.Create(new JsonObject
            {
                ["succeeded"] = report.Succeeded,
                ["checks"] = new JsonArray(report.Checks.Select(check => (JsonNode?)JsonValue.Create(check)).ToArray()),
                ["output"] = report.Output,
            }),
        };
        done.Headers.Add("Nhi-Run-Ticket", ticket);
        using HttpResponseMessage reported = await https.SendAsync(done, cancellationToken);
        output.WriteLine($"    step {step}: reported done, HTTP {(int)reported.StatusCode}");
    }

    private async Task<WorkflowDemoFacts> CollectAsync(
        string sample,
        string workflow,
        string runId,
        WorkflowResult? result,
        IReadOnlyDictionary<string, (bool Denied, string Evidence)> jobChecks,
        CancellationToken cancellationToken)
    {
        if (result is null)
        {
            return new WorkflowDemoFacts { RunId = runId, Sample = sample, Workflow = workflow, Outcome = "unfinished" };
        }

        var grants = new List<WorkflowGrantFacts>();
        var scope = new List<string>();
        var checks = new List<string>();
        bool verified = true;
        foreach (StepResult step in result.Steps)
        {
            StepReport? report = step.Report;
            verified &= report?.Verification.Passed == true;
            checks.AddRange((report?.Verification.Checks ?? []).Select(check => $"{step.Step}: {check}"));
            foreach (IssuedGrant grant in report?.Grants ?? [])
            {
                RevocationOutcome? revocation = step.Cleanup.Concat(report!.Revocations)
                    .Where(outcome => outcome.GrantId == grant.GrantId)
                    .OrderByDescending(outcome => outcome.Proven)
                    .FirstOrDefault();
                GrantScopeProbe? probe = report.ScopeProbes.FirstOrDefault(candidate => candidate.GrantId == grant.GrantId);
                (bool denied, string evidence) = probe is not null ? (probe.Probe.Denied, probe.Probe.Evidence)
                    : jobChecks.TryGetValue(grant.GrantId, out (bool, string) checkedByJob) ? checkedByJob
                    : (false, "no call outside the scope was made");
                DateTimeOffset usableUntil = revocation?.Proven == true ? revocation.ProvenAt!.Value : grant.ExpiresAt;
                grants.Add(new WorkflowGrantFacts
                {
                    Step = step.Step,
                    GrantId = grant.GrantId,
                    Broker = grant.Broker,
                    Principal = grant.Principal,
                    GrantIssuedAt = grant.IssuedAt,
                    GrantExpiresAt = grant.ExpiresAt,
                    GrantRevokedAt = revocation?.RevokedAt,
                    RevocationVerifiedAt = revocation?.ProvenAt,
                    RevocationProven = revocation?.Proven == true,
                    RevocationEvidence = revocation?.Evidence,
                    ExposureSeconds = Math.Round((usableUntil - grant.IssuedAt).TotalSeconds, 3),
                    ScopeDenied = denied,
                    ScopeEvidence = evidence,
                });
            }
        }

        (bool auditValid, string? auditDetail) = await AuditCheck.VerifyAsync(http, runId, result.AuditRecordIds, cancellationToken);
        return new WorkflowDemoFacts
        {
            RunId = runId,
            Sample = sample,
            Workflow = workflow,
            Outcome = result.Outcome,
            Decision = result.Decision,
            Reasons = result.Reasons,
            Scope = grants.Select(grant => $"{grant.Step}: {grant.Broker} as {grant.Principal}").ToArray(),
            Grants = grants,
            VerificationPassed = verified && result.Steps.Count > 0,
            VerificationChecks = checks,
            AuditRecordIds = result.AuditRecordIds,
            AuditSignatureValid = auditValid,
            AuditDetail = auditDetail,
        };
    }
}
