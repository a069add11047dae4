using System.Security.Cryptography;
using Amazon.KeyManagementService;
using Amazon.KeyManagementService.Model;
using Amazon.Runtime;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Aws.Audit;

/// <summary>
/// Signs audit records with an asymmetric AWS KMS key (key spec ECC_NIST_P256, algorithm
/// ECDSA_SHA_256), so the private key never leaves KMS. KMS signs the SHA-256 digest of the canonical
/// bytes (message type DIGEST), and its DER signature is converted to the IEEE P1363 form of ES256.
/// The public key comes from GetPublicKey, and its RFC 7638 thumbprint is the kid, as for
/// <see cref="LocalKeyFileSigner"/>.
/// </summary>
public sealed class KmsAuditSigner : IAuditSigner, IDisposable
{
    private const string KeyIdSetting = AuditSigningOptions.SectionName + ":" + nameof(AuditSigningOptions.KmsKeyId);

    private readonly IAmazonKeyManagementService _kms;
    private readonly bool _ownsClient;
    private readonly ECDsa _publicKey;
    private readonly Lock _verifyLock = new();

    private KmsAuditSigner(IAmazonKeyManagementService kms, bool ownsClient, string configuredKeyId, string keyArn, ECDsa publicKey)
    {
        _kms = kms;
        _ownsClient = ownsClient;
        _publicKey = publicKey;
        ConfiguredKeyId = configuredKeyId;
        KeyArn = keyArn;
        PublicJwk = JsonWebKey.FromECDsa(publicKey);
    }

    /// <summary>The key as configured: a key id, key ARN, alias name or alias ARN.</summary>
    public string ConfiguredKeyId { get; }

    /// <summary>The key ARN that GetPublicKey returned; every Sign request names it.</summary>
    public string KeyArn { get; }

    public string KeyId => PublicJwk.Kid;

    public string Algorithm => JsonWebKey.Es256;

    public JsonWebKey PublicJwk { get; }

    /// <summary>Reads the key's public half with GetPublicKey and checks that it is a P-256 signing key.</summary>
    /// <param name="kms">The KMS client.</param>
    /// <param name="keyId">A key id, key ARN, alias name or alias ARN.</param>
    /// <param name="ownsClient">Whether <see cref="Dispose"/> disposes the client.</param>
    /// <param name="cancellationToken">Cancels the call.</param>
    /// <exception cref="AuditConfigurationException">KMS did not return the key, or the key cannot sign ES256; the message names the key.</exception>
    public static async Task<KmsAuditSigner> CreateAsync(IAmazonKeyManagementService kms, string keyId, bool ownsClient, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(kms);
        ArgumentException.ThrowIfNullOrWhiteSpace(keyId);

        GetPublicKeyResponse response;
        try
        {
            response = await kms.GetPublicKeyAsync(new GetPublicKeyRequest { KeyId = keyId }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsKmsFailure(ex))
        {
            throw new AuditConfigurationException([$"{KeyIdSetting} '{keyId}': AWS KMS GetPublicKey failed: {Describe(ex)}"]);
        }

        string arn = string.IsNullOrEmpty(response.KeyId) ? keyId : response.KeyId;
        var problems = new List<string>();
        if (response.KeySpec != KeySpec.ECC_NIST_P256)
        {
            problems.Add($"its key spec is {response.KeySpec?.Value ?? "(none)"}, not ECC_NIST_P256");
        }

        if (response.KeyUsage != KeyUsageType.SIGN_VERIFY)
        {
            problems.Add($"its key usage is {response.KeyUsage?.Value ?? "(none)"}, not SIGN_VERIFY");
        }

        if (response.SigningAlgorithms is { } algorithms && !algorithms.Contains(SigningAlgorithmSpec.ECDSA_SHA_256.Value))
        {
            problems.Add($"it signs with {string.Join(", ", algorithms)}, not ECDSA_SHA_256");
        }

        if (problems.Count > 0)
        {
            throw new AuditConfigurationException([$"{KeyIdSetting} '{keyId}' names key {arn}, which cannot sign ES256 audit records: {string.Join("; ", problems)}."]);
        }

        var publicKey = ECDsa.Create();
        try
        {
            publicKey.ImportSubjectPublicKeyInfo(response.PublicKey?.ToArray() ?? [], out _);
            return new KmsAuditSigner(kms, ownsClient, keyId, arn, publicKey);
        }
        catch (Exception ex) when (ex is CryptographicException or ArgumentException)
        {
            publicKey.Dispose();
            throw new AuditConfigurationException([$"{KeyIdSetting} '{keyId}': the public key that KMS returned for {arn} is not a P-256 SubjectPublicKeyInfo ({ex.GetType().Name})."]);
        }
    }

    /// <summary>Creates a KMS client for the key's region and the service's own credentials.</summary>
    /// <param name="serviceUrl">The KMS endpoint; null for the SDK's endpoint of the region.</param>
    /// <param name="region">The region; null to take it from the SDK's default settings, such as AWS_REGION.</param>
    /// <param name="credentials">The credentials; null for the SDK's default credential chain.</param>
    public static AmazonKeyManagementServiceClient CreateClient(string? serviceUrl, string? region, AWSCredentials? credentials)
    {
        var config = new AmazonKeyManagementServiceConfig { Timeout = TimeSpan.FromSeconds(10) };
        if (serviceUrl is not null)
        {
            config.ServiceURL = serviceUrl;
            config.IgnoreConfiguredEndpointUrls = true;
        }

        if (region is not null)
        {
            if (serviceUrl is null)
            {
                config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(region);
            }
            else
            {
                config.AuthenticationRegion = region;
            }
        }

        return credentials is null ? new AmazonKeyManagementServiceClient(config) : new AmazonKeyManagementServiceClient(credentials, config);
    }

    /// <summary>Returns the region in a key or alias ARN, such as "eu-west-1"; null for a key id or alias name.</summary>
    public static string? RegionOf(string keyId)
    {
        string[] parts = keyId.Split(':');
        return parts.Length >= 6 && parts[0] == "arn" && parts[2] == "kms" ? parts[3] : null;
    }

    /// <summary>Signs synchronously by waiting for <see cref="SignAsync"/>.</summary>
    /// <remarks>NOTE: this blocks the calling thread for the KMS round trip; the audit trail and checkpoint writer call <see cref="SignAsync"/>.</remarks>
    /// <exception cref="AuditSigningException">KMS did not sign; the message names the key and the KMS error.</exception>
    public byte[] Sign(ReadOnlySpan<byte> data) => SignAsync(data.ToArray(), CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Sends the SHA-256 digest of the data to KMS Sign and returns the signature as IEEE P1363 r||s.</summary>
    /// <exception cref="AuditSigningException">KMS did not sign, or returned a signature that does not verify with the published key.</exception>
    public async Task<byte[]> SignAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        byte[] digest = SHA256.HashData(data.Span);

        // The request names the ARN read at start, not an alias, so a repointed alias cannot switch to
        // a key whose public half is not the one published.
        var request = new SignRequest
        {
            KeyId = KeyArn,
            Message = new MemoryStream(digest),
            MessageType = MessageType.DIGEST,
            SigningAlgorithm = SigningAlgorithmSpec.ECDSA_SHA_256,
        };

        SignResponse response;
        try
        {
            response = await _kms.SignAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsKmsFailure(ex))
        {
            throw new AuditSigningException($"AWS KMS did not sign the audit data with key {KeyArn} ({KeyIdSetting} '{ConfiguredKeyId}'): {Describe(ex)}", ex);
        }

        byte[] signature;
        try
        {
            signature = EcdsaSignatureFormat.DerToP1363(response.Signature?.ToArray() ?? []);
        }
        catch (FormatException ex)
        {
            throw new AuditSigningException($"AWS KMS returned a signature for key {KeyArn} that is not a DER ECDSA P-256 signature: {ex.Message}", ex);
        }

        // A record must never carry a signature that the published JWKS cannot verify.
        bool valid;
        lock (_verifyLock)
        {
            valid = _publicKey.VerifyHash(digest, signature, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
        }

        return valid
            ? signature
            : throw new AuditSigningException($"AWS KMS returned a signature for key {KeyArn} that does not verify with its public key, published as kid '{KeyId}'.");
    }

    public void Dispose()
    {
        _publicKey.Dispose();
        if (_ownsClient)
        {
            _kms.Dispose();
        }
    }

    private static bool IsKmsFailure(Exception ex) =>
        ex is AmazonServiceException or AmazonClientException or HttpRequestException or IOException
        || (ex is TaskCanceledException && ex.InnerException is TimeoutException);

    /// <summary>Describes a KMS failure by its error code, status and message, with what to check for the common codes.</summary>
    private static string Describe(Exception ex)
    {
        if (ex is not AmazonServiceException service)
        {
            return $"the request did not complete ({ex.GetType().Name}: {ex.Message}); check {AuditSigningOptions.SectionName}:{nameof(AuditSigningOptions.KmsServiceUrl)} and the network path to KMS.";
        }

        string? hint = service.ErrorCode switch
        {
            "NotFoundException" => "The key does not exist in this account and region: check the key id and the region.",
            "DisabledException" => "The key is disabled: enable it, or configure another key.",
            "KMSInvalidStateException" => "The key's state does not allow signing, as when it is pending deletion: cancel the deletion, or configure another key.",
            "AccessDeniedException" => "The service's identity may not call kms:Sign or kms:GetPublicKey on the key: allow it in the key policy.",
            "InvalidKeyUsageException" => "The key is not a SIGN_VERIFY key.",
            _ => null,
        };
        string status = service.StatusCode == 0 ? "no HTTP status" : $"HTTP {(int)service.StatusCode}";
        string message = service.Message.TrimEnd();
        if (!message.EndsWith('.'))
        {
            message += ".";
        }

        return $"{service.ErrorCode ?? service.GetType().Name} ({status}): {message}" + (hint is null ? "" : " " + hint);
    }
}
