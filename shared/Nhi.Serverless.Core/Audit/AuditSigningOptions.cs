namespace Nhi.Serverless.Audit;

/// <summary>Where the audit signing key and the credential fingerprint key live.</summary>
/// <remarks>Bind from the configuration section <see cref="SectionName"/>, or read the environment with <see cref="FromEnvironment"/>.</remarks>
public sealed class AuditSigningOptions
{
    public const string SectionName = "Audit:Signing";
    public const string KeyFilePathVariable = "NHI_AUDIT_SIGNING_KEY_FILE";
    public const string FingerprintKeyFilePathVariable = "NHI_AUDIT_FINGERPRINT_KEY_FILE";

    /// <summary>The file name of the fingerprint key when <see cref="FingerprintKeyFilePath"/> is not set.</summary>
    public const string DefaultFingerprintKeyFileName = "credential-fingerprint.key";

    /// <summary>Absolute path of the PKCS#8 PEM file with the ES256 signing key; created with mode 0600 when missing.</summary>
    public string KeyFilePath { get; set; } = "";

    /// <summary>Absolute path of the HMAC key for credential fingerprints; null for <see cref="DefaultFingerprintKeyFileName"/> next to the signing key.</summary>
    public string? FingerprintKeyFilePath { get; set; }

    /// <summary>Reads the options from NHI_AUDIT_SIGNING_KEY_FILE and NHI_AUDIT_FINGERPRINT_KEY_FILE.</summary>
    /// <param name="readVariable">Reads one variable; null for <see cref="Environment.GetEnvironmentVariable(string)"/>.</param>
    public static AuditSigningOptions FromEnvironment(Func<string, string?>? readVariable = null)
    {
        readVariable ??= Environment.GetEnvironmentVariable;
        return new AuditSigningOptions
        {
            KeyFilePath = readVariable(KeyFilePathVariable) ?? "",
            FingerprintKeyFilePath = NullIfBlank(readVariable(FingerprintKeyFilePathVariable)),
        };
    }

    /// <summary>Returns the fingerprint key path: the configured one, or the default file next to the signing key.</summary>
    public string ResolveFingerprintKeyFilePath() =>
        FingerprintKeyFilePath
        ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(KeyFilePath)) ?? "", DefaultFingerprintKeyFileName);

    /// <summary>Returns one message per invalid setting; empty when the options are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(KeyFilePath))
        {
            errors.Add($"{SectionName}:{nameof(KeyFilePath)} ({KeyFilePathVariable}) is missing; expected the absolute path of the PKCS#8 PEM signing key file, which is created when it does not exist.");
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

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}

/// <summary>Thrown when audit settings are missing or invalid; the message names each setting and the value expected.</summary>
public sealed class AuditConfigurationException(IReadOnlyList<string> errors)
    : Exception("Invalid audit configuration: " + string.Join(" ", errors))
{
    /// <summary>One message per invalid setting.</summary>
    public IReadOnlyList<string> Errors { get; } = errors;
}
