using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.S3.Model;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Aws.Iam;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Brokers;
using Nhi.Serverless.Workflows;
using Nhi.Serverless.Workflows.Healthcare;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Workflows.Healthcare;

/// <summary>
/// The healthcare workflow on Azurite, Ceph RGW, the local OAuth server and a test insurer API. Each test class instance
/// gets its own patient records container, billing bucket, probe container and probe bucket. The patients are modelled
/// on the local stack's P-1001 to P-1003.
/// </summary>
public sealed class HealthcareWorkflowTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly BlobTestAccount _account = new();
    private readonly AwsTestStack _aws = new();
    private readonly ConcurrentBag<string> _stsGrantIds = [];
    private TestPartnerApis _partners = null!;
    private string _records = "";
    private string _probeContainer = "";
    private string _billing = "";
    private string _probeBucket = "";

    public async Task InitializeAsync()
    {
        _records = await _account.CreateContainerAsync();
        _probeContainer = await _account.CreateContainerAsync();
        _billing = await _aws.CreateBucketAsync();
        _probeBucket = await _aws.CreateBucketAsync();
        _partners = await TestPartnerApis.StartAsync();

        await PatientAsync("P-1001", "Alma Example", "M-1001");
        await BillingAsync("P-1001", 0m, 0m, ("ST-1001-0008", 25m, "2026-10-11"));
        await PatientAsync("P-1002", "Bruno Sample", "M-1002");
        await BillingAsync("P-1002", 40m, 0m, ("ST-1002-0004", 40m, null));
        await PatientAsync("P-1003", "Chen Example", "M-1003");
        await BillingAsync("P-1003", 380m, 380m, ("ST-1003-0011", 180m, null), ("ST-1003-0012", 200m, null));
        await PatientAsync("P-1004", "Dana Sample", "M-1004");
        await BillingAsync("P-1004", 120m, 120m, ("ST-1004-0002", 120m, null));
        await PatientAsync("P-1005", "Eli Example", null);

        Member("M-1001", "Silver PPO", "2026-01-01", "2026-12-31", ("99213", true, 25m, "covered: office visit, established patient"));
        Member("M-1002", "Bronze HMO", "2026-01-01", "2026-12-31", ("70551", false, null, "not covered: requires prior authorization, none on file"));
        Member("M-1003", "Gold PPO", "2025-01-01", "2026-06-30", ("99213", true, 20m, "covered: office visit, established patient"));
        Member("M-1004", "Silver PPO", "2026-01-01", "2026-12-31", ("99213", true, 40m, "covered: office visit, established patient"));
    }

    public async Task DisposeAsync()
    {
        // Deletes the deny policies of this test's revoked sessions, so test runs do not fill the shared role with them.
        foreach (string grantId in _stsGrantIds)
        {
            try
            {
                await _aws.Iam.DeleteRolePolicyAsync(_aws.Options.RoleName, RevocationPolicy.NameFor(SessionNames.For(grantId)), CancellationToken.None);
            }
            catch (IamServiceException exception) when (exception.IsNoSuchEntity)
            {
                // The grant was never revoked, or the broker pruned its policy.
            }
        }

        await _partners.DisposeAsync();
        await _aws.DeleteBucketAsync(_billing);
        await _aws.DeleteBucketAsync(_probeBucket);
        _aws.Dispose();
        await _account.DisposeAsync();
    }

    [Fact]
    public async Task Covered_patient_without_balance_is_ready()
    {
        await using WorkflowTestHost host = await StartAsync();

        WorkflowResult result = await RunAsync(host, "P-1001", "99213");

        Assert.Equal(WorkflowOutcomes.Completed, result.Outcome);
        Assert.Equal(HealthcareWorkflow.Ready, result.Decision);
        Assert.Equal("appointment APT-P-1001 of patient P-1001", result.Subject);
        Assert.Equal(
            [
                "covered by Silver PPO of member M-1001 with copay 25.00: covered: office visit, established patient",
                "no outstanding balance",
                "collect at the desk: 25.00 USD",
            ],
            result.Reasons);

        AppointmentSummary summary = Summary(result);
        Assert.Equal("Alma Example", summary.Patient.Name);
        Assert.Equal(new DateOnly(1984, 3, 12), summary.Patient.DateOfBirth);
        Assert.Equal(new Appointment("APT-P-1001", "99213", new DateOnly(2026, 11, 18)), summary.Appointment);
        Assert.True(summary.Billing.RecordFound);
        Assert.Equal(0m, summary.Billing.Balance);
        Assert.Equal("Silver PPO", summary.Coverage.PlanName);
        Assert.Equal(new DeskCollection(25m, 0m, 25m, "USD"), summary.CollectAtDesk);

        StepResult records = WorkflowRunAssertions.Step(result, HealthcareWorkflow.PatientRecordsStep);
        StepResult billing = WorkflowRunAssertions.Step(result, HealthcareWorkflow.BillingStep);
        StepResult insurance = WorkflowRunAssertions.Step(result, HealthcareWorkflow.InsuranceStep);
        Assert.Equal(BlobContainerSasBroker.BrokerName, Assert.Single(records.Report!.Grants).Broker);
        Assert.Equal(StsGrantBroker.BrokerName, Assert.Single(billing.Report!.Grants).Broker);
        Assert.Equal(OAuthClientCredentialsBroker.BrokerName, Assert.Single(insurance.Report!.Grants).Broker);

        Assert.Equal(
            ["s3:ListBucket step 200", "s3:GetObject step 200", "s3:ListBucket scope-probe 403"],
            billing.Report.Calls.Where(call => call.Call.Purpose != "revocation-probe").Select(call => $"{call.Call.Action} {call.Call.Purpose} {call.Call.StatusCode}"));
        Assert.Contains(_probeBucket, Assert.Single(billing.Report.ScopeProbes).Probe.Resource, StringComparison.Ordinal);
        Assert.Contains(_probeContainer, Assert.Single(records.Report.ScopeProbes).Probe.Resource, StringComparison.Ordinal);
        Assert.Contains("credit-bureau", Assert.Single(insurance.Report.ScopeProbes).Probe.Resource, StringComparison.Ordinal);
        foreach (StepResult step in result.Steps)
        {
            WorkflowRunAssertions.AssertEveryGrantDeniedOutsideScope(step);
        }

        PartnerRequestLog eligibility = Assert.Single(_partners.Requests, request => request.Path == "/insurer/v1/eligibility");
        Assert.Equal("""{"memberId":"M-1001","procedureCode":"99213","date":"2026-11-18"}""", eligibility.Body!.ToJsonString());

        await WorkflowRunAssertions.AssertEveryGrantRevokedWithProofAsync(host, result);
        await AssertGrantsAuditedAsync(host, result);
        await host.AssertNoSecretLeakedAsync(result.RunId);
    }

    [Fact]
    public async Task Stage_one_grants_overlap_in_time()
    {
        await using WorkflowTestHost host = await StartAsync();

        WorkflowResult result = await RunAsync(host, "P-1001", "99213");

        (DateTimeOffset Issued, DateTimeOffset Revoked) records = Lifetime(WorkflowRunAssertions.Step(result, HealthcareWorkflow.PatientRecordsStep));
        (DateTimeOffset Issued, DateTimeOffset Revoked) billing = Lifetime(WorkflowRunAssertions.Step(result, HealthcareWorkflow.BillingStep));
        (DateTimeOffset Issued, DateTimeOffset Revoked) insurance = Lifetime(WorkflowRunAssertions.Step(result, HealthcareWorkflow.InsuranceStep));

        output.WriteLine($"patient-records {records.Issued:O} to {records.Revoked:O}");
        output.WriteLine($"billing {billing.Issued:O} to {billing.Revoked:O}");
        output.WriteLine($"insurance {insurance.Issued:O} to {insurance.Revoked:O}");
        DateTimeOffset lastIssued = records.Issued > billing.Issued ? records.Issued : billing.Issued;
        DateTimeOffset firstRevoked = records.Revoked < billing.Revoked ? records.Revoked : billing.Revoked;
        DateTimeOffset lastRevoked = records.Revoked > billing.Revoked ? records.Revoked : billing.Revoked;
        Assert.True(
            lastIssued < firstRevoked,
            $"patient-records held its grant {records.Issued:O} to {records.Revoked:O}, billing {billing.Issued:O} to {billing.Revoked:O}; they do not overlap");
        Assert.True(insurance.Issued > lastRevoked, $"the insurance grant was issued at {insurance.Issued:O}, before stage 1 ended at {lastRevoked:O}");

        // Independent of thread scheduling: the run requested both stage 1 grants at one orchestration time.
        IGrantLedger ledger = host.Host.Services.GetRequiredService<IGrantLedger>();
        GrantRecord recordsGrant = (await ledger.GetAsync(WorkflowRunAssertions.Step(result, HealthcareWorkflow.PatientRecordsStep).GrantIds[0], CancellationToken.None))!;
        GrantRecord billingGrant = (await ledger.GetAsync(WorkflowRunAssertions.Step(result, HealthcareWorkflow.BillingStep).GrantIds[0], CancellationToken.None))!;
        Assert.Equal(recordsGrant.RequestedAt, billingGrant.RequestedAt);
    }

    [Fact]
    public async Task Decision_follows_coverage_then_balance()
    {
        await using WorkflowTestHost host = await StartAsync();

        Task<WorkflowResult> notCovered = RunAsync(host, "P-1002", "70551", date: "2026-11-20");
        Task<WorkflowResult> planEnded = RunAsync(host, "P-1003", "99213", date: "2026-11-19");
        Task<WorkflowResult> owing = RunAsync(host, "P-1004", "99213");
        Task<WorkflowResult> noMember = RunAsync(host, "P-1005", "99213");
        await Task.WhenAll(notCovered, planEnded, owing, noMember);

        WorkflowResult result = await notCovered;
        Assert.Equal(HealthcareWorkflow.CoverageProblem, result.Decision);
        Assert.Equal(
            [
                "coverage problem: not covered: requires prior authorization, none on file",
                "outstanding balance 40.00 USD, of which 0.00 overdue; open statements: ST-1002-0004",
                "collect at the desk: 40.00 USD, and resolve coverage before the visit",
            ],
            result.Reasons);

        result = await planEnded;
        Assert.Equal(HealthcareWorkflow.CoverageProblem, result.Decision);
        Assert.Equal("coverage problem: not covered: plan Gold PPO is active from 2025-01-01 to 2026-06-30, not on 2026-11-19", result.Reasons[0]);
        Assert.Equal(new DeskCollection(0m, 380m, 380m, "USD"), Summary(result).CollectAtDesk);
        Assert.Equal(["ST-1003-0011", "ST-1003-0012"], Summary(result).Billing.OpenStatements);

        result = await owing;
        Assert.Equal(HealthcareWorkflow.CollectPayment, result.Decision);
        Assert.Equal(
            [
                "covered by Silver PPO of member M-1004 with copay 40.00: covered: office visit, established patient",
                "outstanding balance 120.00 USD, of which 120.00 overdue; open statements: ST-1004-0002",
                "collect at the desk: 160.00 USD",
            ],
            result.Reasons);

        result = await noMember;
        Assert.Equal(HealthcareWorkflow.CoverageProblem, result.Decision);
        Assert.Equal(
            [
                "coverage problem: the patient record has no insurer member id, so the insurer was not asked",
                "no outstanding balance",
                "collect at the desk: 0.00, and resolve coverage before the visit",
            ],
            result.Reasons);
        Assert.False(Summary(result).Billing.RecordFound);
        Assert.Equal(3, _partners.Requests.Count(request => request.Path == "/insurer/v1/eligibility"));

        foreach (Task<WorkflowResult> run in new[] { notCovered, planEnded, owing, noMember })
        {
            WorkflowResult finished = await run;
            Assert.All(finished.Steps, WorkflowRunAssertions.AssertEveryGrantDeniedOutsideScope);
            await WorkflowRunAssertions.AssertEveryGrantRevokedWithProofAsync(host, finished);
            await host.AssertNoSecretLeakedAsync(finished.RunId);
        }
    }

    [Fact]
    public async Task Unknown_patient_fails_the_run()
    {
        await using WorkflowTestHost host = await StartAsync();

        WorkflowResult result = await RunAsync(host, "P-9999", "99213");

        Assert.Equal(WorkflowOutcomes.Failed, result.Outcome);
        Assert.Null(result.Decision);
        Assert.Equal([HealthcareWorkflow.PatientRecordsStep, HealthcareWorkflow.BillingStep], result.Steps.Select(step => step.Step));
        StepResult records = result.Steps[0];
        Assert.Contains("no record P-9999.json", records.Error, StringComparison.Ordinal);
        StepResult billing = result.Steps[1];
        Assert.Null(billing.Error);
        Assert.False(StepOutput.Read<BillingAccount>([billing.Report!], HealthcareWorkflow.BillingStep).RecordFound);
        Assert.Empty(_partners.Requests);

        await WorkflowRunAssertions.AssertEveryGrantRevokedWithProofAsync(host, result);
        Assert.Empty(await _account.PoliciesAsync(_records));
        await host.AssertNoSecretLeakedAsync(result.RunId);
    }

    [Theory]
    [InlineData("patientId", "X-1001", "parameters.patientId")]
    [InlineData("procedureCode", "9921", "parameters.procedureCode")]
    [InlineData("date", "2026-02-30", "parameters.date")]
    [InlineData("date", "18.11.2026", "parameters.date")]
    [InlineData("appointmentId", "", "parameters.appointmentId")]
    [InlineData("room", "12", "parameters.room")]
    public async Task Invalid_request_is_rejected_before_any_grant(string name, string value, string field)
    {
        await using WorkflowTestHost host = await StartAsync();
        Dictionary<string, string> parameters = Parameters("P-1001", "99213", "2026-11-18");
        parameters[name] = value;

        await WorkflowTestRequests.AssertRejectedAsync(host, HealthcareWorkflow.WorkflowName, parameters, field);
    }

    [Fact]
    public void Sample_trigger_plans_two_stages_and_three_grants()
    {
        WorkflowRequest request = WorkflowTestRequests.Sample("healthcare");
        var options = new WorkflowOptions { PatientRecordsContainer = _records, BillingBucket = _billing };

        WorkflowPlan plan = new HealthcareWorkflow(options, _account.Broker(), _aws.Options).Plan(request);

        Assert.Equal(HealthcareWorkflow.WorkflowName, request.Workflow);
        Assert.Equal(
            [
                $"1 patient-records records azure-blob-sas {_account.Service.Uri.AbsoluteUri.TrimEnd('/')}/{_records} read",
                $"1 billing billing aws-sts arn:aws:s3:::{_billing} s3:GetObject,s3:ListBucket",
                "2 insurance insurer oauth-client-credentials urn:nhi:partner:insurer insurance:validate",
            ],
            plan.Stages.SelectMany((stage, index) => stage.Steps.SelectMany(step => step.Grants.Select(grant =>
                $"{index + 1} {step.Name} {grant.Name} {grant.Broker} {grant.Scope.Resource} {string.Join(',', grant.Scope.Permissions)}"))));
    }

    private Task<WorkflowTestHost> StartAsync() =>
        WorkflowTestHost.StartAsync(new Dictionary<string, string?>
        {
            ["Workflows:PatientRecordsContainer"] = _records,
            ["Workflows:ScopeProbeContainer"] = _probeContainer,
            ["Workflows:BillingBucket"] = _billing,
            ["Workflows:ScopeProbeBucket"] = _probeBucket,
            ["Workflows:PartnerBaseUrl"] = _partners.BaseUrl,
        });

    private async Task<WorkflowResult> RunAsync(WorkflowTestHost host, string patientId, string procedureCode, string date = "2026-11-18")
    {
        string runId = await host.StartRunAsync(HealthcareWorkflow.WorkflowName, Parameters(patientId, procedureCode, date));
        WorkflowResult result = await host.WaitAsync(runId);
        foreach (string grantId in result.Steps.Where(step => step.Step == HealthcareWorkflow.BillingStep).SelectMany(step => step.GrantIds))
        {
            _stsGrantIds.Add(grantId);
        }

        return result;
    }

    private static Dictionary<string, string> Parameters(string patientId, string procedureCode, string date) => new()
    {
        ["patientId"] = patientId,
        ["appointmentId"] = "APT-" + patientId,
        ["procedureCode"] = procedureCode,
        ["date"] = date,
    };

    // Every grant of the run appears in exactly one grant.issued record and in at least one grant.revoked record.
    private static async Task AssertGrantsAuditedAsync(WorkflowTestHost host, WorkflowResult result)
    {
        JsonNode[] records = (await host.AuditRecordsAsync(result.RunId)).Select(record => JsonNode.Parse(record.Json)!["nhi"]!).ToArray();
        string[] grantIds = result.Steps.SelectMany(step => step.GrantIds).ToArray();
        Assert.Equal(3, grantIds.Distinct().Count());

        foreach (string grantId in grantIds)
        {
            Assert.Single(records, nhi => Is(nhi, AuditEvents.GrantIssued, grantId));
            Assert.Contains(records, nhi => Is(nhi, AuditEvents.GrantRevoked, grantId));
        }

        static bool Is(JsonNode nhi, string name, string grantId) =>
            nhi["event"]!.GetValue<string>() == name && nhi["grant_id"]?.GetValue<string>() == grantId;
    }

    private static (DateTimeOffset Issued, DateTimeOffset Revoked) Lifetime(StepResult step)
    {
        IssuedGrant grant = Assert.Single(step.Report!.Grants);
        RevocationOutcome revocation = Assert.Single(step.Report.Revocations);
        return (grant.IssuedAt, revocation.RevokedAt!.Value);
    }

    private static AppointmentSummary Summary(WorkflowResult result) =>
        result.Summary!.Value.Deserialize<AppointmentSummary>(StepOutput.SerializerOptions)!;

    private async Task PatientAsync(string patientId, string name, string? memberId)
    {
        var record = new JsonObject
        {
            ["patientId"] = patientId,
            ["name"] = name,
            ["dateOfBirth"] = "1984-03-12",
            ["primaryCarePhysician"] = "Dr. Ines Sample",
            ["allergies"] = new JsonArray("penicillin"),
        };
        if (memberId is not null)
        {
            record["memberId"] = memberId;
        }

        await _account.Service.GetBlobContainerClient(_records).UploadBlobAsync(patientId + ".json", BinaryData.FromString(record.ToJsonString()));
    }

    private async Task BillingAsync(string patientId, decimal balance, decimal overdue, params (string Id, decimal Amount, string? PaidOn)[] statements)
    {
        var record = new JsonObject
        {
            ["patientId"] = patientId,
            ["currency"] = "USD",
            ["balance"] = balance,
            ["overdue"] = overdue,
            ["statements"] = new JsonArray(statements.Select(statement => (JsonNode?)new JsonObject
            {
                ["statementId"] = statement.Id,
                ["amount"] = statement.Amount,
                ["paidOn"] = statement.PaidOn,
            }).ToArray()),
        };
        await _aws.Owner.PutObjectAsync(new PutObjectRequest { BucketName = _billing, Key = $"patients/{patientId}.json", ContentBody = record.ToJsonString() });
    }

    private void Member(string memberId, string plan, string start, string end, params (string Code, bool Covered, decimal? Copay, string Reason)[] procedures) =>
        _partners.Members[memberId] = new InsuredMemberFixture(
            plan,
            DateOnly.Parse(start, System.Globalization.CultureInfo.InvariantCulture),
            DateOnly.Parse(end, System.Globalization.CultureInfo.InvariantCulture),
            procedures.ToDictionary(procedure => procedure.Code, procedure => new ProcedureCoverageFixture(procedure.Covered, procedure.Copay, procedure.Reason)));
}
