using Nhi.Serverless.Findings;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Playbooks;

/// <summary>A remediation step with a stable name and the exact provider permissions it calls.</summary>
/// <param name="Name">A stable name such as "s3.remove-public-acl-grants".</param>
/// <param name="Description">One line saying what it changes.</param>
/// <param name="Permissions">Every provider action the step may call, such as "s3:PutBucketAcl".</param>
public sealed record RemediationActionDescriptor(string Name, string Description, IReadOnlyList<string> Permissions);

/// <summary>An ordered list of remediation actions for one resource type, and the findings it answers.</summary>
/// <param name="Name">A stable name such as "s3-bucket-public-access".</param>
/// <param name="Title">A human-readable title.</param>
/// <param name="Provider">"aws" or "azure".</param>
/// <param name="ResourceTypes">Resource types as findings name them, such as "AwsS3Bucket".</param>
/// <param name="Controls">Control and check ids the playbook answers, such as "S3.2".</param>
/// <param name="Actions">The actions in the order they run.</param>
public sealed record Playbook(
    string Name,
    string Title,
    string Provider,
    IReadOnlyList<string> ResourceTypes,
    IReadOnlyList<string> Controls,
    IReadOnlyList<RemediationActionDescriptor> Actions)
{
    /// <summary>Returns the union of the actions' declared permissions on the finding's one resource.</summary>
    public Scope ScopeFor(CloudResource resource) =>
        Scope.Create(Provider, resource.Id, Actions.SelectMany(action => action.Permissions));

    public bool Answers(Finding finding) =>
        finding.Resource.Provider == Provider
        && ResourceTypes.Contains(finding.Resource.Type, StringComparer.OrdinalIgnoreCase)
        && finding.ControlId is not null
        && Controls.Contains(finding.ControlId, StringComparer.OrdinalIgnoreCase);
}
