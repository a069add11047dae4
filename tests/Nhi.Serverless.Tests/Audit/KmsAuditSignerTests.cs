using System.Security.Cryptography;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Audit;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Signs audit records and checkpoints with <see cref="KmsAuditSigner"/> through a KMS endpoint on 127.0.0.1 and verifies them offline.</summary>
public sealed class KmsAuditSignerTests : IAsyncLifetime
{
    private const string AccessKeyId = "AKIAKMSTESTEXAMPLE01";
    private const string SecretAccessKey = "kmsTestSecret/7f3c9a1e5b2d4f60a8c1e3b5d7f9a2c4";

    private KmsEndpoint _kms = null!;

    public async Task InitializeAsync() => _kms = await KmsEndpoint.StartAsync();

    public async Task DisposeAsync() => await _kms.DisposeAsync();

    [Fact]
    public void KidIsThumbprintOfKmsKey()
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        JsonWebKey expected = JsonWebKey.FromECDsa(key);
        string keyId = _kms.AddKey(key);

        using KmsAuditSigner signer = CreateSigner(keyId);

        Assert.Equal(expected, signer.PublicJwk);
        Assert.Equal(expected.Kid, signer.KeyId);
        Assert.Equal(KmsEndpoint.ArnOf(keyId), signer.KeyArn);
    }

    [Fact]
    public void KmsSignedTrailVerifiesOffline()
    {
        using KmsAuditSigner signer = CreateSigner(NewKey());
        Jwks published = Jwks.Parse(Jwks.FromSigners(signer).ToJson());

        AuditTrailSample trail = AuditTrailSample.Build(signer, published);
        AuditTrailReport report = AuditVerifier.VerifyTrail(trail.Records, trail.Checkpoints, published, new AuditTrailVerificationOptions { VerifyAllSignatures = true });

        Assert.True(report.Valid, string.Join("; ", report.Problems));
        Assert.Equal(trail.Records.Count, report.SignaturesVerified);
        Assert.Equal(4, report.CheckpointCount);
        Assert.Equal([signer.KeyId], report.KeyIds);
    }

    [Fact]
    public async Task SignRequestSendsDigestOfCanonicalBytes()
    {
        string keyId = NewKey();
        using KmsAuditSigner signer = CreateSigner(keyId);

        IReadOnlyList<SignedAuditRecord> records = await AuditChain.SealAsync(
            AuditRecordFactory.ForRun(AuditTestRuns.Request("run-kms-digest"), AuditTestRuns.Remediated("run-kms-digest")), signer, CancellationToken.None);

        KmsRequest last = _kms.Requests.Last(request => request.Operation == "Sign");
        byte[] expectedDigest = SHA256.HashData(AuditChain.CanonicalBody(records[^1].ToJsonObject()));
        Assert.Equal(Convert.ToBase64String(expectedDigest), (string?)last.Body["Message"]);
        Assert.Equal("DIGEST", (string?)last.Body["MessageType"]);
        Assert.Equal("ECDSA_SHA_256", (string?)last.Body["SigningAlgorithm"]);
        Assert.Equal(KmsEndpoint.ArnOf(keyId), (string?)last.Body["KeyId"]);
        Assert.Contains($"Credential={AccessKeyId}/", last.Authorization, StringComparison.Ordinal);
        Assert.True(AuditVerifier.VerifyChain(records, Jwks.FromSigners(signer)).Valid);
    }

    [Fact]
    public void AliasIsPinnedToKeyArn()
    {
        string keyId = NewKey();
        _kms.AddAlias("nhi-audit", keyId);
        using KmsAuditSigner signer = CreateSigner("alias/nhi-audit");

        signer.Sign("data"u8);

        Assert.Equal("alias/nhi-audit", signer.ConfiguredKeyId);
        Assert.Equal(KmsEndpoint.ArnOf(keyId), (string?)_kms.Requests.Last().Body["KeyId"]);
    }

    [Fact]
    public async Task DisabledKeyFailsAuditWrite()
    {
        string keyId = NewKey();
        using KmsAuditSigner signer = CreateSigner(keyId);
        await using AuditOutboxTables tables = await AuditOutboxTables.CreateAsync();
        var trail = new TableAuditTrail(tables.Store, signer);
        string runId = AuditTestRuns.NewRunId();
        _kms.SetState(keyId, KmsKeyState.Disabled);

        var error = await Assert.ThrowsAsync<AuditSigningException>(() => trail.RecordRunAsync(AuditTestRuns.Request(runId), AuditTestRuns.Remediated(runId), CancellationToken.None));

        Assert.Contains(KmsEndpoint.ArnOf(keyId), error.Message, StringComparison.Ordinal);
        Assert.Contains("DisabledException (HTTP 400)", error.Message, StringComparison.Ordinal);
        Assert.Contains("is disabled", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(SecretAccessKey, error.ToString(), StringComparison.Ordinal);
        Assert.Empty(await tables.Store.ReadRunAsync(runId, CancellationToken.None));
    }

    [Fact]
    public void KeyPendingDeletionNamesInvalidState()
    {
        string keyId = NewKey();
        using KmsAuditSigner signer = CreateSigner(keyId);
        _kms.SetState(keyId, KmsKeyState.PendingDeletion);

        var error = Assert.Throws<AuditSigningException>(() => signer.Sign("data"u8));

        Assert.Contains("KMSInvalidStateException (HTTP 400)", error.Message, StringComparison.Ordinal);
        Assert.Contains("pending deletion", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(SecretAccessKey, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownKeyStopsStart()
    {
        string unknown = KmsEndpoint.ArnOf(Guid.NewGuid().ToString());

        var error = Assert.Throws<AuditConfigurationException>(() => CreateSigner(unknown));

        Assert.Contains($"Audit:Signing:KmsKeyId '{unknown}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("NotFoundException (HTTP 400)", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(SecretAccessKey, error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void DisabledKeyStopsStart()
    {
        string keyId = NewKey();
        _kms.SetState(keyId, KmsKeyState.Disabled);

        var error = Assert.Throws<AuditConfigurationException>(() => CreateSigner(keyId));

        Assert.Contains($"Audit:Signing:KmsKeyId '{keyId}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("DisabledException", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void P384KeyStopsStart()
    {
        string keyId = _kms.AddKey(ECDsa.Create(ECCurve.NamedCurves.nistP384), "ECC_NIST_P384", "ECDSA_SHA_384");

        var error = Assert.Throws<AuditConfigurationException>(() => CreateSigner(keyId));

        Assert.Contains(KmsEndpoint.ArnOf(keyId), error.Message, StringComparison.Ordinal);
        Assert.Contains("key spec is ECC_NIST_P384, not ECC_NIST_P256", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingKmsKeyIdStopsStart()
    {
        var options = new AuditSigningOptions { Signer = AuditSigningOptions.AwsKmsSigner, KmsServiceUrl = _kms.Url };

        var error = Assert.Throws<AuditConfigurationException>(() => AuditSigners.Create(options, null));

        Assert.Contains("Audit:Signing:KmsKeyId (NHI_AUDIT_KMS_KEY_ID) is missing", error.Message, StringComparison.Ordinal);
        Assert.Empty(_kms.Requests);
    }

    [Fact]
    public async Task HostPublishesKmsKey()
    {
        string keyId = NewKey();
        await using NhiTestHost host = await NhiTestHost.StartAsync(settings: KmsHostSettings(KmsEndpoint.ArnOf(keyId)));

        Jwks published = Jwks.Parse(await host.Http.GetStringAsync("/.well-known/jwks.json"));

        IAuditSigner signer = host.Services.GetRequiredService<IAuditSigner>();
        Assert.IsType<KmsAuditSigner>(signer);
        Assert.Equal(signer.KeyId, Assert.Single(published.Keys).Kid);
    }

    [Fact]
    public async Task HostStartFailsOnUnknownKey()
    {
        string unknown = KmsEndpoint.ArnOf(Guid.NewGuid().ToString());

        var error = await Assert.ThrowsAsync<AuditConfigurationException>(() => NhiTestHost.StartAsync(settings: KmsHostSettings(unknown)));

        Assert.Contains($"Audit:Signing:KmsKeyId '{unknown}'", error.Message, StringComparison.Ordinal);
        Assert.Contains("NotFoundException", error.Message, StringComparison.Ordinal);
    }

    private Dictionary<string, string?> KmsHostSettings(string keyArn) => new()
    {
        ["Audit:Signing:Signer"] = AuditSigningOptions.AwsKmsSigner,
        ["Audit:Signing:KmsKeyId"] = keyArn,
        ["Audit:Signing:KmsServiceUrl"] = _kms.Url,
    };

    private string NewKey() => _kms.AddKey(ECDsa.Create(ECCurve.NamedCurves.nistP256));

    private KmsAuditSigner CreateSigner(string keyId)
    {
        var signing = new AuditSigningOptions { Signer = AuditSigningOptions.AwsKmsSigner, KmsKeyId = keyId, KmsServiceUrl = _kms.Url };
        var aws = new AwsOptions { Region = KmsEndpoint.Region, AccessKeyId = AccessKeyId, SecretAccessKey = SecretAccessKey };
        return (KmsAuditSigner)AuditSigners.Create(signing, aws);
    }
}
