using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows;
using Nhi.Serverless.Workflows.Rpa;

namespace Nhi.Serverless.Tests.Workflows.Rpa;

/// <summary>
/// The RPA workflow's managed check on the erp database of the local stack, in check-only mode. The tests read the
/// seed rows of infra/local/postgres.sh (invoices 1001 and 1002 open and due 2026-01-31 and 2026-02-15, 1003 paid
/// with one payment of its full amount), because the stack gives no login that may insert rows. Each run sets its
/// received time, so the past-due rule does not depend on today's date.
/// </summary>
public sealed class RpaWorkflowTests
{
    private static readonly DateTimeOffset LateNovember = new(2026, 11, 30, 9, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Check_flags_past_due_and_unknown_invoices()
    {
        await using WorkflowTestHost host = await WorkflowTestHost.StartAsync();

        string runId = await host.StartRunAsync("rpa", CheckOnly("2026-11-B1", "1001,1003,999999"), receivedAt: LateNovember);
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Completed, result.Outcome);
        Assert.Equal(RpaWorkflow.AnomaliesFound, result.Decision);
        Assert.Equal("invoice batch 2026-11-B1 (3 invoices)", result.Subject);
        Assert.Equal(
            ["invoice 1001: past-due: open and due 2026-01-31, before 2026-11-30", "invoice 999999: not-found: invoice 999999 is not in erp.invoices"],
            result.Reasons);

        StepResult step = Assert.Single(result.Steps);
        Assert.Equal("check-batch", step.Step);
        Assert.Equal(StepModes.Managed, step.Mode);
        Assert.True(step.Report!.Verification.Passed);
        Assert.Equal(PostgresRoleBroker.BrokerName, Assert.Single(step.Report.Grants).Broker);

        BatchCheck check = StepOutput.Read<BatchCheck>([step.Report], "check-batch");
        Assert.Equal(new DateOnly(2026, 11, 30), check.AsOf);
        Assert.Equal([1001, 1003, 999999], check.Invoices.Select(invoice => invoice.InvoiceId));

        InvoiceCheck open = check.Invoices[0];
        Assert.Equal(1250.00m, open.Amount);
        Assert.Equal(0m, open.PaidTotal);
        Assert.Equal(InvoiceAnomalyKinds.PastDue, Assert.Single(open.Anomalies).Kind);

        InvoiceCheck paid = check.Invoices[1];
        Assert.Equal(310.00m, paid.Amount);
        Assert.Equal(310.00m, paid.PaidTotal);
        Assert.Equal(1, paid.PaymentCount);
        Assert.Empty(paid.Anomalies);

        InvoiceCheck unknown = check.Invoices[2];
        Assert.False(unknown.Found);
        Assert.Equal(InvoiceAnomalyKinds.NotFound, Assert.Single(unknown.Anomalies).Kind);

        RpaSummary summary = result.Summary!.Value.Deserialize<RpaSummary>(StepOutput.SerializerOptions)!;
        Assert.Equal(RpaModes.CheckOnly, summary.Mode);
        Assert.Equal(3, summary.Invoices);
        Assert.Equal(2, summary.Found);
        Assert.Equal(1, summary.Clean);
        Assert.Equal(2, summary.Flagged);
        Assert.Equal([1001, 999999], summary.FlaggedInvoiceIds);

        AssertReadsAndProbes(step);
        await host.AssertGrantsContainedAsync(result);
        string[] events = await host.AuditEventsAsync(runId);
        Assert.Equal("workflow.received", events[0]);
        Assert.Contains(AuditEvents.GrantIssued, events);
        Assert.Equal(2, events.Count(name => name == AuditEvents.ScopeProbed));
        Assert.Equal(AuditEvents.RunCompleted, events[^1]);
    }

    [Fact]
    public async Task Check_flags_seeded_vendor_anomalies()
    {
        await using WorkflowTestHost host = await WorkflowTestHost.StartAsync();

        // The seeded batch: 2004 is about 22 times its vendor's usual amount, and 2005's vendor changed its bank
        // details two days before the batch arrived; 2007 and 2008 come from the same kind of vendors and are clean.
        string runId = await host.StartRunAsync("rpa", CheckOnly("2026-11-B1", "2004,2005,2007,2008"), receivedAt: LateNovember);
        WorkflowResult result = await host.WaitAsync(runId);

        BatchCheck check = StepOutput.Read<BatchCheck>([Assert.Single(result.Steps).Report!], "check-batch");
        Assert.Equal([InvoiceAnomalyKinds.UnusualAmount], check.Invoices[0].Anomalies.Select(anomaly => anomaly.Kind));
        Assert.Equal([InvoiceAnomalyKinds.BankDetailsChanged], check.Invoices[1].Anomalies.Select(anomaly => anomaly.Kind));
        Assert.Equal("the vendor's bank details changed 2026-11-03, 2.0 days before the batch arrived", check.Invoices[1].Anomalies[0].Detail);
        Assert.DoesNotContain(check.Invoices[2].Anomalies, anomaly => anomaly.Kind is InvoiceAnomalyKinds.UnusualAmount or InvoiceAnomalyKinds.BankDetailsChanged);
        Assert.DoesNotContain(check.Invoices[3].Anomalies, anomaly => anomaly.Kind is InvoiceAnomalyKinds.UnusualAmount or InvoiceAnomalyKinds.BankDetailsChanged);
        await host.AssertNoSecretLeakedAsync(runId);
    }

    [Fact]
    public async Task Check_before_due_dates_is_clean()
    {
        await using WorkflowTestHost host = await WorkflowTestHost.StartAsync();

        string runId = await host.StartRunAsync(
            "rpa", CheckOnly("2026-01-B1", "1001,1002,1003"), receivedAt: new DateTimeOffset(2026, 1, 15, 12, 0, 0, TimeSpan.Zero));
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Completed, result.Outcome);
        Assert.Equal(RpaWorkflow.Clean, result.Decision);
        Assert.StartsWith("all 3 invoices of batch 2026-01-B1 passed the rules", Assert.Single(result.Reasons), StringComparison.Ordinal);

        RpaSummary summary = result.Summary!.Value.Deserialize<RpaSummary>(StepOutput.SerializerOptions)!;
        Assert.Equal(3, summary.Clean);
        Assert.Equal(0, summary.Flagged);
        Assert.All(summary.Anomalies.Values, count => Assert.Equal(0, count));

        StepResult step = Assert.Single(result.Steps);
        AssertReadsAndProbes(step);
        await host.AssertGrantsContainedAsync(result);
    }

    [Fact]
    public async Task Failing_check_still_revokes_its_grant()
    {
        await using WorkflowTestHost host = await WorkflowTestHost.StartAsync(configureServices: services =>
        {
            services.AddSingleton<IWorkflow>(provider =>
            {
                WorkflowOptions options = provider.GetRequiredService<WorkflowOptions>();
                string database = provider.GetRequiredService<PostgresRoleBroker>().DatabaseResource(options.Database);
                return new FailAfterCheckWorkflow(new RpaWorkflow(options, database));
            });
            services.AddSingleton<IWorkflowStep>(new FailAfterCheckStep(new CheckBatchStep()));
        });

        string runId = await host.StartRunAsync(FailAfterCheckWorkflow.WorkflowName, CheckOnly("B1", "1001,1003"), receivedAt: LateNovember);
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Failed, result.Outcome);
        Assert.Null(result.Decision);
        Assert.Contains(FailAfterCheckStep.Failure, Assert.Single(result.Reasons), StringComparison.Ordinal);
        StepResult step = Assert.Single(result.Steps);
        Assert.Contains(FailAfterCheckStep.Failure, step.Error, StringComparison.Ordinal);
        Assert.Null(step.Report!.Output);

        // The real check ran with the credential before the failure, so its reads and probes are on record.
        AssertReadsAndProbes(step);
        await host.AssertGrantsContainedAsync(result);
        Assert.Contains(AuditEvents.StepFailed, await host.AuditEventsAsync(runId));
    }

    [Fact]
    public async Task Invalid_invoice_ids_are_rejected()
    {
        await using WorkflowTestHost host = await WorkflowTestHost.StartAsync();

        string runId = await host.StartRunAsync("rpa", CheckOnly("B1", "1001,abc"));
        WorkflowResult result = await host.WaitAsync(runId);

        Assert.Equal(WorkflowOutcomes.Rejected, result.Outcome);
        string reason = Assert.Single(result.Reasons);
        Assert.Contains("parameters.invoices", reason, StringComparison.Ordinal);
        Assert.DoesNotContain("abc", reason, StringComparison.Ordinal);
        Assert.Empty(result.Steps);
        Assert.Empty(host.IssuedSecrets);
    }

    // The invoices, payments, vendor history, bank changes and batch read with the grant, and both out-of-scope tables
    // denied with SQLSTATE 42501.
    private static void AssertReadsAndProbes(StepResult step)
    {
        StepReport report = step.Report!;
        GrantCall[] reads = report.Calls.Where(entry => entry.Call.Purpose == ApiCallPurposes.Step).ToArray();
        Assert.Equal(5, reads.Length);
        Assert.EndsWith("/erp.invoices", reads[0].Call.Resource, StringComparison.Ordinal);
        Assert.EndsWith("/erp.payment_history", reads[1].Call.Resource, StringComparison.Ordinal);
        Assert.EndsWith("/erp.invoices", reads[2].Call.Resource, StringComparison.Ordinal);
        Assert.EndsWith("/erp.vendor_bank_changes", reads[3].Call.Resource, StringComparison.Ordinal);
        Assert.EndsWith("/erp.invoice_batches", reads[4].Call.Resource, StringComparison.Ordinal);
        Assert.All(reads, read => Assert.Equal(ApiCallOutcomes.Allowed, read.Call.Outcome));

        Assert.Equal(2, report.ScopeProbes.Count);
        Assert.EndsWith("/erp.vendors", report.ScopeProbes[0].Probe.Resource, StringComparison.Ordinal);
        Assert.EndsWith("/loans.credit_history", report.ScopeProbes[1].Probe.Resource, StringComparison.Ordinal);
        Assert.All(report.ScopeProbes, probe => Assert.Contains("SQLSTATE 42501", probe.Probe.Evidence, StringComparison.Ordinal));
        Assert.All(
            report.Calls.Where(entry => entry.Call.Purpose == ApiCallPurposes.ScopeProbe),
            probe => Assert.Equal(ApiCallOutcomes.Denied, probe.Call.Outcome));
    }

    private static Dictionary<string, string> CheckOnly(string batch, string invoices) =>
        new() { ["batch"] = batch, ["invoices"] = invoices, ["mode"] = RpaModes.CheckOnly };

    /// <summary>The RPA plan and decision under another name, so its step can be the failing one below.</summary>
    private sealed class FailAfterCheckWorkflow(RpaWorkflow rpa) : IWorkflow
    {
        public const string WorkflowName = "test-rpa-fail-after-check";

        public string Name => WorkflowName;

        public WorkflowPlan Plan(WorkflowRequest request) => rpa.Plan(request) with { Workflow = WorkflowName };

        public WorkflowDecision Decide(WorkflowRequest request, WorkflowPlan plan, IReadOnlyList<StepReport> reports) =>
            rpa.Decide(request, plan, reports);
    }

    /// <summary>Runs the real check-batch step with its grant, then fails as a step would that could not hand on its result.</summary>
    private sealed class FailAfterCheckStep(CheckBatchStep check) : IWorkflowStep
    {
        public const string Failure = "handing the checked batch to the payment run failed";

        public string Workflow => FailAfterCheckWorkflow.WorkflowName;

        public string Step => check.Step;

        public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
        {
            await check.RunAsync(context, cancellationToken);
            throw new WorkflowStepException(context.Step.Name, Failure);
        }
    }
}
