using Amazon.KeyManagementService;
using Amazon.Runtime;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Aws.Audit;

/// <summary>Creates the audit signer that <see cref="AuditSigningOptions.Signer"/> selects: a local key file or an AWS KMS key.</summary>
public static class AuditSigners
{
    /// <summary>Creates the signer; for AWS KMS this calls GetPublicKey once and waits for it.</summary>
    /// <param name="signing">The signing settings.</param>
    /// <param name="aws">The AWS settings whose region and own identity the KMS client uses; null for the SDK's defaults.</param>
    /// <param name="createKeyFile">Whether the local signer creates its key file when missing; false to fail instead.</param>
    /// <exception cref="AuditConfigurationException">A setting is invalid, or KMS does not return a usable key; the message names the key.</exception>
    /// <exception cref="InvalidOperationException">The local key file is missing (with <paramref name="createKeyFile"/> false), unreadable or not a P-256 key.</exception>
    public static IAuditSigner Create(AuditSigningOptions signing, AwsOptions? aws, bool createKeyFile = true)
    {
        ArgumentNullException.ThrowIfNull(signing);
        signing.ThrowIfInvalid();
        if (signing.Signer == AuditSigningOptions.LocalSigner)
        {
            return createKeyFile ? LocalKeyFileSigner.LoadOrCreate(signing) : LocalKeyFileSigner.Load(signing.KeyFilePath);
        }

        string keyId = signing.KmsKeyId!;
        string? region = KmsAuditSigner.RegionOf(keyId) ?? (string.IsNullOrEmpty(aws?.Region) ? null : aws.Region);
        AWSCredentials? credentials = aws is { AccessKeyId: { } accessKeyId, SecretAccessKey: { } secretAccessKey }
            ? new BasicAWSCredentials(accessKeyId, secretAccessKey)
            : null;
        AmazonKeyManagementServiceClient client = KmsAuditSigner.CreateClient(signing.KmsServiceUrl, region, credentials);
        try
        {
            return KmsAuditSigner.CreateAsync(client, keyId, ownsClient: true, CancellationToken.None).GetAwaiter().GetResult();
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }
}
