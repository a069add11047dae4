using System.Text.RegularExpressions;

namespace Nhi.Serverless.Audit;

/// <summary>Which signer seals audit records, where its key lives, and where the credential fingerprint key lives.</summary>
/// <remarks>Bind from the configuration section <see cref="SectionName"/>, or read the environment with <see cref="FromEnvironment"/>.</remarks>
public sealed partial class AuditSigningOptions
{
    public const string SectionName = "Audit:Signing";
    public const string SignerVariable = "NHI_AUDIT_SIGNER";
    public const string KeyFilePathVariable = "NHI_AUDIT_SIGNING_KEY_FILE";
    public const string FingerprintKeyFilePathVariable = "NHI_AUDIT_FINGERPRINT_KEY_FILE";
    public const string KmsKeyIdVariable = "NHI_AUDIT_KMS_KEY_ID";
    public const string KmsServiceUrlVariable = "NHI_AUDIT_KMS_SERVICE_URL";
    public const string RetiredKeysFilePathVariable = "NHI_AUDIT_RETIRED_KEYS_FILE";

    /// <summary>The value of <see cref="Signer"/> for <see cref="LocalKeyFileSigner"/>.</summary>
    public const string LocalSigner = "local";

    /// <summary>The value of <see cref="Signer"/> for an asymmetric AWS KMS key.</summary>
    public const string AwsKmsSigner = "aws-kms";

    /// <summary>The file name of the fingerprint key when <see cref="FingerprintKeyFilePath"/> is not set.</summary>
    public const string DefaultFingerprintKeyFileName = "credential-fingerprint.key";

    /// <summary>The file name of the retired keys' JWKS when <see cref="RetiredKeysFilePath"/> is not set.</summary>
    public const string DefaultRetiredKeysFileName = "retired-signing-keys.jwks.json";

    /// <summary>The signer: <see cref="LocalSigner"/> (a key file) or <see cref="AwsKmsSigner"/> (a KMS key).</summary>
    public string Signer { get; set; } = LocalSigner;

    /// <summary>Absolute path of the PKCS#8 PEM file with the ES256 signing key; created with mode 0600 when missing. Required for the local signer.</summary>
    public string KeyFilePath { get; set; } = "";

    /// <summary>
    /// The KMS key of the aws-kms signer: a key id, key ARN, alias name (alias/...) or alias ARN of an
    /// asymmetric key with key spec ECC_NIST_P256 and key usage SIGN_VERIFY.
    /// </summary>
    public string? KmsKeyId { get; set; }

    /// <summary>The KMS endpoint, such as https://kms.eu-west-1.amazonaws.com; null for the SDK's endpoint of the region.</summary>
    public string? KmsServiceUrl { get; set; }

    /// <summary>Absolute path of the HMAC key for credential fingerprints; null for <see cref="DefaultFingerprintKeyFileName"/> next to the signing key.</summary>
    public string? FingerprintKeyFilePath { get; set; }

    /// <summary>
    /// Absolute path of a JWKS file with the public keys of earlier signing keys, published next to the
    /// current key so records and checkpoints they signed still verify. Null for
    /// <see cref="DefaultRetiredKeysFileName"/> next to the signing key file, or for none when that is not set.
    /// </summary>
    public string? RetiredKeysFilePath { get; set; }

    /// <summary>Reads the options from the NHI_AUDIT_* variables named by the constants of this class.</summary>
    /// <param name="readVariable">Reads one variable; null for <see cref="Environment.GetEnvironmentVariable(string)"/>.</param>
    public static AuditSigningOptions FromEnvironment(Func<string, string?>? readVariable = null)
    {
        readVariable ??= Environment.GetEnvironmentVariable;
        return new AuditSigningOptions
        {
            Signer = NullIfBlank(readVariable(SignerVariable)) ?? LocalSigner,
            KeyFilePath = readVariable(KeyFilePathVariable) ?? "",
            FingerprintKeyFilePath = NullIfBlank(readVariable(FingerprintKeyFilePathVariable)),
            KmsKeyId = NullIfBlank(readVariable(KmsKeyIdVariable)),
            KmsServiceUrl = NullIfBlank(readVariable(KmsServiceUrlVariable)),
            RetiredKeysFilePath = NullIfBlank(readVariable(RetiredKeysFilePathVariable)),
        };
    }

    /// <summary>Returns the retired keys' JWKS path: the configured one, the default file next to the signing key, or null when neither is set.</summary>
    public string? ResolveRetiredKeysFilePath() =>
        RetiredKeysFilePath
        ?? (string.IsNullOrWhiteSpace(KeyFilePath) ? null : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(KeyFilePath)) ?? "", DefaultRetiredKeysFileName));

    /// <summary>Returns the fingerprint key path: the configured one, or the default file next to the signing key.</summary>
    public string ResolveFingerprintKeyFilePath() =>
        FingerprintKeyFilePath
        ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(KeyFilePath)) ?? "", DefaultFingerprintKeyFileName);

    /// <summary>Returns one message per invalid setting; empty when the options are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (Signer == AwsKmsSigner)
        {
            ValidateKms(errors);
        }
        else if (Signer != LocalSigner)
        {
            errors.Add($"{SectionName}:{nameof(Signer)} ({SignerVariable}) is '{Signer}'; expected '{LocalSigner}' for a key file or '{AwsKmsSigner}' for an AWS KMS key.");
        }

        if (string.IsNullOrWhiteSpace(KeyFilePath))
        {
            // Only the local signer reads the key file.
            if (Signer == LocalSigner)
            {
                errors.Add($"{SectionName}:{nameof(KeyFilePath)} ({KeyFilePathVariable}) is missing; expected the absolute path of the PKCS#8 PEM signing key file, which is created when it does not exist.");
            }
        }
        else if (!Path.IsPathFullyQualified(KeyFilePath))
        {
            errors.Add($"{SectionName}:{nameof(KeyFilePath)} ({KeyFilePathVariable}) is '{KeyFilePath}'; expected an absolute path, because a relative one depends on the host's working directory.");
        }

        if (FingerprintKeyFilePath is not null && !Path.IsPathFullyQualified(FingerprintKeyFilePath))
        {
            errors.Add($"{SectionName}:{nameof(FingerprintKeyFilePath)} ({FingerprintKeyFilePathVariable}) is '{FingerprintKeyFilePath}'; expected an absolute path, or no value for '{DefaultFingerprintKeyFileName}' next to the signing key.");
        }
        else if (FingerprintKeyFilePath is not null
            && Path.IsPathFullyQualified(KeyFilePath)
            && string.Equals(Path.GetFullPath(FingerprintKeyFilePath), Path.GetFullPath(KeyFilePath), StringComparison.Ordinal))
        {
            errors.Add($"{SectionName}:{nameof(FingerprintKeyFilePath)} ({FingerprintKeyFilePathVariable}) is the signing key file; expected a separate file.");
        }

        if (RetiredKeysFilePath is not null && !Path.IsPathFullyQualified(RetiredKeysFilePath))
        {
            errors.Add($"{SectionName}:{nameof(RetiredKeysFilePath)} ({RetiredKeysFilePathVariable}) is '{RetiredKeysFilePath}'; expected an absolute path, or no value for '{DefaultRetiredKeysFileName}' next to the signing key.");
        }

        return errors;
    }

    /// <summary>Throws when <see cref="Validate"/> reports errors.</summary>
    /// <exception cref="AuditConfigurationException">A setting is invalid.</exception>
    public void ThrowIfInvalid()
    {
        IReadOnlyList<string> errors = Validate();
        if (errors.Count > 0)
        {
            throw new AuditConfigurationException(errors);
        }
    }

    private void ValidateKms(List<string> errors)
    {
        if (string.IsNullOrWhiteSpace(KmsKeyId))
        {
            errors.Add($"{SectionName}:{nameof(KmsKeyId)} ({KmsKeyIdVariable}) is missing; the '{AwsKmsSigner}' signer needs the key id, key ARN, alias name (alias/...) or alias ARN of an asymmetric ECC_NIST_P256 key with key usage SIGN_VERIFY.");
        }
        else if (!KmsKeyIdPattern().IsMatch(KmsKeyId))
        {
            errors.Add($"{SectionName}:{nameof(KmsKeyId)} ({KmsKeyIdVariable}) is '{KmsKeyId}'; expected a key id, key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID), alias name (alias/NAME) or alias ARN.");
        }

        if (KmsServiceUrl is null)
        {
            return;
        }

        if (!Uri.TryCreate(KmsServiceUrl, UriKind.Absolute, out Uri? url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
        {
            errors.Add($"{SectionName}:{nameof(KmsServiceUrl)} ({KmsServiceUrlVariable}) is '{KmsServiceUrl}'; expected an absolute URL such as https://kms.eu-west-1.amazonaws.com.");
        }
        else if (url.Scheme == Uri.UriSchemeHttp && !url.IsLoopback)
        {
            // The request's Authorization header and session token would travel in clear text.
            errors.Add($"{SectionName}:{nameof(KmsServiceUrl)} ({KmsServiceUrlVariable}) is '{KmsServiceUrl}', plain http on a host other than this machine; expected https, or http on 127.0.0.1 or localhost.");
        }
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    // A key id (a UUID, or mrk- and 32 hex digits for a multi-Region key), an alias name, or the ARN of either.
    [GeneratedRegex("^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/)?(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})\\z|^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:)?alias/[A-Za-z0-9/_-]{1,250}\\z", RegexOptions.CultureInvariant)]
    private static partial Regex KmsKeyIdPattern();
}

/// <summary>Thrown when audit settings are missing or invalid; the message names each setting and the value expected.</summary>
public sealed class AuditConfigurationException(IReadOnlyList<string> errors)
    : Exception("Invalid audit configuration: " + string.Join(" ", errors))
{
    /// <summary>One message per invalid setting.</summary>
    public IReadOnlyList<string> Errors { get; } = errors;
}
