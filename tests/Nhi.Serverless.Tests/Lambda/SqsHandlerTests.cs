using System.Net;
using Amazon.SecurityToken.Model;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Aws.DynamoDb.Parking;
using Nhi.Serverless.Aws.DynamoDb.Runs;
using Nhi.Serverless.Aws.Iam;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Lambdas.Container;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Tests.Lambda;

/// <summary>
/// The SQS function loaded and invoked as the Lambda runtime does, on real SQS event JSON, against Ceph RGW,
/// dynalite and Azurite: remediation, parking, duplicates, FIFO order and lease take-over.
/// </summary>
[Collection(LambdaFunctionCollection.Name)]
public sealed class SqsHandlerTests(LambdaFunctionFixture function) : IAsyncLifetime
{
    private const string NoFailures = "{\"batchItemFailures\":[]}";

    private readonly List<string> _buckets = [];
    private readonly List<string> _grantIds = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (string bucket in _buckets)
        {
            await function.Aws.DeleteBucketAsync(bucket);
        }

        // The deny policies of finished test runs are removed so they do not pile up in the shared role.
        foreach (string grantId in _grantIds)
        {
            try
            {
                await function.Aws.Iam.DeleteRolePolicyAsync(
                    function.Aws.Options.RoleName, RevocationPolicy.NameFor(SessionNames.For(grantId)), CancellationToken.None);
            }
            catch (IamServiceException exception) when (exception.IsNoSuchEntity)
            {
            }
        }
    }

    [Fact]
    public async Task StandardBatchSettlesEveryRecord()
    {
        string bucket = await PublicBucketAsync();
        string good = SqsEvents.SecurityHubEnvelope(bucket);
        string malformed = "{\"detail-type\": \"Security Hub Findings - Imported\", \"detail\": ";
        string insight = "{\"detail-type\":\"Security Hub Insight Results\",\"detail\":{\"insightResults\":[]}}";
        (string batch, string[] ids) = SqsEvents.Standard(good, malformed, insight, good);
        int issuedBefore = IssuedCount();

        string response = await function.InvokeAsync(LambdaFunctionFixture.SqsHandler, batch);

        Assert.Equal(NoFailures, response);
        RunResult result = await RunResultAsync(SqsEvents.RequestOf(good).RunId);
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
        Assert.Equal(HttpStatusCode.Forbidden, await AnonymousGetAsync(bucket));
        Assert.Equal(1, IssuedCount() - issuedBefore);

        ParkedRecord? parkedJson = await ParkedAsync(ids[1]);
        Assert.Equal("$", parkedJson?.Field);
        Assert.Equal("must be a well-formed JSON document", parkedJson?.Reason);
        ParkedRecord? parkedInsight = await ParkedAsync(ids[2]);
        Assert.Equal("detail-type", parkedInsight?.Field);
        Assert.Equal(ParkedRecord.Fingerprint(insight).Sha256, parkedInsight?.BodySha256);
        Assert.Null(await ParkedAsync(ids[0]));
        Assert.Null(await ParkedAsync(ids[3]));
    }

    [Fact]
    public async Task GoodRecordRevokesAndProvesGrant()
    {
        string bucket = await PublicBucketAsync();
        string good = SqsEvents.SecurityHubEnvelope(bucket);

        await function.InvokeAsync(LambdaFunctionFixture.SqsHandler, SqsEvents.Standard(good).Event);
        RunResult result = await RunResultAsync(SqsEvents.RequestOf(good).RunId);

        ExecutionAttempt attempt = Assert.Single(result.Attempts);
        ExecutionReport report = Assert.IsType<ExecutionReport>(attempt.Report);
        Assert.True(report.Verification.Passed, string.Join("; ", report.Verification.Checks));
        Assert.True(report.ScopeProbe?.Denied, report.ScopeProbe?.Evidence);
        Assert.True(report.Revocation.Proven, report.Revocation.Evidence);
        Assert.NotNull(attempt.Revocation.RevokedAt);
        string denyPolicy = await function.Aws.Iam.GetRolePolicyAsync(
            function.Aws.Options.RoleName, RevocationPolicy.NameFor(SessionNames.For(attempt.GrantId)), CancellationToken.None);
        Assert.Contains(SessionNames.For(attempt.GrantId), denyPolicy, StringComparison.Ordinal);
        RunEntry? entry = await RunEntryAsync(result.RunId);
        Assert.True(entry?.Completed);
        Assert.Equal(RunOutcomes.Remediated, entry?.Outcome);
    }

    [Fact]
    public async Task RedeliveryStartsNoRun()
    {
        string bucket = await PublicBucketAsync();
        string good = SqsEvents.SecurityHubEnvelope(bucket);
        await function.InvokeAsync(LambdaFunctionFixture.SqsHandler, SqsEvents.Standard(good).Event);
        await RunResultAsync(SqsEvents.RequestOf(good).RunId);
        int issuedBefore = IssuedCount();

        string response = await function.InvokeAsync(LambdaFunctionFixture.SqsHandler, SqsEvents.Standard(good).Event);

        Assert.Equal(NoFailures, response);
        Assert.Equal(issuedBefore, IssuedCount());
        string runId = SqsEvents.RequestOf(good).RunId;
        Assert.Contains(function.Logs.Lines, line => line.Contains("Duplicate delivery", StringComparison.Ordinal) && line.Contains(runId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task FifoFailureHoldsLaterRecords()
    {
        string first = await PublicBucketAsync();
        string held = await PublicBucketAsync();
        string last = await PublicBucketAsync();
        string firstBody = SqsEvents.RawAsffFinding(first);
        string heldBody = SqsEvents.RawOcsfFinding(held);
        string lastBody = SqsEvents.RawAsffFinding(last);
        DynamoDbRunRegistry registry = await RegistryAsync();
        await registry.TryAcquireLeaseAsync(SqsEvents.RequestOf(heldBody), "another-container", TimeSpan.FromMinutes(10), CancellationToken.None);
        (string batch, string[] ids) = SqsEvents.Fifo(firstBody, "not json", heldBody, lastBody);

        string response = await function.InvokeAsync(LambdaFunctionFixture.SqsHandler, batch);

        Assert.Equal($"{{\"batchItemFailures\":[{{\"itemIdentifier\":\"{ids[2]}\"}},{{\"itemIdentifier\":\"{ids[3]}\"}}]}}", response);
        Assert.Equal(RunOutcomes.Remediated, (await RunResultAsync(SqsEvents.RequestOf(firstBody).RunId)).Outcome);
        Assert.Equal(HttpStatusCode.Forbidden, await AnonymousGetAsync(first));
        Assert.NotNull(await ParkedAsync(ids[1]));
        Assert.Equal(HttpStatusCode.OK, await AnonymousGetAsync(held));
        Assert.Equal(HttpStatusCode.OK, await AnonymousGetAsync(last));
        Assert.Null(await RunEntryAsync(SqsEvents.RequestOf(lastBody).RunId));
    }

    [Fact]
    public async Task CrashedContainerRunIsTakenOver()
    {
        string bucket = await PublicBucketAsync();
        string body = SqsEvents.RawOcsfFinding(bucket);
        string runId = SqsEvents.RequestOf(body).RunId;
        DynamoDbRunRegistry registry = await RegistryAsync();
        await registry.TryAcquireLeaseAsync(SqsEvents.RequestOf(body), "crashed-container", TimeSpan.FromMilliseconds(1), CancellationToken.None);
        await Task.Delay(TimeSpan.FromMilliseconds(20));

        string response = await function.InvokeAsync(LambdaFunctionFixture.SqsHandler, SqsEvents.Standard(body).Event);

        Assert.Equal(NoFailures, response);
        Assert.Equal(RunOutcomes.Remediated, (await RunResultAsync(runId)).Outcome);
        Assert.Equal(HttpStatusCode.Forbidden, await AnonymousGetAsync(bucket));
        RunEntry? entry = await registry.GetAsync(runId, CancellationToken.None);
        Assert.Equal(2, entry?.Acquisitions);
        Assert.True(entry?.Completed);
    }

    [Fact]
    public async Task NonSqsPayloadFailsInvocation()
    {
        Exception failure = await Assert.ThrowsAnyAsync<Exception>(
            () => function.InvokeAsync(LambdaFunctionFixture.SqsHandler, "{\"Records\":[{\"messageId\":\"m-1\",\"body\":\"{}\",\"eventSource\":\"aws:sns\",\"eventSourceARN\":\"arn:aws:sns:us-east-1:123456789012:t\"}]}"));

        Assert.Equal("InvalidSqsEventException", failure.GetType().Name);
        Assert.Contains("Records[0].eventSource", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NoSecretLeavesTheFunction()
    {
        string bucket = await PublicBucketAsync();
        string good = SqsEvents.SecurityHubEnvelope(bucket);
        string planted = "nhi-planted-token-" + Guid.NewGuid().ToString("N");
        string secretBearing = $"{{\"detail-type\":\"Security Hub Findings - Imported\",\"detail\":{{\"findings\":\"{planted}\"}}}}";
        await function.InvokeAsync(LambdaFunctionFixture.SqsHandler, SqsEvents.Standard(good, secretBearing).Event);
        string runId = SqsEvents.RequestOf(good).RunId;
        RunResult result = await RunResultAsync(runId);
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);

        RunContainer container = await LambdaFunctionFixture.RunContainerAsync();
        IReadOnlyList<SignedAuditRecord> records = await container.Services.GetRequiredService<TableAuditStore>().ReadRunAsync(runId, CancellationToken.None);
        OrchestrationMetadata metadata = (await container.Client.GetInstanceAsync(runId, getInputsAndOutputs: true))!;
        string[] outputs =
        [
            .. function.Logs.Lines,
            .. function.Outputs,
            .. records.Select(record => record.Json),
            metadata.SerializedInput ?? "",
            metadata.SerializedOutput ?? "",
            .. await function.Tables.ScanTextAsync(function.Tables.Options.RunsTableName),
            .. await function.Tables.ScanTextAsync(function.Tables.Options.GrantsTableName),
            .. await function.Tables.ScanTextAsync(function.Tables.Options.ParkedRecordsTableName),
        ];

        Assert.NotEmpty(records);
        Assert.NotEmpty(function.IssuedCredentials);
        string[] secrets = [.. Secrets(function.IssuedCredentials), function.Aws.Options.SecretAccessKey!, planted];
        foreach (string secret in secrets)
        {
            Assert.DoesNotContain(outputs, output => output.Contains(secret, StringComparison.Ordinal));
        }
    }

    private async Task<string> PublicBucketAsync()
    {
        string bucket = await function.Aws.CreateBucketAsync();
        _buckets.Add(bucket);
        await function.Aws.MakePublicAsync(bucket, withPrivateStatement: true);
        return bucket;
    }

    private async Task<RunResult> RunResultAsync(string instanceId)
    {
        RunContainer container = await LambdaFunctionFixture.RunContainerAsync();
        OrchestrationMetadata? metadata = await container.Client.GetInstanceAsync(instanceId, getInputsAndOutputs: true);
        Assert.True(metadata is not null, $"The function's sidecar has no instance {instanceId}.");
        Assert.True(
            metadata.RuntimeStatus == OrchestrationRuntimeStatus.Completed,
            $"Run {instanceId} is {metadata.RuntimeStatus}: {metadata.FailureDetails?.ErrorMessage}");
        RunResult result = metadata.ReadOutputAs<RunResult>()!;
        _grantIds.AddRange(result.Attempts.Select(attempt => attempt.GrantId));
        return result;
    }

    private static async Task<DynamoDbRunRegistry> RegistryAsync() =>
        (await LambdaFunctionFixture.RunContainerAsync()).Services.GetRequiredService<DynamoDbRunRegistry>();

    private async Task<RunEntry?> RunEntryAsync(string runId) =>
        await (await RegistryAsync()).GetAsync(runId, CancellationToken.None);

    private static async Task<ParkedRecord?> ParkedAsync(string messageId) =>
        await (await LambdaFunctionFixture.RunContainerAsync()).Services.GetRequiredService<DynamoDbParkedRecords>()
            .GetAsync(messageId, CancellationToken.None);

    private int IssuedCount()
    {
        lock (function.IssuedCredentials)
        {
            return function.IssuedCredentials.Count;
        }
    }

    private static IEnumerable<string> Secrets(List<Credentials> issued)
    {
        lock (issued)
        {
            return issued.SelectMany(credential => new[] { credential.AccessKeyId, credential.SecretAccessKey, credential.SessionToken }).ToArray();
        }
    }

    private async Task<HttpStatusCode> AnonymousGetAsync(string bucket)
    {
        using var anonymous = new HttpClient();
        using HttpResponseMessage response = await anonymous.GetAsync($"{function.Aws.Options.S3Endpoint!.TrimEnd('/')}/{bucket}/hello.txt");
        return response.StatusCode;
    }
}
