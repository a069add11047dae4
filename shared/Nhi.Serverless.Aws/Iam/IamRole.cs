namespace Nhi.Serverless.Aws.Iam;

/// <summary>The facts of an IAM role that revocation needs, as GetRole returns them.</summary>
/// <param name="RoleName">The role's name.</param>
/// <param name="RoleId">The role's unique id; assumed-role sessions carry "RoleId:SessionName" as aws:userid.</param>
/// <param name="Arn">The role's ARN.</param>
/// <param name="MaxSessionDuration">The longest session the role allows; null when the response omits it.</param>
public sealed record IamRole(string RoleName, string RoleId, string Arn, TimeSpan? MaxSessionDuration);
