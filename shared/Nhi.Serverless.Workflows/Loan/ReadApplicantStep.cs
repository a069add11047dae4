using System.Globalization;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Workflows.Loan;

/// <summary>
/// The managed read-applicant step of the loan workflow: reads the applicant's requested amount and latest internal
/// credit history entry with the step's read-only grant, and proves the grant cannot read tables outside its scope.
/// The applicant's name is not read, because no rule uses it and step outputs are kept in orchestration history.
/// </summary>
public sealed class ReadApplicantStep : IWorkflowStep
{
    /// <summary>
    /// Tables the grant must not read: erp.vendors, on which the broker itself has no privilege, and erp.invoices, which
    /// the broker could grant, so a denial there shows the grant is narrowed to the two loans tables.
    /// </summary>
    public static IReadOnlyList<string> OutOfScopeTables { get; } = ["erp.vendors", "erp.invoices"];

    private const string ApplicantQuery = "SELECT id, requested_amount FROM loans.applicants WHERE id = $1";

    // count(*) OVER () counts every entry of the applicant before LIMIT keeps the latest one.
    private const string CreditHistoryQuery =
        "SELECT score, reported_at, count(*) OVER ()::integer FROM loans.credit_history WHERE applicant_id = $1 ORDER BY reported_at DESC, id DESC LIMIT 1";

    public string Workflow => LoanWorkflow.WorkflowName;

    public string Step => LoanWorkflow.ReadApplicantStep;

    public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        LoanRequest loan = LoanRequest.Parse(context.Request);

        await using PostgresStepSession session = await PostgresStepSession.OpenAsync(context, LoanWorkflow.LoansReadGrant, cancellationToken);

        IReadOnlyList<decimal> requested = await session.QueryAsync(
            LoanWorkflow.ApplicantsTable, ApplicantQuery, [loan.ApplicantId], row => row.GetDecimal(1), cancellationToken);

        IReadOnlyList<(int Score, DateOnly ReportedAt, int Entries)> history = await session.QueryAsync(
            LoanWorkflow.CreditHistoryTable,
            CreditHistoryQuery,
            [loan.ApplicantId],
            row => (row.GetInt32(0), row.GetFieldValue<DateOnly>(1), row.GetInt32(2)),
            cancellationToken);

        int entries = history.Count == 0 ? 0 : history[0].Entries;
        var checks = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"read {requested.Count} row(s) of {LoanWorkflow.ApplicantsTable} for applicant {loan.ApplicantId}"),
            string.Create(CultureInfo.InvariantCulture, $"read {entries} entries of {LoanWorkflow.CreditHistoryTable}"),
        };

        // The probes run before the not-found check, so a run for an unknown applicant still shows the grant's limits.
        checks.AddRange(await session.RequireOutOfScopeDeniedAsync(OutOfScopeTables, cancellationToken));

        if (requested.Count == 0)
        {
            throw new WorkflowStepException(
                context.Step.Name, string.Create(CultureInfo.InvariantCulture, $"applicant {loan.ApplicantId} is not in {LoanWorkflow.ApplicantsTable}"));
        }

        var output = history.Count == 0
            ? new ApplicantRecord(loan.ApplicantId, requested[0], 0, null, null)
            : new ApplicantRecord(loan.ApplicantId, requested[0], entries, history[0].Score, history[0].ReportedAt);
        return new StepOutcome(StepOutput.From(output), new Verification(true, checks));
    }
}
