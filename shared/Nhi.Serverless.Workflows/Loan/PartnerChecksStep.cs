using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Workflows.Loan;

/// <summary>
/// The managed partner-checks step of the loan workflow. It requests the applicant's score from the credit bureau with
/// the "credit" token and a check of the application from the fraud screening API with the "fraud" token. Then it calls
/// each API with the other API's token, which must be rejected with 401 or 403.
/// </summary>
public sealed class PartnerChecksStep(PartnerApiClient partners) : IWorkflowStep
{
    public const string GetScoreAction = "credit-bureau:GetScore";

    public const string CreateCheckAction = "fraud-screening:CreateCheck";

    /// <summary>The path of POST for a fraud check, under the partner base address.</summary>
    public const string FraudChecksPath = "fraud-screening/v1/checks";

    /// <summary>The lowest and highest credit score the bureau reports, as on the FICO scale.</summary>
    public const int MinScore = 300;

    public const int MaxScore = 850;

    public string Workflow => LoanWorkflow.WorkflowName;

    public string Step => LoanWorkflow.PartnerChecksStep;

    /// <summary>Returns the path of GET for an applicant's credit score, under the partner base address.</summary>
    public static string ScorePath(int applicantId) =>
        string.Create(CultureInfo.InvariantCulture, $"credit-bureau/v1/scores/{applicantId}");

    public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        LoanRequest loan = LoanRequest.Parse(context.Request);
        string scorePath = ScorePath(loan.ApplicantId);
        JsonObject checkBody = FraudCheckBody(loan, context.Request.Source);

        JsonNode score = await partners.SendAsync(
            context, LoanWorkflow.CreditGrant, GetScoreAction, HttpMethod.Get, scorePath, null, cancellationToken);
        JsonNode screening = await partners.SendAsync(
            context, LoanWorkflow.FraudGrant, CreateCheckAction, HttpMethod.Post, FraudChecksPath, checkBody, cancellationToken);

        var findings = new PartnerFindings(ReadScore(context, score), ReadScreening(context, screening));

        // Each token on the other partner's API: another audience, so the API must reject it.
        bool creditDenied = await partners.ProbeOutOfScopeAsync(
            context, LoanWorkflow.CreditGrant, CreateCheckAction, HttpMethod.Post, FraudChecksPath, checkBody, cancellationToken);
        bool fraudDenied = await partners.ProbeOutOfScopeAsync(
            context, LoanWorkflow.FraudGrant, GetScoreAction, HttpMethod.Get, scorePath, null, cancellationToken);
        if (!creditDenied || !fraudDenied)
        {
            string grant = creditDenied ? LoanWorkflow.FraudGrant : LoanWorkflow.CreditGrant;
            throw new WorkflowStepException(context.Step.Name, $"the token of grant '{grant}' was accepted by the other partner's API, outside its audience");
        }

        string[] checks =
        [
            string.Create(CultureInfo.InvariantCulture, $"credit bureau returned score {findings.Credit.Score} for applicant {loan.ApplicantId}"),
            string.Create(CultureInfo.InvariantCulture, $"fraud screening check {findings.Fraud.CheckId} returned {findings.Fraud.Decision} with risk score {findings.Fraud.RiskScore}"),
            $"the {LoanWorkflow.CreditGrant} token was rejected by the fraud screening API",
            $"the {LoanWorkflow.FraudGrant} token was rejected by the credit bureau API",
        ];
        return new StepOutcome(StepOutput.From(findings), new Verification(true, checks));
    }

    private static JsonObject FraudCheckBody(LoanRequest loan, string source) => new()
    {
        ["subjectType"] = "loan-applicant",
        ["subjectId"] = loan.ApplicantId.ToString(CultureInfo.InvariantCulture),
        ["amount"] = loan.Amount,
        ["signals"] = new JsonArray($"application:{loan.ApplicationId}", $"channel:{source}"),
    };

    private static CreditBureauScore ReadScore(WorkflowStepContext context, JsonNode answer)
    {
        if (answer is not JsonObject)
        {
            throw Invalid(context, "credit bureau", "score", "a JSON object with a score");
        }

        int score = ReadInteger(context, answer, "score", "credit bureau", MinScore, MaxScore);
        return new CreditBureauScore(score, ReadOptionalString(answer, "band"), ReadOptionalString(answer, "reportedAt"));
    }

    private static FraudScreening ReadScreening(WorkflowStepContext context, JsonNode answer)
    {
        if (answer is not JsonObject)
        {
            throw Invalid(context, "fraud screening", "checkId", "a JSON object with a check");
        }

        string checkId = ReadOptionalString(answer, "checkId")
            ?? throw Invalid(context, "fraud screening", "checkId", "a string");
        int riskScore = ReadInteger(context, answer, "riskScore", "fraud screening", 0, 100);
        string decision = ReadOptionalString(answer, "decision") is { } value && FraudDecisions.All.Contains(value)
            ? value
            : throw Invalid(context, "fraud screening", "decision", $"one of {string.Join(", ", FraudDecisions.All)}");

        var reasons = new List<string>();
        if (answer["reasons"] is JsonArray items)
        {
            foreach (JsonNode? item in items)
            {
                reasons.Add(item?.GetValueKind() == JsonValueKind.String ? item.GetValue<string>() : throw Invalid(context, "fraud screening", "reasons", "an array of strings"));
            }
        }

        return new FraudScreening(checkId, riskScore, decision, reasons);
    }

    private static int ReadInteger(WorkflowStepContext context, JsonNode answer, string field, string partner, int min, int max)
    {
        JsonNode? node = answer[field];
        if (node?.GetValueKind() == JsonValueKind.Number && node.AsValue().TryGetValue(out int value) && value >= min && value <= max)
        {
            return value;
        }

        throw Invalid(context, partner, field, string.Create(CultureInfo.InvariantCulture, $"an integer from {min} to {max}"));
    }

    private static string? ReadOptionalString(JsonNode answer, string field) =>
        answer[field]?.GetValueKind() == JsonValueKind.String ? answer[field]!.GetValue<string>() : null;

    private static WorkflowStepException Invalid(WorkflowStepContext context, string partner, string field, string expected) =>
        new(context.Step.Name, $"the {partner} answer has no valid '{field}': expected {expected}");
}
