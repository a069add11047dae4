using System.Text.Json;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows;
using Nhi.Serverless.Workflows.Loan;

namespace Nhi.Serverless.Tests.Workflows.Loan;

/// <summary>
/// The loan workflow on the local stack: PostgreSQL, the OAuth server, and the partner APIs of
/// <see cref="TestPartnerApis"/> with responses chosen here. The tests read the seed applicants of
/// infra/local/postgres.sh: applicant 1 requested 25000.00 and has an internal score of 742 of 2025-11-01, and applicant
/// 2 requested 12000.00 with 655 of 2025-10-15. The stack gives no login that may insert rows. Each run that depends
/// on the age of that history sets its received time.
/// </summary>
public sealed class LoanWorkflowTests : IAsyncLifetime
{
    private static readonly DateTimeOffset EarlySummer = new(2026, 6, 1, 8, 0, 0, TimeSpan.Zero);

    private TestPartnerApis _partners = null!;

    public async Task InitializeAsync()
    {
        _partners = await TestPartnerApis.StartAsync();
        _partners.CreditScores["1"] = new CreditScoreFixture(748, "very-good", "2026-05-20");
        _partners.CreditScores["2"] = new CreditScoreFixture(652, "fair", "2026-05-20");
        _partners.CreditScores["999999"] = new CreditScoreFixture(701, "good", "2026-05-20");
        _partners.FraudChecks[("loan-applicant", "1")] = new FraudCheckFixture("FS-LA-0001", 6, FraudDecisions.Clear, []);
        _partners.FraudChecks[("loan-applicant", "2")] = new FraudCheckFixture("FS-LA-0002", 91, FraudDecisions.Decline, ["identity-mismatch"]);
        _partners.FraudChecks[("loan-applicant", "999999")] = new FraudCheckFixture("FS-LA-9999", 10, FraudDecisions.Clear, []);
    }

    public Task DisposeAsync() => _partners.DisposeAsync().AsTask();

    [Fact]
    public async Task Good_application_is_approved()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync("loan", Application("LA-2026-0042", "1", "20000.00"), receivedAt: EarlySummer);
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Completed, result.Outcome);
        Assert.Equal(LoanDecisions.Approve, result.Decision);
        Assert.Equal("loan application LA-2026-0042", result.Subject);
        Assert.Equal(4, result.Reasons.Count);

        LoanSummary summary = result.Summary!.Value.Deserialize<LoanSummary>(StepOutput.SerializerOptions)!;
        Assert.Equal("LA-2026-0042", summary.ApplicationId);
        Assert.Equal(1, summary.ApplicantId);
        Assert.Equal(20000.00m, summary.Amount);
        Assert.Equal(25000.00m, summary.RequestedAmount);
        Assert.Equal(748, summary.CreditScore);
        Assert.Equal("very-good", summary.CreditBand);
        Assert.Equal("FS-LA-0001", summary.FraudCheckId);
        Assert.Equal(FraudDecisions.Clear, summary.FraudDecision);
        Assert.Equal(742, summary.InternalScore);
        Assert.Equal(new DateOnly(2025, 11, 1), summary.InternalReportedAt);
        Assert.Equal(new DateOnly(2026, 6, 1), summary.AsOf);

        StepResult read = WorkflowRunAssertions.Step(result, "read-applicant");
        Assert.True(read.Report!.Verification.Passed);
        Assert.Equal(PostgresRoleBroker.BrokerName, Assert.Single(read.Report.Grants).Broker);
        Assert.Equal(
            ["erp.vendors", "erp.invoices"],
            read.Report.ScopeProbes.Select(probe => probe.Probe.Resource[(probe.Probe.Resource.LastIndexOf('/') + 1)..]));
        Assert.All(read.Report.ScopeProbes, probe => Assert.Contains("SQLSTATE 42501", probe.Probe.Evidence, StringComparison.Ordinal));

        StepResult partners = WorkflowRunAssertions.Step(result, "partner-checks");
        Assert.True(partners.Report!.Verification.Passed);
        Assert.Equal(2, partners.Report.Grants.Count);
        Assert.All(partners.Report.Grants, grant => Assert.Equal(OAuthClientCredentialsBroker.BrokerName, grant.Broker));
        Assert.Equal(2, partners.Report.ScopeProbes.Count);
        Assert.Contains("/fraud-screening/v1/checks", partners.Report.ScopeProbes[0].Probe.Resource, StringComparison.Ordinal);
        Assert.Contains("/credit-bureau/v1/scores/1", partners.Report.ScopeProbes[1].Probe.Resource, StringComparison.Ordinal);
        GrantCall[] calls = partners.Report.Calls.Where(entry => entry.Call.Purpose == ApiCallPurposes.Step).ToArray();
        Assert.Equal(["credit-bureau:GetScore", "fraud-screening:CreateCheck"], calls.Select(entry => entry.Call.Action));
        Assert.All(calls, entry => Assert.Equal(200, entry.Call.StatusCode));

        // The fraud check received the application, and each probe was rejected because of the token's audience.
        PartnerRequestLog check = Assert.Single(_partners.Requests, request => request.Path == "/fraud-screening/v1/checks" && request.Status == 200);
        Assert.Equal("1", check.Body!["subjectId"]!.GetValue<string>());
        Assert.Equal(20000.00m, check.Body["amount"]!.GetValue<decimal>());
        Assert.Contains("application:LA-2026-0042", check.Body["signals"]!.AsArray().Select(signal => signal!.GetValue<string>()));
        Assert.Equal(2, _partners.Requests.Count(request => request.Status == 401));

        await host.AssertGrantsContainedAsync(result);
        string[] events = await host.AuditEventsAsync(runId);
        Assert.Equal(3, events.Count(name => name == AuditEvents.GrantIssued));
        Assert.Equal(4, events.Count(name => name == AuditEvents.ScopeProbed));
        Assert.Equal(AuditEvents.RunCompleted, events[^1]);
    }

    [Fact]
    public async Task Amount_above_request_and_stale_history_refer()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync(
            "loan", Application("LA-2026-0043", "1", "30000"), receivedAt: new DateTimeOffset(2026, 12, 1, 8, 0, 0, TimeSpan.Zero));
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Completed, result.Outcome);
        Assert.Equal(LoanDecisions.Refer, result.Decision);
        Assert.Equal(
            [
                "amount 30000.00 exceeds the applicant's requested amount 25000.00",
                "the latest internal credit history entry, of 2025-11-01, is older than one year (before 2025-12-01)",
            ],
            result.Reasons);
        await host.AssertGrantsContainedAsync(result);
    }

    [Fact]
    public async Task Fraud_decline_declines_the_application()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync("loan", Application("LA-2026-0044", "2", "10000"), receivedAt: EarlySummer);
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.True(result.Outcome == WorkflowOutcomes.Completed, string.Join("\n", result.Reasons));
        Assert.Equal(LoanDecisions.Decline, result.Decision);
        Assert.Equal(
            [
                "fraud screening FS-LA-0002 returned decline with risk score 91 (identity-mismatch)",
                "credit bureau score 652 is from 580 to 669",
            ],
            result.Reasons);
        LoanSummary summary = result.Summary!.Value.Deserialize<LoanSummary>(StepOutput.SerializerOptions)!;
        Assert.Equal(12000.00m, summary.RequestedAmount);
        Assert.Equal(655, summary.InternalScore);
        await host.AssertGrantsContainedAsync(result);
    }

    [Fact]
    public async Task Unknown_applicant_fails_and_revokes_every_grant()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync("loan", Application("LA-2026-0045", "999999", "5000"), receivedAt: EarlySummer);
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Failed, result.Outcome);
        Assert.Null(result.Decision);
        Assert.Equal("step read-applicant: Step 'read-applicant' failed: applicant 999999 is not in loans.applicants", Assert.Single(result.Reasons));

        StepResult read = WorkflowRunAssertions.Step(result, "read-applicant");
        Assert.NotNull(read.Error);
        Assert.Null(read.Report!.Output);
        StepResult partners = WorkflowRunAssertions.Step(result, "partner-checks");
        Assert.Null(partners.Error);

        // The probes ran before the applicant was found missing, so the failed step still shows its grant's limits.
        await host.AssertGrantsContainedAsync(result);
        Assert.Contains(AuditEvents.StepFailed, await host.AuditEventsAsync(runId));
        Assert.Equal(3, result.Steps.Sum(step => step.GrantIds.Count));
    }

    [Fact]
    public async Task Invalid_amount_is_rejected()
    {
        await using WorkflowTestHost host = await StartAsync();

        string runId = await host.StartRunAsync("loan", Application("LA-2026-0046", "1", "12,000"));
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Rejected, result.Outcome);
        string reason = Assert.Single(result.Reasons);
        Assert.Contains("parameters.amount", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("12,000", reason, StringComparison.Ordinal);
        Assert.Empty(result.Steps);
        Assert.Empty(host.IssuedSecrets);
        Assert.Empty(_partners.Requests);
    }

    private Task<WorkflowTestHost> StartAsync() =>
        WorkflowTestHost.StartAsync(new Dictionary<string, string?> { ["Workflows:PartnerBaseUrl"] = _partners.BaseUrl });

    private static Dictionary<string, string> Application(string applicationId, string applicantId, string amount) =>
        new() { ["applicationId"] = applicationId, ["applicantId"] = applicantId, ["amount"] = amount };
}
