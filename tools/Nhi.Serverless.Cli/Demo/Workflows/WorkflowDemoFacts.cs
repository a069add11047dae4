namespace Nhi.Serverless.Cli.Demo.Workflows;

/// <summary>
/// The verified facts of one workflow run, as printed and as written to the summary file. The verification fields have
/// the names of a remediation run's, and each grant has its own entry.
/// </summary>
public sealed record WorkflowDemoFacts
{
    public string Kind => "workflow";
    public required string RunId { get; init; }
    public required string Sample { get; init; }
    public required string Workflow { get; init; }
    public required string Outcome { get; init; }
    public string? Decision { get; init; }
    public IReadOnlyList<string> Reasons { get; init; } = [];
    public IReadOnlyList<string> Scope { get; init; } = [];
    public IReadOnlyList<WorkflowGrantFacts> Grants { get; init; } = [];

    /// <summary>The longest time any grant of the run was usable, in seconds.</summary>
    public double? ExposureSeconds => Grants.Count == 0 ? null : Grants.Max(grant => grant.ExposureSeconds);

    /// <summary>True when every grant was denied outside its scope while it was valid.</summary>
    public bool ScopeDenialVerified => Grants.Count > 0 && Grants.All(grant => grant.ScopeDenied);

    /// <summary>True when every grant's revocation was proven by a denied probe.</summary>
    public bool RevocationVerified => Grants.Count > 0 && Grants.All(grant => grant.RevocationProven);
    public bool VerificationPassed { get; init; }
    public IReadOnlyList<string> VerificationChecks { get; init; } = [];
    public IReadOnlyList<string> AuditRecordIds { get; init; } = [];
    public bool AuditSignatureValid { get; init; }
    public string? AuditDetail { get; init; }

    /// <summary>True when the run completed and every grant was scoped, revoked with proof, and audited.</summary>
    public bool Passed => Outcome == "completed" && VerificationPassed && ScopeDenialVerified && RevocationVerified && AuditSignatureValid;
}

/// <summary>One grant of a workflow run: what it allowed, when it was issued and revoked, and how that was proven.</summary>
public sealed record WorkflowGrantFacts
{
    public required string Step { get; init; }
    public required string GrantId { get; init; }
    public required string Broker { get; init; }
    public required string Principal { get; init; }
    public DateTimeOffset GrantIssuedAt { get; init; }
    public DateTimeOffset GrantExpiresAt { get; init; }
    public DateTimeOffset? GrantRevokedAt { get; init; }
    public DateTimeOffset? RevocationVerifiedAt { get; init; }
    public bool RevocationProven { get; init; }
    public string? RevocationEvidence { get; init; }

    /// <summary>Seconds from issue to the denied probe, or to expiry when the revocation was not proven.</summary>
    public double ExposureSeconds { get; init; }
    public bool ScopeDenied { get; init; }
    public string? ScopeEvidence { get; init; }
}
