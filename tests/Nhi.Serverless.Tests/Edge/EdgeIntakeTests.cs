using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Findings;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>Limits, de-duplication and the durable records of skipped and duplicate findings, on the real host.</summary>
public sealed class EdgeIntakeTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private NhiTestHost _host = null!;
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        _host = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?> { ["Edge:MaxBatchLength"] = "3" });
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: false);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _aws.DeleteBucketAsync(_bucket);
        _aws.Dispose();
    }

    [Fact]
    public async Task RedeliveryStartsOneRun()
    {
        string body = WizIssueFor(_bucket, Guid.NewGuid().ToString());

        JsonNode first = await PostAsync("wiz", body, 202);
        JsonNode second = await PostAsync("wiz", body, 202);

        string runId = first["runs"]![0]!["runId"]!.GetValue<string>();
        Assert.Equal(runId, second["runs"]![0]!["runId"]!.GetValue<string>());
        Assert.False(first["runs"]![0]!["duplicate"]!.GetValue<bool>());
        Assert.True(second["runs"]![0]!["duplicate"]!.GetValue<bool>());
        RunResult result = await _host.WaitForRunAsync(runId);
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);
    }

    [Fact]
    public async Task DuplicateIsRecorded()
    {
        string findingId = Guid.NewGuid().ToString();
        string body = WizIssueFor(_bucket, findingId);
        await PostAsync("wiz", body, 202);

        await PostAsync("wiz", body, 202);

        IReadOnlyList<IntakeRecord> records = await Journal.ListForFindingAsync(findingId, CancellationToken.None);
        IntakeRecord record = Assert.Single(records);
        Assert.Equal(IntakeOutcomes.Duplicate, record.Outcome);
        Assert.Equal("wiz", record.Source);
    }

    [Fact]
    public async Task TwoAccountsDeliveringStartOneRun()
    {
        string guid = Guid.NewGuid().ToString();
        JsonNode fromMember = JsonNode.Parse(FindingSamples.SecurityHubFor(_bucket, guid))!;
        JsonNode fromAdministrator = fromMember.DeepClone();
        fromAdministrator["account"] = "210987654321";
        fromAdministrator["id"] = Guid.NewGuid().ToString();

        JsonNode first = await PostAsync("securityhub", fromMember.ToJsonString(), 202);
        JsonNode second = await PostAsync("securityhub", fromAdministrator.ToJsonString(), 202);

        Assert.Equal(first["runs"]![0]!["runId"]!.GetValue<string>(), second["runs"]![0]!["runId"]!.GetValue<string>());
        Assert.True(second["runs"]![0]!["duplicate"]!.GetValue<bool>());
    }

    [Fact]
    public async Task DefenderAlertIsSkippedAndRecorded()
    {
        JsonNode alert = SampleFiles.Node(SampleFiles.DefenderWorkflowAlert);
        string alertId = "alert-" + Guid.NewGuid().ToString("N");
        alert["SystemAlertId"] = alertId;

        JsonNode answer = await PostAsync("defender", alert.ToJsonString(), 200);

        Assert.Empty(answer["runs"]!.AsArray());
        IntakeRecord record = Assert.Single(await Journal.ListForFindingAsync(alertId, CancellationToken.None));
        Assert.Equal(IntakeOutcomes.Skipped, record.Outcome);
        Assert.Contains("no playbook", record.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SkippedFindingIsLogged()
    {
        JsonNode alerts = SampleFiles.Node(SampleFiles.PrismaAlerts);
        alerts.AsArray().RemoveAt(0);
        string alertId = "P-" + Random.Shared.Next(100_000, 999_999);
        alerts[0]!["alertId"] = alertId;

        await PostAsync("prismacloud", alerts.ToJsonString(), 200);

        Assert.Contains(_host.Logs.Lines, line => line.Contains("Skipped finding", StringComparison.Ordinal) && line.Contains(alertId, StringComparison.Ordinal));
    }

    [Fact]
    public async Task LongBatchIsRejected()
    {
        JsonNode alerts = SampleFiles.Node(SampleFiles.PrismaAlerts);
        for (int copy = 0; copy < 3; copy++)
        {
            alerts.AsArray().Add(alerts[1]!.DeepClone());
        }

        JsonNode problem = await PostAsync("prismacloud", alerts.ToJsonString(), 413);

        Assert.Equal("at most 3 findings", problem["expected"]!.GetValue<string>());
    }

    [Fact]
    public async Task OversizedBodyIsRejected()
    {
        string body = "[" + string.Join(",", Enumerable.Repeat("{\"padding\":\"" + new string('a', 60_000) + "\"}", 20)) + "]";

        JsonNode problem = await PostAsync("prismacloud", body, 413);

        Assert.Equal("body", problem["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task FormBodyIsRejected()
    {
        using var content = new StringContent("alertId=P-1", Encoding.UTF8);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-www-form-urlencoded");

        using HttpResponseMessage response = await _host.Http.PostAsync("/api/alerts/wiz", content);
        JsonNode problem = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(415, (int)response.StatusCode);
        Assert.Equal("Content-Type", problem["field"]!.GetValue<string>());
    }

    [Fact]
    public async Task InvalidVendorFieldIsNamed()
    {
        JsonNode issue = SampleFiles.Node(SampleFiles.WizIssue);
        issue["resource"]!["subscriptionId"] = "not-an-account";

        JsonNode problem = await PostAsync("wiz", issue.ToJsonString(), 400);

        Assert.Equal("resource.subscriptionId", problem["field"]!.GetValue<string>());
        Assert.Equal("must be a 12-digit AWS account id", problem["expected"]!.GetValue<string>());
    }

    [Fact]
    public async Task OversizedFieldIsNamed()
    {
        JsonNode issue = SampleFiles.Node(SampleFiles.WizIssue);
        issue["issue"]!["id"] = new string('x', 40_000);

        JsonNode problem = await PostAsync("wiz", issue.ToJsonString(), 400);

        Assert.Equal("issue.id", problem["field"]!.GetValue<string>());
        Assert.Equal("must be at most 4096 characters long", problem["expected"]!.GetValue<string>());
    }

    private IIntakeJournal Journal => _host.Services.GetRequiredService<IIntakeJournal>();

    private async Task<JsonNode> PostAsync(string source, string body, int expectedStatus)
    {
        using HttpResponseMessage response = await _host.Http.PostAsync($"/api/alerts/{source}", FindingSamples.Json(body));
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(expectedStatus == (int)response.StatusCode, $"Expected {expectedStatus}, got {(int)response.StatusCode}: {text}");
        return JsonNode.Parse(text)!;
    }

    /// <summary>Returns the Wiz sample aimed at <paramref name="bucket"/> with its own issue id.</summary>
    public static string WizIssueFor(string bucket, string issueId)
    {
        JsonNode issue = SampleFiles.Node(SampleFiles.WizIssue);
        issue["issue"]!["id"] = issueId;
        issue["resource"]!["providerId"] = "arn:aws:s3:::" + bucket;
        issue["resource"]!["name"] = bucket;
        return issue.ToJsonString();
    }
}
