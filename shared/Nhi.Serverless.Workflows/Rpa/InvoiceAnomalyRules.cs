using System.Globalization;

namespace Nhi.Serverless.Workflows.Rpa;

/// <summary>One row of erp.invoices, with the columns the anomaly rules use.</summary>
public sealed record InvoiceRow(int Id, int VendorId, decimal Amount, string Currency, DateOnly DueDate, string Status);

/// <summary>The payments of one invoice in erp.payment_history: how many, and their sum.</summary>
public sealed record InvoicePayments(int InvoiceId, int Count, decimal Total);

/// <summary>A vendor's paid invoices outside the batch: how many, and their average amount.</summary>
public sealed record VendorHistory(int VendorId, int PaidCount, decimal AverageAmount);

/// <summary>When a vendor's bank details last changed; null when they never changed.</summary>
public sealed record VendorBankChange(int VendorId, DateTimeOffset? ChangedAt);

/// <summary>One rule of <see cref="InvoiceAnomalyRules"/> that an invoice broke.</summary>
/// <param name="Kind">One of <see cref="InvoiceAnomalyKinds"/>.</param>
/// <param name="Detail">The facts behind it, such as "open and due 2026-01-31, before 2026-12-04".</param>
public sealed record InvoiceAnomaly(string Kind, string Detail);

/// <summary>The check of one invoice of the batch. Amount, currency, vendor, due date and status are null when it was not found.</summary>
public sealed record InvoiceCheck(
    int InvoiceId,
    bool Found,
    int? VendorId,
    decimal? Amount,
    string? Currency,
    DateOnly? DueDate,
    string? Status,
    int PaymentCount,
    decimal PaidTotal,
    IReadOnlyList<InvoiceAnomaly> Anomalies);

/// <summary>Values of <see cref="InvoiceAnomaly.Kind"/>.</summary>
public static class InvoiceAnomalyKinds
{
    /// <summary>Another invoice of the batch has the same vendor, amount and currency.</summary>
    public const string Duplicate = "duplicate";

    /// <summary>The payments add up to more than the invoice amount.</summary>
    public const string Overpaid = "overpaid";

    /// <summary>The status is "paid" but erp.payment_history has no payment for it.</summary>
    public const string PaidWithoutPayment = "paid-without-payment";

    /// <summary>The status is "open" and the due date lies before the run's date.</summary>
    public const string PastDue = "past-due";

    /// <summary>The batch names an id that erp.invoices does not contain.</summary>
    public const string NotFound = "not-found";

    /// <summary>The amount is more than five times the vendor's average paid invoice, over at least three of them.</summary>
    public const string UnusualAmount = "unusual-amount";

    /// <summary>The vendor's bank details changed within 30 days before the batch arrived.</summary>
    public const string BankDetailsChanged = "bank-details-changed";

    /// <summary>Every kind, in the order the rules run.</summary>
    public static IReadOnlyList<string> All { get; } = [NotFound, Duplicate, Overpaid, PaidWithoutPayment, PastDue, UnusualAmount, BankDetailsChanged];
}

/// <summary>
/// The anomaly rules of an invoice batch. They read only the rows given, so the same rows and date always give the
/// same result. Statuses are compared without regard to case or surrounding spaces.
/// </summary>
public static class InvoiceAnomalyRules
{
    public const string OpenStatus = "open";

    /// <summary>How many times the vendor's average paid amount makes an amount unusual.</summary>
    public const decimal UnusualFactor = 5m;

    /// <summary>How many paid invoices a vendor needs before its average counts.</summary>
    public const int MinimumHistory = 3;

    /// <summary>How recent a bank detail change before the batch arrived is an anomaly.</summary>
    public static readonly TimeSpan RecentBankChange = TimeSpan.FromDays(30);

    public const string PaidStatus = "paid";

    /// <summary>Checks each requested invoice, in the order of <paramref name="requestedIds"/>.</summary>
    /// <param name="requestedIds">The invoice ids of the batch, each once.</param>
    /// <param name="invoices">The rows of erp.invoices found for those ids.</param>
    /// <param name="payments">The payments of those invoices; an invoice without payments may be absent.</param>
    /// <param name="asOf">The run's date (UTC); an open invoice due before it is past due.</param>
    /// <param name="history">Each vendor's paid invoices outside the batch; null skips the unusual-amount rule.</param>
    /// <param name="bankChanges">Each vendor's last bank detail change; null skips the bank-details rule.</param>
    /// <param name="receivedAt">When the batch arrived; bank changes are measured against it.</param>
    public static IReadOnlyList<InvoiceCheck> Evaluate(
        IReadOnlyList<int> requestedIds,
        IReadOnlyList<InvoiceRow> invoices,
        IReadOnlyList<InvoicePayments> payments,
        DateOnly asOf,
        IReadOnlyList<VendorHistory>? history = null,
        IReadOnlyList<VendorBankChange>? bankChanges = null,
        DateTimeOffset? receivedAt = null)
    {
        ArgumentNullException.ThrowIfNull(requestedIds);
        ArgumentNullException.ThrowIfNull(invoices);
        ArgumentNullException.ThrowIfNull(payments);

        Dictionary<int, InvoiceRow> byId = invoices.ToDictionary(invoice => invoice.Id);
        Dictionary<int, InvoicePayments> paymentsById = payments.ToDictionary(payment => payment.InvoiceId);
        ILookup<(int, decimal, string), int> sameTerms = invoices.ToLookup(DuplicateKey, invoice => invoice.Id);

        return requestedIds.Select(id =>
        {
            if (!byId.TryGetValue(id, out InvoiceRow? invoice))
            {
                return new InvoiceCheck(
                    id, false, null, null, null, null, null, 0, 0m,
                    [new InvoiceAnomaly(InvoiceAnomalyKinds.NotFound, $"invoice {id} is not in erp.invoices")]);
            }

            InvoicePayments paid = paymentsById.GetValueOrDefault(id) ?? new InvoicePayments(id, 0, 0m);
            int[] twins = sameTerms[DuplicateKey(invoice)].Where(other => other != id).Order().ToArray();
            List<InvoiceAnomaly> anomalies = AnomaliesOf(invoice, paid, twins, asOf);
            AddVendorAnomalies(anomalies, invoice, history, bankChanges, receivedAt ?? new DateTimeOffset(asOf.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero));
            return new InvoiceCheck(
                id, true, invoice.VendorId, invoice.Amount, invoice.Currency, invoice.DueDate, invoice.Status, paid.Count, paid.Total, anomalies);
        }).ToArray();
    }

    private static void AddVendorAnomalies(
        List<InvoiceAnomaly> anomalies,
        InvoiceRow invoice,
        IReadOnlyList<VendorHistory>? history,
        IReadOnlyList<VendorBankChange>? bankChanges,
        DateTimeOffset receivedAt)
    {
        if (history?.FirstOrDefault(vendor => vendor.VendorId == invoice.VendorId) is { } usual
            && usual.PaidCount >= MinimumHistory
            && invoice.Amount > usual.AverageAmount * UnusualFactor)
        {
            anomalies.Add(new InvoiceAnomaly(
                InvoiceAnomalyKinds.UnusualAmount,
                string.Create(CultureInfo.InvariantCulture,
                    $"{Money(invoice.Amount, invoice.Currency)} is {invoice.Amount / usual.AverageAmount:0.0} times the vendor's average of {usual.PaidCount} paid invoices ({usual.AverageAmount:0.00})")));
        }

        if (bankChanges?.FirstOrDefault(vendor => vendor.VendorId == invoice.VendorId)?.ChangedAt is { } changedAt
            && changedAt <= receivedAt
            && receivedAt - changedAt <= RecentBankChange)
        {
            anomalies.Add(new InvoiceAnomaly(
                InvoiceAnomalyKinds.BankDetailsChanged,
                string.Create(CultureInfo.InvariantCulture,
                    $"the vendor's bank details changed {Date(DateOnly.FromDateTime(changedAt.UtcDateTime))}, {(receivedAt - changedAt).TotalDays:0.0} days before the batch arrived")));
        }
    }

    private static List<InvoiceAnomaly> AnomaliesOf(InvoiceRow invoice, InvoicePayments paid, int[] twins, DateOnly asOf)
    {
        var anomalies = new List<InvoiceAnomaly>();
        string status = invoice.Status.Trim();

        if (twins.Length > 0)
        {
            anomalies.Add(new InvoiceAnomaly(
                InvoiceAnomalyKinds.Duplicate,
                $"vendor {invoice.VendorId} and {Money(invoice.Amount, invoice.Currency)} match invoice {string.Join(", ", twins)} of the batch"));
        }

        if (paid.Total > invoice.Amount)
        {
            anomalies.Add(new InvoiceAnomaly(
                InvoiceAnomalyKinds.Overpaid,
                $"{paid.Count} payment(s) total {Money(paid.Total, invoice.Currency)}, more than the amount {Money(invoice.Amount, invoice.Currency)}"));
        }

        if (string.Equals(status, PaidStatus, StringComparison.OrdinalIgnoreCase) && paid.Count == 0)
        {
            anomalies.Add(new InvoiceAnomaly(InvoiceAnomalyKinds.PaidWithoutPayment, "status is paid but erp.payment_history has no payment"));
        }

        if (string.Equals(status, OpenStatus, StringComparison.OrdinalIgnoreCase) && invoice.DueDate < asOf)
        {
            anomalies.Add(new InvoiceAnomaly(
                InvoiceAnomalyKinds.PastDue,
                $"open and due {Date(invoice.DueDate)}, before {Date(asOf)}"));
        }

        return anomalies;
    }

    private static (int, decimal, string) DuplicateKey(InvoiceRow invoice) =>
        (invoice.VendorId, invoice.Amount, invoice.Currency.Trim().ToUpperInvariant());

    private static string Money(decimal amount, string currency) =>
        amount.ToString("0.00", CultureInfo.InvariantCulture) + " " + currency.Trim();

    private static string Date(DateOnly date) => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);
}
