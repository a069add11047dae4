using System.Security.Cryptography;
using System.Text;

namespace Nhi.Serverless.Azure.Blob;

/// <summary>
/// Names the stored access policy of a grant: "nhi-", 32 hex digits derived from the grant id, "-", and 12 random hex
/// digits (49 characters; Azure allows 64).
/// </summary>
/// <remarks>
/// Re-creating a deleted policy id revives every SAS that was bound to it, so each issue gets a new random suffix, even
/// for the same grant id. Revocation needs no secret: it deletes every policy whose id starts with the grant's prefix.
/// </remarks>
public static class StoredAccessPolicyIds
{
    private const string Prefix = "nhi-";

    /// <summary>Returns "nhi-" followed by the grant's 32 hex digits and a hyphen; every policy of the grant starts with it.</summary>
    public static string PrefixFor(string grantId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(grantId);

        string digits = Guid.TryParse(grantId, out Guid guid)
            ? guid.ToString("N")
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(grantId)))[..32];
        return Prefix + digits + "-";
    }

    /// <summary>Returns a policy id for one issue of the grant, never used before.</summary>
    public static string NewFor(string grantId) =>
        PrefixFor(grantId) + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));

    /// <summary>Whether a policy id was created by this broker for some grant.</summary>
    public static bool IsBrokerPolicy(string policyId) =>
        policyId.StartsWith(Prefix, StringComparison.Ordinal) && policyId.Length == Prefix.Length + 32 + 1 + 12;
}
