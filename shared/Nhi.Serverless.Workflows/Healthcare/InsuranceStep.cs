using System.Globalization;
using System.Text.Json.Nodes;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows.Steps;

namespace Nhi.Serverless.Workflows.Healthcare;

/// <summary>
/// Asks the insurer's eligibility API, with the "insurer" grant, whether the patient's plan covers the appointment's
/// procedure on its date, and proves that the credit bureau, another partner API, rejects the grant's token.
/// </summary>
public sealed class InsuranceStep(PartnerApiClient partners) : IWorkflowStep
{
    public string Workflow => HealthcareWorkflow.WorkflowName;

    public string Step => HealthcareWorkflow.InsuranceStep;

    /// <exception cref="WorkflowStepException">The insurer failed or does not know the member, its response is outside its contract, or the scope probe was not denied.</exception>
    public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        PatientRecord patient = context.EarlierOutput<PatientRecord>(HealthcareWorkflow.PatientRecordsStep);

        Eligibility eligibility = patient.MemberId is null
            ? new Eligibility(false, null, false, null, null, "the patient record has no insurer member id, so the insurer was not asked")
            : await AskAsync(context, patient.MemberId, cancellationToken);

        string probePath = $"credit-bureau/v1/scores/{Uri.EscapeDataString(patient.PatientId)}";
        if (!await partners.ProbeOutOfScopeAsync(context, HealthcareWorkflow.InsurerGrant, "credit-bureau:GetScore", HttpMethod.Get, probePath, null, cancellationToken))
        {
            throw new WorkflowStepException(Step, $"the token of grant '{HealthcareWorkflow.InsurerGrant}' was not rejected by the credit bureau API");
        }

        var checks = new List<string>
        {
            eligibility.Checked ? $"insurer returned for member {eligibility.MemberId}: {eligibility.Reason}" : eligibility.Reason,
            $"grant '{HealthcareWorkflow.InsurerGrant}' rejected by the credit bureau API",
        };
        return new StepOutcome(StepOutput.From(eligibility), new Verification(true, checks));
    }

    private async Task<Eligibility> AskAsync(WorkflowStepContext context, string memberId, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["memberId"] = memberId,
            ["procedureCode"] = context.Parameter(HealthcareWorkflow.ProcedureCodeParameter),
            ["date"] = context.Parameter(HealthcareWorkflow.DateParameter),
        };
        JsonNode answer = await partners.SendAsync(
            context, HealthcareWorkflow.InsurerGrant, "insurer:CheckEligibility", HttpMethod.Post, "insurer/v1/eligibility", body, cancellationToken);

        JsonDocumentReader reader = JsonDocumentReader.From("the eligibility response", answer);
        bool? covered = reader.Boolean("covered");
        string? planName = reader.String("planName", required: false);
        decimal? copay = reader.Amount("copay", required: false);
        string? reason = reader.String("reason");
        if (reader.Errors.Count > 0 || covered is null || reason is null)
        {
            throw new WorkflowStepException(Step, string.Join("; ", reader.Errors));
        }

        if (covered.Value && copay is not >= 0)
        {
            throw new WorkflowStepException(
                Step, $"the insurer returned covered with copay {copay?.ToString(CultureInfo.InvariantCulture) ?? "null"}; expected an amount of 0 or more");
        }

        return new Eligibility(true, memberId, covered.Value, planName, covered.Value ? copay : null, reason);
    }
}
