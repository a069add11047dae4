using Nhi.Serverless.Workflows.Rpa;

namespace Nhi.Serverless.Tests.Workflows.Rpa;

// The rule set on rows built here, so each rule is shown on data the shared database does not contain.
public sealed class InvoiceAnomalyRulesTests
{
    private static readonly DateOnly AsOf = new(2026, 6, 15);

    [Fact]
    public void Invoice_without_anomaly_is_clean()
    {
        InvoiceCheck check = Assert.Single(InvoiceAnomalyRules.Evaluate(
            [1], [Invoice(1, status: "paid")], [new InvoicePayments(1, 2, 100.00m)], AsOf));

        Assert.True(check.Found);
        Assert.Equal(100.00m, check.Amount);
        Assert.Equal(100.00m, check.PaidTotal);
        Assert.Equal(2, check.PaymentCount);
        Assert.Empty(check.Anomalies);
    }

    [Fact]
    public void Same_vendor_amount_and_currency_flags_both_invoices()
    {
        IReadOnlyList<InvoiceCheck> checks = InvoiceAnomalyRules.Evaluate(
            [1, 2, 3, 4],
            [Invoice(1), Invoice(2, currency: "eur"), Invoice(3, vendor: 8), Invoice(4, amount: 100.01m)],
            [],
            AsOf);

        InvoiceAnomaly first = Assert.Single(checks[0].Anomalies);
        Assert.Equal(InvoiceAnomalyKinds.Duplicate, first.Kind);
        Assert.Contains("invoice 2", first.Detail, StringComparison.Ordinal);
        Assert.Equal(InvoiceAnomalyKinds.Duplicate, Assert.Single(checks[1].Anomalies).Kind);
        Assert.Empty(checks[2].Anomalies);
        Assert.Empty(checks[3].Anomalies);
    }

    [Fact]
    public void Payments_above_the_amount_are_overpaid()
    {
        InvoiceCheck check = Assert.Single(InvoiceAnomalyRules.Evaluate(
            [1], [Invoice(1, status: "paid")], [new InvoicePayments(1, 2, 100.01m)], AsOf));

        InvoiceAnomaly anomaly = Assert.Single(check.Anomalies);
        Assert.Equal(InvoiceAnomalyKinds.Overpaid, anomaly.Kind);
        Assert.Contains("100.01 EUR", anomaly.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("paid")]
    [InlineData(" Paid ")]
    public void Paid_status_without_payment_is_flagged(string status)
    {
        InvoiceCheck check = Assert.Single(InvoiceAnomalyRules.Evaluate([1], [Invoice(1, status: status)], [], AsOf));

        Assert.Equal(InvoiceAnomalyKinds.PaidWithoutPayment, Assert.Single(check.Anomalies).Kind);
    }

    [Theory]
    [InlineData("2026-06-14", true)]
    [InlineData("2026-06-15", false)]
    [InlineData("2026-07-01", false)]
    public void Open_invoice_past_due_after_due_date(string due, bool pastDue)
    {
        InvoiceCheck check = Assert.Single(InvoiceAnomalyRules.Evaluate(
            [1], [Invoice(1, due: DateOnly.Parse(due, System.Globalization.CultureInfo.InvariantCulture))], [], AsOf));

        Assert.Equal(pastDue, check.Anomalies.Any(anomaly => anomaly.Kind == InvoiceAnomalyKinds.PastDue));
    }

    [Fact]
    public void Late_paid_invoice_is_not_past_due()
    {
        InvoiceCheck check = Assert.Single(InvoiceAnomalyRules.Evaluate(
            [1], [Invoice(1, status: "paid", due: new DateOnly(2026, 1, 1))], [new InvoicePayments(1, 1, 100.00m)], AsOf));

        Assert.Empty(check.Anomalies);
    }

    [Fact]
    public void Unknown_id_is_flagged_in_batch_order()
    {
        IReadOnlyList<InvoiceCheck> checks = InvoiceAnomalyRules.Evaluate([7, 1], [Invoice(1)], [], AsOf);

        Assert.Equal([7, 1], checks.Select(check => check.InvoiceId));
        Assert.False(checks[0].Found);
        Assert.Null(checks[0].Amount);
        Assert.Equal(InvoiceAnomalyKinds.NotFound, Assert.Single(checks[0].Anomalies).Kind);
        Assert.True(checks[1].Found);
    }

    [Fact]
    public void One_invoice_can_break_several_rules()
    {
        IReadOnlyList<InvoiceCheck> checks = InvoiceAnomalyRules.Evaluate(
            [1, 2], [Invoice(1, due: new DateOnly(2026, 1, 1)), Invoice(2)], [new InvoicePayments(1, 1, 150.00m)], AsOf);

        Assert.Equal(
            [InvoiceAnomalyKinds.Duplicate, InvoiceAnomalyKinds.Overpaid, InvoiceAnomalyKinds.PastDue],
            checks[0].Anomalies.Select(anomaly => anomaly.Kind));
    }

    private static InvoiceRow Invoice(int id, int vendor = 7, decimal amount = 100.00m, string currency = "EUR", string status = "open", DateOnly? due = null) =>
        new(id, vendor, amount, currency, due ?? new DateOnly(2026, 12, 31), status);
}
