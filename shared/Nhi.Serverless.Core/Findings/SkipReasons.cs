namespace Nhi.Serverless.Findings;

/// <summary>Wording for <see cref="SkippedFinding.Reason"/> that names a status field and its value.</summary>
/// <remarks>A value is quoted only when it is one of the field's documented values, because a reason is logged
/// and a misconfigured source could put a token in any string field.</remarks>
internal static class SkipReasons
{
    /// <summary>Returns "FIELD is VALUE", "FIELD is missing" or "FIELD has an unrecognized value".</summary>
    public static string Describe(string field, string? value, params ReadOnlySpan<string> knownValues)
    {
        if (value is null)
        {
            return $"{field} is missing";
        }

        var known = Canonical(value, knownValues);
        return known is null ? $"{field} has an unrecognized value" : $"{field} is {known}";
    }

    /// <summary>Returns the known value that equals <paramref name="value"/> ignoring case, or null.</summary>
    public static string? Canonical(string? value, params ReadOnlySpan<string> knownValues)
    {
        if (value is null)
        {
            return null;
        }

        foreach (var known in knownValues)
        {
            if (string.Equals(value, known, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        return null;
    }
}
