using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>An elliptic-curve public key in JSON Web Key form (RFC 7517, RFC 7518 section 6.2).</summary>
/// <param name="Kty">The key type, "EC".</param>
/// <param name="Crv">The curve, "P-256".</param>
/// <param name="X">The base64url x coordinate, 32 bytes for P-256.</param>
/// <param name="Y">The base64url y coordinate, 32 bytes for P-256.</param>
/// <param name="Kid">The key id.</param>
/// <param name="Alg">The algorithm the key is used with, "ES256".</param>
/// <param name="Use">The public key use, "sig".</param>
public sealed record JsonWebKey(string Kty, string Crv, string X, string Y, string Kid, string Alg, string Use)
{
    public const string EllipticCurveKeyType = "EC";
    public const string P256 = "P-256";
    public const string Es256 = "ES256";
    public const string SignatureUse = "sig";

    /// <summary>Creates the public JWK of a P-256 key, with the RFC 7638 thumbprint as its key id.</summary>
    /// <exception cref="ArgumentException">The key is not on the P-256 curve.</exception>
    public static JsonWebKey FromECDsa(ECDsa key)
    {
        ArgumentNullException.ThrowIfNull(key);
        ECParameters parameters = key.ExportParameters(includePrivateParameters: false);
        if (parameters.Curve.Oid.Value != ECCurve.NamedCurves.nistP256.Oid.Value)
        {
            throw new ArgumentException($"The key is on curve '{parameters.Curve.Oid.FriendlyName ?? parameters.Curve.Oid.Value}', but ES256 needs P-256.", nameof(key));
        }

        string x = Base64Url.EncodeToString(parameters.Q.X);
        string y = Base64Url.EncodeToString(parameters.Q.Y);
        return new JsonWebKey(EllipticCurveKeyType, P256, x, y, ComputeThumbprint(P256, x, y), Es256, SignatureUse);
    }

    /// <summary>
    /// Computes the RFC 7638 thumbprint of an EC public key: SHA-256 over the JSON object of the required
    /// members crv, kty, x and y in that (lexicographic) order without whitespace, as base64url.
    /// </summary>
    public static string ComputeThumbprint(string crv, string x, string y)
    {
        var required = new JsonObject
        {
            ["crv"] = crv,
            ["kty"] = EllipticCurveKeyType,
            ["x"] = x,
            ["y"] = y,
        };

        // RFC 7638's member ordering and lack of whitespace are what JCS produces for these
        // ASCII-only members, so the canonicalizer yields exactly the bytes the RFC hashes.
        return Base64Url.EncodeToString(SHA256.HashData(JsonCanonicalizer.Canonicalize(required)));
    }

    /// <summary>Returns the JWK as a JSON object with the members kty, crv, x, y, kid, alg and use.</summary>
    public JsonObject ToJsonObject() => new()
    {
        ["kty"] = Kty,
        ["crv"] = Crv,
        ["x"] = X,
        ["y"] = Y,
        ["kid"] = Kid,
        ["alg"] = Alg,
        ["use"] = Use,
    };

    /// <summary>
    /// Reads a JWK from a JSON object. Returns null for keys other than EC P-256, which this project never
    /// signs with, and for keys without x, y or kid, which a verifier cannot use.
    /// </summary>
    public static JsonWebKey? FromJsonObject(JsonObject jwk)
    {
        ArgumentNullException.ThrowIfNull(jwk);
        if (ReadMember(jwk, "kty") != EllipticCurveKeyType || ReadMember(jwk, "crv") != P256)
        {
            return null;
        }

        string? x = ReadMember(jwk, "x");
        string? y = ReadMember(jwk, "y");
        string? kid = ReadMember(jwk, "kid");
        if (x is null || y is null || kid is null)
        {
            return null;
        }

        return new JsonWebKey(
            EllipticCurveKeyType,
            P256,
            x,
            y,
            kid,
            ReadMember(jwk, "alg") ?? Es256,
            ReadMember(jwk, "use") ?? SignatureUse);
    }

    /// <summary>Creates an ECDsa instance with this public key, for verification.</summary>
    /// <exception cref="CryptographicException">The coordinates are not a point on P-256.</exception>
    public ECDsa CreateVerifier()
    {
        byte[] x = Base64Url.DecodeFromChars(X);
        byte[] y = Base64Url.DecodeFromChars(Y);
        if (x.Length != 32 || y.Length != 32)
        {
            throw new CryptographicException($"Key '{Kid}' has coordinates of {x.Length} and {y.Length} bytes; P-256 needs 32 each.");
        }

        return ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint { X = x, Y = y },
        });
    }

    private static string? ReadMember(JsonObject jwk, string name) => JsonRead.String(jwk, name);
}
