using System.Text.Json.Nodes;

namespace Nhi.Serverless.Tests.Findings;

/// <summary>The alert samples under samples/, which the test project copies next to the test assembly.</summary>
internal static class SampleFiles
{
    public const string AsffPublicPolicy = "securityhub/asff-s3.2-public-policy.json";
    public const string AsffMultiple = "securityhub/asff-s3.8-multiple.json";
    public const string OcsfSecurityHub = "ocsf/securityhub-compliance-s3.2.json";
    public const string ProwlerArray = "ocsf/prowler-s3-public.json";
    public const string ProwlerJsonLines = "ocsf/prowler-s3-public.jsonl";
    public const string WizIssue = "wiz/issue-public-bucket.json";
    public const string WizTemplate = "wiz/webhook-template.json";
    public const string PrismaAlerts = "prismacloud/alerts-public-bucket.json";
    public const string CrowdStrikeIom = "crowdstrike/fusion-iom-public-bucket.json";
    public const string DefenderAlert = "defender/alert-continuous-export.json";
    public const string DefenderWorkflowAlert = "defender/alert-workflow-automation.json";
    public const string DefenderRecommendations = "defender/recommendation-continuous-export.json";
    public const string RunRequest = "soar/run-request.json";

    public static string Read(string relativePath)
    {
        var parts = relativePath.Split('/');
        return File.ReadAllText(Path.Combine([AppContext.BaseDirectory, "samples", .. parts]));
    }

    /// <summary>Returns a sample as a mutable JSON tree, so a test can change one field.</summary>
    public static JsonNode Node(string relativePath) => JsonNode.Parse(Read(relativePath))!;
}
