using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.S3.Actions;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Aws;

// Runs against Ceph RGW from infra/local/stack.sh; every test creates and deletes its own nhi-test-* buckets.
public sealed class S3PublicAccessExecutorTests : IDisposable
{
    private readonly AwsTestStack _stack;
    private readonly ITestOutputHelper _output;

    public S3PublicAccessExecutorTests(ITestOutputHelper output)
    {
        _output = output;
        _stack = new AwsTestStack(services =>
        {
            services.AddSingleton<IS3RemediationAction, FailingAction>();
            services.AddSingleton<IS3RemediationAction, UndeclaredCallAction>();
            services.AddSingleton<IS3RemediationAction>(_ => new DeleteBucketAction(bucket => _stack!.DeleteBucketAsync(bucket)));
        });
    }

    private S3PublicAccessExecutor Executor => _stack.Get<S3PublicAccessExecutor>();

    [Fact]
    public async Task PublicBucket_BecomesPrivate()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            await _stack.MakePublicAsync(bucket, withPrivateStatement: true);
            int anonymousGetBefore = await _stack.AnonymousGetStatusAsync(bucket);
            int anonymousListBefore = await _stack.AnonymousListStatusAsync(bucket);
            Scope scope = _stack.PlaybookScope(bucket);

            ExecutionReport report = await Executor.ExecuteAsync(_stack.Plan(scope), _stack.NewGrant(scope), CancellationToken.None);

            Assert.Equal(200, anonymousGetBefore);
            Assert.Equal(200, anonymousListBefore);
            Assert.True(report.Verification.Passed, string.Join("; ", report.Verification.Checks));
            Assert.Equal(3, report.Verification.Checks.Count);
            Assert.Equal(403, await _stack.AnonymousGetStatusAsync(bucket));
            Assert.Equal(403, await _stack.AnonymousListStatusAsync(bucket));
            Assert.Equal(3, report.ActionsTaken.Count);
            Assert.All(report.ActionsTaken, line => Assert.DoesNotContain("nothing to change", line));
            Assert.True(report.Revocation.Proven, report.Revocation.Evidence);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task PrivateStatement_SurvivesUnchanged()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            await _stack.MakePublicAsync(bucket, withPrivateStatement: true);
            Scope scope = _stack.PlaybookScope(bucket);

            await Executor.ExecuteAsync(_stack.Plan(scope), _stack.NewGrant(scope), CancellationToken.None);
            GetBucketPolicyResponse after = await _stack.Owner.GetBucketPolicyAsync(new GetBucketPolicyRequest { BucketName = bucket });

            JsonArray statements = JsonNode.Parse(after.Policy)!["Statement"]!.AsArray();
            JsonNode kept = Assert.Single(statements)!;
            Assert.True(JsonNode.DeepEquals(JsonNode.Parse(_stack.PrivateStatement(bucket)), kept), kept.ToJsonString());
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task OnlyPublicStatements_PolicyIsDeleted()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            await _stack.MakePublicAsync(bucket, withPrivateStatement: false);
            Scope scope = _stack.PlaybookScope(bucket);

            ExecutionReport report = await Executor.ExecuteAsync(_stack.Plan(scope), _stack.NewGrant(scope), CancellationToken.None);

            // AWSSDK.S3 4.1 returns RGW's 404 NoSuchBucketPolicy as a response whose Policy is the XML error.
            GetBucketPolicyResponse after = await _stack.Owner.GetBucketPolicyAsync(new GetBucketPolicyRequest { BucketName = bucket });
            Assert.Equal(System.Net.HttpStatusCode.NotFound, after.HttpStatusCode);
            Assert.Contains("NoSuchBucketPolicy", after.Policy);
            Assert.Contains(report.Calls, call => call.Action == "s3:DeleteBucketPolicy" && call.Outcome == ApiCallOutcomes.Allowed);
            Assert.DoesNotContain(report.Calls, call => call.Action == "s3:PutBucketPolicy");
            Assert.Contains("bucket policy: none", report.Verification.Checks);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task SecondRun_ChangesNothing()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            await _stack.MakePublicAsync(bucket, withPrivateStatement: true);
            Scope scope = _stack.PlaybookScope(bucket);
            await Executor.ExecuteAsync(_stack.Plan(scope), _stack.NewGrant(scope), CancellationToken.None);

            ExecutionReport second = await Executor.ExecuteAsync(_stack.Plan(scope), _stack.NewGrant(scope), CancellationToken.None);

            Assert.Equal(3, second.ActionsTaken.Count);
            Assert.All(second.ActionsTaken, line => Assert.Contains("nothing to change", line));
            Assert.DoesNotContain(second.Calls, call => call.Action.StartsWith("s3:Put", StringComparison.Ordinal));
            Assert.DoesNotContain(second.Calls, call => call.Action.StartsWith("s3:Delete", StringComparison.Ordinal));
            Assert.True(second.Verification.Passed, string.Join("; ", second.Verification.Checks));
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task PrivateBucket_ChangesOnlyBlockSettings()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            Scope scope = _stack.PlaybookScope(bucket);

            ExecutionReport report = await Executor.ExecuteAsync(_stack.Plan(scope), _stack.NewGrant(scope), CancellationToken.None);

            Assert.Contains("nothing to change", report.ActionsTaken[0]);
            Assert.Contains("nothing to change", report.ActionsTaken[1]);
            Assert.Contains("turned on", report.ActionsTaken[2]);
            Assert.True(report.Verification.Passed, string.Join("; ", report.Verification.Checks));
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task RecordedCalls_StayWithinScope()
    {
        string bucket = await _stack.CreateBucketAsync();
        string other = await _stack.CreateBucketAsync();
        try
        {
            await _stack.MakePublicAsync(bucket, withPrivateStatement: true);
            Scope scope = _stack.PlaybookScope(bucket);

            ExecutionReport report = await Executor.ExecuteAsync(_stack.Plan(scope, outOfScopeProbe: other), _stack.NewGrant(scope), CancellationToken.None);

            Assert.All(report.Calls, call => Assert.Contains(call.Action, scope.Permissions));
            Assert.All(report.Calls.Where(call => call.Purpose != ApiCallPurposes.ScopeProbe), call => Assert.Equal(scope.Resource, call.Resource));
            ApiCall probeCall = Assert.Single(report.Calls, call => call.Purpose == ApiCallPurposes.ScopeProbe);
            Assert.Equal(_stack.BucketArn(other), probeCall.Resource);
            Assert.Equal(ApiCallOutcomes.Denied, probeCall.Outcome);
            Assert.NotNull(report.ScopeProbe);
            Assert.True(report.ScopeProbe.Denied, report.ScopeProbe.Evidence);
            Assert.All(report.Calls.Where(call => call.Purpose is ApiCallPurposes.Remediate or ApiCallPurposes.Verify), call => Assert.Equal(ApiCallOutcomes.Allowed, call.Outcome));
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
            await _stack.DeleteBucketAsync(other);
        }
    }

    [Fact]
    public async Task CalledActions_EqualScopeAcrossRuns()
    {
        string withPrivate = await _stack.CreateBucketAsync();
        string onlyPublic = await _stack.CreateBucketAsync();
        try
        {
            await _stack.MakePublicAsync(withPrivate, withPrivateStatement: true);
            await _stack.MakePublicAsync(onlyPublic, withPrivateStatement: false);

            var called = new SortedSet<string>(StringComparer.Ordinal);
            foreach (string bucket in new[] { withPrivate, onlyPublic })
            {
                Scope scope = _stack.PlaybookScope(bucket);
                ExecutionReport report = await Executor.ExecuteAsync(_stack.Plan(scope), _stack.NewGrant(scope), CancellationToken.None);
                called.UnionWith(report.Calls.Select(call => call.Action));
            }

            Assert.Equal(_stack.PlaybookScope(withPrivate).Permissions, called.ToArray());
        }
        finally
        {
            await _stack.DeleteBucketAsync(withPrivate);
            await _stack.DeleteBucketAsync(onlyPublic);
        }
    }

    [Fact]
    public async Task FailingAction_StillRevokesAndProves()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            await _stack.MakePublicAsync(bucket, withPrivateStatement: true);
            Scope scope = _stack.PlaybookScope(bucket);
            RemediationPlan plan = _stack.Plan(scope, [RemovePublicPolicyStatements.Name, FailingAction.Name, RemovePublicAclGrants.Name]);

            var exception = await Assert.ThrowsAsync<RemediationExecutionException>(
                () => Executor.ExecuteAsync(plan, _stack.NewGrant(scope), CancellationToken.None));

            Assert.Equal($"action {FailingAction.Name}", exception.Step);
            Assert.IsType<InvalidOperationException>(exception.InnerException);
            Assert.True(exception.Revocation.Proven, exception.Revocation.Evidence);
            Assert.Contains("revoked and proven", exception.Message);
            Assert.Contains(exception.Calls, call => call.Purpose == ApiCallPurposes.RevocationProbe && call.Outcome == ApiCallOutcomes.Denied);
            Assert.DoesNotContain(exception.Calls, call => call.Action == "s3:PutBucketAcl");
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task BucketDeletedMidRun_StillRevokes()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            await _stack.MakePublicAsync(bucket, withPrivateStatement: true);
            Scope scope = _stack.PlaybookScope(bucket);
            GrantRequest grant = _stack.NewGrant(scope);
            RemediationPlan plan = _stack.Plan(scope, [RemovePublicPolicyStatements.Name, DeleteBucketAction.Name, RemovePublicAclGrants.Name]);

            var exception = await Assert.ThrowsAsync<RemediationExecutionException>(() => Executor.ExecuteAsync(plan, grant, CancellationToken.None));
            (bool denyPolicyPresent, _) = await _stack.Get<StsGrantBroker>().ConfirmDenyPolicyAsync(grant, CancellationToken.None);
            _output.WriteLine(exception.Revocation.Evidence);

            Assert.Equal($"action {RemovePublicAclGrants.Name}", exception.Step);
            Assert.Equal("NoSuchBucket", Assert.IsType<AmazonS3Exception>(exception.InnerException).ErrorCode);
            Assert.NotNull(exception.Revocation.RevokedAt);
            Assert.True(denyPolicyPresent);
            AssertHonestProof(exception.Revocation, exception.Grant);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task UndeclaredCall_FailsBeforeReachingS3()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            Scope scope = Scope.Create("aws", _stack.BucketArn(bucket), ["s3:GetBucketAcl"]);
            RemediationPlan plan = _stack.Plan(scope, [UndeclaredCallAction.Name]);

            var exception = await Assert.ThrowsAsync<RemediationExecutionException>(
                () => Executor.ExecuteAsync(plan, _stack.NewGrant(scope), CancellationToken.None));

            var violation = Assert.IsType<ScopeViolationException>(exception.InnerException);
            Assert.Equal("s3:DeleteBucketPolicy", violation.Action);
            Assert.DoesNotContain(exception.Calls, call => call.Action == "s3:DeleteBucketPolicy");
            Assert.True(exception.Revocation.Proven, exception.Revocation.Evidence);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public async Task UnknownAction_FailsBeforeIssuing()
    {
        Scope scope = _stack.PlaybookScope("nhi-test-unknown");
        RemediationPlan plan = _stack.Plan(scope, ["s3.no-such-action"]);

        await Assert.ThrowsAsync<ArgumentException>(() => Executor.ExecuteAsync(plan, _stack.NewGrant(scope), CancellationToken.None));

        Assert.Empty(_stack.IssuedCredentials);
    }

    [Fact]
    public async Task Outputs_HoldNoCredential()
    {
        string bucket = await _stack.CreateBucketAsync();
        try
        {
            await _stack.MakePublicAsync(bucket, withPrivateStatement: true);
            Scope scope = _stack.PlaybookScope(bucket);
            ExecutionReport report = await Executor.ExecuteAsync(_stack.Plan(scope), _stack.NewGrant(scope), CancellationToken.None);
            RemediationPlan failingPlan = _stack.Plan(scope, [FailingAction.Name]);
            var failure = await Assert.ThrowsAsync<RemediationExecutionException>(
                () => Executor.ExecuteAsync(failingPlan, _stack.NewGrant(scope), CancellationToken.None));

            string reportJson = JsonSerializer.Serialize(report);
            string failureJson = JsonSerializer.Serialize(new { failure.Grant, failure.Calls, failure.Revocation });
            string failureText = failure.ToString();
            string logs = string.Join("\n", _stack.Logs.Lines);

            Assert.Equal(2, _stack.IssuedCredentials.Count);
            Assert.Equal(_stack.IssuedCredentials.Select(issued => issued.AccessKeyId), _stack.Fingerprinter.Identifiers);
            foreach (var issued in _stack.IssuedCredentials)
            {
                foreach (string secret in new[] { issued.AccessKeyId, issued.SecretAccessKey, issued.SessionToken })
                {
                    Assert.DoesNotContain(secret, reportJson);
                    Assert.DoesNotContain(secret, failureJson);
                    Assert.DoesNotContain(secret, failureText);
                    Assert.DoesNotContain(secret, logs);
                }
            }

            Assert.DoesNotContain(_stack.Options.SecretAccessKey!, logs);
            Assert.Contains(report.Grant.GrantId, logs);
        }
        finally
        {
            await _stack.DeleteBucketAsync(bucket);
        }
    }

    [Fact]
    public void Credential_RefusesSerialization()
    {
        var credential = new Nhi.Serverless.Aws.AwsSessionCredential("ASIAEXAMPLE", "secret-value", "token-value", _stack.PlaybookScope("nhi-test-json"));

        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(credential));
        Assert.DoesNotContain("secret-value", credential.ToString());
    }

    public void Dispose() => _stack.Dispose();

    // When no probe was denied, the evidence must state it and ValidUntil must fall back to the credential's own expiry.
    private static void AssertHonestProof(RevocationOutcome revocation, IssuedGrant grant)
    {
        if (revocation.Proven)
        {
            Assert.Equal(revocation.ProvenAt, revocation.ValidUntil);
            return;
        }

        Assert.Equal(grant.ExpiresAt, revocation.ValidUntil);
        Assert.Contains("not proven", revocation.Evidence);
    }
}
