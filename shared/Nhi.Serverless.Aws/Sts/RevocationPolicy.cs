using System.Globalization;
using System.Text.Json;

namespace Nhi.Serverless.Aws.Sts;

/// <summary>
/// The role inline policy that revokes one STS session: Deny every action on every resource when aws:userid is
/// "{RoleId}:{SessionName}". Its Sid carries the latest moment the session could still be valid, so expired
/// entries can be pruned from the policy alone.
/// </summary>
/// <remarks>
/// aws:userid is written in exactly this case because Ceph RGW 16.2 matches condition key names case-sensitively
/// (aws:UserId never matched there). An explicit Deny in a role policy overrides every Allow, and the session's next
/// request is evaluated against the role's current policies, so the deny takes effect without touching other sessions.
/// </remarks>
public static class RevocationPolicy
{
    /// <summary>The prefix of every revocation policy name; pruning considers only policies with this prefix.</summary>
    public const string NamePrefix = "nhi-revoke-";

    private const string SidPrefix = "NhiRevokeSessionUntil";
    private const string SidTimeFormat = "yyyyMMdd'T'HHmmss'Z'";

    /// <summary>Returns "nhi-revoke-{sessionName}", at most 75 characters (IAM allows 128).</summary>
    public static string NameFor(string sessionName) => NamePrefix + sessionName;

    /// <summary>Returns the policy document denying the principal "{RoleId}:{SessionName}" until <paramref name="validUntil"/>.</summary>
    public static string Create(string principal, DateTimeOffset validUntil)
    {
        ArgumentException.ThrowIfNullOrEmpty(principal);

        // Rounded up to the next whole second, so the recorded moment is never earlier than the real one.
        DateTime until = validUntil.UtcDateTime;
        if (until.Ticks % TimeSpan.TicksPerSecond != 0)
        {
            until = until.AddTicks(TimeSpan.TicksPerSecond - (until.Ticks % TimeSpan.TicksPerSecond));
        }

        var statement = new
        {
            Sid = SidPrefix + until.ToString(SidTimeFormat, CultureInfo.InvariantCulture),
            Effect = "Deny",
            Action = "*",
            Resource = "*",
            Condition = new Dictionary<string, Dictionary<string, string>>
            {
                ["StringEquals"] = new() { ["aws:userid"] = principal },
            },
        };

        return JsonSerializer.Serialize(new { Version = "2012-10-17", Statement = new[] { statement } });
    }

    /// <summary>Reads the moment after which the revoked session cannot be valid, from a document made by <see cref="Create"/>.</summary>
    public static bool TryReadValidUntil(string document, out DateTimeOffset validUntil)
    {
        validUntil = default;
        foreach (JsonElement statement in Statements(document))
        {
            if (statement.TryGetProperty("Sid", out JsonElement sid)
                && sid.ValueKind == JsonValueKind.String
                && sid.GetString() is { } text
                && text.StartsWith(SidPrefix, StringComparison.Ordinal)
                && DateTime.TryParseExact(
                    text[SidPrefix.Length..],
                    SidTimeFormat,
                    CultureInfo.InvariantCulture,
                    DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal,
                    out DateTime until))
            {
                validUntil = new DateTimeOffset(until, TimeSpan.Zero);
                return true;
            }
        }

        return false;
    }

    /// <summary>Returns true when the document denies every action for exactly this aws:userid.</summary>
    public static bool Denies(string document, string principal)
    {
        foreach (JsonElement statement in Statements(document))
        {
            bool denyAll = statement.TryGetProperty("Effect", out JsonElement effect) && effect.GetString() == "Deny"
                && statement.TryGetProperty("Action", out JsonElement action) && action.ValueKind == JsonValueKind.String && action.GetString() == "*"
                && statement.TryGetProperty("Resource", out JsonElement resource) && resource.ValueKind == JsonValueKind.String && resource.GetString() == "*";
            if (!denyAll)
            {
                continue;
            }

            if (statement.TryGetProperty("Condition", out JsonElement condition)
                && condition.ValueKind == JsonValueKind.Object
                && condition.TryGetProperty("StringEquals", out JsonElement equals)
                && equals.ValueKind == JsonValueKind.Object
                && equals.TryGetProperty("aws:userid", out JsonElement userId)
                && userId.ValueKind == JsonValueKind.String
                && userId.GetString() == principal)
            {
                return true;
            }
        }

        return false;
    }

    private static IEnumerable<JsonElement> Statements(string document)
    {
        JsonElement root;
        try
        {
            using JsonDocument parsed = JsonDocument.Parse(document);
            root = parsed.RootElement.Clone();
        }
        catch (JsonException)
        {
            yield break;
        }

        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("Statement", out JsonElement statements))
        {
            yield break;
        }

        if (statements.ValueKind == JsonValueKind.Object)
        {
            yield return statements;
            yield break;
        }

        if (statements.ValueKind == JsonValueKind.Array)
        {
            foreach (JsonElement statement in statements.EnumerateArray())
            {
                if (statement.ValueKind == JsonValueKind.Object)
                {
                    yield return statement;
                }
            }
        }
    }
}
