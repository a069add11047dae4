using System.Security.Cryptography;
using System.Text;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Aws;

/// <summary>An HMAC-SHA256 fingerprinter with a random key per instance, and a record of the identifiers it saw.</summary>
public sealed class TestFingerprinter : ICredentialFingerprinter
{
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly List<string> _identifiers = [];

    /// <summary>Every identifier fingerprinted so far: for STS grants, the access key ids issued.</summary>
    public IReadOnlyList<string> Identifiers
    {
        get
        {
            lock (_identifiers)
            {
                return _identifiers.ToArray();
            }
        }
    }

    public string Fingerprint(string credentialIdentifier)
    {
        lock (_identifiers)
        {
            _identifiers.Add(credentialIdentifier);
        }

        return "hmac-sha256:" + Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(credentialIdentifier)));
    }
}
