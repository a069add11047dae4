using Amazon.Runtime;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Aws.S3.Actions;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Aws.S3;

/// <summary>
/// Runs the "s3-bucket-public-access" playbook under one STS grant: issue, probe the scope, run the actions in the
/// plan's order, verify, then revoke and prove the revocation, also when a step throws.
/// </summary>
public sealed class S3PublicAccessExecutor : IRemediationExecutor
{
    private readonly StsGrantBroker _broker;
    private readonly S3ClientFactory _clients;
    private readonly IReadOnlyDictionary<string, IS3RemediationAction> _actions;
    private readonly S3PublicAccessVerifier _verifier;
    private readonly ILogger<S3PublicAccessExecutor> _logger;

    public S3PublicAccessExecutor(
        StsGrantBroker broker,
        S3ClientFactory clients,
        IEnumerable<IS3RemediationAction> actions,
        S3PublicAccessVerifier verifier,
        ILogger<S3PublicAccessExecutor> logger)
    {
        ArgumentNullException.ThrowIfNull(actions);
        _broker = broker ?? throw new ArgumentNullException(nameof(broker));
        _clients = clients ?? throw new ArgumentNullException(nameof(clients));
        _actions = actions.ToDictionary(action => action.Descriptor.Name, StringComparer.Ordinal);
        _verifier = verifier ?? throw new ArgumentNullException(nameof(verifier));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
    }

    public IReadOnlyCollection<string> Playbooks { get; } = [AwsPlaybooks.S3BucketPublicAccessName];

    public async Task<ExecutionReport> ExecuteAsync(RemediationPlan plan, GrantRequest grant, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(plan);
        ArgumentNullException.ThrowIfNull(grant);

        IReadOnlyList<IS3RemediationAction> steps = ResolveSteps(plan, grant);
        string? probeBucket = plan.OutOfScopeProbe is null ? null : ProbeBucket(plan.OutOfScopeProbe);
        Lease<AwsSessionCredential> lease = await _broker.IssueAsync(grant, cancellationToken);

        var calls = new ApiCallLog();
        var actionsTaken = new List<string>();
        ScopeProbe? scopeProbe = null;
        Verification? verification = null;
        string step = "scope probe";
        Exception? failure = null;

        using (ScopedS3Client client = _clients.CreateScoped(lease.Credential, plan.Scope, calls, ApiCallPurposes.Remediate))
        {
            try
            {
                if (probeBucket is not null)
                {
                    scopeProbe = await ProbeScopeAsync(client, probeBucket, grant, cancellationToken);
                }

                foreach (IS3RemediationAction action in steps)
                {
                    step = $"action {action.Descriptor.Name}";
                    string line = await action.ApplyAsync(client, client.Bucket, cancellationToken);
                    actionsTaken.Add($"{action.Descriptor.Name}: {line}");
                    _logger.LogInformation(
                        "Applied {Action} to {Bucket} for run {RunId} under grant {GrantId}: {Result}",
                        action.Descriptor.Name, client.Bucket, plan.RunId, grant.GrantId, line);
                }

                step = "verification";
                verification = await _verifier.VerifyAsync(client.ForPurpose(ApiCallPurposes.Verify), client.Bucket, cancellationToken);
            }
            catch (Exception exception)
            {
                // Every failure, cancellation included, is passed on after the grant is revoked below.
                failure = exception;
            }
        }

        RevocationOutcome revocation = await RevokeAndProveAsync(grant, lease, calls);

        if (failure is not null)
        {
            string message = FailureMessage(plan, grant, step, failure, revocation, lease.Credential);
            _logger.LogError(
                "Run {RunId} failed in {Step} under grant {GrantId}: {Error}; revocation proven {Proven}",
                plan.RunId, step, grant.GrantId, ErrorSummary(failure, lease.Credential), revocation.Proven);
            if (failure is OperationCanceledException && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(message, failure, cancellationToken);
            }

            throw new RemediationExecutionException(message, step, lease.Grant, calls.Snapshot(), revocation, failure)
            {
                Retryable = !IsPermanent(failure),
            };
        }

        _logger.LogInformation(
            "Run {RunId} on {Resource} under grant {GrantId} finished: verification passed {Passed}, revocation proven {Proven}",
            plan.RunId, plan.Scope.Resource, grant.GrantId, verification!.Passed, revocation.Proven);
        return new ExecutionReport(lease.Grant, actionsTaken, calls.Snapshot(), verification, scopeProbe, revocation);
    }

    // A missing bucket and a call outside the scope fail the same way under every grant.
    private static bool IsPermanent(Exception failure) =>
        failure is ScopeViolationException
        || (failure is Amazon.S3.AmazonS3Exception s3 && s3.ErrorCode == "NoSuchBucket");

    // Maps the plan's action names to actions, failing before any grant is issued when the plan cannot run as given.
    private List<IS3RemediationAction> ResolveSteps(RemediationPlan plan, GrantRequest grant)
    {
        if (!Playbooks.Contains(plan.Playbook))
        {
            throw new ArgumentException($"Plan {plan.RunId} names playbook '{plan.Playbook}'; this executor runs only {AwsPlaybooks.S3BucketPublicAccessName}.", nameof(plan));
        }

        if (plan.Broker != StsGrantBroker.BrokerName)
        {
            throw new ArgumentException($"Plan {plan.RunId} names broker '{plan.Broker}'; this executor issues grants only with '{StsGrantBroker.BrokerName}'.", nameof(plan));
        }

        if (!plan.Scope.Equals(grant.Scope))
        {
            throw new ArgumentException($"Grant {grant.GrantId} has a different scope from plan {plan.RunId}; expected the plan's scope.", nameof(grant));
        }

        var steps = new List<IS3RemediationAction>();
        foreach (string name in plan.Actions)
        {
            // The verifier is a playbook entry so its reads are in the scope; it always runs after the actions.
            if (name == S3PublicAccessVerifier.Name)
            {
                continue;
            }

            if (!_actions.TryGetValue(name, out IS3RemediationAction? action))
            {
                throw new ArgumentException($"Plan {plan.RunId} names action '{name}', which is not registered; expected one of {string.Join(", ", _actions.Keys)}.", nameof(plan));
            }

            string[] missing = action.Descriptor.Permissions.Where(permission => !plan.Scope.Allows(permission)).ToArray();
            if (missing.Length > 0)
            {
                throw new ArgumentException($"Plan {plan.RunId} scope lacks {string.Join(", ", missing)}, which action '{name}' declares.", nameof(plan));
            }

            steps.Add(action);
        }

        return steps;
    }

    // The plan names the probe target as a bucket name or a bucket ARN.
    private static string ProbeBucket(string target)
    {
        string bucket = target.StartsWith("arn:", StringComparison.Ordinal) ? target[(target.LastIndexOf(':') + 1)..] : target;
        if (!S3BucketArn.IsBucketName(bucket))
        {
            throw new ArgumentException($"Out-of-scope probe '{target}' is not an S3 bucket name or bucket ARN.", nameof(target));
        }

        return bucket;
    }

    private async Task<ScopeProbe> ProbeScopeAsync(ScopedS3Client client, string bucket, GrantRequest grant, CancellationToken cancellationToken)
    {
        ApiCall call = await client.ForPurpose(ApiCallPurposes.ScopeProbe).ProbeAsync("s3:GetBucketAcl", bucket, outsideScope: true, cancellationToken);
        bool denied = call.Outcome == ApiCallOutcomes.Denied;
        string response = call.StatusCode is null ? $"no response ({call.ErrorCode})" : $"{call.StatusCode} {call.ErrorCode ?? "OK"}";
        if (!denied)
        {
            _logger.LogWarning(
                "Scope probe for grant {GrantId} was not denied: s3:GetBucketAcl on {Bucket} returned {Response}",
                grant.GrantId, bucket, response);
        }

        return new ScopeProbe(call.Resource, denied, $"s3:GetBucketAcl on {bucket} returned {response}");
    }

    // Revokes and proves without the caller's token, because the grant must be revoked even when the run was cancelled.
    // Expired deny policies are pruned after the proof, so pruning never delays it.
    private async Task<RevocationOutcome> RevokeAndProveAsync(GrantRequest grant, Lease<AwsSessionCredential> lease, ApiCallLog calls)
    {
        RevocationOutcome revocation = await _broker.RevokeAsync(grant, pruneExpired: false, CancellationToken.None);
        RevocationOutcome proof;
        try
        {
            proof = await _broker.ProveRevokedAsync(lease, revocation, calls, CancellationToken.None);
        }
        catch (Exception exception) when (exception is AmazonServiceException or HttpRequestException or OperationCanceledException)
        {
            _logger.LogError(exception, "Proving the revocation of grant {GrantId} failed", grant.GrantId);
            proof = revocation with
            {
                ValidUntil = lease.Grant.ExpiresAt,
                Error = $"revocation proof failed: {exception.GetType().Name}",
            };
        }

        if (revocation.RevokedAt is not null)
        {
            await _broker.PruneExpiredDenyPoliciesAsync(CancellationToken.None);
        }

        return proof;
    }

    private static string FailureMessage(
        RemediationPlan plan,
        GrantRequest grant,
        string step,
        Exception failure,
        RevocationOutcome revocation,
        AwsSessionCredential credential)
    {
        string revoked = revocation switch
        {
            { Proven: true } => "revoked and proven",
            { RevokedAt: not null } => $"revoked but not proven (valid until {revocation.ValidUntil:O} at the latest)",
            _ => $"NOT revoked ({revocation.Error}); the cleanup path must revoke it",
        };
        return $"Run {plan.RunId} failed in {step} on {plan.Scope.Resource}: {ErrorSummary(failure, credential)}. Grant {grant.GrantId} was {revoked}.";
    }

    // Names the error without the SDK's response body, and removes the credential's values should any text contain them.
    private static string ErrorSummary(Exception failure, AwsSessionCredential credential)
    {
        string summary = failure switch
        {
            AmazonServiceException service => $"{service.GetType().Name} HTTP {(int)service.StatusCode} {service.ErrorCode}: {service.Message}",
            _ => $"{failure.GetType().Name}: {failure.Message}",
        };

        foreach (string secret in new[] { credential.SecretAccessKey, credential.SessionToken, credential.AccessKeyId })
        {
            summary = summary.Replace(secret, "[redacted]", StringComparison.Ordinal);
        }

        return summary;
    }
}
