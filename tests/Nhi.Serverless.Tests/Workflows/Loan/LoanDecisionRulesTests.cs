using Nhi.Serverless.Workflows.Loan;

namespace Nhi.Serverless.Tests.Workflows.Loan;

// The loan rules on values built here, including the boundaries of each rule.
public sealed class LoanDecisionRulesTests
{
    private static readonly DateOnly AsOf = new(2026, 6, 1);

    [Fact]
    public void Good_application_is_approved()
    {
        LoanAssessment assessment = Assess();

        Assert.Equal(LoanDecisions.Approve, assessment.Decision);
        Assert.Equal(4, assessment.Reasons.Count);
        Assert.Contains("credit bureau score 700 is 670 or more", assessment.Reasons);
    }

    [Theory]
    [InlineData(579, LoanDecisions.Decline)]
    [InlineData(580, LoanDecisions.Refer)]
    [InlineData(669, LoanDecisions.Refer)]
    [InlineData(670, LoanDecisions.Approve)]
    public void Score_bands_decide_at_their_boundaries(int score, string decision)
    {
        LoanAssessment assessment = Assess(score: score);

        Assert.Equal(decision, assessment.Decision);
    }

    [Fact]
    public void Fraud_decline_declines_whatever_the_score()
    {
        LoanAssessment assessment = Assess(score: 820, fraud: FraudDecisions.Decline);

        Assert.Equal(LoanDecisions.Decline, assessment.Decision);
        Assert.Equal("fraud screening FS-1 returned decline with risk score 40 (velocity)", Assert.Single(assessment.Reasons));
    }

    [Fact]
    public void Fraud_review_refers()
    {
        LoanAssessment assessment = Assess(fraud: FraudDecisions.Review);

        Assert.Equal(LoanDecisions.Refer, assessment.Decision);
        Assert.StartsWith("fraud screening FS-1 returned review", Assert.Single(assessment.Reasons), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("10000.00", LoanDecisions.Approve)]
    [InlineData("10000.01", LoanDecisions.Refer)]
    public void Amount_above_requested_refers(string amount, string decision)
    {
        LoanAssessment assessment = Assess(amount: decimal.Parse(amount, System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(decision, assessment.Decision);
    }

    [Theory]
    [InlineData("2025-06-01", LoanDecisions.Approve)]
    [InlineData("2025-05-31", LoanDecisions.Refer)]
    public void Internal_history_older_than_a_year_refers(string reportedAt, string decision)
    {
        LoanAssessment assessment = Assess(reportedAt: DateOnly.Parse(reportedAt, System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal(decision, assessment.Decision);
    }

    [Fact]
    public void Missing_internal_history_refers()
    {
        LoanAssessment assessment = LoanDecisionRules.Assess(
            new LoanRequest("LA-1", 1, 5000m),
            new ApplicantRecord(1, 10000m, 0, null, null),
            Findings(700, FraudDecisions.Clear),
            AsOf);

        Assert.Equal(LoanDecisions.Refer, assessment.Decision);
        Assert.Equal("loans.credit_history has no entry for applicant 1", Assert.Single(assessment.Reasons));
    }

    [Fact]
    public void Decline_lists_the_referral_reasons_too()
    {
        LoanAssessment assessment = Assess(score: 500, amount: 20000m, fraud: FraudDecisions.Review);

        Assert.Equal(LoanDecisions.Decline, assessment.Decision);
        Assert.Equal(3, assessment.Reasons.Count);
        Assert.Equal("credit bureau score 500 is below 580", assessment.Reasons[0]);
        Assert.StartsWith("fraud screening FS-1 returned review", assessment.Reasons[1], StringComparison.Ordinal);
        Assert.Equal("amount 20000.00 exceeds the applicant's requested amount 10000.00", assessment.Reasons[2]);
    }

    private static LoanAssessment Assess(int score = 700, decimal amount = 8000m, string fraud = FraudDecisions.Clear, DateOnly? reportedAt = null) =>
        LoanDecisionRules.Assess(
            new LoanRequest("LA-1", 1, amount),
            new ApplicantRecord(1, 10000m, 1, 690, reportedAt ?? new DateOnly(2026, 3, 1)),
            Findings(score, fraud),
            AsOf);

    private static PartnerFindings Findings(int score, string fraud) =>
        new(new CreditBureauScore(score, "good", "2026-05-01"), new FraudScreening("FS-1", 40, fraud, fraud == FraudDecisions.Clear ? [] : ["velocity"]));
}
