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

        var checks = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"read {invoices.Count} of {ids.Length} invoices from {RpaWorkflow.InvoicesTable}"),
            string.Create(CultureInfo.InvariantCulture, $"read the payments of {payments.Count} invoices from {RpaWorkflow.PaymentsTable}"),
        };

        checks.AddRange(await session.RequireOutOfScopeDeniedAsync(OutOfScopeTables, cancellationToken));

        IReadOnlyList<InvoiceCheck> results = InvoiceAnomalyRules.Evaluate(ids, invoices, payments, asOf);
        var output = new BatchCheck(batch.Batch, asOf, results);
        return new StepOutcome(StepOutput.From(output), new Verification(true, checks));
    }
}
