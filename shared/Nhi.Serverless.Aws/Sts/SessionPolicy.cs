using System.Text.Json;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Aws.Sts;

/// <summary>Generates the inline session policy passed to AssumeRole, which narrows the role to one scope.</summary>
/// <remarks>
/// The session's effective rights are the role's policies intersected with this policy, so the session can do
/// exactly the scope's actions on exactly one bucket, however broad the role is.
/// The JSON has no whitespace, because Ceph RGW 16.2 rejected AssumeRole with error code "Unknown" when botocore 1.43
/// sent the same policy with spaces or line breaks.
/// NOTE: AWS rejects a packed session policy above its size limit (PackedPolicyTooLarge). A scope of a few dozen
/// actions fits, which is far more than any playbook here declares.
/// </remarks>
public static class SessionPolicy
{
    /// <summary>
    /// Returns a policy that allows the scope's bucket-level actions on the bucket ARN and its object-level actions
    /// on "{bucket ARN}/*", and nothing else. The scope must already have passed <see cref="StsGrantBroker.ValidateScope"/>.
    /// </summary>
    public static string For(Scope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);

        string[] bucketActions = scope.Permissions.Where(action => !S3ActionLevels.IsObjectLevel(action)).Order(StringComparer.Ordinal).ToArray();
        string[] objectActions = scope.Permissions.Where(S3ActionLevels.IsObjectLevel).Order(StringComparer.Ordinal).ToArray();

        var statements = new List<object>();
        if (bucketActions.Length > 0)
        {
            statements.Add(new { Sid = "BucketActions", Effect = "Allow", Action = bucketActions, Resource = scope.Resource });
        }

        if (objectActions.Length > 0)
        {
            statements.Add(new { Sid = "ObjectActions", Effect = "Allow", Action = objectActions, Resource = scope.Resource + "/*" });
        }

        return JsonSerializer.Serialize(new { Version = "2012-10-17", Statement = statements });
    }
}
