using System.Text.Json.Nodes;
using Azure;
using Azure.Storage.Blobs;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Brokers;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Tests.Workflows;

/// <summary>
/// The workflow orchestration with a small workflow of its own: one managed step reads a blob from one container with
/// a SAS grant and must be denied on another container. Runs on Azurite.
/// </summary>
public sealed class WorkflowFrameworkTests : IAsyncLifetime
{
    private readonly BlobTestAccount _account = new();
    private string _container = "";
    private string _bystander = "";

    public async Task InitializeAsync()
    {
        _container = await _account.CreateContainerAsync();
        _bystander = await _account.CreateContainerAsync();
        await _account.Service.GetBlobContainerClient(_container).UploadBlobAsync("doc.json", BinaryData.FromString("""{"amount":42}"""));
        await _account.Service.GetBlobContainerClient(_bystander).UploadBlobAsync("secret.json", BinaryData.FromString("{}"));
    }

    public Task DisposeAsync() => _account.DisposeAsync().AsTask();

    [Fact]
    public async Task ManagedStep_ScopedAndRevoked()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync(ReadDocumentWorkflow.WorkflowName, new Dictionary<string, string> { ["blob"] = "doc.json" });
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Completed, result.Outcome);
        Assert.Equal("amount-42", result.Decision);
        StepResult step = Assert.Single(result.Steps);
        StepReport report = step.Report!;
        IssuedGrant grant = Assert.Single(report.Grants);
        Assert.Equal(BlobContainerSasBroker.BrokerName, grant.Broker);

        GrantScopeProbe probe = Assert.Single(report.ScopeProbes);
        Assert.True(probe.Probe.Denied, probe.Probe.Evidence);

        RevocationOutcome revocation = Assert.Single(report.Revocations);
        Assert.True(revocation.Proven, revocation.Evidence);
        Assert.All(step.Cleanup, cleanup => Assert.Null(cleanup.Error));

        IReadOnlyList<SignedAuditRecord> records = await host.AuditRecordsAsync(runId);
        Assert.Equal(result.AuditRecordIds, records.Select(record => record.Id));
        string[] events = records.Select(record => JsonNode.Parse(record.Json)!["nhi"]!["event"]!.GetValue<string>()).ToArray();
        Assert.Equal("workflow.received", events[0]);
        Assert.Contains(AuditEvents.GrantIssued, events);
        Assert.Contains(AuditEvents.ScopeProbed, events);
        Assert.Contains(AuditEvents.StepCompleted, events);
        Assert.Contains(AuditEvents.GrantRevoked, events);
        Assert.Equal(AuditEvents.RunCompleted, events[^1]);

        await host.AssertNoSecretLeakedAsync(runId);
    }

    [Fact]
    public async Task FailingStep_StillRevokes()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync(ReadDocumentWorkflow.WorkflowName, new Dictionary<string, string> { ["blob"] = "missing.json" });
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Failed, result.Outcome);
        StepResult step = Assert.Single(result.Steps);
        Assert.Contains("missing.json", step.Error, StringComparison.Ordinal);
        RevocationOutcome revocation = Assert.Single(step.Report!.Revocations);
        Assert.True(revocation.Proven, revocation.Evidence);
        Assert.Empty(await _account.PoliciesAsync(_container));
        await host.AssertNoSecretLeakedAsync(runId);
    }

    [Fact]
    public async Task MissingParameter_RejectedBeforeGrant()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync(ReadDocumentWorkflow.WorkflowName, new Dictionary<string, string>());
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Rejected, result.Outcome);
        Assert.Contains("parameters.blob", Assert.Single(result.Reasons), StringComparison.Ordinal);
        Assert.Empty(result.Steps);
        Assert.Empty(host.IssuedSecrets);
    }

    private Task<WorkflowTestHost> StartAsync() =>
        WorkflowTestHost.StartAsync(configureServices: services =>
        {
            services.AddSingleton<IWorkflow>(provider => new ReadDocumentWorkflow(provider.GetRequiredService<BlobContainerSasBroker>(), _container));
            services.AddSingleton<IWorkflowStep>(new ReadDocumentStep(_bystander));
        });

    private sealed class ReadDocumentWorkflow(BlobContainerSasBroker broker, string container) : IWorkflow
    {
        public const string WorkflowName = "test-read-document";

        public string Name => WorkflowName;

        public WorkflowPlan Plan(WorkflowRequest request)
        {
            if (!request.Parameters.TryGetValue("blob", out string? blob) || blob.Length == 0)
            {
                throw new InvalidWorkflowRequestException("parameters.blob", "the name of a blob in the document container");
            }

            var grant = new GrantSpec("documents", BlobContainerSasBroker.BrokerName, Scope.Create("azure", broker.ContainerResource(container), ["read"]), TimeSpan.FromMinutes(2));
            return new WorkflowPlan(Name, $"blob {blob}", [new WorkflowStage([new WorkflowStepPlan("read", StepModes.Managed, [grant], TimeSpan.FromMinutes(2))])]);
        }

        public WorkflowDecision Decide(WorkflowRequest request, WorkflowPlan plan, IReadOnlyList<StepReport> reports)
        {
            int amount = reports[0].Output!.Value.GetProperty("amount").GetInt32();
            return new WorkflowDecision(WorkflowOutcomes.Completed, $"amount-{amount}", [$"the document states amount {amount}"], null);
        }
    }

    private sealed class ReadDocumentStep(string bystander) : IWorkflowStep
    {
        public string Workflow => ReadDocumentWorkflow.WorkflowName;

        public string Step => "read";

        public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
        {
            BlobContainerSasCredential credential = context.Lease<BlobContainerSasCredential>("documents").Credential;
            string blob = context.Parameter("blob");
            DateTimeOffset at = context.Time.GetUtcNow();
            BinaryData content;
            try
            {
                content = (await new BlobClient(credential.BlobSasUri(blob)).DownloadContentAsync(cancellationToken)).Value.Content;
            }
            catch (RequestFailedException failure)
            {
                context.Record("documents", new ApiCall("blob:GetBlob", blob, ApiCallPurposes.Step, at, failure.Status, ApiCallOutcomes.Error, failure.ErrorCode, 0));
                throw new WorkflowStepException(context.Step.Name, $"reading {blob} returned {failure.Status}");
            }

            context.Record("documents", new ApiCall("blob:GetBlob", blob, ApiCallPurposes.Step, at, 200, ApiCallOutcomes.Allowed, null, 0));

            var foreign = new Uri($"{credential.ContainerUri.AbsoluteUri.Replace(credential.ContainerUri.Segments[^1], bystander, StringComparison.Ordinal)}/secret.json?{credential.SasToken}");
            int status;
            try
            {
                status = (await new BlobClient(foreign).DownloadContentAsync(cancellationToken)).GetRawResponse().Status;
            }
            catch (RequestFailedException failure)
            {
                status = failure.Status;
            }

            context.Record("documents", new ScopeProbe(bystander, status == 403, $"GetBlob on {bystander}/secret.json with the grant's SAS returned {status}"));
            JsonNode output = JsonNode.Parse(content.ToString())!;
            return new StepOutcome(WorkflowJson.ToElement(output), new Verification(true, ["document read"]));
        }
    }
}
