namespace Nhi.Serverless.Workflows.Healthcare;

/// <summary>The facts of a patient record that the front desk needs. Holds no credential.</summary>
/// <param name="MemberId">The patient's insurer member id; null when the record has none.</param>
public sealed record PatientRecord(string PatientId, string Name, DateOnly? DateOfBirth, string? MemberId);

/// <summary>The patient's billing account, from the billing bucket.</summary>
/// <param name="RecordFound">False when the bucket has no record for the patient, which means nothing is owed.</param>
/// <param name="Currency">The account's currency; null when no record was found or it names none.</param>
/// <param name="Balance">The outstanding balance.</param>
/// <param name="Overdue">The part of the balance that is past due.</param>
/// <param name="OpenStatements">The ids of statements not paid yet.</param>
public sealed record BillingAccount(bool RecordFound, string? Currency, decimal Balance, decimal Overdue, IReadOnlyList<string> OpenStatements);

/// <summary>The insurer's response on whether the appointment's procedure is covered on its date.</summary>
/// <param name="Checked">False when the insurer was not asked, because the patient record has no member id.</param>
/// <param name="Copay">What the patient pays at the visit when covered; null when not covered.</param>
/// <param name="Reason">The insurer's reason, or why the insurer was not asked.</param>
public sealed record Eligibility(bool Checked, string? MemberId, bool Covered, string? PlanName, decimal? Copay, string Reason);

/// <summary>The appointment as the request names it.</summary>
public sealed record Appointment(string AppointmentId, string ProcedureCode, DateOnly Date);

/// <summary>What the front desk collects before the visit.</summary>
/// <param name="Copay">The copay when the procedure is covered; 0 otherwise, because the price of an uncovered visit is not known here.</param>
/// <param name="Balance">The outstanding balance of earlier visits.</param>
/// <param name="Total">Copay plus balance.</param>
public sealed record DeskCollection(decimal Copay, decimal Balance, decimal Total, string? Currency);

/// <summary>The consolidated result of a healthcare run, returned to the caller and kept in the audit trail.</summary>
public sealed record AppointmentSummary(
    string Decision,
    PatientRecord Patient,
    Appointment Appointment,
    BillingAccount Billing,
    Eligibility Coverage,
    DeskCollection CollectAtDesk);
