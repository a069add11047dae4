using System.Net;
using System.Text.Json;

namespace Nhi.Serverless.Aws.S3;

/// <summary>Decides whether a bucket policy statement grants access to anyone.</summary>
/// <remarks>
/// A statement is public when it has Effect Allow, a principal that is everyone ("*", {"AWS": "*"}, an array
/// containing "*", or any NotPrincipal), and no restricting condition. A condition restricts only when it tests one
/// of <see cref="RestrictingConditionKeys"/> with a positive operator (StringEquals, StringLike, ArnEquals, ArnLike,
/// IpAddress and their case-insensitive forms, optionally under ForAnyValue:) and no value that matches everything
/// ("*", "0.0.0.0/0", "::/0"). Negated operators, ...IfExists and ForAllValues: pass when the key is absent, as it is
/// for anonymous requests, so they do not restrict. Every other condition key leaves the statement public, which
/// removes statements that rely on keys this list does not know; that errs toward closing access.
/// </remarks>
public static class PublicPolicyStatements
{
    /// <summary>Condition keys that tie a request to a network, an organization, an account or a calling resource.</summary>
    public static IReadOnlySet<string> RestrictingConditionKeys { get; } = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "aws:SourceIp",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:PrincipalOrgID",
        "aws:SourceAccount",
        "aws:SourceArn",
    };

    private static readonly HashSet<string> RestrictingOperators = new(StringComparer.OrdinalIgnoreCase)
    {
        "StringEquals",
        "StringEqualsIgnoreCase",
        "StringLike",
        "ArnEquals",
        "ArnLike",
        "IpAddress",
    };

    /// <summary>Returns true when the statement grants access to anyone without a restricting condition.</summary>
    public static bool IsPublic(JsonElement statement)
    {
        if (statement.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        if (!statement.TryGetProperty("Effect", out JsonElement effect)
            || !string.Equals(effect.GetString(), "Allow", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Allow with NotPrincipal grants access to everyone except the listed principals.
        bool everyone = statement.TryGetProperty("NotPrincipal", out _)
            || (statement.TryGetProperty("Principal", out JsonElement principal) && IsEveryone(principal));
        if (!everyone)
        {
            return false;
        }

        return !statement.TryGetProperty("Condition", out JsonElement condition) || !Restricts(condition);
    }

    /// <summary>Returns the statements of a policy document: the Statement array, or a single Statement object.</summary>
    public static IReadOnlyList<JsonElement> StatementsOf(JsonElement policy)
    {
        if (policy.ValueKind != JsonValueKind.Object || !policy.TryGetProperty("Statement", out JsonElement statements))
        {
            return [];
        }

        return statements.ValueKind switch
        {
            JsonValueKind.Array => statements.EnumerateArray().ToArray(),
            JsonValueKind.Object => [statements],
            _ => [],
        };
    }

    /// <summary>Returns the statement's Sid, or its position such as "#2" when it has none.</summary>
    public static string Describe(JsonElement statement, int index) =>
        statement.ValueKind == JsonValueKind.Object
        && statement.TryGetProperty("Sid", out JsonElement sid)
        && sid.ValueKind == JsonValueKind.String
        && sid.GetString() is { Length: > 0 } text
            ? text
            : $"#{index + 1}";

    private static bool IsEveryone(JsonElement principal) => principal.ValueKind switch
    {
        JsonValueKind.String => principal.GetString() == "*",
        JsonValueKind.Array => principal.EnumerateArray().Any(IsEveryone),
        JsonValueKind.Object => principal.EnumerateObject().Any(property => IsEveryone(property.Value)),
        _ => false,
    };

    private static bool Restricts(JsonElement condition)
    {
        if (condition.ValueKind != JsonValueKind.Object)
        {
            return false;
        }

        foreach (JsonProperty block in condition.EnumerateObject())
        {
            string conditionOperator = block.Name;
            if (conditionOperator.StartsWith("ForAnyValue:", StringComparison.OrdinalIgnoreCase))
            {
                conditionOperator = conditionOperator["ForAnyValue:".Length..];
            }

            if (!RestrictingOperators.Contains(conditionOperator) || block.Value.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            foreach (JsonProperty test in block.Value.EnumerateObject())
            {
                if (RestrictingConditionKeys.Contains(test.Name) && !MatchesEverything(test.Value))
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static bool MatchesEverything(JsonElement values)
    {
        IEnumerable<JsonElement> items = values.ValueKind == JsonValueKind.Array ? values.EnumerateArray() : [values];
        foreach (JsonElement item in items)
        {
            string? value = item.ValueKind == JsonValueKind.String ? item.GetString() : item.GetRawText();
            if (value is null || value.Length == 0 || value.Trim('*', '?').Length == 0 || IsAllAddresses(value))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsAllAddresses(string value)
    {
        int slash = value.IndexOf('/', StringComparison.Ordinal);
        return slash > 0
            && IPAddress.TryParse(value[..slash], out _)
            && value[(slash + 1)..] == "0";
    }
}
