namespace Nhi.Serverless.Runs;

/// <summary>Values of <see cref="ApiCall.Purpose"/>.</summary>
public static class ApiCallPurposes
{
    public const string Remediate = "remediate";
    public const string Verify = "verify";
    public const string ScopeProbe = "scope-probe";
    public const string RevocationProbe = "revocation-probe";

    /// <summary>A business workflow step's own work, such as reading a table or calling a partner API.</summary>
    public const string Step = "step";
}

/// <summary>Values of <see cref="ApiCall.Outcome"/>.</summary>
public static class ApiCallOutcomes
{
    /// <summary>The platform authorized the call, which may still have returned "not found" for an absent configuration.</summary>
    public const string Allowed = "allowed";

    /// <summary>The platform rejected the call with HTTP 403.</summary>
    public const string Denied = "denied";

    /// <summary>The call failed for another reason, or no response came back.</summary>
    public const string Error = "error";
}
