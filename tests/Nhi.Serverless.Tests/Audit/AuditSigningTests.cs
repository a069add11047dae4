using System.Buffers.Text;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Tests.Audit;

[UnsupportedOSPlatform("windows")]
public sealed class AuditSigningTests : IDisposable
{
    private const UnixFileMode OwnerReadWrite = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode OwnerOnlyDirectory = OwnerReadWrite | UnixFileMode.UserExecute;

    private readonly TemporaryDirectory _directory = new();

    public void Dispose() => _directory.Dispose();

    [Fact]
    public void SignatureVerifiesWithJwks()
    {
        using LocalKeyFileSigner signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("keys", "signing.pem"));
        byte[] data = Encoding.UTF8.GetBytes("""{"a":1}""");

        byte[] signature = signer.Sign(data);
        VerificationResult result = Jwks.FromSigners(signer).Verify(signer.KeyId, signer.Algorithm, data, signature);

        Assert.True(result.Valid, result.Reason);
    }

    [Fact]
    public void SignatureIsIeeeP1363()
    {
        using LocalKeyFileSigner signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("keys", "signing.pem"));

        byte[] signature = signer.Sign([1, 2, 3]);

        Assert.Equal(64, signature.Length);
    }

    [Fact]
    public void ChangedDataFailsVerification()
    {
        using LocalKeyFileSigner signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("keys", "signing.pem"));
        byte[] signature = signer.Sign("original"u8);

        VerificationResult result = Jwks.FromSigners(signer).Verify(signer.KeyId, "ES256", "changed"u8, signature);

        Assert.False(result.Valid);
    }

    [Fact]
    public void UnknownKidFailsVerification()
    {
        using LocalKeyFileSigner signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("keys", "signing.pem"));
        byte[] signature = signer.Sign("data"u8);

        VerificationResult result = new Jwks([]).Verify(signer.KeyId, "ES256", "data"u8, signature);

        Assert.Contains("unknown kid", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void KeyFileCreatedOwnerOnly()
    {
        string path = _directory.File("new-dir", "signing.pem");

        using LocalKeyFileSigner signer = LocalKeyFileSigner.LoadOrCreate(path);

        Assert.True(signer.Created);
        Assert.Equal(OwnerReadWrite, File.GetUnixFileMode(path));
        Assert.Equal(OwnerOnlyDirectory, File.GetUnixFileMode(_directory.File("new-dir")));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", File.ReadAllText(path), StringComparison.Ordinal);
    }

    [Fact]
    public void KeyFileReusedOnSecondLoad()
    {
        string path = _directory.File("keys", "signing.pem");
        string firstKid;
        using (LocalKeyFileSigner first = LocalKeyFileSigner.LoadOrCreate(path))
        {
            firstKid = first.KeyId;
        }

        string contentBefore = File.ReadAllText(path);

        using LocalKeyFileSigner second = LocalKeyFileSigner.LoadOrCreate(path);

        Assert.False(second.Created);
        Assert.Equal(firstKid, second.KeyId);
        Assert.Equal(contentBefore, File.ReadAllText(path));
    }

    [Fact]
    public void GroupReadableKeyFileRejected()
    {
        string path = _directory.File("keys", "signing.pem");
        using (LocalKeyFileSigner.LoadOrCreate(path))
        {
        }

        File.SetUnixFileMode(path, OwnerReadWrite | UnixFileMode.GroupRead);

        var error = Assert.Throws<InvalidOperationException>(() => LocalKeyFileSigner.LoadOrCreate(path));
        Assert.Contains("0640", error.Message, StringComparison.Ordinal);
        Assert.Contains("chmod 600", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidKeyFileNotOverwritten()
    {
        string path = _directory.File("signing.pem");
        File.WriteAllText(path, "not a key");
        File.SetUnixFileMode(path, OwnerReadWrite);

        var error = Assert.Throws<InvalidOperationException>(() => LocalKeyFileSigner.LoadOrCreate(path));

        Assert.Contains("PKCS#8", error.Message, StringComparison.Ordinal);
        Assert.Equal("not a key", File.ReadAllText(path));
    }

    [Fact]
    public void NonP256KeyRejected()
    {
        string path = _directory.File("p384.pem");
        using (ECDsa p384 = ECDsa.Create(ECCurve.NamedCurves.nistP384))
        {
            File.WriteAllText(path, p384.ExportPkcs8PrivateKeyPem());
        }

        File.SetUnixFileMode(path, OwnerReadWrite);

        var error = Assert.Throws<InvalidOperationException>(() => LocalKeyFileSigner.LoadOrCreate(path));
        Assert.Contains("P-256", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void KidIsJwkThumbprint()
    {
        using LocalKeyFileSigner signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));
        JsonWebKey jwk = signer.PublicJwk;

        // RFC 7638: the required EC members in lexicographic order, no whitespace, SHA-256, base64url.
        string thumbprintInput = $$"""{"crv":"P-256","kty":"EC","x":"{{jwk.X}}","y":"{{jwk.Y}}"}""";
        string expected = Base64Url.EncodeToString(SHA256.HashData(Encoding.UTF8.GetBytes(thumbprintInput)));

        Assert.Equal(expected, signer.KeyId);
    }

    [Fact]
    public void JwksDocumentHasKeyMembers()
    {
        using LocalKeyFileSigner signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));

        JsonObject key = Jwks.FromSigners(signer).ToJsonObject()["keys"]![0]!.AsObject();

        Assert.Equal(["alg", "crv", "kid", "kty", "use", "x", "y"], key.Select(pair => pair.Key).Order(StringComparer.Ordinal));
        Assert.Equal("EC", (string?)key["kty"]);
        Assert.Equal("P-256", (string?)key["crv"]);
        Assert.Equal("ES256", (string?)key["alg"]);
        Assert.Equal("sig", (string?)key["use"]);
        Assert.Equal(signer.KeyId, (string?)key["kid"]);
    }

    [Fact]
    public void JwksParseRoundTrips()
    {
        using LocalKeyFileSigner signer = LocalKeyFileSigner.LoadOrCreate(_directory.File("signing.pem"));
        byte[] signature = signer.Sign("data"u8);

        Jwks parsed = Jwks.Parse(Jwks.FromSigners(signer).ToJson());

        Assert.Equal(signer.PublicJwk, Assert.Single(parsed.Keys));
        Assert.True(parsed.Verify(signer.KeyId, "ES256", "data"u8, signature).Valid);
    }

    [Fact]
    public void JwksParseSkipsUnusableKeys()
    {
        Jwks parsed = Jwks.Parse("""{"keys":[{"kty":"RSA","kid":"r1","n":"AQAB","e":"AQAB"},{"kty":"EC","crv":"P-256","kid":"no-coordinates"}]}""");

        Assert.Empty(parsed.Keys);
    }

    [Fact]
    public void FingerprintKeyCreatedOwnerOnly()
    {
        string path = _directory.File("keys", "credential-fingerprint.key");

        CredentialFingerprinter.LoadOrCreate(path);

        Assert.Equal(OwnerReadWrite, File.GetUnixFileMode(path));
    }

    [Fact]
    public void FingerprintStableAcrossLoads()
    {
        string path = _directory.File("keys", "credential-fingerprint.key");

        string first = CredentialFingerprinter.LoadOrCreate(path).Fingerprint("ASIAEXAMPLEEXAMPLE12");
        string second = CredentialFingerprinter.LoadOrCreate(path).Fingerprint("ASIAEXAMPLEEXAMPLE12");

        Assert.Equal(first, second);
        Assert.Matches("^hmac-sha256:[0-9a-f]{64}$", first);
    }

    [Fact]
    public void FingerprintDependsOnKey()
    {
        var first = new CredentialFingerprinter(new byte[32]);
        var second = new CredentialFingerprinter(Enumerable.Repeat((byte)1, 32).ToArray());

        Assert.NotEqual(first.Fingerprint("ASIAEXAMPLEEXAMPLE12"), second.Fingerprint("ASIAEXAMPLEEXAMPLE12"));
    }

    [Fact]
    public void FingerprintKeyDefaultsNextToSigningKey()
    {
        var options = new AuditSigningOptions { KeyFilePath = _directory.File("keys", "signing.pem") };

        Assert.Equal(_directory.File("keys", AuditSigningOptions.DefaultFingerprintKeyFileName), options.ResolveFingerprintKeyFilePath());
    }
}
