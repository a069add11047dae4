using System.Text.Json;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Brokers;
using Nhi.Serverless.Workflows;
using Nhi.Serverless.Workflows.Rpa;

namespace Nhi.Serverless.Tests.Workflows.Rpa;

// The plan and the decision of the RPA workflow, without running it. The brokered bot step is covered here only,
// because no test plays the bot that claims its credential.
public sealed class RpaPlanTests
{
    private const string Resource = "postgresql://127.0.0.1:55432/erp";

    private static readonly WorkflowOptions Options = new() { BotWindow = TimeSpan.FromMinutes(7), StepLifetime = TimeSpan.FromMinutes(3) };

    private static readonly Scope ReadInvoices = PostgresGrantScope.ReadOnly(
        Resource, "erp.invoices", "erp.payment_history", "erp.vendor_bank_changes", "erp.invoice_batches");

    [Fact]
    public void Plan_runs_bot_before_check()
    {
        WorkflowPlan plan = new RpaWorkflow(Options, Resource).Plan(Request(("batch", "2026-11-B1"), ("invoices", "1001,1002")));

        Assert.Equal("rpa", plan.Workflow);
        Assert.Equal("invoice batch 2026-11-B1 (2 invoices)", plan.Subject);
        Assert.Equal(2, plan.Stages.Count);

        WorkflowStepPlan bot = Assert.Single(plan.Stages[0].Steps);
        Assert.Equal("bot-read", bot.Name);
        Assert.Equal(StepModes.Brokered, bot.Mode);
        Assert.Equal(TimeSpan.FromMinutes(7), bot.Window);
        GrantSpec botGrant = Assert.Single(bot.Grants);
        Assert.Equal("erp-read", botGrant.Name);
        Assert.Equal(PostgresRoleBroker.BrokerName, botGrant.Broker);
        Assert.Equal(ReadInvoices, botGrant.Scope);
        Assert.Equal(["SELECT"], botGrant.Scope.Permissions);
        Assert.Equal(
            ["table:erp.invoice_batches", "table:erp.invoices", "table:erp.payment_history", "table:erp.vendor_bank_changes"],
            botGrant.Scope.Objects);
        Assert.Equal(TimeSpan.FromMinutes(7), botGrant.Lifetime);

        WorkflowStepPlan check = Assert.Single(plan.Stages[1].Steps);
        Assert.Equal("check-batch", check.Name);
        Assert.Equal(StepModes.Managed, check.Mode);
        Assert.Equal(TimeSpan.FromMinutes(3), check.Window);
        GrantSpec checkGrant = Assert.Single(check.Grants);
        Assert.Equal("erp-read", checkGrant.Name);
        Assert.Equal(ReadInvoices, checkGrant.Scope);
        Assert.Equal(TimeSpan.FromMinutes(3), checkGrant.Lifetime);
    }

    [Fact]
    public void Check_only_plan_has_one_step()
    {
        WorkflowPlan plan = new RpaWorkflow(Options, Resource).Plan(
            Request(("batch", "B1"), ("invoices", "1001"), ("mode", "check-only")));

        WorkflowStepPlan step = Assert.Single(Assert.Single(plan.Stages).Steps);
        Assert.Equal("check-batch", step.Name);
        Assert.Equal(StepModes.Managed, step.Mode);
    }

    [Fact]
    public async Task Plan_scopes_pass_broker_validation()
    {
        await using var database = new PostgresTestDatabase();
        PostgresRoleBroker broker = database.Broker();
        var workflow = new RpaWorkflow(Options, broker.DatabaseResource(database.Database));

        WorkflowPlan plan = workflow.Plan(Request(("batch", "B1"), ("invoices", "1001")));

        Assert.All(plan.Steps.SelectMany(step => step.Grants), grant => broker.ValidateScope(grant.Scope));
    }

    [Theory]
    [InlineData("1001, 1002 ,1003", 3)]
    [InlineData("0001", 1)]
    [InlineData("2147483647", 1)]
    public void Plan_accepts_spaces_and_leading_zeros(string invoices, int count)
    {
        WorkflowPlan plan = new RpaWorkflow(Options, Resource).Plan(Request(("batch", "B1"), ("invoices", invoices)));

        Assert.EndsWith($"({count} invoices)", plan.Subject, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "1001", null, "parameters.batch")]
    [InlineData("", "1001", null, "parameters.batch")]
    [InlineData("-B1", "1001", null, "parameters.batch")]
    [InlineData("B 1", "1001", null, "parameters.batch")]
    [InlineData("B1", null, null, "parameters.invoices")]
    [InlineData("B1", "", null, "parameters.invoices")]
    [InlineData("B1", "1001,abc", null, "parameters.invoices")]
    [InlineData("B1", "1001,,1002", null, "parameters.invoices")]
    [InlineData("B1", "-5", null, "parameters.invoices")]
    [InlineData("B1", "0", null, "parameters.invoices")]
    [InlineData("B1", "1.5", null, "parameters.invoices")]
    [InlineData("B1", "2147483648", null, "parameters.invoices")]
    [InlineData("B1", "1001,1002,1001", null, "parameters.invoices")]
    [InlineData("B1", "1001", "bot-only", "parameters.mode")]
    [InlineData("B1", "1001", "", "parameters.mode")]
    public void Plan_rejects_invalid_parameters(string? batch, string? invoices, string? mode, string field)
    {
        var parameters = new List<(string, string)>();
        if (batch is not null)
        {
            parameters.Add(("batch", batch));
        }

        if (invoices is not null)
        {
            parameters.Add(("invoices", invoices));
        }

        if (mode is not null)
        {
            parameters.Add(("mode", mode));
        }

        InvalidWorkflowRequestException invalid = Assert.Throws<InvalidWorkflowRequestException>(
            () => new RpaWorkflow(Options, Resource).Plan(Request([.. parameters])));

        Assert.Equal(field, invalid.Field);
    }

    [Fact]
    public void Plan_rejects_more_than_100_invoices()
    {
        string invoices = string.Join(',', Enumerable.Range(1, 101));

        InvalidWorkflowRequestException invalid = Assert.Throws<InvalidWorkflowRequestException>(
            () => new RpaWorkflow(Options, Resource).Plan(Request(("batch", "B1"), ("invoices", invoices))));

        Assert.Equal("parameters.invoices", invalid.Field);
        Assert.Contains("101", invalid.Expected, StringComparison.Ordinal);
        Assert.NotNull(new RpaWorkflow(Options, Resource).Plan(Request(("batch", "B1"), ("invoices", string.Join(',', Enumerable.Range(1, 100))))));
    }

    [Fact]
    public void Decide_counts_anomalies_by_kind()
    {
        WorkflowRequest request = Request(("batch", "B1"), ("invoices", "1,2,3,4"), ("mode", "check-only"));
        var workflow = new RpaWorkflow(Options, Resource);
        WorkflowPlan plan = workflow.Plan(request);
        IReadOnlyList<InvoiceCheck> checks = InvoiceAnomalyRules.Evaluate(
            [1, 2, 3, 4],
            [new InvoiceRow(1, 7, 50m, "EUR", new DateOnly(2026, 1, 1), "open"), new InvoiceRow(2, 7, 50m, "EUR", new DateOnly(2026, 9, 1), "paid"), new InvoiceRow(3, 8, 10m, "GBP", new DateOnly(2026, 9, 1), "open")],
            [],
            new DateOnly(2026, 6, 1));
        StepReport report = Report(new BatchCheck("B1", new DateOnly(2026, 6, 1), checks));

        WorkflowDecision decision = workflow.Decide(request, plan, [report]);

        Assert.Equal(WorkflowOutcomes.Completed, decision.Outcome);
        Assert.Equal(RpaWorkflow.AnomaliesFound, decision.Decision);
        Assert.Equal(5, decision.Reasons.Count);
        Assert.Contains(decision.Reasons, reason => reason.StartsWith("invoice 2: paid-without-payment", StringComparison.Ordinal));
        Assert.Contains(decision.Reasons, reason => reason.StartsWith("invoice 4: not-found", StringComparison.Ordinal));

        RpaSummary summary = decision.Summary!.Value.Deserialize<RpaSummary>(StepOutput.SerializerOptions)!;
        Assert.Equal(4, summary.Invoices);
        Assert.Equal(3, summary.Found);
        Assert.Equal(1, summary.Clean);
        Assert.Equal(3, summary.Flagged);
        Assert.Equal([1, 2, 4], summary.FlaggedInvoiceIds);
        Assert.Equal(2, summary.Anomalies[InvoiceAnomalyKinds.Duplicate]);
        Assert.Equal(1, summary.Anomalies[InvoiceAnomalyKinds.PastDue]);
        Assert.Equal(1, summary.Anomalies[InvoiceAnomalyKinds.PaidWithoutPayment]);
        Assert.Equal(1, summary.Anomalies[InvoiceAnomalyKinds.NotFound]);
        Assert.Equal(0, summary.Anomalies[InvoiceAnomalyKinds.Overpaid]);
    }

    private static StepReport Report(BatchCheck output) =>
        new("check-batch", StepModes.Managed, [], [], [], new Verification(true, []), [], StepOutput.From(output));

    private static WorkflowRequest Request(params (string Name, string Value)[] parameters) =>
        new("wf-rpa-plan", "rpa", "test", "test-caller", parameters.ToDictionary(pair => pair.Name, pair => pair.Value), DateTimeOffset.UtcNow);
}
