using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Workflows.Cicd;

/// <summary>
/// A CI/CD deploy job applies a schema change to one database schema and reads one logs bucket. The job authenticates
/// with its workload identity, a GitHub Actions OIDC token checked against trust rules. It receives two brokered
/// credentials: a PostgreSQL role with USAGE and CREATE on the deploy schema, and an S3 session that can only list and
/// read the logs bucket. Both are revoked when the job reports done, when it is cancelled, or when the deploy window
/// closes.
/// </summary>
public sealed partial class CicdDeployWorkflow(PostgresRoleBroker postgres, AwsOptions aws, WorkflowOptions options) : IWorkflow
{
    public const string WorkflowName = "cicd";

    public const string DeployStep = "deploy";

    public string Name => WorkflowName;

    /// <summary>The job proves who it is with its OIDC token, checked against the trust rules for "cicd".</summary>
    public bool RequiresWorkloadIdentity => true;

    public WorkflowPlan Plan(WorkflowRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        string commit = Required(request, "commit", CommitPattern(), "a commit id of 7 to 40 lowercase hexadecimal digits");
        if (request.Parameters.TryGetValue("migration", out string? migration) && !MigrationPattern().IsMatch(migration))
        {
            throw new InvalidWorkflowRequestException("parameters.migration", "a migration name of 1 to 100 letters, digits, '.', '_' or '-'");
        }

        GrantSpec schema = new(
            "schema",
            PostgresRoleBroker.BrokerName,
            PostgresGrantScope.SchemaChange(postgres.DatabaseResource(options.Database), options.DeploySchema),
            options.DeployWindow);
        GrantSpec logs = new(
            "logs",
            StsGrantBroker.BrokerName,
            Scope.Create("aws", ServiceCollectionExtensions.BucketArn(aws, options.DeployLogsBucket), ["s3:GetObject", "s3:ListBucket"]),
            options.DeployWindow);

        var step = new WorkflowStepPlan(DeployStep, StepModes.Brokered, [schema, logs], options.DeployWindow);
        return new WorkflowPlan(Name, $"deploy of {commit[..Math.Min(12, commit.Length)]} by {request.Caller}", [new WorkflowStage([step])]);
    }

    /// <summary>The deploy succeeded when the job reported success; the summary lists what it could touch and for how long.</summary>
    public WorkflowDecision Decide(WorkflowRequest request, WorkflowPlan plan, IReadOnlyList<StepReport> reports)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(reports);
        StepReport deploy = reports.Single(report => report.Step == DeployStep);
        var grants = new JsonArray(deploy.Grants.Select(grant => (JsonNode)new JsonObject
        {
            ["grantId"] = grant.GrantId,
            ["broker"] = grant.Broker,
            ["principal"] = grant.Principal,
            ["issuedAt"] = grant.IssuedAt,
            ["revokedAt"] = deploy.Revocations.FirstOrDefault(revocation => revocation.GrantId == grant.GrantId)?.RevokedAt,
        }).ToArray());

        var summary = new JsonObject
        {
            ["caller"] = request.Caller,
            ["commit"] = request.Parameters["commit"],
            ["migration"] = request.Parameters.GetValueOrDefault("migration"),
            ["schema"] = options.DeploySchema,
            ["logsBucket"] = options.DeployLogsBucket,
            ["grants"] = grants,
            ["output"] = deploy.Output is { } output ? WorkflowJson.ToNode(output) : null,
        };

        var reasons = new List<string> { $"the job reported success with {deploy.Verification.Checks.Count} checks" };
        reasons.AddRange(deploy.Verification.Checks);
        return new WorkflowDecision(WorkflowOutcomes.Completed, "deployed", reasons, WorkflowJson.ToElement(summary));
    }

    private static string Required(WorkflowRequest request, string name, Regex pattern, string expected) =>
        request.Parameters.TryGetValue(name, out string? value) && pattern.IsMatch(value)
            ? value
            : throw new InvalidWorkflowRequestException($"parameters.{name}", expected);

    [GeneratedRegex("^[0-9a-f]{7,40}$", RegexOptions.CultureInvariant)]
    private static partial Regex CommitPattern();

    [GeneratedRegex("^[A-Za-z0-9._-]{1,100}$", RegexOptions.CultureInvariant)]
    private static partial Regex MigrationPattern();
}
