using System.Text.Json.Nodes;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows.Steps;

namespace Nhi.Serverless.Workflows.Claims;

/// <summary>
/// Sends the claim's facts from the read-documents step to the fraud screening API with the "fraud" grant, and proves
/// that the credit bureau, another partner API, rejects the grant's token.
/// </summary>
public sealed class FraudCheckStep(PartnerApiClient partners) : IWorkflowStep
{
    /// <summary>The fraud screening API accepts at most this many signals.</summary>
    private const int MaxSignals = 50;

    private static readonly string[] Decisions = ["clear", "review", "decline"];

    public string Workflow => ClaimsWorkflow.WorkflowName;

    public string Step => ClaimsWorkflow.FraudCheckStep;

    /// <exception cref="WorkflowStepException">The API failed or returned a response outside its contract, or the scope probe was not denied.</exception>
    public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        ClaimDocuments documents = context.EarlierOutput<ClaimDocuments>(ClaimsWorkflow.ReadDocumentsStep);

        decimal amount = documents.Claim?.AmountClaimed ?? documents.Invoice?.Total ?? 0m;
        string[] signals = documents.Problems.Select(problem => problem.Code)
            .Concat(documents.Missing.Select(name => "missing-document:" + name))
            .Distinct(StringComparer.Ordinal)
            .Take(MaxSignals)
            .ToArray();
        var body = new JsonObject
        {
            ["subjectType"] = "insurance-claim",
            ["subjectId"] = documents.ClaimId,
            ["amount"] = amount,
            ["signals"] = new JsonArray(signals.Select(signal => (JsonNode?)JsonValue.Create(signal)).ToArray()),
        };

        JsonNode answer = await partners.SendAsync(
            context, ClaimsWorkflow.FraudGrant, "fraud-screening:Check", HttpMethod.Post, "fraud-screening/v1/checks", body, cancellationToken);
        FraudScreening screening = Read(answer, amount, signals);

        string probePath = $"credit-bureau/v1/scores/{Uri.EscapeDataString(documents.ClaimId)}";
        if (!await partners.ProbeOutOfScopeAsync(context, ClaimsWorkflow.FraudGrant, "credit-bureau:GetScore", HttpMethod.Get, probePath, null, cancellationToken))
        {
            throw new WorkflowStepException(Step, $"the token of grant '{ClaimsWorkflow.FraudGrant}' was not rejected by the credit bureau API");
        }

        var checks = new List<string>
        {
            $"fraud check {screening.CheckId}: {screening.Decision}, risk {screening.RiskScore}",
            $"grant '{ClaimsWorkflow.FraudGrant}' rejected by the credit bureau API",
        };
        return new StepOutcome(StepOutput.From(screening), new Verification(true, checks));
    }

    private FraudScreening Read(JsonNode answer, decimal amount, IReadOnlyList<string> signals)
    {
        JsonDocumentReader reader = JsonDocumentReader.From("the fraud screening response", answer);
        string? checkId = reader.String("checkId");
        int? riskScore = reader.Integer("riskScore");
        string? decision = reader.String("decision");
        IReadOnlyList<string> reasons = reader.Strings("reasons", required: false);

        if (reader.Errors.Count > 0 || checkId is null || riskScore is null || decision is null)
        {
            throw new WorkflowStepException(Step, string.Join("; ", reader.Errors));
        }

        if (riskScore is < 0 or > 100 || !Decisions.Contains(decision, StringComparer.Ordinal))
        {
            throw new WorkflowStepException(Step, $"the fraud screening response has risk score {riskScore} and decision '{decision}'; expected 0 to 100 and one of {string.Join(", ", Decisions)}");
        }

        return new FraudScreening(checkId, riskScore.Value, decision, reasons, amount, signals);
    }
}
