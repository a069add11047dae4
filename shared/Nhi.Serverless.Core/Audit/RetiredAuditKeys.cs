using System.Text;

namespace Nhi.Serverless.Audit;

/// <summary>
/// The public keys of earlier audit signing keys, kept in a JWKS file after a rotation. They are
/// published with the current key, so records and checkpoints signed before the rotation still verify.
/// </summary>
public static class RetiredAuditKeys
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Reads the retired keys; none when the file does not exist.</summary>
    /// <exception cref="FormatException">The file is not a JWKS document.</exception>
    public static IReadOnlyList<JsonWebKey> Read(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            return [];
        }

        try
        {
            return Jwks.Parse(File.ReadAllText(path)).Keys;
        }
        catch (FormatException ex)
        {
            throw new FormatException($"The retired audit keys file '{path}' is not a JWKS document: {ex.Message}", ex);
        }
    }

    /// <summary>Adds a public key to the file, creating it when missing; a key already there is kept as it is.</summary>
    /// <exception cref="FormatException">The existing file is not a JWKS document.</exception>
    public static void Add(string path, JsonWebKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        List<JsonWebKey> keys = Read(path).ToList();
        if (keys.Any(existing => existing.Kid == key.Kid))
        {
            return;
        }

        keys.Add(key);
        string directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);

        // Replace the file in one rename, so a reader never sees half a key set.
        string temporaryPath = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.WriteAllText(temporaryPath, new Jwks(keys).ToJson() + "\n", Utf8);
            File.Move(temporaryPath, path, overwrite: true);
        }
        finally
        {
            File.Delete(temporaryPath);
        }
    }

    /// <summary>Returns the key set to publish: the signer's key first, then the retired keys from <see cref="AuditSigningOptions.ResolveRetiredKeysFilePath"/>.</summary>
    /// <exception cref="FormatException">The retired keys file is not a JWKS document.</exception>
    public static Jwks Publish(IAuditSigner signer, AuditSigningOptions options)
    {
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(options);
        IReadOnlyList<JsonWebKey> retired = options.ResolveRetiredKeysFilePath() is { } path ? Read(path) : [];
        return new Jwks([signer.PublicJwk, .. retired.Where(key => key.Kid != signer.KeyId)]);
    }
}
