using System.Globalization;
using Nhi.Serverless.Workflows.Steps;

namespace Nhi.Serverless.Workflows.Claims;

/// <summary>
/// Checks a claim's documents for completeness and consistency. The required documents must exist, and the claim form
/// and the invoice must name the same claim, member, provider, currency and amount. The invoice lines must add up to
/// its total, and the dates must be in order.
/// </summary>
public static class ClaimDocumentChecks
{
    /// <summary>The documents every claim needs.</summary>
    public static readonly IReadOnlyList<string> AlwaysRequired = [ClaimFormName, InvoiceName];

    public const string ClaimFormName = "claim.json";

    public const string InvoiceName = "invoice.json";

    /// <summary>The optional photo metadata: {"photos": [{"name": "...", "takenAt": "2026-10-14T09:12:00Z"}]}.</summary>
    public const string PhotosName = "photos.json";

    /// <summary>Returns the facts and problems of one claim's documents.</summary>
    /// <param name="claimId">The requested claim.</param>
    /// <param name="memberId">The requested member, or null when the request names none.</param>
    /// <param name="found">The document names in the claim's folder, without the folder prefix.</param>
    /// <param name="claim">claim.json, or null when it is missing.</param>
    /// <param name="invoice">invoice.json, or null when it is missing.</param>
    /// <param name="photos">photos.json, or null when the claim has none.</param>
    /// <param name="today">The current date, for the check that the incident is not in the future.</param>
    public static ClaimDocuments Check(
        string claimId,
        string? memberId,
        IReadOnlyList<string> found,
        JsonDocumentReader? claim,
        JsonDocumentReader? invoice,
        JsonDocumentReader? photos,
        DateOnly today)
    {
        ArgumentNullException.ThrowIfNull(found);
        var problems = new List<ClaimProblem>();

        ClaimForm? form = claim is null ? null : ReadForm(claim, problems);
        IReadOnlyList<string> required = RequiredDocuments(claim, problems);
        ClaimInvoice? bill = invoice is null ? null : ReadInvoice(invoice);
        int? photoCount = photos is null ? null : CheckPhotos(photos, form, problems);

        if (form is not null)
        {
            CheckForm(claimId, memberId, form, claim!, today, problems);
        }

        if (form is not null && bill is not null)
        {
            CheckInvoiceAgainstForm(claimId, form, bill, invoice!, problems);
        }

        if (bill is { Total: { } total, LinesTotal: { } linesTotal } && total != linesTotal)
        {
            problems.Add(new ClaimProblem(
                ClaimProblemCodes.InvoiceLinesMismatch, Invariant($"the invoice lines add up to {linesTotal:0.00} but its total is {total:0.00}")));
        }

        // Field errors of every reader, gathered last so that each reader has been read in full.
        foreach (JsonDocumentReader reader in new[] { claim, invoice, photos }.OfType<JsonDocumentReader>())
        {
            problems.AddRange(reader.Errors.Select(error => new ClaimProblem(ClaimProblemCodes.InvalidDocument, error)));
        }

        string[] missing = required.Where(name => !found.Contains(name, StringComparer.Ordinal)).ToArray();
        return new ClaimDocuments(claimId, found, required, missing, problems, form, bill, photoCount);
    }

    private static ClaimForm ReadForm(JsonDocumentReader claim, List<ClaimProblem> problems)
    {
        DateOnly? incident = claim.Has("incidentDate") ? claim.Date("incidentDate") : claim.Has("serviceDate") ? claim.Date("serviceDate") : null;
        if (claim.IsObject && !claim.Has("incidentDate") && !claim.Has("serviceDate"))
        {
            problems.Add(new ClaimProblem(ClaimProblemCodes.InvalidDocument, $"{claim.Name}: field 'incidentDate' (or 'serviceDate') is missing; expected a date in the form yyyy-MM-dd"));
        }

        return new ClaimForm(
            claim.String("memberId"),
            claim.String("policyNumber", required: false),
            claim.String("patientId", required: false),
            claim.String("procedureCode", required: false),
            incident,
            claim.Amount("amountClaimed"),
            claim.String("currency", required: false),
            claim.String("provider.providerId", required: false));
    }

    // The claim form may list further documents by name, such as "police-report.pdf", which must be in the claim's folder.
    private static IReadOnlyList<string> RequiredDocuments(JsonDocumentReader? claim, List<ClaimProblem> problems)
    {
        var required = new List<string>(AlwaysRequired);
        foreach (string name in claim?.Strings("documents", required: false) ?? [])
        {
            if (name.Length == 0 || name.Contains('/', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal) || name is "." or "..")
            {
                problems.Add(new ClaimProblem(ClaimProblemCodes.InvalidDocument, $"{claim!.Name}: document name '{name}' is not a plain file name"));
            }
            else if (!required.Contains(name, StringComparer.Ordinal))
            {
                required.Add(name);
            }
        }

        return required;
    }

    private static ClaimInvoice ReadInvoice(JsonDocumentReader invoice)
    {
        IReadOnlyList<JsonDocumentReader> lines = invoice.Objects("lines", required: false);
        decimal?[] amounts = lines.Select(line => line.Amount("amount")).ToArray();
        decimal? linesTotal = amounts.Length == 0 || amounts.Any(amount => amount is null) ? null : amounts.Sum();

        return new ClaimInvoice(
            invoice.String("invoiceNumber"),
            invoice.Date("issuedOn"),
            invoice.Amount("total"),
            linesTotal,
            invoice.String("currency", required: false),
            invoice.String("provider.providerId", required: false));
    }

    private static int CheckPhotos(JsonDocumentReader photos, ClaimForm? form, List<ClaimProblem> problems)
    {
        IReadOnlyList<JsonDocumentReader> items = photos.Objects("photos");
        foreach (JsonDocumentReader photo in items)
        {
            string? name = photo.String("name");
            DateTimeOffset? takenAt = photo.Time("takenAt");
            if (takenAt is { } taken && form?.IncidentDate is { } incident && DateOnly.FromDateTime(taken.UtcDateTime) < incident)
            {
                problems.Add(new ClaimProblem(
                    ClaimProblemCodes.PhotoBeforeIncident, Invariant($"photo '{name}' was taken on {taken.UtcDateTime:yyyy-MM-dd}, before the incident on {incident:yyyy-MM-dd}")));
            }
        }

        return items.Count;
    }

    private static void CheckForm(string claimId, string? memberId, ClaimForm form, JsonDocumentReader claim, DateOnly today, List<ClaimProblem> problems)
    {
        string? formClaimId = claim.String("claimId");
        if (formClaimId is not null && formClaimId != claimId)
        {
            problems.Add(new ClaimProblem(ClaimProblemCodes.ClaimIdMismatch, $"claim.json is for claim {formClaimId}, not {claimId}"));
        }

        if (memberId is not null && form.MemberId is not null && form.MemberId != memberId)
        {
            problems.Add(new ClaimProblem(ClaimProblemCodes.MemberMismatch, $"claim.json names member {form.MemberId}, but the request names member {memberId}"));
        }

        if (form.IncidentDate is { } incident && incident > today)
        {
            problems.Add(new ClaimProblem(ClaimProblemCodes.IncidentInFuture, Invariant($"the incident date {incident:yyyy-MM-dd} is after today, {today:yyyy-MM-dd}")));
        }
    }

    private static void CheckInvoiceAgainstForm(string claimId, ClaimForm form, ClaimInvoice bill, JsonDocumentReader invoice, List<ClaimProblem> problems)
    {
        string? invoiceClaimId = invoice.String("claimId", required: false);
        if (invoiceClaimId is not null && invoiceClaimId != claimId)
        {
            problems.Add(new ClaimProblem(ClaimProblemCodes.InvoiceClaimMismatch, $"invoice.json is for claim {invoiceClaimId}, not {claimId}"));
        }

        if (form.AmountClaimed is { } claimed && bill.Total is { } total && claimed != total)
        {
            problems.Add(new ClaimProblem(
                ClaimProblemCodes.InvoiceTotalMismatch, Invariant($"the invoice total {total:0.00} does not equal the claimed amount {claimed:0.00}")));
        }

        if (form.Currency is not null && bill.Currency is not null && form.Currency != bill.Currency)
        {
            problems.Add(new ClaimProblem(ClaimProblemCodes.CurrencyMismatch, $"the claim is in {form.Currency} but the invoice is in {bill.Currency}"));
        }

        if (form.ProviderId is not null && bill.ProviderId is not null && form.ProviderId != bill.ProviderId)
        {
            problems.Add(new ClaimProblem(ClaimProblemCodes.ProviderMismatch, $"the claim names provider {form.ProviderId} but the invoice is from provider {bill.ProviderId}"));
        }

        if (form.IncidentDate is { } incident && bill.IssuedOn is { } issued && issued < incident)
        {
            problems.Add(new ClaimProblem(
                ClaimProblemCodes.InvoiceBeforeIncident, Invariant($"the invoice was issued on {issued:yyyy-MM-dd}, before the incident on {incident:yyyy-MM-dd}")));
        }
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
