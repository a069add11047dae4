using System.Security.Cryptography;
using System.Text;

namespace Nhi.Serverless.Database.Postgres;

/// <summary>Derives the name of a grant's ephemeral role, which revocation finds again without any secret.</summary>
public static class PostgresRoleNames
{
    /// <summary>The prefix of every ephemeral role name.</summary>
    public const string Prefix = "nhi_g_";

    /// <summary>
    /// Returns "nhi_g_" followed by 32 lowercase hex digits: the digits of the grant id when it is a GUID, else the first 32
    /// hex digits of its SHA-256. 38 characters, within PostgreSQL's 63, and needing no quotes.
    /// </summary>
    public static string For(string grantId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(grantId);

        string digits = Guid.TryParse(grantId, out Guid guid)
            ? guid.ToString("N")
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(grantId)))[..32];
        return Prefix + digits;
    }
}
