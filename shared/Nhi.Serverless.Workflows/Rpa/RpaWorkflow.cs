using System.Globalization;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Workflows.Rpa;

/// <summary>The output of the check-batch step: the batch, the date it was checked against, and each invoice's check.</summary>
public sealed record BatchCheck(string Batch, DateOnly AsOf, IReadOnlyList<InvoiceCheck> Invoices);

/// <summary>The consolidated result of an RPA run.</summary>
/// <param name="Anomalies">How many invoices broke each rule, by <see cref="InvoiceAnomalyKinds"/> value; rules no invoice broke count 0.</param>
/// <param name="FlaggedInvoiceIds">The invoices with at least one anomaly, in batch order.</param>
public sealed record RpaSummary(
    string Batch,
    string Mode,
    DateOnly AsOf,
    int Invoices,
    int Found,
    int Clean,
    int Flagged,
    IReadOnlyDictionary<string, int> Anomalies,
    IReadOnlyList<int> FlaggedInvoiceIds);

/// <summary>
/// RPA invoice processing: a bot reads one invoice batch with a brokered read-only grant, then a managed step checks the
/// batch against <see cref="InvoiceAnomalyRules"/> with its own read-only grant, and the decision is "clean" or
/// "anomalies-found". Parameters: "batch", "invoices" (comma-separated ids) and the optional "mode" (see
/// <see cref="RpaModes"/>).
/// </summary>
public sealed class RpaWorkflow(WorkflowOptions options, string databaseResource) : IWorkflow
{
    public const string WorkflowName = "rpa";

    /// <summary>The brokered step: the bot claims the credential over HTTPS, processes the batch and reports done.</summary>
    public const string BotReadStep = "bot-read";

    /// <summary>The managed step that reads the batch's invoices and payments and flags anomalies.</summary>
    public const string CheckBatchStep = "check-batch";

    /// <summary>The grant name of both steps: SELECT on the invoices, payments, bank changes and batches.</summary>
    public const string ErpReadGrant = "erp-read";

    public const string InvoicesTable = "erp.invoices";

    public const string PaymentsTable = "erp.payment_history";

    /// <summary>When each vendor's bank details last changed, without the IBAN itself.</summary>
    public const string BankChangesView = "erp.vendor_bank_changes";

    /// <summary>The batches and when they arrived.</summary>
    public const string BatchesTable = "erp.invoice_batches";

    public const string Clean = "clean";

    public const string AnomaliesFound = "anomalies-found";

    public string Name => WorkflowName;

    public WorkflowPlan Plan(WorkflowRequest request)
    {
        RpaRequest batch = RpaRequest.Parse(request);
        Scope read = PostgresGrantScope.ReadOnly(databaseResource, InvoicesTable, PaymentsTable, BankChangesView, BatchesTable);
        string subject = string.Create(CultureInfo.InvariantCulture, $"invoice batch {batch.Batch} ({batch.InvoiceIds.Count} invoices)");

        var check = new WorkflowStepPlan(
            CheckBatchStep, StepModes.Managed, [new GrantSpec(ErpReadGrant, PostgresRoleBroker.BrokerName, read, options.StepLifetime)], options.StepLifetime);
        if (batch.Mode == RpaModes.CheckOnly)
        {
            return new WorkflowPlan(Name, subject, [new WorkflowStage([check])]);
        }

        var bot = new WorkflowStepPlan(
            BotReadStep, StepModes.Brokered, [new GrantSpec(ErpReadGrant, PostgresRoleBroker.BrokerName, read, options.BotWindow)], options.BotWindow);
        return new WorkflowPlan(Name, subject, [new WorkflowStage([bot]), new WorkflowStage([check])]);
    }

    /// <summary>Returns "clean" when no invoice broke a rule, else "anomalies-found" with one reason per anomaly.</summary>
    public WorkflowDecision Decide(WorkflowRequest request, WorkflowPlan plan, IReadOnlyList<StepReport> reports)
    {
        RpaRequest batch = RpaRequest.Parse(request);
        BatchCheck check = StepOutput.Read<BatchCheck>(reports, CheckBatchStep);

        InvoiceCheck[] flagged = check.Invoices.Where(invoice => invoice.Anomalies.Count > 0).ToArray();
        Dictionary<string, int> counts = InvoiceAnomalyKinds.All.ToDictionary(
            kind => kind, kind => check.Invoices.Count(invoice => invoice.Anomalies.Any(anomaly => anomaly.Kind == kind)), StringComparer.Ordinal);
        var summary = new RpaSummary(
            check.Batch,
            batch.Mode,
            check.AsOf,
            check.Invoices.Count,
            check.Invoices.Count(invoice => invoice.Found),
            check.Invoices.Count - flagged.Length,
            flagged.Length,
            counts,
            flagged.Select(invoice => invoice.InvoiceId).ToArray());

        if (flagged.Length == 0)
        {
            string passed = string.Create(
                CultureInfo.InvariantCulture,
                $"all {check.Invoices.Count} invoices of batch {check.Batch} passed the rules {string.Join(", ", InvoiceAnomalyKinds.All)} as of {check.AsOf:yyyy-MM-dd}");
            return new WorkflowDecision(WorkflowOutcomes.Completed, Clean, [passed], StepOutput.From(summary));
        }

        string[] reasons = flagged
            .SelectMany(invoice => invoice.Anomalies.Select(anomaly => $"invoice {invoice.InvoiceId}: {anomaly.Kind}: {anomaly.Detail}"))
            .ToArray();
        return new WorkflowDecision(WorkflowOutcomes.Completed, AnomaliesFound, reasons, StepOutput.From(summary));
    }
}
