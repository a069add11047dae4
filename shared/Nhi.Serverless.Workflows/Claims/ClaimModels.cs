namespace Nhi.Serverless.Workflows.Claims;

/// <summary>What the read-documents step found in a claim's folder. Holds no credential.</summary>
/// <param name="ClaimId">The claim.</param>
/// <param name="Found">The document names under "{claimId}/", without that prefix, such as "claim.json".</param>
/// <param name="Required">The documents the claim must have: claim.json, invoice.json and those the claim form lists.</param>
/// <param name="Missing">The required documents that were not found.</param>
/// <param name="Problems">Invalid fields and inconsistencies between the documents and the request.</param>
/// <param name="Claim">The claim form's facts; null when claim.json is missing.</param>
/// <param name="Invoice">The invoice's facts; null when invoice.json is missing.</param>
/// <param name="PhotoCount">The number of photos that photos.json describes; null when the claim has no photos.json.</param>
public sealed record ClaimDocuments(
    string ClaimId,
    IReadOnlyList<string> Found,
    IReadOnlyList<string> Required,
    IReadOnlyList<string> Missing,
    IReadOnlyList<ClaimProblem> Problems,
    ClaimForm? Claim,
    ClaimInvoice? Invoice,
    int? PhotoCount);

/// <summary>The facts of claim.json; a field is null when the document lacks it or it is invalid.</summary>
/// <param name="IncidentDate">"incidentDate", or "serviceDate" for a medical claim.</param>
/// <param name="AmountClaimed">"amountClaimed", in <paramref name="Currency"/>.</param>
public sealed record ClaimForm(
    string? MemberId,
    string? PolicyNumber,
    string? PatientId,
    string? ProcedureCode,
    DateOnly? IncidentDate,
    decimal? AmountClaimed,
    string? Currency,
    string? ProviderId);

/// <summary>The facts of invoice.json; a field is null when the document lacks it or it is invalid.</summary>
/// <param name="Total">The invoice's stated "total".</param>
/// <param name="LinesTotal">The sum of the amounts of its "lines"; null when it has no lines.</param>
public sealed record ClaimInvoice(
    string? InvoiceNumber,
    DateOnly? IssuedOn,
    decimal? Total,
    decimal? LinesTotal,
    string? Currency,
    string? ProviderId);

/// <summary>One problem with a claim's documents.</summary>
/// <param name="Code">A stable code, one of <see cref="ClaimProblemCodes"/>; also sent to fraud screening as a signal.</param>
/// <param name="Detail">The problem in words, with the values involved.</param>
public sealed record ClaimProblem(string Code, string Detail);

/// <summary>The codes of <see cref="ClaimProblem"/>.</summary>
public static class ClaimProblemCodes
{
    public const string InvalidDocument = "invalid-document";
    public const string ClaimIdMismatch = "claim-id-mismatch";
    public const string MemberMismatch = "member-mismatch";
    public const string InvoiceClaimMismatch = "invoice-claim-mismatch";
    public const string InvoiceTotalMismatch = "invoice-total-mismatch";
    public const string InvoiceLinesMismatch = "invoice-lines-mismatch";
    public const string CurrencyMismatch = "currency-mismatch";
    public const string ProviderMismatch = "provider-mismatch";
    public const string InvoiceBeforeIncident = "invoice-before-incident";
    public const string IncidentInFuture = "incident-in-future";
    public const string PhotoBeforeIncident = "photo-before-incident";
}

/// <summary>The fraud screening service's response for a claim, and what was sent to it.</summary>
/// <param name="CheckId">The service's id of the check.</param>
/// <param name="RiskScore">0 (no risk) to 100.</param>
/// <param name="Decision">"clear", "review" or "decline".</param>
/// <param name="Reasons">The service's reason codes.</param>
/// <param name="Amount">The amount sent: the claimed amount, else the invoice total, else 0.</param>
/// <param name="Signals">The signals sent: the codes of the document problems and one "missing-document:NAME" per missing document.</param>
public sealed record FraudScreening(string CheckId, int RiskScore, string Decision, IReadOnlyList<string> Reasons, decimal Amount, IReadOnlyList<string> Signals);

/// <summary>The consolidated result of a claims run, returned to the caller and kept in the audit trail.</summary>
public sealed record ClaimSummary(
    string ClaimId,
    string Decision,
    string? MemberId,
    string? PolicyNumber,
    decimal? AmountClaimed,
    string? Currency,
    DateOnly? IncidentDate,
    decimal AutoApprovalLimit,
    IReadOnlyList<string> DocumentsFound,
    IReadOnlyList<string> DocumentsMissing,
    IReadOnlyList<ClaimProblem> Problems,
    ClaimFraudSummary Fraud);

/// <summary>The fraud screening part of <see cref="ClaimSummary"/>.</summary>
public sealed record ClaimFraudSummary(string CheckId, int RiskScore, string Decision, IReadOnlyList<string> Reasons);
