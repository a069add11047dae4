using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Workflows;
using Nhi.Serverless.Workflows.Loan;

namespace Nhi.Serverless.Tests.Workflows.Loan;

// The plan of the loan workflow and its parameter checks, without running it.
public sealed class LoanPlanTests
{
    private const string Resource = "postgresql://127.0.0.1:55432/erp";

    private static readonly WorkflowOptions Options = new() { StepLifetime = TimeSpan.FromMinutes(3) };

    [Fact]
    public void Plan_runs_both_steps_in_one_stage()
    {
        WorkflowPlan plan = new LoanWorkflow(Options, Resource).Plan(Request("LA-2026-0042", "1", "20000"));

        Assert.Equal("loan", plan.Workflow);
        Assert.Equal("loan application LA-2026-0042", plan.Subject);
        WorkflowStage stage = Assert.Single(plan.Stages);
        Assert.Equal(["read-applicant", "partner-checks"], stage.Steps.Select(step => step.Name));
        Assert.All(stage.Steps, step => Assert.Equal(StepModes.Managed, step.Mode));
        Assert.All(stage.Steps.SelectMany(step => step.Grants), grant => Assert.Equal(TimeSpan.FromMinutes(3), grant.Lifetime));

        GrantSpec read = Assert.Single(stage.Steps[0].Grants);
        Assert.Equal("loans-read", read.Name);
        Assert.Equal(PostgresRoleBroker.BrokerName, read.Broker);
        Assert.Equal(PostgresGrantScope.ReadOnly(Resource, "loans.applicants", "loans.credit_history"), read.Scope);

        GrantSpec[] partners = stage.Steps[1].Grants.ToArray();
        Assert.Equal(["credit", "fraud"], partners.Select(grant => grant.Name));
        Assert.All(partners, grant => Assert.Equal(OAuthClientCredentialsBroker.BrokerName, grant.Broker));
        Assert.Equal(OAuthScopes.For("urn:nhi:partner:credit-bureau", "credit-score:read"), partners[0].Scope);
        Assert.Equal(OAuthScopes.For("urn:nhi:partner:fraud-screening", "fraud:check"), partners[1].Scope);
    }

    [Theory]
    [InlineData("20000", 20000)]
    [InlineData("20000.5", 20000.5)]
    [InlineData("0.01", 0.01)]
    [InlineData("9999999999.99", 9999999999.99)]
    public void Plan_accepts_amounts_with_up_to_two_decimals(string amount, double expected)
    {
        LoanRequest request = LoanRequest.Parse(Request("LA-1", "1", amount));

        Assert.Equal((decimal)expected, request.Amount);
    }

    [Theory]
    [InlineData(null, "1", "100", "parameters.applicationId")]
    [InlineData("", "1", "100", "parameters.applicationId")]
    [InlineData("LA 1", "1", "100", "parameters.applicationId")]
    [InlineData("-LA1", "1", "100", "parameters.applicationId")]
    [InlineData("LA-1", null, "100", "parameters.applicantId")]
    [InlineData("LA-1", "0", "100", "parameters.applicantId")]
    [InlineData("LA-1", "x1", "100", "parameters.applicantId")]
    [InlineData("LA-1", "2147483648", "100", "parameters.applicantId")]
    [InlineData("LA-1", "1", null, "parameters.amount")]
    [InlineData("LA-1", "1", "0", "parameters.amount")]
    [InlineData("LA-1", "1", "-5", "parameters.amount")]
    [InlineData("LA-1", "1", "12,000", "parameters.amount")]
    [InlineData("LA-1", "1", "1.005", "parameters.amount")]
    [InlineData("LA-1", "1", "1e5", "parameters.amount")]
    [InlineData("LA-1", "1", "10000000000", "parameters.amount")]
    public void Plan_rejects_invalid_parameters(string? applicationId, string? applicantId, string? amount, string field)
    {
        InvalidWorkflowRequestException invalid = Assert.Throws<InvalidWorkflowRequestException>(
            () => new LoanWorkflow(Options, Resource).Plan(Request(applicationId, applicantId, amount)));

        Assert.Equal(field, invalid.Field);
    }

    private static WorkflowRequest Request(string? applicationId, string? applicantId, string? amount)
    {
        var parameters = new Dictionary<string, string>();
        if (applicationId is not null)
        {
            parameters["applicationId"] = applicationId;
        }

        if (applicantId is not null)
        {
            parameters["applicantId"] = applicantId;
        }

        if (amount is not null)
        {
            parameters["amount"] = amount;
        }

        return new WorkflowRequest("wf-loan-plan", "loan", "logic-apps", "test-caller", parameters, DateTimeOffset.UtcNow);
    }
}
