using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Aws.S3;

/// <summary>
/// Thrown before a call that the plan's scope does not cover, so an action that calls more than it declares
/// fails in every test run instead of relying on the platform to deny it.
/// </summary>
public sealed class ScopeViolationException : Exception
{
    public ScopeViolationException(string action, string resource, Scope scope)
        : base(
            $"Call {action} on {resource} is outside the grant's scope ({string.Join(", ", scope.Permissions)} on {scope.Resource}); "
            + "declare the permission in the action's descriptor or remove the call.")
    {
        Action = action;
        Resource = resource;
    }

    public string Action { get; }

    public string Resource { get; }
}
