using System.Security.Cryptography;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Signs audit records with an ECDSA P-256 key (ES256) kept in a local PKCS#8 PEM file. The file is
/// created with mode 0600 when missing and is never overwritten.
/// </summary>
public sealed class LocalKeyFileSigner : IAuditSigner, IDisposable
{
    private readonly ECDsa _key;
    private readonly Lock _signLock = new();

    private LocalKeyFileSigner(ECDsa key, string keyFilePath, bool created)
    {
        _key = key;
        KeyFilePath = keyFilePath;
        Created = created;
        PublicJwk = JsonWebKey.FromECDsa(key);
    }

    /// <summary>The full path of the key file.</summary>
    public string KeyFilePath { get; }

    /// <summary>True when this instance generated the key and wrote the file.</summary>
    public bool Created { get; }

    public string KeyId => PublicJwk.Kid;

    public string Algorithm => JsonWebKey.Es256;

    public JsonWebKey PublicJwk { get; }

    /// <summary>Loads the signing key from <see cref="AuditSigningOptions.KeyFilePath"/>, creating it when the file does not exist.</summary>
    /// <exception cref="AuditConfigurationException">The options are invalid.</exception>
    public static LocalKeyFileSigner LoadOrCreate(AuditSigningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        return LoadOrCreate(options.KeyFilePath);
    }

    /// <summary>Loads the signing key from an existing PKCS#8 PEM file; never creates one.</summary>
    /// <exception cref="InvalidOperationException">The file does not exist, is readable by group or others, is not PEM, or contains a key other than an unencrypted P-256 key.</exception>
    public static LocalKeyFileSigner Load(string keyFilePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyFilePath);
        string fullPath = Path.GetFullPath(keyFilePath);
        return File.Exists(fullPath)
            ? LoadOrCreate(fullPath)
            : throw new InvalidOperationException($"The audit signing key file '{fullPath}' does not exist; expected the PKCS#8 PEM key that signs the audit records.");
    }

    /// <summary>Loads the signing key from a PKCS#8 PEM file, creating a new P-256 key there when the file does not exist.</summary>
    /// <exception cref="InvalidOperationException">The file is readable by group or others, is not PEM, or contains a key other than an unencrypted P-256 key.</exception>
    public static LocalKeyFileSigner LoadOrCreate(string keyFilePath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(keyFilePath);
        string fullPath = Path.GetFullPath(keyFilePath);
        string pem = OwnerOnlyKeyFile.ReadOrCreate(fullPath, "audit signing key", CreateKeyPem, out bool created);

        var key = ECDsa.Create();
        try
        {
            key.ImportFromPem(pem);
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            key.Dispose();
            throw new InvalidOperationException(
                $"The audit signing key file '{fullPath}' does not contain an unencrypted PKCS#8 PEM EC key ({ex.GetType().Name}). " +
                "Replace it with a P-256 key ('-----BEGIN PRIVATE KEY-----') or move it away to have a new key created.", ex);
        }

        if (key.ExportParameters(includePrivateParameters: false).Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            key.Dispose();
            throw new InvalidOperationException($"The audit signing key in '{fullPath}' is not on the P-256 curve, which ES256 requires.");
        }

        return new LocalKeyFileSigner(key, fullPath, created);
    }

    /// <summary>
    /// Rotates the signing key: adds the current key's public half to the retired keys' JWKS, then
    /// replaces the key file with a new P-256 key. The old private key is gone afterwards, and records
    /// it signed verify with the retired public key.
    /// </summary>
    /// <returns>The signer with the new key.</returns>
    /// <exception cref="AuditConfigurationException">The options are invalid.</exception>
    /// <exception cref="InvalidOperationException">The key file does not exist or cannot be read.</exception>
    /// <exception cref="FormatException">The retired keys file is not a JWKS document.</exception>
    public static LocalKeyFileSigner Rotate(AuditSigningOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        string retiredKeysPath = options.ResolveRetiredKeysFilePath()!;
        using (LocalKeyFileSigner current = Load(options.KeyFilePath))
        {
            // The public key is kept before the private key is replaced, so a failure in between
            // loses no key that signed records.
            RetiredAuditKeys.Add(retiredKeysPath, current.PublicJwk);
        }

        OwnerOnlyKeyFile.Replace(options.KeyFilePath, CreateKeyPem());
        return LoadOrCreate(options.KeyFilePath);
    }

    public byte[] Sign(ReadOnlySpan<byte> data)
    {
        // .NET documents instance members of its crypto types as not thread-safe.
        lock (_signLock)
        {
            return _key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }
    }

    public void Dispose() => _key.Dispose();

    private static string CreateKeyPem()
    {
        using ECDsa key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportPkcs8PrivateKeyPem() + "\n";
    }
}
