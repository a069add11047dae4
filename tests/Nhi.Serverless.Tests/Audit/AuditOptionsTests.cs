using Nhi.Serverless.Audit;
using Nhi.Serverless.Audit.Siem;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Tests.Audit;

public sealed class AuditOptionsTests
{
    private const string Token = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0";

    [Fact]
    public void MissingKeyPathNamesSetting()
    {
        string error = Assert.Single(new AuditSigningOptions().Validate());

        Assert.Contains("Audit:Signing:KeyFilePath", error, StringComparison.Ordinal);
        Assert.Contains("NHI_AUDIT_SIGNING_KEY_FILE", error, StringComparison.Ordinal);
    }

    [Fact]
    public void RelativeKeyPathRejected()
    {
        string error = Assert.Single(new AuditSigningOptions { KeyFilePath = "keys/signing.pem" }.Validate());

        Assert.Contains("absolute path", error, StringComparison.Ordinal);
    }

    [Fact]
    public void FingerprintKeyMustDifferFromSigningKey()
    {
        var options = new AuditSigningOptions { KeyFilePath = "/var/lib/nhi/signing.pem", FingerprintKeyFilePath = "/var/lib/nhi/signing.pem" };

        string error = Assert.Single(options.Validate());

        Assert.Contains("FingerprintKeyFilePath", error, StringComparison.Ordinal);
    }

    [Fact]
    public void SignerRejectsInvalidOptions()
    {
        var error = Assert.Throws<AuditConfigurationException>(() => LocalKeyFileSigner.LoadOrCreate(new AuditSigningOptions()));

        Assert.Contains("Audit:Signing:KeyFilePath", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SigningOptionsReadEnvironment()
    {
        var variables = new Dictionary<string, string>
        {
            ["NHI_AUDIT_SIGNING_KEY_FILE"] = "/var/lib/nhi/signing.pem",
            ["NHI_AUDIT_FINGERPRINT_KEY_FILE"] = "/var/lib/nhi/fingerprint.key",
            ["NHI_AUDIT_SIGNER"] = "aws-kms",
            ["NHI_AUDIT_KMS_KEY_ID"] = "alias/nhi-audit",
            ["NHI_AUDIT_KMS_SERVICE_URL"] = "https://kms.eu-west-1.amazonaws.com",
        };

        AuditSigningOptions options = AuditSigningOptions.FromEnvironment(name => variables.GetValueOrDefault(name));

        Assert.Equal("/var/lib/nhi/signing.pem", options.KeyFilePath);
        Assert.Equal("/var/lib/nhi/fingerprint.key", options.FingerprintKeyFilePath);
        Assert.Equal("aws-kms", options.Signer);
        Assert.Equal("alias/nhi-audit", options.KmsKeyId);
        Assert.Equal("https://kms.eu-west-1.amazonaws.com", options.KmsServiceUrl);
    }

    [Theory]
    [InlineData("1234abcd-12ab-34cd-56ef-1234567890ab")]
    [InlineData("mrk-1234abcd12ab34cd56ef1234567890ab")]
    [InlineData("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")]
    [InlineData("alias/nhi-audit")]
    [InlineData("arn:aws-us-gov:kms:us-gov-west-1:111122223333:alias/nhi-audit")]
    public void KmsSignerNeedsNoKeyFile(string keyId)
    {
        var options = new AuditSigningOptions { Signer = "aws-kms", KmsKeyId = keyId };

        Assert.Empty(options.Validate());
    }

    [Theory]
    [InlineData("nhi-audit")]
    [InlineData("arn:aws:kms:eu-west-1:111122223333:1234abcd-12ab-34cd-56ef-1234567890ab")]
    [InlineData("arn:aws:s3:::bucket")]
    public void MalformedKmsKeyIdRejected(string keyId)
    {
        string error = Assert.Single(new AuditSigningOptions { Signer = "aws-kms", KmsKeyId = keyId }.Validate());

        Assert.Contains($"Audit:Signing:KmsKeyId (NHI_AUDIT_KMS_KEY_ID) is '{keyId}'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void PlainHttpKmsUrlRejected()
    {
        var options = new AuditSigningOptions { Signer = "aws-kms", KmsKeyId = "alias/nhi-audit", KmsServiceUrl = "http://kms.example.com" };

        string error = Assert.Single(options.Validate());

        Assert.Contains("Audit:Signing:KmsServiceUrl", error, StringComparison.Ordinal);
        Assert.Contains("expected https", error, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownSignerRejected()
    {
        var options = new AuditSigningOptions { Signer = "vault", KeyFilePath = "/var/lib/nhi/signing.pem" };

        string error = Assert.Single(options.Validate());

        Assert.Contains("Audit:Signing:Signer (NHI_AUDIT_SIGNER) is 'vault'; expected 'local'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void ValidHecOptionsPass()
    {
        Assert.Empty(ValidHec().Validate());
    }

    [Fact]
    public void MissingHecUrlNamesSetting()
    {
        SplunkHecOptions options = ValidHec();
        options.Url = "";

        string error = Assert.Single(options.Validate());

        Assert.Contains("Audit:SplunkHec:Url (NHI_SPLUNK_HEC_URL) is missing", error, StringComparison.Ordinal);
    }

    [Fact]
    public void PlainHttpToRemoteHostRejected()
    {
        SplunkHecOptions options = ValidHec();
        options.Url = "http://splunk.example.com:8088";

        string error = Assert.Single(options.Validate());

        Assert.Contains("expected https", error, StringComparison.Ordinal);
    }

    [Fact]
    public void PlainHttpToLoopbackAllowed()
    {
        SplunkHecOptions options = ValidHec();
        options.Url = "http://127.0.0.1:8088";

        Assert.Empty(options.Validate());
    }

    [Fact]
    public void CollectorPathInUrlRejected()
    {
        SplunkHecOptions options = ValidHec();
        options.Url = "https://splunk.example.com:8088/services/collector/event";

        string error = Assert.Single(options.Validate());

        Assert.Contains("without /services/collector", error, StringComparison.Ordinal);
    }

    [Fact]
    public void UrlQueryRejectedWithoutEcho()
    {
        SplunkHecOptions options = ValidHec();
        options.Url = $"https://splunk.example.com:8088/?token={Token}";

        string error = Assert.Single(options.Validate());

        Assert.DoesNotContain(Token, error, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingTokenNamesSetting()
    {
        SplunkHecOptions options = ValidHec();
        options.Token = " ";

        string error = Assert.Single(options.Validate());

        Assert.Contains("Audit:SplunkHec:Token (NHI_SPLUNK_HEC_TOKEN) is missing", error, StringComparison.Ordinal);
    }

    [Fact]
    public void TokenWithSchemeRejectedWithoutEcho()
    {
        SplunkHecOptions options = ValidHec();
        options.Token = "Splunk " + Token;

        string error = Assert.Single(options.Validate());

        Assert.Contains("whitespace", error, StringComparison.Ordinal);
        Assert.DoesNotContain(Token, error, StringComparison.Ordinal);
    }

    [Fact]
    public void InvalidIndexRejected()
    {
        SplunkHecOptions options = ValidHec();
        options.Index = "_internal";

        string error = Assert.Single(options.Validate());

        Assert.Contains("Audit:SplunkHec:Index", error, StringComparison.Ordinal);
    }

    [Fact]
    public void AckVariableMustBeBoolean()
    {
        var variables = new Dictionary<string, string> { ["NHI_SPLUNK_HEC_ACK"] = "yes" };

        var error = Assert.Throws<AuditConfigurationException>(() => SplunkHecOptions.FromEnvironment(name => variables.GetValueOrDefault(name)));

        Assert.Contains("expected 'true' or 'false'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void HecOptionsReadEnvironment()
    {
        var variables = new Dictionary<string, string>
        {
            ["NHI_SPLUNK_HEC_URL"] = "https://splunk.example.com:8088",
            ["NHI_SPLUNK_HEC_TOKEN"] = Token,
            ["NHI_SPLUNK_HEC_INDEX"] = "nhi_audit",
            ["NHI_SPLUNK_HEC_ACK"] = "true",
        };

        SplunkHecOptions options = SplunkHecOptions.FromEnvironment(name => variables.GetValueOrDefault(name));

        Assert.Equal("https://splunk.example.com:8088", options.Url);
        Assert.Equal(Token, options.Token);
        Assert.Equal("nhi_audit", options.Index);
        Assert.True(options.UseAcknowledgements);
    }

    [Fact]
    public void DefaultTableNames()
    {
        var options = new TableAuditStoreOptions();

        Assert.Equal("AuditRecords", options.RecordsTableName);
        Assert.Equal("AuditIndex", options.IndexTableName);
        Assert.Empty(options.Validate());
    }

    [Fact]
    public void InvalidTableNameRejected()
    {
        string error = Assert.Single(new TableAuditStoreOptions { RecordsTableName = "audit-records" }.Validate());

        Assert.Contains("Audit:Table:RecordsTableName (NHI_AUDIT_TABLE) is 'audit-records'", error, StringComparison.Ordinal);
    }

    [Fact]
    public void SameTableNamesRejected()
    {
        string error = Assert.Single(new TableAuditStoreOptions { RecordsTableName = "Audit", IndexTableName = "AUDIT" }.Validate());

        Assert.Contains("separate table", error, StringComparison.Ordinal);
    }

    [Fact]
    public void IndexKeyEscapesForbiddenCharacters()
    {
        string key = AuditTableKeys.IndexPartition("resource", "/subscriptions/0000/resourceGroups/rg#1/providers/x?y~z%");

        Assert.Equal("resource|~2Fsubscriptions~2F0000~2FresourceGroups~2Frg~231~2Fproviders~2Fx~3Fy~7Ez~25", key);
    }

    [Fact]
    public void LongIndexValueHashed()
    {
        string key = AuditTableKeys.IndexPartition("resource", new string('a', 500));

        Assert.Matches("^resource\\|~sha256~[0-9a-f]{64}$", key);
    }

    private static SplunkHecOptions ValidHec() => new()
    {
        Url = "https://splunk.example.com:8088",
        Token = Token,
        Index = "nhi_audit",
    };
}
