using System.Text.Json;
using System.Text.Json.Nodes;
using Azure.Storage.Blobs;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Tests.Brokers;
using Nhi.Serverless.Workflows;
using Nhi.Serverless.Workflows.Claims;

namespace Nhi.Serverless.Tests.Workflows.Claims;

/// <summary>
/// The claims workflow on Azurite, the local OAuth server and a test fraud screening API. Each test class instance gets
/// its own claims container and probe container. The claims are modelled on the local stack's CLM-2001 to CLM-2003.
/// </summary>
public sealed class ClaimsWorkflowTests : IAsyncLifetime
{
    private readonly BlobTestAccount _account = new();
    private TestPartnerApis _partners = null!;
    private string _claims = "";
    private string _probe = "";

    public async Task InitializeAsync()
    {
        _claims = await _account.CreateContainerAsync();
        _probe = await _account.CreateContainerAsync();
        _partners = await TestPartnerApis.StartAsync();
        await _account.Service.GetBlobContainerClient(_probe).UploadBlobAsync("employees/E-0001.json", BinaryData.FromString("{}"));

        // Clean: the invoice matches the claim, and fraud screening is clear.
        await UploadAsync("CLM-2001/claim.json", Claim("CLM-2001", "M-1001", 180.0m, "2026-10-14"));
        await UploadAsync("CLM-2001/invoice.json", Invoice("CLM-2001", "2026-10-14", 180.0m, 180.0m));
        await UploadAsync("CLM-2001/photos.json", """{"photos":[{"name":"receipt.jpg","takenAt":"2026-10-14T10:30:00Z"}]}""");
        Fraud("CLM-2001", "FS-IC-2001", 9, "clear");

        // Suspicious: the invoice lines add up to less than its total, the amount is over the limit, and fraud screening returns review.
        await UploadAsync("CLM-2002/claim.json", Claim("CLM-2002", "M-1002", 48500.0m, "2026-10-02"));
        await UploadAsync("CLM-2002/invoice.json", Invoice("CLM-2002", "2026-10-02", 48500.0m, 28400.0m, 2800.0m));
        Fraud("CLM-2002", "FS-IC-2002", 74, "review", "amount-above-procedure-norm", "invoice-total-mismatch", "provider-on-watchlist");

        // The claim form lists an invoice that was never uploaded.
        await UploadAsync("CLM-2003/claim.json", Claim("CLM-2003", "M-1003", 140.0m, "2026-05-20"));
        Fraud("CLM-2003", "FS-IC-2003", 18, "clear");

        // The invoice total differs from the claimed amount.
        await UploadAsync("CLM-2004/claim.json", Claim("CLM-2004", "M-1004", 1250.0m, "2026-09-14"));
        await UploadAsync("CLM-2004/invoice.json", Invoice("CLM-2004", "2026-09-20", 1300.0m, 1300.0m));
        Fraud("CLM-2004", "FS-IC-2004", 12, "clear");

        // Consistent documents, but the fraud screening service has no record of the claim and returns 404.
        await UploadAsync("CLM-2005/claim.json", Claim("CLM-2005", "M-1005", 90.0m, "2026-10-01"));
        await UploadAsync("CLM-2005/invoice.json", Invoice("CLM-2005", "2026-10-01", 90.0m, 90.0m));
    }

    public async Task DisposeAsync()
    {
        await _partners.DisposeAsync();
        await _account.DisposeAsync();
    }

    [Fact]
    public async Task Clean_claim_is_approved()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync(ClaimsWorkflow.WorkflowName, new Dictionary<string, string> { ["claimId"] = "CLM-2001", ["memberId"] = "M-1001" });
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Completed, result.Outcome);
        Assert.Equal(ClaimsWorkflow.Approve, result.Decision);
        Assert.Equal("claim CLM-2001", result.Subject);
        Assert.Equal(
            [
                "every required document is present: claim.json, invoice.json",
                "the documents are consistent",
                "fraud check FS-IC-2001 returned clear with risk score 9",
                "the claimed amount 180.00 is below the auto-approval limit 5000.00",
            ],
            result.Reasons);

        ClaimSummary summary = result.Summary!.Value.Deserialize<ClaimSummary>(StepOutput.SerializerOptions)!;
        Assert.Equal("M-1001", summary.MemberId);
        Assert.Equal(180.0m, summary.AmountClaimed);
        Assert.Equal(new DateOnly(2026, 10, 14), summary.IncidentDate);
        Assert.Equal(["claim.json", "invoice.json", "photos.json"], summary.DocumentsFound.Order(StringComparer.Ordinal));
        Assert.Empty(summary.DocumentsMissing);
        Assert.Equal("FS-IC-2001", summary.Fraud.CheckId);

        StepResult read = WorkflowRunAssertions.Step(result, ClaimsWorkflow.ReadDocumentsStep);
        IssuedGrant documents = Assert.Single(read.Report!.Grants);
        Assert.Equal(BlobContainerSasBroker.BrokerName, documents.Broker);
        ClaimDocuments found = StepOutput.Read<ClaimDocuments>([read.Report], ClaimsWorkflow.ReadDocumentsStep);
        Assert.Equal(1, found.PhotoCount);
        Assert.Contains(read.Report.Calls, call => call.Call.Action == "blob:ListBlobs" && call.Call.StatusCode == 200);
        Assert.Equal(3, read.Report.Calls.Count(call => call.Call.Action == "blob:GetBlob" && call.Call.StatusCode == 200));
        GrantScopeProbe containerProbe = Assert.Single(read.Report.ScopeProbes);
        Assert.Contains(_probe, containerProbe.Probe.Resource, StringComparison.Ordinal);

        StepResult fraud = WorkflowRunAssertions.Step(result, ClaimsWorkflow.FraudCheckStep);
        Assert.Equal(OAuthClientCredentialsBroker.BrokerName, Assert.Single(fraud.Report!.Grants).Broker);
        GrantScopeProbe tokenProbe = Assert.Single(fraud.Report.ScopeProbes);
        Assert.Contains("credit-bureau", tokenProbe.Probe.Resource, StringComparison.Ordinal);

        PartnerRequestLog check = Assert.Single(_partners.Requests, request => request.Path == "/fraud-screening/v1/checks");
        Assert.Equal(200, check.Status);
        Assert.Equal("insurance-claim", check.Body!["subjectType"]!.GetValue<string>());
        Assert.Equal("CLM-2001", check.Body["subjectId"]!.GetValue<string>());
        Assert.Equal(180.0m, check.Body["amount"]!.GetValue<decimal>());
        Assert.Empty(check.Body["signals"]!.AsArray());
        PartnerRequestLog probe = Assert.Single(_partners.Requests, request => request.Path.StartsWith("/credit-bureau/", StringComparison.Ordinal));
        Assert.Equal(401, probe.Status);

        WorkflowRunAssertions.AssertEveryGrantDeniedOutsideScope(read);
        WorkflowRunAssertions.AssertEveryGrantDeniedOutsideScope(fraud);
        await WorkflowRunAssertions.AssertEveryGrantRevokedWithProofAsync(host, result);
        Assert.Empty(await _account.PoliciesAsync(_claims));

        string[] events = await EventsAsync(host, runId);
        Assert.Equal(2, events.Count(name => name == AuditEvents.GrantIssued));
        Assert.Equal(2, events.Count(name => name == AuditEvents.ScopeProbed));
        Assert.Equal(AuditEvents.RunCompleted, events[^1]);
        await host.AssertNoSecretLeakedAsync(runId);
    }

    [Fact]
    public async Task Problem_claims_are_referred_with_reasons()
    {
        await using WorkflowTestHost host = await StartAsync();

        string suspicious = await host.StartRunAsync(ClaimsWorkflow.WorkflowName, new Dictionary<string, string> { ["claimId"] = "CLM-2002" });
        string incomplete = await host.StartRunAsync(ClaimsWorkflow.WorkflowName, new Dictionary<string, string> { ["claimId"] = "CLM-2003" });
        string mismatched = await host.StartRunAsync(ClaimsWorkflow.WorkflowName, new Dictionary<string, string> { ["claimId"] = "CLM-2004", ["memberId"] = "M-9999" });

        WorkflowResult suspiciousResult = await host.WaitAsync(suspicious);
        Assert.Equal(WorkflowOutcomes.Completed, suspiciousResult.Outcome);
        Assert.Equal(ClaimsWorkflow.ReferToAdjuster, suspiciousResult.Decision);
        Assert.Equal(
            [
                "invoice-lines-mismatch: the invoice lines add up to 31200.00 but its total is 48500.00",
                "fraud check FS-IC-2002 returned review with risk score 74 (amount-above-procedure-norm, invoice-total-mismatch, provider-on-watchlist)",
                "the claimed amount 48500.00 is not below the auto-approval limit 5000.00",
            ],
            suspiciousResult.Reasons);
        PartnerRequestLog sent = Assert.Single(_partners.Requests, request => request.Body?["subjectId"]?.GetValue<string>() == "CLM-2002");
        Assert.Equal(["invoice-lines-mismatch"], sent.Body!["signals"]!.AsArray().Select(signal => signal!.GetValue<string>()));

        WorkflowResult incompleteResult = await host.WaitAsync(incomplete);
        Assert.Equal(ClaimsWorkflow.ReferToAdjuster, incompleteResult.Decision);
        Assert.Equal("missing document: invoice.json", Assert.Single(incompleteResult.Reasons));
        sent = Assert.Single(_partners.Requests, request => request.Body?["subjectId"]?.GetValue<string>() == "CLM-2003");
        Assert.Equal(140.0m, sent.Body!["amount"]!.GetValue<decimal>());
        Assert.Equal(["missing-document:invoice.json"], sent.Body["signals"]!.AsArray().Select(signal => signal!.GetValue<string>()));

        WorkflowResult mismatchedResult = await host.WaitAsync(mismatched);
        Assert.Equal(ClaimsWorkflow.ReferToAdjuster, mismatchedResult.Decision);
        Assert.Equal(
            [
                "member-mismatch: claim.json names member M-1004, but the request names member M-9999",
                "invoice-total-mismatch: the invoice total 1300.00 does not equal the claimed amount 1250.00",
            ],
            mismatchedResult.Reasons);

        foreach (WorkflowResult result in new[] { suspiciousResult, incompleteResult, mismatchedResult })
        {
            Assert.All(result.Steps, WorkflowRunAssertions.AssertEveryGrantDeniedOutsideScope);
            await WorkflowRunAssertions.AssertEveryGrantRevokedWithProofAsync(host, result);
            await host.AssertNoSecretLeakedAsync(result.RunId);
        }
    }

    [Fact]
    public async Task Claim_at_the_configured_limit_is_referred()
    {
        await using WorkflowTestHost host = await StartAsync(autoApprovalLimit: "180");

        string runId = await host.StartRunAsync(ClaimsWorkflow.WorkflowName, new Dictionary<string, string> { ["claimId"] = "CLM-2001" });
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(ClaimsWorkflow.ReferToAdjuster, result.Decision);
        Assert.Equal("the claimed amount 180.00 is not below the auto-approval limit 180.00", Assert.Single(result.Reasons));
        Assert.Equal(180m, result.Summary!.Value.GetProperty("autoApprovalLimit").GetDecimal());
    }

    [Fact]
    public async Task Claim_without_documents_fails()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync(ClaimsWorkflow.WorkflowName, new Dictionary<string, string> { ["claimId"] = "CLM-9999" });
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Failed, result.Outcome);
        Assert.Null(result.Decision);
        StepResult read = Assert.Single(result.Steps);
        Assert.Equal(ClaimsWorkflow.ReadDocumentsStep, read.Step);
        Assert.Contains("no documents under 'CLM-9999/'", read.Error, StringComparison.Ordinal);
        Assert.Empty(read.Report!.ScopeProbes);
        await WorkflowRunAssertions.AssertEveryGrantRevokedWithProofAsync(host, result);
        Assert.Empty(await _account.PoliciesAsync(_claims));
        Assert.DoesNotContain(_partners.Requests, request => request.Path == "/fraud-screening/v1/checks");
        await host.AssertNoSecretLeakedAsync(runId);
    }

    [Fact]
    public async Task Failing_fraud_check_still_revokes_both_grants()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync(ClaimsWorkflow.WorkflowName, new Dictionary<string, string> { ["claimId"] = "CLM-2005" });
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Failed, result.Outcome);
        Assert.Equal(2, result.Steps.Count);
        Assert.Null(result.Steps[0].Error);
        StepResult fraud = result.Steps[1];
        Assert.Equal(ClaimsWorkflow.FraudCheckStep, fraud.Step);
        Assert.Contains("fraud-screening:Check on fraud-screening/v1/checks returned 404", fraud.Error, StringComparison.Ordinal);
        Assert.Equal("step fraud-check: " + fraud.Error, Assert.Single(result.Reasons));
        await WorkflowRunAssertions.AssertEveryGrantRevokedWithProofAsync(host, result);
        await host.AssertNoSecretLeakedAsync(runId);
    }

    [Theory]
    [InlineData("claimId=CLM-12", "parameters.claimId")]
    [InlineData("claimId=clm-2001", "parameters.claimId")]
    [InlineData("memberId=M-1001", "parameters.claimId")]
    [InlineData("claimId=CLM-2001&memberId=M 1001", "parameters.memberId")]
    [InlineData("claimID=CLM-2001", "parameters.claimID")]
    public async Task Invalid_request_is_rejected_before_any_grant(string query, string field)
    {
        await using WorkflowTestHost host = await StartAsync();
        Dictionary<string, string> parameters = query.Split('&').Select(pair => pair.Split('=')).ToDictionary(pair => pair[0], pair => pair[1]);

        await WorkflowTestRequests.AssertRejectedAsync(host, ClaimsWorkflow.WorkflowName, parameters, field);
    }

    [Fact]
    public void Sample_trigger_plans_both_grants()
    {
        WorkflowRequest request = WorkflowTestRequests.Sample("claims");
        var options = new WorkflowOptions { ClaimsContainer = _claims };

        WorkflowPlan plan = new ClaimsWorkflow(options, _account.Broker()).Plan(request);

        Assert.Equal(ClaimsWorkflow.WorkflowName, request.Workflow);
        Assert.Equal(
            [
                $"read-documents documents azure-blob-sas {_account.Service.Uri.AbsoluteUri.TrimEnd('/')}/{_claims} list,read",
                "fraud-check fraud oauth-client-credentials urn:nhi:partner:fraud-screening fraud:check",
            ],
            plan.Steps.SelectMany(step => step.Grants.Select(grant =>
                $"{step.Name} {grant.Name} {grant.Broker} {grant.Scope.Resource} {string.Join(',', grant.Scope.Permissions)}")));
        Assert.Equal(2, plan.Stages.Count);
    }

    private Task<WorkflowTestHost> StartAsync(string? autoApprovalLimit = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Workflows:ClaimsContainer"] = _claims,
            ["Workflows:ScopeProbeContainer"] = _probe,
            ["Workflows:PartnerBaseUrl"] = _partners.BaseUrl,
        };
        if (autoApprovalLimit is not null)
        {
            settings["Workflows:ClaimsAutoApprovalLimit"] = autoApprovalLimit;
        }

        return WorkflowTestHost.StartAsync(settings);
    }

    private async Task UploadAsync(string name, string json) =>
        await _account.Service.GetBlobContainerClient(_claims).GetBlobClient(name).UploadAsync(BinaryData.FromString(json));

    private void Fraud(string claimId, string checkId, int riskScore, string decision, params string[] reasons) =>
        _partners.FraudChecks[("insurance-claim", claimId)] = new FraudCheckFixture(checkId, riskScore, decision, reasons);

    private static string Claim(string claimId, string memberId, decimal amount, string serviceDate) => new JsonObject
    {
        ["claimId"] = claimId,
        ["memberId"] = memberId,
        ["procedureCode"] = "99213",
        ["serviceDate"] = serviceDate,
        ["provider"] = new JsonObject { ["providerId"] = "PRV-301", ["name"] = "Lakeside Family Clinic" },
        ["amountClaimed"] = amount,
        ["currency"] = "USD",
        ["documents"] = new JsonArray("claim.json", "invoice.json"),
    }.ToJsonString();

    private static string Invoice(string claimId, string issuedOn, decimal total, params decimal[] lines) => new JsonObject
    {
        ["invoiceNumber"] = "INV-" + claimId,
        ["claimId"] = claimId,
        ["provider"] = new JsonObject { ["providerId"] = "PRV-301", ["name"] = "Lakeside Family Clinic" },
        ["issuedOn"] = issuedOn,
        ["currency"] = "USD",
        ["lines"] = new JsonArray(lines.Select(amount => (JsonNode?)new JsonObject { ["description"] = "service", ["amount"] = amount }).ToArray()),
        ["total"] = total,
    }.ToJsonString();

    private static async Task<string[]> EventsAsync(WorkflowTestHost host, string runId) =>
        (await host.AuditRecordsAsync(runId)).Select(record => JsonNode.Parse(record.Json)!["nhi"]!["event"]!.GetValue<string>()).ToArray();
}
