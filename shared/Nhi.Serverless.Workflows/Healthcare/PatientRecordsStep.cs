using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows.Steps;

namespace Nhi.Serverless.Workflows.Healthcare;

/// <summary>
/// Reads "{patientId}.json" from the patient records container with the "records" grant, and proves that the grant is
/// denied on another container.
/// </summary>
public sealed class PatientRecordsStep(WorkflowOptions options) : IWorkflowStep
{
    public string Workflow => HealthcareWorkflow.WorkflowName;

    public string Step => HealthcareWorkflow.PatientRecordsStep;

    /// <exception cref="WorkflowStepException">The record is missing or invalid, a read failed, or the scope probe was not denied.</exception>
    public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        string patientId = context.Parameter(HealthcareWorkflow.PatientIdParameter);
        var reader = new BlobStepReader(context, HealthcareWorkflow.RecordsGrant);

        string name = patientId + ".json";
        BinaryData content = await reader.ReadAsync(name, cancellationToken)
            ?? throw new WorkflowStepException(Step, $"the patient records container has no record {name}; check the patient id");
        JsonDocumentReader document = JsonDocumentReader.Parse(name, content);
        string? recordPatientId = document.String("patientId");
        string? patientName = document.String("name");
        DateOnly? dateOfBirth = document.Date("dateOfBirth", required: false);
        string? memberId = document.String("memberId", required: false);

        if (document.Errors.Count > 0 || recordPatientId is null || patientName is null)
        {
            throw new WorkflowStepException(Step, "the patient record is invalid: " + string.Join("; ", document.Errors));
        }

        if (recordPatientId != patientId)
        {
            throw new WorkflowStepException(Step, $"{name} is the record of patient {recordPatientId}, not {patientId}");
        }

        if (!await reader.ProbeContainerAsync(options.ScopeProbeContainer, cancellationToken))
        {
            throw new WorkflowStepException(Step, $"the SAS of grant '{HealthcareWorkflow.RecordsGrant}' was not denied on container {options.ScopeProbeContainer}");
        }

        var record = new PatientRecord(patientId, patientName, dateOfBirth, memberId);
        var checks = new List<string>
        {
            $"read {name}",
            memberId is null ? "the record has no insurer member id" : $"insurer member id {memberId}",
            $"grant '{HealthcareWorkflow.RecordsGrant}' denied on container {options.ScopeProbeContainer}",
        };
        return new StepOutcome(StepOutput.From(record), new Verification(true, checks));
    }
}
