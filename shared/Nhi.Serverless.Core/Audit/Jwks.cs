using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>
/// A JSON Web Key Set (RFC 7517 section 5) of audit signing keys: the document a verifier needs to
/// check record signatures, looked up by key id.
/// </summary>
public sealed class Jwks
{
    private readonly Dictionary<string, JsonWebKey> _keysById;

    // Importing a P-256 public key took about 190 microseconds on a 2-core AMD EPYC test machine, about
    // three times a verification, so imported keys are reused. .NET documents ECDsa instance members as
    // not thread-safe, so each instance is rented by one caller at a time.
    private readonly ConcurrentDictionary<string, ConcurrentBag<ECDsa>> _verifierPool = new(StringComparer.Ordinal);

    /// <summary>Creates a key set.</summary>
    /// <exception cref="ArgumentException">Two keys have the same key id.</exception>
    public Jwks(IEnumerable<JsonWebKey> keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        Keys = keys.ToArray();
        _keysById = new Dictionary<string, JsonWebKey>(StringComparer.Ordinal);
        foreach (JsonWebKey key in Keys)
        {
            if (!_keysById.TryAdd(key.Kid, key))
            {
                throw new ArgumentException($"The key set has two keys with kid '{key.Kid}'.", nameof(keys));
            }
        }
    }

    /// <summary>The keys, in the order given.</summary>
    public IReadOnlyList<JsonWebKey> Keys { get; }

    /// <summary>Creates the key set that verifies the given signers' records.</summary>
    public static Jwks FromSigners(params IEnumerable<IAuditSigner> signers) =>
        new(signers.Select(signer => signer.PublicJwk));

    /// <summary>Returns the JWKS document, <c>{"keys":[{kty,crv,x,y,kid,alg,use}]}</c>.</summary>
    public JsonObject ToJsonObject() =>
        new() { ["keys"] = new JsonArray(Keys.Select(key => (JsonNode)key.ToJsonObject()).ToArray()) };

    /// <summary>Returns the JWKS document as JSON text.</summary>
    public string ToJson() => ToJsonObject().ToJsonString();

    /// <summary>
    /// Reads a JWKS document. Keys other than EC P-256, and keys missing x, y or kid, are skipped, because
    /// RFC 7517 section 5 asks readers to ignore keys they do not understand or that lack required members.
    /// </summary>
    /// <exception cref="FormatException">The text is not a JWKS document.</exception>
    public static Jwks Parse(string json)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new FormatException($"The JWKS document is not valid JSON: {ex.Message}", ex);
        }

        if (root is not JsonObject document || document["keys"] is not JsonArray keys)
        {
            throw new FormatException("The JWKS document has no \"keys\" array.");
        }

        var parsed = new List<JsonWebKey>();
        foreach (JsonNode? entry in keys)
        {
            if (entry is not JsonObject jwk)
            {
                throw new FormatException("A JWKS \"keys\" entry is not a JSON object.");
            }

            if (JsonWebKey.FromJsonObject(jwk) is { } key)
            {
                parsed.Add(key);
            }
        }

        return new Jwks(parsed);
    }

    /// <summary>Looks up a key by key id.</summary>
    public bool TryGetKey(string kid, [NotNullWhen(true)] out JsonWebKey? key) => _keysById.TryGetValue(kid, out key);

    /// <summary>Verifies an ES256 signature (IEEE P1363 r||s) over the data with the key named by <paramref name="kid"/>.</summary>
    /// <returns>Whether the signature is valid, and the reason when it is not.</returns>
    public VerificationResult Verify(string kid, string alg, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        if (!_keysById.TryGetValue(kid, out JsonWebKey? key))
        {
            return VerificationResult.Fail($"unknown kid '{kid}': no key in the JWKS has this id");
        }

        if (alg != JsonWebKey.Es256 || key.Alg != JsonWebKey.Es256)
        {
            return VerificationResult.Fail($"algorithm '{alg}' is not supported for kid '{kid}'; expected ES256");
        }

        if (signature.Length != 64)
        {
            return VerificationResult.Fail($"the signature has {signature.Length} bytes; an ES256 signature in IEEE P1363 form has 64");
        }

        ConcurrentBag<ECDsa> pool = _verifierPool.GetOrAdd(kid, _ => []);
        if (!pool.TryTake(out ECDsa? verifier))
        {
            try
            {
                verifier = key.CreateVerifier();
            }
            catch (Exception ex) when (ex is CryptographicException or FormatException)
            {
                return VerificationResult.Fail($"key '{kid}' in the JWKS is not a usable P-256 public key: {ex.Message}");
            }
        }

        try
        {
            return verifier.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation)
                ? VerificationResult.Pass
                : VerificationResult.Fail($"the signature does not verify with kid '{kid}'");
        }
        catch (CryptographicException ex)
        {
            return VerificationResult.Fail($"key '{kid}' in the JWKS is not a usable P-256 public key: {ex.Message}");
        }
        finally
        {
            pool.Add(verifier);
        }
    }
}

/// <summary>The result of checking a signature or a record.</summary>
/// <param name="Valid">True when the check passed.</param>
/// <param name="Reason">"valid", or what failed.</param>
public readonly record struct VerificationResult(bool Valid, string Reason)
{
    public static VerificationResult Pass { get; } = new(true, "valid");

    public static VerificationResult Fail(string reason) => new(false, reason);
}
