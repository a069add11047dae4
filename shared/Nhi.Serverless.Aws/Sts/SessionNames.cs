using System.Security.Cryptography;
using System.Text;

namespace Nhi.Serverless.Aws.Sts;

/// <summary>Derives the STS RoleSessionName of a grant, which revocation targets through aws:userid.</summary>
public static class SessionNames
{
    private const string Prefix = "nhi-";

    // RoleSessionName allows 2 to 64 characters; the prefix leaves 60 for the grant id.
    private const int MaxIdLength = 60;

    /// <summary>
    /// Returns "nhi-" followed by the grant id's hex digits: the 32 digits of a GUID in any format, or the id in
    /// lowercase when it is 1 to 60 hex digits and inner hyphens (the orchestrator's "{run}-{attempt}" ids, so
    /// the session name in CloudTrail names the run). Any other id becomes the first 60 hex digits of its SHA-256.
    /// Grant ids that differ in more than letter case or GUID format get different session names, so revoking
    /// one grant never cuts another.
    /// </summary>
    public static string For(string grantId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(grantId);

        if (Guid.TryParse(grantId, out Guid guid))
        {
            return Prefix + guid.ToString("N");
        }

        if (grantId.Length <= MaxIdLength
            && grantId.All(character => char.IsAsciiHexDigit(character) || character == '-')
            && grantId[0] != '-'
            && grantId[^1] != '-')
        {
            return Prefix + grantId.ToLowerInvariant();
        }

        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(grantId)));
        return Prefix + hash[..MaxIdLength];
    }
}
