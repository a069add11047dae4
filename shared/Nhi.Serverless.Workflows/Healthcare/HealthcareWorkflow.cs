using System.Globalization;
using System.Text.RegularExpressions;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Workflows.Steps;

namespace Nhi.Serverless.Workflows.Healthcare;

/// <summary>
/// A healthcare appointment check-in: read the patient record (Blob SAS) and the billing record (S3 session) at the same
/// time, then ask the insurer whether the appointment is covered (OAuth token), then tell the front desk what to do.
/// </summary>
/// <remarks>
/// The decision, checked in this order:
/// 1. "coverage-problem" when the patient record has no insurer member id, or the insurer does not cover the procedure
///    on the appointment's date. The desk resolves coverage before the visit.
/// 2. "collect-payment" when the patient has an outstanding balance. The desk collects it with the copay.
/// 3. "ready" otherwise. The desk collects the copay, which may be 0.
/// </remarks>
public sealed partial class HealthcareWorkflow(WorkflowOptions options, BlobContainerSasBroker blobs, AwsOptions aws) : IWorkflow
{
    public const string WorkflowName = "healthcare";

    public const string PatientRecordsStep = "patient-records";

    public const string BillingStep = "billing";

    public const string InsuranceStep = "insurance";

    public const string RecordsGrant = "records";

    public const string BillingGrant = "billing";

    public const string InsurerGrant = "insurer";

    public const string PatientIdParameter = "patientId";

    public const string AppointmentIdParameter = "appointmentId";

    public const string ProcedureCodeParameter = "procedureCode";

    public const string DateParameter = "date";

    public const string Ready = "ready";

    public const string CollectPayment = "collect-payment";

    public const string CoverageProblem = "coverage-problem";

    public string Name => WorkflowName;

    public WorkflowPlan Plan(WorkflowRequest request)
    {
        var parameters = new WorkflowParameters(request, PatientIdParameter, AppointmentIdParameter, ProcedureCodeParameter, DateParameter);
        string patientId = parameters.Required(PatientIdParameter, PatientIdPattern(), "a patient id of 'P-' and 4 to 12 digits, such as P-1001");
        string appointmentId = parameters.Required(AppointmentIdParameter, AppointmentIdPattern(), "an appointment id of 1 to 64 letters, digits and hyphens, such as APT-5001");
        parameters.Required(ProcedureCodeParameter, ProcedureCodePattern(), "a procedure code of 5 digits or capital letters, such as 99213");
        parameters.RequiredDate(DateParameter);

        var records = new GrantSpec(
            RecordsGrant,
            BlobContainerSasBroker.BrokerName,
            Scope.Create("azure", blobs.ContainerResource(options.PatientRecordsContainer), ["read"]),
            options.StepLifetime);
        var billing = new GrantSpec(
            BillingGrant,
            StsGrantBroker.BrokerName,
            Scope.Create("aws", S3BucketArn.Format(aws.Partition, options.BillingBucket), ["s3:GetObject", "s3:ListBucket"]),
            options.StepLifetime);
        var insurer = new GrantSpec(
            InsurerGrant,
            OAuthClientCredentialsBroker.BrokerName,
            OAuthScopes.For(options.InsurerAudience, "insurance:validate"),
            options.StepLifetime);

        return new WorkflowPlan(Name, $"appointment {appointmentId} of patient {patientId}",
        [
            new WorkflowStage(
            [
                new WorkflowStepPlan(PatientRecordsStep, StepModes.Managed, [records], options.StepLifetime),
                new WorkflowStepPlan(BillingStep, StepModes.Managed, [billing], options.StepLifetime),
            ]),
            new WorkflowStage([new WorkflowStepPlan(InsuranceStep, StepModes.Managed, [insurer], options.StepLifetime)]),
        ]);
    }

    public WorkflowDecision Decide(WorkflowRequest request, WorkflowPlan plan, IReadOnlyList<StepReport> reports)
    {
        ArgumentNullException.ThrowIfNull(request);
        PatientRecord patient = StepOutput.Read<PatientRecord>(reports, PatientRecordsStep);
        BillingAccount billing = StepOutput.Read<BillingAccount>(reports, BillingStep);
        Eligibility coverage = StepOutput.Read<Eligibility>(reports, InsuranceStep);
        var appointment = new Appointment(
            request.Parameters[AppointmentIdParameter],
            request.Parameters[ProcedureCodeParameter],
            DateOnly.ParseExact(request.Parameters[DateParameter], "yyyy-MM-dd", CultureInfo.InvariantCulture));

        bool covered = coverage is { Checked: true, Covered: true };
        decimal copay = covered ? coverage.Copay ?? 0m : 0m;
        string currency = billing.Currency is null ? "" : " " + billing.Currency;
        string balance = billing.Balance > 0
            ? Invariant($"outstanding balance {billing.Balance:0.00}{currency}, of which {billing.Overdue:0.00} overdue")
                + (billing.OpenStatements.Count == 0 ? "" : $"; open statements: {string.Join(", ", billing.OpenStatements)}")
            : "no outstanding balance";
        string coverageLine = covered
            ? Invariant($"covered by {coverage.PlanName ?? "the plan"} of member {coverage.MemberId} with copay {copay:0.00}: {coverage.Reason}")
            : $"coverage problem: {coverage.Reason}";

        string decision = Ready;
        if (!covered)
        {
            decision = CoverageProblem;
        }
        else if (billing.Balance > 0)
        {
            decision = CollectPayment;
        }

        var collect = new DeskCollection(copay, billing.Balance, copay + billing.Balance, billing.Currency);
        string[] reasons =
        [
            coverageLine,
            balance,
            Invariant($"collect at the desk: {collect.Total:0.00}{currency}") + (covered ? "" : ", and resolve coverage before the visit"),
        ];

        var summary = new AppointmentSummary(decision, patient, appointment, billing, coverage, collect);
        return new WorkflowDecision(WorkflowOutcomes.Completed, decision, reasons, StepOutput.From(summary));
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex("^P-[0-9]{4,12}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex PatientIdPattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]{0,63}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex AppointmentIdPattern();

    [GeneratedRegex("^[0-9A-Z]{5}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex ProcedureCodePattern();
}
