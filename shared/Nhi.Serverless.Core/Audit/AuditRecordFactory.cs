using System.Globalization;
using System.Text.Json.Nodes;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Turns a finished run into its audit records, one per event, in the order the events happened.
/// The events are the finding received or skipped and the plan. Then, for each attempt, come the grant
/// issued, every API call made, the scope probe, the verification and the revocation. The run's
/// completion comes last.
/// </summary>
/// <remarks>
/// Records are shaped loosely after OCSF 1.3.0 (class_uid, activity_id, status, time in epoch
/// milliseconds, metadata) so a SIEM can map them, with the project's own facts under <c>nhi</c>.
/// Every string passes through <see cref="AuditRedactor"/>, so credential identifiers that slipped into
/// evidence or error text appear only as fingerprints.
/// </remarks>
public static class AuditRecordFactory
{
    /// <summary>Builds the unsigned records of a run; <see cref="AuditChain.Seal"/> then links and signs them.</summary>
    /// <param name="request">The run's input.</param>
    /// <param name="result">The run's result.</param>
    /// <param name="fingerprinter">Fingerprints credential identifiers found in the text; null replaces them with a fixed marker.</param>
    /// <exception cref="ArgumentException">The request and the result belong to different runs.</exception>
    public static IReadOnlyList<JsonObject> ForRun(RemediationRequest request, RunResult result, ICredentialFingerprinter? fingerprinter = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(result);
        if (!string.Equals(request.RunId, result.RunId, StringComparison.Ordinal))
        {
            throw new ArgumentException($"The request is for run '{request.RunId}' but the result is for run '{result.RunId}'.", nameof(result));
        }

        var stream = new AuditRecordStream(request, result, new AuditRedactor(fingerprinter));
        AddFinding(stream, request, result);
        if (result.Plan is { } plan)
        {
            AddPlan(stream, plan);
        }

        for (int i = 0; i < result.Attempts.Count; i++)
        {
            AddAttempt(stream, i + 1, result.Attempts[i]);
        }

        AddRunCompleted(stream, result);
        return stream.Records;
    }

    private static void AddFinding(AuditRecordStream stream, RemediationRequest request, RunResult result)
    {
        Finding finding = request.Finding;
        bool skipped = result.Outcome == RunOutcomes.Skipped || result.SkipReason is not null;
        var details = new JsonObject
        {
            ["source"] = request.Source,
            ["received_at"] = AuditRecordStream.FormatTime(request.ReceivedAt),
            ["finding"] = DescribeFinding(finding),
        };
        if (skipped)
        {
            details["skip_reason"] = result.SkipReason;
        }

        var attributes = new JsonObject
        {
            ["finding_info"] = new JsonObject { ["uid"] = finding.Id, ["title"] = finding.Title, ["product_uid"] = finding.ProductName },
            ["compliance"] = new JsonObject { ["control"] = finding.ControlId, ["status"] = finding.Status.Compliance },
            ["resources"] = new JsonArray(DescribeResource(finding.Resource)),
        };

        stream.Append(new AuditEventData(
            skipped ? AuditEvents.FindingSkipped : AuditEvents.FindingReceived,
            request.ReceivedAt,
            OcsfClass.ComplianceFinding,
            skipped ? new OcsfActivity(99, "Skip") : new OcsfActivity(1, "Create"),
            skipped ? Ocsf.StatusOther : Ocsf.StatusSuccess,
            skipped
                ? $"Finding {finding.Id} from {request.Source} skipped: {result.SkipReason ?? "no reason given"}"
                : $"Finding {finding.Id} received from {request.Source}",
            details)
        {
            SeverityId = MapSeverity(finding.Severity),
            ClassAttributes = attributes,
        });
    }

    private static void AddPlan(AuditRecordStream stream, RemediationPlan plan)
    {
        var details = new JsonObject
        {
            ["plan"] = new JsonObject
            {
                ["playbook"] = plan.Playbook,
                ["actions"] = StringArray(plan.Actions),
                ["scope"] = DescribeScope(plan.Scope),
                ["broker"] = plan.Broker,
                ["grant_lifetime_seconds"] = plan.GrantLifetime.TotalSeconds,
                ["max_attempts"] = plan.MaxAttempts,
                ["region"] = plan.Region,
                ["out_of_scope_probe"] = plan.OutOfScopeProbe,
            },
        };

        // The plan has no time of its own; it is made right after the finding is received.
        stream.Append(new AuditEventData(
            AuditEvents.PlanCreated,
            null,
            OcsfClass.RemediationActivity,
            new OcsfActivity(99, "Plan"),
            Ocsf.StatusSuccess,
            $"Playbook {plan.Playbook} planned with {plan.Scope.Permissions.Count} permissions on {plan.Scope.Resource} through {plan.Broker}",
            details));
    }

    private static void AddAttempt(AuditRecordStream stream, int attempt, ExecutionAttempt execution)
    {
        if (execution.Report is { } report)
        {
            AddGrantIssued(stream, attempt, execution.GrantId, report.Grant);
            foreach (ApiCall call in report.Calls)
            {
                AddApiCall(stream, attempt, execution.GrantId, report.Grant.Principal, call);
            }

            if (report.ScopeProbe is { } probe)
            {
                AddScopeProbe(stream, attempt, execution.GrantId, probe);
            }

            AddVerification(stream, attempt, execution.GrantId, report);
            AddRevocation(stream, attempt, report.Revocation, "execute");
        }

        if (execution.Error is not null)
        {
            AddAttemptFailed(stream, attempt, execution);
        }

        // The cleanup path revokes every attempt's grant again; record it when it adds a fact.
        if (execution.Report is null || execution.Revocation != execution.Report.Revocation)
        {
            AddRevocation(stream, attempt, execution.Revocation, "cleanup");
        }
    }

    internal static void AddGrantIssued(AuditRecordStream stream, int attempt, string grantId, IssuedGrant grant)
    {
        var details = new JsonObject
        {
            ["grant"] = new JsonObject
            {
                ["grant_id"] = grant.GrantId,
                ["broker"] = grant.Broker,
                ["principal"] = grant.Principal,
                ["credential_fingerprint"] = stream.Redactor.EnsureFingerprint(grant.CredentialFingerprint),
                ["issued_at"] = AuditRecordStream.FormatTime(grant.IssuedAt),
                ["expires_at"] = AuditRecordStream.FormatTime(grant.ExpiresAt),
            },
        };

        stream.Append(new AuditEventData(
            AuditEvents.GrantIssued,
            grant.IssuedAt,
            OcsfClass.AuthorizeSession,
            new OcsfActivity(1, "Assign Privileges"),
            Ocsf.StatusSuccess,
            $"Grant {grant.GrantId} issued by {grant.Broker} to {grant.Principal}, expiring {AuditRecordStream.FormatTime(grant.ExpiresAt)}",
            details)
        {
            GrantId = grantId,
            Attempt = attempt,
            ClassAttributes = new JsonObject { ["user"] = new JsonObject { ["uid"] = grant.Principal } },
        });
    }

    internal static void AddApiCall(AuditRecordStream stream, int attempt, string grantId, string principal, ApiCall call)
    {
        bool allowed = call.Outcome == "allowed";
        var api = new JsonObject
        {
            ["operation"] = call.Action,
            ["service"] = new JsonObject { ["name"] = ServiceOf(call.Action) },
        };
        if (call.ErrorCode is not null)
        {
            api["response"] = new JsonObject { ["error"] = call.ErrorCode };
        }

        var attributes = new JsonObject
        {
            ["api"] = api,
            ["resources"] = new JsonArray(new JsonObject { ["uid"] = call.Resource }),
            ["actor"] = new JsonObject { ["user"] = new JsonObject { ["uid"] = principal } },
            ["duration"] = (long)Math.Round(call.DurationMs, MidpointRounding.AwayFromZero),
        };
        if (call.StatusCode is { } statusCode)
        {
            attributes["http_response"] = new JsonObject { ["code"] = statusCode };
        }

        if (call.ErrorCode is not null)
        {
            attributes["status_detail"] = call.ErrorCode;
        }

        var details = new JsonObject
        {
            ["call"] = new JsonObject
            {
                ["action"] = call.Action,
                ["resource"] = call.Resource,
                ["purpose"] = call.Purpose,
                ["at"] = AuditRecordStream.FormatTime(call.At),
                ["status_code"] = call.StatusCode,
                ["outcome"] = call.Outcome,
                ["error_code"] = call.ErrorCode,
                ["duration_ms"] = call.DurationMs,
            },
        };

        stream.Append(new AuditEventData(
            AuditEvents.ApiCall,
            call.At,
            OcsfClass.ApiActivity,
            MapApiActivity(call.Action),
            allowed ? Ocsf.StatusSuccess : Ocsf.StatusFailure,
            $"{call.Action} on {call.Resource} for {call.Purpose}: {call.Outcome}"
                + (call.StatusCode is { } code ? $" ({code.ToString(CultureInfo.InvariantCulture)}{(call.ErrorCode is null ? "" : " " + call.ErrorCode)})" : ""),
            details)
        {
            GrantId = grantId,
            Attempt = attempt,
            ClassAttributes = attributes,
        });
    }

    internal static void AddScopeProbe(AuditRecordStream stream, int attempt, string grantId, ScopeProbe probe)
    {
        var details = new JsonObject
        {
            ["scope_probe"] = new JsonObject
            {
                ["resource"] = probe.Resource,
                ["denied"] = probe.Denied,
                ["evidence"] = probe.Evidence,
            },
        };

        stream.Append(new AuditEventData(
            AuditEvents.ScopeProbed,
            null,
            OcsfClass.AuthorizeSession,
            new OcsfActivity(99, "Probe Scope"),
            probe.Denied ? Ocsf.StatusSuccess : Ocsf.StatusFailure,
            probe.Denied
                ? $"Grant {grantId} was denied on out-of-scope resource {probe.Resource}, as its scope requires"
                : $"Grant {grantId} was NOT denied on out-of-scope resource {probe.Resource}: the scope is wider than planned",
            details)
        {
            GrantId = grantId,
            Attempt = attempt,
            SeverityId = probe.Denied ? Ocsf.SeverityInformational : Ocsf.SeverityHigh,
        });
    }

    private static void AddVerification(AuditRecordStream stream, int attempt, string grantId, ExecutionReport report)
    {
        var details = new JsonObject
        {
            ["actions_taken"] = StringArray(report.ActionsTaken),
            ["verification"] = new JsonObject
            {
                ["passed"] = report.Verification.Passed,
                ["checks"] = StringArray(report.Verification.Checks),
            },
        };

        stream.Append(new AuditEventData(
            AuditEvents.VerificationCompleted,
            null,
            OcsfClass.ComplianceFinding,
            new OcsfActivity(2, "Update"),
            report.Verification.Passed ? Ocsf.StatusSuccess : Ocsf.StatusFailure,
            report.Verification.Passed
                ? $"Verification passed: {report.Verification.Checks.Count} checks hold after {report.ActionsTaken.Count} actions"
                : $"Verification failed after {report.ActionsTaken.Count} actions",
            details)
        {
            GrantId = grantId,
            Attempt = attempt,
            SeverityId = report.Verification.Passed ? Ocsf.SeverityInformational : Ocsf.SeverityMedium,
            ClassAttributes = new JsonObject
            {
                ["compliance"] = new JsonObject { ["status"] = report.Verification.Passed ? "Pass" : "Fail" },
            },
        });
    }

    private static void AddAttemptFailed(AuditRecordStream stream, int attempt, ExecutionAttempt execution)
    {
        var details = new JsonObject { ["error"] = execution.Error };
        stream.Append(new AuditEventData(
            AuditEvents.AttemptFailed,
            null,
            OcsfClass.RemediationActivity,
            new OcsfActivity(99, "Attempt"),
            Ocsf.StatusFailure,
            $"Attempt {attempt.ToString(CultureInfo.InvariantCulture)} under grant {execution.GrantId} failed: {execution.Error}",
            details)
        {
            GrantId = execution.GrantId,
            Attempt = attempt,
            SeverityId = Ocsf.SeverityMedium,
        });
    }

    internal static void AddRevocation(AuditRecordStream stream, int attempt, RevocationOutcome revocation, string phase)
    {
        bool revoked = revocation.RevokedAt is not null && revocation.Error is null;
        var details = new JsonObject
        {
            ["revocation"] = new JsonObject
            {
                ["phase"] = phase,
                ["grant_id"] = revocation.GrantId,
                ["method"] = revocation.Method,
                ["revoked_at"] = AuditRecordStream.FormatTime(revocation.RevokedAt),
                ["proven"] = revocation.Proven,
                ["proven_at"] = AuditRecordStream.FormatTime(revocation.ProvenAt),
                ["evidence"] = revocation.Evidence,
                ["valid_until"] = AuditRecordStream.FormatTime(revocation.ValidUntil),
                ["error"] = revocation.Error,
            },
        };

        string message = revoked
            ? $"Grant {revocation.GrantId} revoked by {revocation.Method}" + (revocation.Proven ? ", proven by a denied probe" : ", not proven") + $"; usable until {AuditRecordStream.FormatTime(revocation.ValidUntil)}"
            : $"Grant {revocation.GrantId} not revoked by {revocation.Method}: {revocation.Error ?? "no revocation time reported"}; usable until {AuditRecordStream.FormatTime(revocation.ValidUntil)}";

        stream.Append(new AuditEventData(
            AuditEvents.GrantRevoked,
            revocation.RevokedAt ?? revocation.ProvenAt,
            OcsfClass.AuthorizeSession,
            new OcsfActivity(99, "Revoke Privileges"),
            revoked ? Ocsf.StatusSuccess : Ocsf.StatusFailure,
            message,
            details)
        {
            GrantId = revocation.GrantId,
            Attempt = attempt,
            SeverityId = revoked ? Ocsf.SeverityInformational : Ocsf.SeverityHigh,
        });
    }

    private static void AddRunCompleted(AuditRecordStream stream, RunResult result)
    {
        bool remediated = result.Outcome == RunOutcomes.Remediated;
        bool skipped = result.Outcome == RunOutcomes.Skipped;
        var details = new JsonObject
        {
            ["outcome"] = result.Outcome,
            ["skip_reason"] = result.SkipReason,
            ["attempts"] = result.Attempts.Count,
            ["completed_at"] = AuditRecordStream.FormatTime(result.CompletedAt),

            // The count includes this record; a verifier compares it with the last seq to see a truncated run.
            [AuditRecordFields.RecordCount] = stream.Records.Count + 1,
        };

        stream.Append(new AuditEventData(
            AuditEvents.RunCompleted,
            result.CompletedAt,
            OcsfClass.RemediationActivity,
            skipped ? new OcsfActivity(99, "Skip") : new OcsfActivity(4, "Harden"),
            CompletionStatus(result.Outcome),
            $"Run {result.RunId} completed: {result.Outcome}",
            details)
        {
            SeverityId = remediated || skipped ? Ocsf.SeverityInformational : Ocsf.SeverityMedium,
        });
    }

    // A run that stopped on purpose before acting is neither a success nor a failure, and its skip_reason records why.
    // A dry run did all that was asked of it.
    private static int CompletionStatus(string outcome) => outcome switch
    {
        RunOutcomes.Remediated or GuardrailOutcomes.DryRun => Ocsf.StatusSuccess,
        RunOutcomes.Skipped or GuardrailOutcomes.Refused or GuardrailOutcomes.Rejected or RunOutcomes.Cancelled => Ocsf.StatusOther,
        _ => Ocsf.StatusFailure,
    };

    private static JsonObject DescribeFinding(Finding finding) => new()
    {
        ["id"] = finding.Id,
        ["format"] = finding.Format,
        ["product_name"] = finding.ProductName,
        ["control_id"] = finding.ControlId,
        ["title"] = finding.Title,
        ["severity"] = finding.Severity,
        ["updated_at"] = AuditRecordStream.FormatTime(finding.UpdatedAt),
        ["status"] = new JsonObject
        {
            ["compliance"] = finding.Status.Compliance,
            ["workflow"] = finding.Status.Workflow,
            ["record"] = finding.Status.Record,
        },
        ["resource"] = new JsonObject
        {
            ["provider"] = finding.Resource.Provider,
            ["partition"] = finding.Resource.Partition,
            ["account_id"] = finding.Resource.AccountId,
            ["region"] = finding.Resource.Region,
            ["type"] = finding.Resource.Type,
            ["id"] = finding.Resource.Id,
            ["name"] = finding.Resource.Name,
        },
    };

    private static JsonObject DescribeResource(CloudResource resource) => new()
    {
        ["uid"] = resource.Id,
        ["name"] = resource.Name,
        ["type"] = resource.Type,
        ["region"] = resource.Region,
    };

    private static JsonObject DescribeScope(Scope scope) => new()
    {
        ["provider"] = scope.Provider,
        ["resource"] = scope.Resource,
        ["permissions"] = StringArray(scope.Permissions),
    };

    private static JsonArray StringArray(IEnumerable<string> values) =>
        new(values.Select(value => (JsonNode?)JsonValue.Create(value)).ToArray());

    /// <summary>Maps a finding severity label to the OCSF severity id; unknown labels map to 0 (Unknown).</summary>
    private static int MapSeverity(string severity) => severity.ToUpperInvariant() switch
    {
        "INFORMATIONAL" => Ocsf.SeverityInformational,
        "LOW" => Ocsf.SeverityLow,
        "MEDIUM" => Ocsf.SeverityMedium,
        "HIGH" => Ocsf.SeverityHigh,
        "CRITICAL" => Ocsf.SeverityCritical,
        _ => 0,
    };

    /// <summary>Returns the service part of a provider action: "s3" for "s3:PutBucketAcl", "Microsoft.Storage" for "Microsoft.Storage/storageAccounts/write".</summary>
    private static string ServiceOf(string action)
    {
        int colon = action.IndexOf(':', StringComparison.Ordinal);
        if (colon > 0)
        {
            return action[..colon];
        }

        int slash = action.IndexOf('/', StringComparison.Ordinal);
        return slash > 0 ? action[..slash] : action;
    }

    /// <summary>
    /// Maps a provider action to the OCSF API Activity activity. AWS actions map by their verb prefix:
    /// Get, List, Describe and Head to Read, Create to Create, Delete and Remove to Delete, and Put,
    /// Update, Set, Modify and similar to Update. Azure actions map by their last segment (read, write,
    /// delete).
    /// </summary>
    private static OcsfActivity MapApiActivity(string action)
    {
        string operation = action[(action.LastIndexOfAny([':', '/']) + 1)..];
        if (operation.Equals("read", StringComparison.OrdinalIgnoreCase))
        {
            return new OcsfActivity(2, "Read");
        }

        if (operation.Equals("write", StringComparison.OrdinalIgnoreCase))
        {
            return new OcsfActivity(3, "Update");
        }

        if (operation.Equals("delete", StringComparison.OrdinalIgnoreCase))
        {
            return new OcsfActivity(4, "Delete");
        }

        if (StartsWithAny(operation, ReadVerbs))
        {
            return new OcsfActivity(2, "Read");
        }

        if (operation.StartsWith("Create", StringComparison.Ordinal))
        {
            return new OcsfActivity(1, "Create");
        }

        if (StartsWithAny(operation, DeleteVerbs))
        {
            return new OcsfActivity(4, "Delete");
        }

        return StartsWithAny(operation, UpdateVerbs) ? new OcsfActivity(3, "Update") : new OcsfActivity(99, "Other");
    }

    private static readonly string[] ReadVerbs = ["Get", "List", "Describe", "Head"];
    private static readonly string[] DeleteVerbs = ["Delete", "Remove"];
    private static readonly string[] UpdateVerbs = ["Put", "Update", "Set", "Modify", "Attach", "Detach", "Enable", "Disable", "Add", "Tag", "Untag", "Replace", "Revoke"];

    private static bool StartsWithAny(string operation, string[] verbs) =>
        verbs.Any(verb => operation.StartsWith(verb, StringComparison.Ordinal));
}
