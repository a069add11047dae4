using System.Globalization;

namespace Nhi.Serverless.Workflows.Loan;

/// <summary>The output of the read-applicant step: the applicant's requested amount and latest internal credit history entry.</summary>
/// <param name="CreditHistoryEntries">How many rows loans.credit_history has for the applicant.</param>
/// <param name="LatestInternalScore">The score of the most recent entry; null when there is none.</param>
/// <param name="LatestReportedAt">The date of the most recent entry; null when there is none.</param>
public sealed record ApplicantRecord(
    int ApplicantId, decimal RequestedAmount, int CreditHistoryEntries, int? LatestInternalScore, DateOnly? LatestReportedAt);

/// <summary>The credit bureau's score report for the applicant.</summary>
public sealed record CreditBureauScore(int Score, string? Band, string? ReportedAt);

/// <summary>The fraud screening service's check result for the application.</summary>
/// <param name="Decision">One of <see cref="FraudDecisions"/>.</param>
/// <param name="RiskScore">From 0 to 100.</param>
public sealed record FraudScreening(string CheckId, int RiskScore, string Decision, IReadOnlyList<string> Reasons);

/// <summary>The output of the partner-checks step.</summary>
public sealed record PartnerFindings(CreditBureauScore Credit, FraudScreening Fraud);

/// <summary>Values of <see cref="FraudScreening.Decision"/>, as the fraud screening API returns them.</summary>
public static class FraudDecisions
{
    public const string Clear = "clear";

    public const string Review = "review";

    public const string Decline = "decline";

    public static IReadOnlyList<string> All { get; } = [Clear, Review, Decline];
}

/// <summary>Values of the loan decision.</summary>
public static class LoanDecisions
{
    public const string Approve = "approve";

    public const string Refer = "refer";

    public const string Decline = "decline";
}

/// <summary>A loan decision and the rules behind it.</summary>
/// <param name="Decision">One of <see cref="LoanDecisions"/>.</param>
/// <param name="Reasons">One line per rule that applied; for an approval, the facts that let it pass.</param>
public sealed record LoanAssessment(string Decision, IReadOnlyList<string> Reasons);

/// <summary>
/// The loan rules. Decline when the fraud decision is decline or the bureau score is below 580. Otherwise refer to an
/// underwriter when the fraud decision is review or the bureau score is from 580 to 669. Refer too when the amount
/// exceeds the applicant's requested amount, or when the latest internal credit history entry is missing or older than
/// one year before the run's date. Approve otherwise.
/// </summary>
public static class LoanDecisionRules
{
    /// <summary>Bureau scores below this decline the application.</summary>
    public const int DeclineBelowScore = 580;

    /// <summary>Bureau scores below this, and at least <see cref="DeclineBelowScore"/>, refer the application.</summary>
    public const int ReferBelowScore = 670;

    /// <summary>Applies the rules as of <paramref name="asOf"/>, the run's date (UTC).</summary>
    public static LoanAssessment Assess(LoanRequest request, ApplicantRecord applicant, PartnerFindings partners, DateOnly asOf)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(applicant);
        ArgumentNullException.ThrowIfNull(partners);

        FraudScreening fraud = partners.Fraud;
        int score = partners.Credit.Score;
        var declines = new List<string>();
        var referrals = new List<string>();

        if (fraud.Decision == FraudDecisions.Decline)
        {
            declines.Add($"fraud screening {fraud.CheckId} returned decline{Details(fraud)}");
        }

        if (score < DeclineBelowScore)
        {
            declines.Add(Invariant($"credit bureau score {score} is below {DeclineBelowScore}"));
        }

        if (fraud.Decision == FraudDecisions.Review)
        {
            referrals.Add($"fraud screening {fraud.CheckId} returned review{Details(fraud)}");
        }

        if (score >= DeclineBelowScore && score < ReferBelowScore)
        {
            referrals.Add(Invariant($"credit bureau score {score} is from {DeclineBelowScore} to {ReferBelowScore - 1}"));
        }

        if (request.Amount > applicant.RequestedAmount)
        {
            referrals.Add(Invariant($"amount {request.Amount:0.00} exceeds the applicant's requested amount {applicant.RequestedAmount:0.00}"));
        }

        DateOnly staleBefore = asOf.AddYears(-1);
        if (applicant.LatestReportedAt is not { } reportedAt)
        {
            referrals.Add(Invariant($"loans.credit_history has no entry for applicant {applicant.ApplicantId}"));
        }
        else if (reportedAt < staleBefore)
        {
            referrals.Add(Invariant($"the latest internal credit history entry, of {reportedAt:yyyy-MM-dd}, is older than one year (before {staleBefore:yyyy-MM-dd})"));
        }

        if (declines.Count > 0)
        {
            return new LoanAssessment(LoanDecisions.Decline, [.. declines, .. referrals]);
        }

        if (referrals.Count > 0)
        {
            return new LoanAssessment(LoanDecisions.Refer, referrals);
        }

        return new LoanAssessment(LoanDecisions.Approve,
        [
            Invariant($"fraud screening {fraud.CheckId} returned clear with risk score {fraud.RiskScore}"),
            Invariant($"credit bureau score {score} is {ReferBelowScore} or more"),
            Invariant($"amount {request.Amount:0.00} is within the applicant's requested amount {applicant.RequestedAmount:0.00}"),
            Invariant($"the latest internal credit history entry, of {applicant.LatestReportedAt:yyyy-MM-dd}, is within one year"),
        ]);
    }

    private static string Details(FraudScreening fraud) =>
        Invariant($" with risk score {fraud.RiskScore}") + (fraud.Reasons.Count == 0 ? "" : $" ({string.Join(", ", fraud.Reasons)})");

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
