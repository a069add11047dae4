using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;

namespace Nhi.Serverless.Workflows.Loan;

/// <summary>The consolidated result of a loan run. Holds ids, amounts and scores, and no name of the applicant.</summary>
public sealed record LoanSummary(
    string ApplicationId,
    int ApplicantId,
    string Decision,
    decimal Amount,
    decimal RequestedAmount,
    int CreditScore,
    string? CreditBand,
    string FraudCheckId,
    string FraudDecision,
    int FraudRiskScore,
    int? InternalScore,
    DateOnly? InternalReportedAt,
    DateOnly AsOf);

/// <summary>
/// Loan approval, called by a Logic App in the middle of its workflow with "applicationId", "applicantId" and "amount".
/// One stage runs two managed steps at once: read-applicant reads the applicant and the internal credit history with a
/// read-only PostgreSQL grant, and partner-checks calls the credit bureau and the fraud screening API, each with its
/// own OAuth token. The decision follows <see cref="LoanDecisionRules"/>.
/// </summary>
public sealed class LoanWorkflow(WorkflowOptions options, string databaseResource) : IWorkflow
{
    public const string WorkflowName = "loan";

    public const string ReadApplicantStep = "read-applicant";

    public const string PartnerChecksStep = "partner-checks";

    /// <summary>The grant of read-applicant: SELECT on <see cref="ApplicantsTable"/> and <see cref="CreditHistoryTable"/>.</summary>
    public const string LoansReadGrant = "loans-read";

    /// <summary>The grant of partner-checks for the credit bureau.</summary>
    public const string CreditGrant = "credit";

    /// <summary>The grant of partner-checks for the fraud screening API.</summary>
    public const string FraudGrant = "fraud";

    public const string ApplicantsTable = "loans.applicants";

    public const string CreditHistoryTable = "loans.credit_history";

    public const string CreditScoreScope = "credit-score:read";

    public const string FraudCheckScope = "fraud:check";

    public string Name => WorkflowName;

    public WorkflowPlan Plan(WorkflowRequest request)
    {
        LoanRequest loan = LoanRequest.Parse(request);

        var readApplicant = new WorkflowStepPlan(
            ReadApplicantStep,
            StepModes.Managed,
            [new GrantSpec(LoansReadGrant, PostgresRoleBroker.BrokerName, PostgresGrantScope.ReadOnly(databaseResource, ApplicantsTable, CreditHistoryTable), options.StepLifetime)],
            options.StepLifetime);

        var partnerChecks = new WorkflowStepPlan(
            PartnerChecksStep,
            StepModes.Managed,
            [
                new GrantSpec(CreditGrant, OAuthClientCredentialsBroker.BrokerName, OAuthScopes.For(options.CreditBureauAudience, CreditScoreScope), options.StepLifetime),
                new GrantSpec(FraudGrant, OAuthClientCredentialsBroker.BrokerName, OAuthScopes.For(options.FraudScreeningAudience, FraudCheckScope), options.StepLifetime),
            ],
            options.StepLifetime);

        return new WorkflowPlan(Name, $"loan application {loan.ApplicationId}", [new WorkflowStage([readApplicant, partnerChecks])]);
    }

    /// <summary>Applies <see cref="LoanDecisionRules"/> to both steps' outputs as of the date the run was received (UTC).</summary>
    public WorkflowDecision Decide(WorkflowRequest request, WorkflowPlan plan, IReadOnlyList<StepReport> reports)
    {
        ArgumentNullException.ThrowIfNull(request);
        LoanRequest loan = LoanRequest.Parse(request);
        ApplicantRecord applicant = StepOutput.Read<ApplicantRecord>(reports, ReadApplicantStep);
        PartnerFindings partners = StepOutput.Read<PartnerFindings>(reports, PartnerChecksStep);
        DateOnly asOf = DateOnly.FromDateTime(request.ReceivedAt.UtcDateTime);

        LoanAssessment assessment = LoanDecisionRules.Assess(loan, applicant, partners, asOf);
        var summary = new LoanSummary(
            loan.ApplicationId,
            loan.ApplicantId,
            assessment.Decision,
            loan.Amount,
            applicant.RequestedAmount,
            partners.Credit.Score,
            partners.Credit.Band,
            partners.Fraud.CheckId,
            partners.Fraud.Decision,
            partners.Fraud.RiskScore,
            applicant.LatestInternalScore,
            applicant.LatestReportedAt,
            asOf);
        return new WorkflowDecision(WorkflowOutcomes.Completed, assessment.Decision, assessment.Reasons, StepOutput.From(summary));
    }
}
