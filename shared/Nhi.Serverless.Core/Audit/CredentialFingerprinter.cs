using System.Security.Cryptography;
using System.Text;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Fingerprints credential identifiers with HMAC-SHA256 under a local secret key, so audit records can
/// name a credential for matching while the identifier itself stays out of them.
/// </summary>
public sealed class CredentialFingerprinter : ICredentialFingerprinter
{
    /// <summary>The prefix of every fingerprint.</summary>
    public const string Prefix = "hmac-sha256:";

    /// <summary>The key length in bytes; HMAC-SHA256 gains nothing from longer keys and shorter ones weaken it.</summary>
    public const int KeyLength = 32;

    private readonly byte[] _key;

    /// <summary>Creates a fingerprinter with the given key.</summary>
    /// <exception cref="ArgumentException">The key is shorter than <see cref="KeyLength"/> bytes.</exception>
    public CredentialFingerprinter(ReadOnlySpan<byte> key)
    {
        if (key.Length < KeyLength)
        {
            throw new ArgumentException($"The fingerprint key has {key.Length} bytes; it needs at least {KeyLength}.", nameof(key));
        }

        _key = key.ToArray();
    }

    /// <summary>Loads the key from <see cref="AuditSigningOptions.ResolveFingerprintKeyFilePath"/>, creating it when the file does not exist.</summary>
    public static CredentialFingerprinter LoadOrCreate(AuditSigningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        return LoadOrCreate(options.ResolveFingerprintKeyFilePath());
    }

    /// <summary>
    /// Loads the key from a file containing the base64 text of at least 32 random bytes, creating the file
    /// with a new key and mode 0600 when it does not exist.
    /// </summary>
    /// <exception cref="InvalidOperationException">The file is readable by group or others, or does not contain a base64 key of at least 32 bytes.</exception>
    public static CredentialFingerprinter LoadOrCreate(string keyFilePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyFilePath);
        string fullPath = Path.GetFullPath(keyFilePath);
        string text = OwnerOnlyKeyFile.ReadOrCreate(
            fullPath,
            "credential fingerprint key",
            () => Convert.ToBase64String(RandomNumberGenerator.GetBytes(KeyLength)) + "\n",
            out _);

        byte[] key;
        try
        {
            key = Convert.FromBase64String(text.Trim());
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"The credential fingerprint key file '{fullPath}' does not contain base64 text.", ex);
        }

        if (key.Length < KeyLength)
        {
            throw new InvalidOperationException($"The credential fingerprint key in '{fullPath}' has {key.Length} bytes; it needs at least {KeyLength}.");
        }

        return new CredentialFingerprinter(key);
    }

    public string Fingerprint(string credentialIdentifier)
    {
        ArgumentException.ThrowIfNullOrEmpty(credentialIdentifier);
        byte[] mac = HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(credentialIdentifier));
        return Prefix + Convert.ToHexStringLower(mac);
    }
}
