using System.Globalization;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Workflows.Rpa;

/// <summary>
/// The managed check-batch step of the RPA workflow: reads the batch's invoices and their payments with the step's
/// read-only grant, proves the grant cannot read tables outside its scope, and applies <see cref="InvoiceAnomalyRules"/>
/// as of the date the run was received (UTC).
/// </summary>
public sealed class CheckBatchStep : IWorkflowStep
{
    /// <summary>
    /// Tables the grant must not read: erp.vendors, on which the broker itself has no privilege, and loans.credit_history,
    /// which the broker could grant, so a denial there shows the grant is narrowed to its own two tables.
    /// </summary>
    public static IReadOnlyList<string> OutOfScopeTables { get; } = ["erp.vendors", "loans.credit_history"];

    private const string InvoicesQuery =
        "SELECT id, vendor_id, amount, currency, due_date, status FROM erp.invoices WHERE id = ANY($1)";

    private const string PaymentsQuery =
        "SELECT invoice_id, count(*)::integer, sum(amount) FROM erp.payment_history WHERE invoice_id = ANY($1) GROUP BY invoice_id";

    private const string HistoryQuery =
        "SELECT vendor_id, count(*)::integer, avg(amount) FROM erp.invoices "
        + "WHERE vendor_id = ANY($1) AND NOT (id = ANY($2)) AND lower(trim(status)) = 'paid' GROUP BY vendor_id";

    private const string BankChangesQuery = "SELECT vendor_id, iban_changed_at FROM erp.vendor_bank_changes WHERE vendor_id = ANY($1)";

    private const string BatchQuery = "SELECT received_at FROM erp.invoice_batches WHERE id = $1";

    public string Workflow => RpaWorkflow.WorkflowName;

    public string Step => RpaWorkflow.CheckBatchStep;

    public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        RpaRequest batch = RpaRequest.Parse(context.Request);
        int[] ids = batch.InvoiceIds.ToArray();
        DateOnly asOf = DateOnly.FromDateTime(context.Request.ReceivedAt.UtcDateTime);

        await using PostgresStepSession session = await PostgresStepSession.OpenAsync(context, RpaWorkflow.ErpReadGrant, cancellationToken);

        IReadOnlyList<InvoiceRow> invoices = await session.QueryAsync(
            RpaWorkflow.InvoicesTable,
            InvoicesQuery,
            [ids],
            row => new InvoiceRow(
                row.GetInt32(0), row.GetInt32(1), row.GetDecimal(2), row.GetString(3), row.GetFieldValue<DateOnly>(4), row.GetString(5)),
            cancellationToken);

        IReadOnlyList<InvoicePayments> payments = await session.QueryAsync(
            RpaWorkflow.PaymentsTable,
            PaymentsQuery,
            [ids],
            row => new InvoicePayments(row.GetInt32(0), row.GetInt32(1), row.GetDecimal(2)),
            cancellationToken);

        int[] vendors = invoices.Select(invoice => invoice.VendorId).Distinct().ToArray();
        IReadOnlyList<VendorHistory> history = await session.QueryAsync(
            RpaWorkflow.InvoicesTable,
            HistoryQuery,
            [vendors, ids],
            row => new VendorHistory(row.GetInt32(0), row.GetInt32(1), row.GetDecimal(2)),
            cancellationToken);

        IReadOnlyList<VendorBankChange> bankChanges = await session.QueryAsync(
            RpaWorkflow.BankChangesView,
            BankChangesQuery,
            [vendors],
            row => new VendorBankChange(row.GetInt32(0), row.IsDBNull(1) ? null : row.GetFieldValue<DateTimeOffset>(1)),
            cancellationToken);

        IReadOnlyList<DateTimeOffset> received = await session.QueryAsync(
            RpaWorkflow.BatchesTable, BatchQuery, [batch.Batch], row => row.GetFieldValue<DateTimeOffset>(0), cancellationToken);

        var checks = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"read {invoices.Count} of {ids.Length} invoices from {RpaWorkflow.InvoicesTable}"),
            string.Create(CultureInfo.InvariantCulture, $"read the payments of {payments.Count} invoices from {RpaWorkflow.PaymentsTable}"),
        };

        checks.AddRange(await session.RequireOutOfScopeDeniedAsync(OutOfScopeTables, cancellationToken));

        checks.Add(received.Count == 1
            ? string.Create(CultureInfo.InvariantCulture, $"batch {batch.Batch} arrived {received[0]:yyyy-MM-dd HH:mm} UTC; bank changes are measured against it")
            : $"batch {batch.Batch} is not in {RpaWorkflow.BatchesTable}; bank changes are measured against the run's date");

        IReadOnlyList<InvoiceCheck> results = InvoiceAnomalyRules.Evaluate(
            ids, invoices, payments, asOf, history, bankChanges, received.Count == 1 ? received[0] : null);
        var output = new BatchCheck(batch.Batch, asOf, results);
        return new StepOutcome(StepOutput.From(output), new Verification(true, checks));
    }
}
