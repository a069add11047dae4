using System.Globalization;
using System.Text.RegularExpressions;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Workflows.Steps;

namespace Nhi.Serverless.Workflows.Claims;

/// <summary>
/// Insurance claims: read the claim's documents with a read and list SAS on the claims container, then screen the claim
/// for fraud with an OAuth token for the fraud screening API, then approve or refer it to an adjuster.
/// </summary>
/// <remarks>
/// The claim is approved only when all of these hold; otherwise it is referred to an adjuster with one reason per rule
/// that failed:
/// 1. every required document is present (claim.json, invoice.json and any the claim form lists);
/// 2. the documents have no problem (see <see cref="ClaimDocumentChecks"/>);
/// 3. fraud screening returned "clear";
/// 4. the claimed amount is below <see cref="WorkflowOptions.ClaimsAutoApprovalLimit"/>.
/// </remarks>
public sealed partial class ClaimsWorkflow(WorkflowOptions options, BlobContainerSasBroker blobs) : IWorkflow
{
    public const string WorkflowName = "claims";

    public const string ReadDocumentsStep = "read-documents";

    public const string FraudCheckStep = "fraud-check";

    public const string DocumentsGrant = "documents";

    public const string FraudGrant = "fraud";

    public const string ClaimIdParameter = "claimId";

    public const string MemberIdParameter = "memberId";

    public const string Approve = "approve";

    public const string ReferToAdjuster = "refer-to-adjuster";

    public string Name => WorkflowName;

    public WorkflowPlan Plan(WorkflowRequest request)
    {
        var parameters = new WorkflowParameters(request, ClaimIdParameter, MemberIdParameter);
        string claimId = parameters.Required(ClaimIdParameter, ClaimIdPattern(), "a claim id of 'CLM-' and 4 to 12 digits, such as CLM-2001");
        parameters.Optional(MemberIdParameter, MemberIdPattern(), "a member id of 1 to 64 letters, digits and hyphens, such as M-1001");

        var documents = new GrantSpec(
            DocumentsGrant,
            BlobContainerSasBroker.BrokerName,
            Scope.Create("azure", blobs.ContainerResource(options.ClaimsContainer), ["list", "read"]),
            options.StepLifetime);
        var fraud = new GrantSpec(
            FraudGrant,
            OAuthClientCredentialsBroker.BrokerName,
            OAuthScopes.For(options.FraudScreeningAudience, "fraud:check"),
            options.StepLifetime);

        return new WorkflowPlan(Name, $"claim {claimId}",
        [
            new WorkflowStage([new WorkflowStepPlan(ReadDocumentsStep, StepModes.Managed, [documents], options.StepLifetime)]),
            new WorkflowStage([new WorkflowStepPlan(FraudCheckStep, StepModes.Managed, [fraud], options.StepLifetime)]),
        ]);
    }

    public WorkflowDecision Decide(WorkflowRequest request, WorkflowPlan plan, IReadOnlyList<StepReport> reports)
    {
        ClaimDocuments documents = StepOutput.Read<ClaimDocuments>(reports, ReadDocumentsStep);
        FraudScreening fraud = StepOutput.Read<FraudScreening>(reports, FraudCheckStep);
        decimal limit = options.ClaimsAutoApprovalLimit;

        var passed = new List<string>();
        var failed = new List<string>();

        Rule(documents.Missing.Count == 0,
            $"every required document is present: {string.Join(", ", documents.Required)}",
            $"missing document: {string.Join(", ", documents.Missing)}");

        passed.AddRange(documents.Problems.Count == 0 ? ["the documents are consistent"] : []);
        failed.AddRange(documents.Problems.Select(problem => $"{problem.Code}: {problem.Detail}"));

        string fraudFacts = $"fraud check {fraud.CheckId} returned {fraud.Decision} with risk score {fraud.RiskScore}"
            + (fraud.Reasons.Count == 0 ? "" : $" ({string.Join(", ", fraud.Reasons)})");
        Rule(fraud.Decision == "clear", fraudFacts, fraudFacts);

        decimal? claimed = documents.Claim?.AmountClaimed;
        Rule(claimed < limit,
            Invariant($"the claimed amount {claimed:0.00} is below the auto-approval limit {limit:0.00}"),
            claimed is null
                ? "the claimed amount is unknown, so the auto-approval limit cannot be checked"
                : Invariant($"the claimed amount {claimed:0.00} is not below the auto-approval limit {limit:0.00}"));

        string decision = failed.Count == 0 ? Approve : ReferToAdjuster;
        var summary = new ClaimSummary(
            documents.ClaimId,
            decision,
            documents.Claim?.MemberId,
            documents.Claim?.PolicyNumber,
            claimed,
            documents.Claim?.Currency,
            documents.Claim?.IncidentDate,
            limit,
            documents.Found,
            documents.Missing,
            documents.Problems,
            new ClaimFraudSummary(fraud.CheckId, fraud.RiskScore, fraud.Decision, fraud.Reasons));

        return new WorkflowDecision(WorkflowOutcomes.Completed, decision, failed.Count == 0 ? passed : failed, StepOutput.From(summary));

        void Rule(bool holds, string whenHolds, string whenFails) => (holds ? passed : failed).Add(holds ? whenHolds : whenFails);
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex("^CLM-[0-9]{4,12}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex ClaimIdPattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]{0,63}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex MemberIdPattern();
}
