using System.Text.Json.Nodes;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Turns a finished business workflow run into its audit records. The request received comes first. Then, for each
/// step, come the grants issued, the calls made with them, the scope probes, the step's end and each grant's
/// revocation. The run's completion with its decision comes last. Records share the envelope, signing and chaining
/// of remediation runs.
/// </summary>
public static class WorkflowAuditRecordFactory
{
    /// <summary>Builds the unsigned records of a workflow run; <see cref="AuditChain.Seal"/> then links and signs them.</summary>
    /// <exception cref="ArgumentException">The request and the result belong to different runs.</exception>
    public static IReadOnlyList<JsonObject> ForRun(WorkflowRequest request, WorkflowResult result, ICredentialFingerprinter? fingerprinter = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(result);
        if (!string.Equals(request.RunId, result.RunId, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The request is for run '{request.RunId}' but the result is for run '{result.RunId}'.", nameof(result));
        }

        var subject = new AuditSubject(result.RunId, null, $"workflow:{result.Workflow}:{result.Subject}", request.ReceivedAt, null, null, null);
        var stream = new AuditRecordStream(subject, new AuditRedactor(fingerprinter));

        AddReceived(stream, request, result);
        foreach (StepResult step in result.Steps)
        {
            AddStep(stream, step);
        }

        AddCompleted(stream, result);
        return stream.Records;
    }

    private static void AddReceived(AuditRecordStream stream, WorkflowRequest request, WorkflowResult result)
    {
        var parameters = new JsonObject();
        foreach ((string name, string value) in request.Parameters.OrderBy(pair => pair.Key, StringComparer.Ordinal))
        {
            parameters[name] = value;
        }

        bool rejected = result.Outcome == WorkflowOutcomes.Rejected;
        var details = new JsonObject
        {
            ["workflow"] = new JsonObject
            {
                ["name"] = request.Workflow,
                ["subject"] = result.Subject,
                ["source"] = request.Source,
                ["caller"] = request.Caller,
                ["received_at"] = AuditRecordStream.FormatTime(request.ReceivedAt),
                ["parameters"] = parameters,
            },
        };

        stream.Append(new AuditEventData(
            rejected ? AuditEvents.WorkflowRejected : AuditEvents.WorkflowReceived,
            request.ReceivedAt,
            OcsfClass.ApiActivity,
            rejected ? new OcsfActivity(99, "Reject") : new OcsfActivity(1, "Create"),
            rejected ? Ocsf.StatusOther : Ocsf.StatusSuccess,
            rejected
                ? $"Workflow {request.Workflow} requested by {request.Caller} through {request.Source} was rejected: {string.Join("; ", result.Reasons)}"
                : $"Workflow {request.Workflow} requested by {request.Caller} through {request.Source} for {result.Subject}",
            details)
        {
            ClassAttributes = new JsonObject
            {
                ["actor"] = new JsonObject { ["user"] = new JsonObject { ["uid"] = request.Caller } },
                ["api"] = new JsonObject { ["operation"] = $"workflow:{request.Workflow}", ["service"] = new JsonObject { ["name"] = request.Source } },
            },
        });
    }

    private static void AddStep(AuditRecordStream stream, StepResult step)
    {
        if (step.Report is { } report)
        {
            foreach (IssuedGrant grant in report.Grants)
            {
                AuditRecordFactory.AddGrantIssued(stream, 1, grant.GrantId, grant);
            }

            foreach (GrantCall entry in report.Calls)
            {
                string principal = report.Grants.FirstOrDefault(grant => grant.GrantId == entry.GrantId)?.Principal ?? "unknown";
                AuditRecordFactory.AddApiCall(stream, 1, entry.GrantId, principal, entry.Call);
            }

            foreach (GrantScopeProbe probe in report.ScopeProbes)
            {
                AuditRecordFactory.AddScopeProbe(stream, 1, probe.GrantId, probe.Probe);
            }
        }

        AddStepEnded(stream, step);

        IReadOnlyList<RevocationOutcome> inStep = step.Report?.Revocations ?? [];
        foreach (RevocationOutcome revocation in inStep)
        {
            AuditRecordFactory.AddRevocation(stream, 1, revocation, "step");
        }

        // The cleanup path revokes every grant again; record it when it adds a fact.
        foreach (RevocationOutcome cleanup in step.Cleanup)
        {
            if (!inStep.Contains(cleanup))
            {
                AuditRecordFactory.AddRevocation(stream, 1, cleanup, "cleanup");
            }
        }
    }

    private static void AddStepEnded(AuditRecordStream stream, StepResult step)
    {
        bool failed = step.Error is not null;
        Verification? verification = step.Report?.Verification;
        var details = new JsonObject
        {
            ["step"] = new JsonObject
            {
                ["name"] = step.Step,
                ["mode"] = step.Mode,
                ["grant_ids"] = new JsonArray(step.GrantIds.Select(id => (JsonNode?)JsonValue.Create(id)).ToArray()),
                ["ended_by"] = step.EndedBy,
                ["error"] = step.Error,
                ["verification"] = verification is null ? null : new JsonObject
                {
                    ["passed"] = verification.Passed,
                    ["checks"] = new JsonArray(verification.Checks.Select(check => (JsonNode?)JsonValue.Create(check)).ToArray()),
                },
            },
        };

        string message = failed
            ? $"Step {step.Step} ({step.Mode}) failed: {step.Error}"
            : $"Step {step.Step} ({step.Mode}) completed under {step.GrantIds.Count} grant(s)" + (step.EndedBy is null ? "" : $", ended by {step.EndedBy}");

        stream.Append(new AuditEventData(
            failed ? AuditEvents.StepFailed : AuditEvents.StepCompleted,
            null,
            OcsfClass.ApiActivity,
            new OcsfActivity(99, "Step"),
            failed ? Ocsf.StatusFailure : Ocsf.StatusSuccess,
            message,
            details)
        {
            SeverityId = failed ? Ocsf.SeverityMedium : Ocsf.SeverityInformational,
        });
    }

    private static void AddCompleted(AuditRecordStream stream, WorkflowResult result)
    {
        var details = new JsonObject
        {
            ["outcome"] = result.Outcome,
            ["decision"] = result.Decision,
            ["reasons"] = new JsonArray(result.Reasons.Select(reason => (JsonNode?)JsonValue.Create(reason)).ToArray()),
            ["summary"] = result.Summary is { } summary ? JsonNode.Parse(summary.GetRawText()) : null,
            ["completed_at"] = AuditRecordStream.FormatTime(result.CompletedAt),

            // The count includes this record; a verifier compares it with the last seq to see a truncated run.
            [AuditRecordFields.RecordCount] = stream.Records.Count + 1,
        };

        int status = result.Outcome switch
        {
            WorkflowOutcomes.Completed => Ocsf.StatusSuccess,
            WorkflowOutcomes.Rejected or WorkflowOutcomes.Cancelled => Ocsf.StatusOther,
            _ => Ocsf.StatusFailure,
        };

        stream.Append(new AuditEventData(
            AuditEvents.RunCompleted,
            result.CompletedAt,
            OcsfClass.ApiActivity,
            new OcsfActivity(99, "Complete"),
            status,
            $"Run {result.RunId} of workflow {result.Workflow} completed: {result.Outcome}" + (result.Decision is null ? "" : $", decision {result.Decision}"),
            details)
        {
            SeverityId = status == Ocsf.StatusFailure ? Ocsf.SeverityMedium : Ocsf.SeverityInformational,
        });
    }
}
