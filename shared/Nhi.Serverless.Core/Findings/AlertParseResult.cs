namespace Nhi.Serverless.Findings;

/// <summary>The findings read from one delivered alert body: those to act on and those skipped.</summary>
public sealed record AlertParseResult(IReadOnlyList<Finding> Actionable, IReadOnlyList<SkippedFinding> Skipped)
{
    public static AlertParseResult Empty { get; } = new([], []);
}

/// <summary>A finding that was read but not acted on, with the reason.</summary>
/// <param name="FindingId">The finding's id, or an empty string when the finding had none.</param>
/// <param name="Reason">Why no run starts, such as "compliance status is PASSED; only FAILED findings are remediated".</param>
public sealed record SkippedFinding(string FindingId, string Reason);

/// <summary>Thrown when an alert body does not have the shape its source documents.</summary>
/// <remarks>The message names the JSON path of the field and what was expected there, and never echoes
/// field values, because alert bodies can carry tokens that a misconfigured source put there.</remarks>
public sealed class InvalidAlertException : Exception
{
    public InvalidAlertException(string field, string expected)
        : base($"Invalid alert: field '{field}' {expected}.")
    {
        Field = field;
        Expected = expected;
    }

    /// <summary>The JSON path of the offending field, such as "detail.findings[0].Resources".</summary>
    public string Field { get; }

    /// <summary>What the field should have held.</summary>
    public string Expected { get; }
}
