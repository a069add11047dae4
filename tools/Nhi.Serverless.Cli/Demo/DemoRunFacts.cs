namespace Nhi.Serverless.Cli.Demo;

/// <summary>The verified facts of one demo run, as printed and as written to the summary file.</summary>
public sealed record DemoRunFacts
{
    public string Kind => "remediation";
    public required string RunId { get; init; }
    public required string Sample { get; init; }
    public required string FindingId { get; init; }
    public required string Bucket { get; init; }
    public required string Outcome { get; init; }
    public string? SkipReason { get; init; }
    public IReadOnlyList<string> ActionsTaken { get; init; } = [];
    public IReadOnlyList<string> Scope { get; init; } = [];
    public string? GrantId { get; init; }
    public DateTimeOffset? GrantIssuedAt { get; init; }
    public DateTimeOffset? GrantExpiresAt { get; init; }
    public DateTimeOffset? GrantRevokedAt { get; init; }
    public DateTimeOffset? RevocationVerifiedAt { get; init; }

    /// <summary>Seconds from issue to the denied probe, or to expiry when the revocation was not proven.</summary>
    public double? ExposureSeconds { get; init; }
    public bool ScopeDenialVerified { get; init; }
    public bool RevocationVerified { get; init; }
    public bool VerificationPassed { get; init; }
    public IReadOnlyList<string> VerificationChecks { get; init; } = [];

    /// <summary>True when an unsigned GET of the bucket's sample object was refused after the run.</summary>
    public bool? AnonymousReadBlocked { get; init; }
    public IReadOnlyList<string> AuditRecordIds { get; init; } = [];
    public bool AuditSignatureValid { get; init; }
    public string? AuditDetail { get; init; }

    /// <summary>True when the run did what the demo expects of it.</summary>
    public bool Passed => Outcome switch
    {
        "remediated" => ScopeDenialVerified && RevocationVerified && VerificationPassed && AnonymousReadBlocked != false && AuditSignatureValid,
        "skipped" => AuditSignatureValid,
        _ => false,
    };
}
