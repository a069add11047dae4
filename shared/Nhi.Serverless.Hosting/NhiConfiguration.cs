using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Memory;
using Nhi.Serverless.Hosting.Durable;
using Nhi.Serverless.Hosting.Http;
using Nhi.Serverless.Hosting.Identity;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Hosting;

/// <summary>Reads the host settings, and maps the local stack's NHI_* variables onto them.</summary>
public static class NhiConfiguration
{
    // The local stack script writes these variables; each one sets the configuration key beside it.
    private static readonly (string Variable, string Key)[] StackVariables =
    [
        ("NHI_AWS_REGION", "Aws:Region"),
        ("NHI_AWS_PARTITION", "Aws:Partition"),
        ("NHI_S3_ENDPOINT", "Aws:S3Endpoint"),
        ("NHI_STS_ENDPOINT", "Aws:StsEndpoint"),
        ("NHI_IAM_ENDPOINT", "Aws:IamEndpoint"),
        ("NHI_SERVICE_ACCESS_KEY_ID", "Aws:AccessKeyId"),
        ("NHI_SERVICE_SECRET_ACCESS_KEY", "Aws:SecretAccessKey"),
        ("NHI_REMEDIATION_ROLE_NAME", "Aws:RoleName"),
        ("NHI_REMEDIATION_ROLE_ARN", "Aws:RoleArn"),
        ("NHI_REMEDIATION_ROLE_ID", "Aws:RoleId"),
        ("NHI_AZURE_STORAGE_CONNECTION_STRING", "Audit:Table:ConnectionString"),
        ("NHI_AZURE_STORAGE_CONNECTION_STRING", "Durable:AzureStorageConnectionString"),
        ("NHI_SCOPE_PROBE_BUCKET", "Planner:OutOfScopeProbe"),
        ("NHI_AUDIT_SIGNING_KEY_FILE", "Audit:Signing:KeyFilePath"),
        ("NHI_AUDIT_FINGERPRINT_KEY_FILE", "Audit:Signing:FingerprintKeyFilePath"),
        ("NHI_AUDIT_SIGNER", "Audit:Signing:Signer"),
        ("NHI_AUDIT_KMS_KEY_ID", "Audit:Signing:KmsKeyId"),
        ("NHI_AUDIT_KMS_SERVICE_URL", "Audit:Signing:KmsServiceUrl"),
        ("NHI_AUDIT_RETIRED_KEYS_FILE", "Audit:Signing:RetiredKeysFilePath"),
        ("NHI_SPLUNK_HEC_URL", "Audit:SplunkHec:Url"),
        ("NHI_SPLUNK_HEC_TOKEN", "Audit:SplunkHec:Token"),
        ("NHI_SPLUNK_HEC_INDEX", "Audit:SplunkHec:Index"),
        ("NHI_DURABLE_BACKEND", "Durable:Backend"),
        ("NHI_POSTGRES_HOST", "Postgres:Host"),
        ("NHI_POSTGRES_PORT", "Postgres:Port"),
        ("NHI_POSTGRES_USERNAME", "Postgres:Username"),
        ("NHI_POSTGRES_PASSWORD", "Postgres:Password"),
        ("NHI_POSTGRES_SSLMODE", "Postgres:SslMode"),
        ("NHI_POSTGRES_DATABASE", "Workflows:Database"),
        ("NHI_AZURE_STORAGE_CONNECTION_STRING", "AzureBlobSas:ConnectionString"),
        ("NHI_OAUTH_ISSUER", "OAuth:Issuer"),
        ("NHI_OAUTH_CLIENT_ID", "OAuth:ClientId"),
        ("NHI_OAUTH_CLIENT_SECRET", "OAuth:ClientSecret"),
        ("NHI_PARTNER_BASE_URL", "Workflows:PartnerBaseUrl"),
        ("NHI_BILLING_BUCKET", "Workflows:BillingBucket"),
        ("NHI_DEPLOY_LOGS_BUCKET", "Workflows:DeployLogsBucket"),
        ("NHI_BYSTANDER_BUCKET", "Workflows:ScopeProbeBucket"),
        ("NHI_CLAIMS_CONTAINER", "Workflows:ClaimsContainer"),
        ("NHI_PATIENT_RECORDS_CONTAINER", "Workflows:PatientRecordsContainer"),
        ("NHI_HR_RECORDS_CONTAINER", "Workflows:ScopeProbeContainer"),
    ];

    /// <summary>Adds the NHI_* variables that are set as configuration keys, where later sources still win. With
    /// NHI_STACK_DIR it also adds <see cref="LocalStackDefaults"/> below every source.</summary>
    public static IConfigurationBuilder AddStackEnvironment(this IConfigurationBuilder builder)
    {
        var values = new Dictionary<string, string?>();
        foreach ((string variable, string key) in StackVariables)
        {
            string? value = Environment.GetEnvironmentVariable(variable);
            if (!string.IsNullOrEmpty(value))
            {
                values[key] = value;
            }
        }

        // A custom S3 endpoint (the local Ceph gateway) serves buckets by path, not by virtual host.
        if (values.ContainsKey("Aws:S3Endpoint"))
        {
            values["Aws:ForcePathStyle"] = "true";
        }

        // The local PostgreSQL listens on loopback without TLS; any other server keeps the VerifyFull default.
        if (values.TryGetValue("Postgres:Host", out string? postgresHost) && postgresHost is "127.0.0.1" or "localhost" or "::1"
            && !values.ContainsKey("Postgres:SslMode"))
        {
            values["Postgres:SslMode"] = "Disable";
        }

        // The local authorization server serves the three partner APIs the workflows call.
        if (values.ContainsKey("OAuth:Issuer"))
        {
            values["OAuth:AllowedAudiences:0"] = "urn:nhi:partner:credit-bureau";
            values["OAuth:AllowedAudiences:1"] = "urn:nhi:partner:fraud-screening";
            values["OAuth:AllowedAudiences:2"] = "urn:nhi:partner:insurer";
        }

        // The stack folder's settings are defaults: they go below every other source, so an environment variable
        // such as Https__CertificateDirectory or a test's setting still replaces them.
        if (Environment.GetEnvironmentVariable("NHI_STACK_DIR") is { Length: > 0 } stackDirectory)
        {
            builder.Sources.Insert(0, new MemoryConfigurationSource { InitialData = LocalStackDefaults(stackDirectory) });
        }

        return builder.AddInMemoryCollection(values);
    }

    /// <summary>
    /// Returns the settings a host gets from the stack folder: the HTTPS certificate folder, and GitHub OIDC for the
    /// local issuer whose JWKS `nhi oidc token` writes, with one trust rule that admits the demo repository's main
    /// branch to the "cicd" workflow.
    /// </summary>
    /// <remarks>A host setting for trust rule 0 replaces these values key by key, so a host that sets its own rules
    /// sets every key of rule 0.</remarks>
    public static IReadOnlyDictionary<string, string?> LocalStackDefaults(string stackDirectory) => new Dictionary<string, string?>
    {
        ["Https:CertificateDirectory"] = Path.Combine(stackDirectory, "tls"),
        ["GitHubOidc:Issuer"] = LocalOidcIssuer.IssuerName,
        ["GitHubOidc:JwksUri"] = Path.Combine(stackDirectory, "oidc", LocalOidcIssuer.JwksFileName),
        ["GitHubOidc:Audience"] = LocalOidcIssuer.DefaultAudience,
        ["GitHubOidc:TrustRules:0:Workflow"] = "cicd",
        ["GitHubOidc:TrustRules:0:Repository"] = "nhi-demo/app",
        ["GitHubOidc:TrustRules:0:Ref"] = "refs/heads/main",
    };

    public static DurableSidecarOptions ReadDurable(IConfiguration configuration)
    {
        IConfigurationSection section = configuration.GetSection("Durable");
        string backendText = section["Backend"] ?? nameof(DurableBackend.InMemory);
        if (!Enum.TryParse(backendText, ignoreCase: true, out DurableBackend backend))
        {
            throw new InvalidOperationException(
                $"Invalid setting Durable:Backend '{backendText}': expected InMemory or AzureStorage.");
        }

        return new DurableSidecarOptions(
            backend,
            section["AzureStorageConnectionString"],
            section["TaskHubName"] ?? "NhiServerless",
            ReadPositiveInt(section, "MaxConcurrentWorkItems", 64),
            section["WorkItemVisibilityTimeoutSeconds"] is null ? null : TimeSpan.FromSeconds(ReadPositiveInt(section, "WorkItemVisibilityTimeoutSeconds", 300)));
    }

    public static PlannerOptions ReadPlanner(IConfiguration configuration)
    {
        IConfigurationSection section = configuration.GetSection("Planner");
        int lifetimeSeconds = ReadPositiveInt(section, "GrantLifetimeSeconds", (int)PlannerOptions.Default.GrantLifetime.TotalSeconds);
        int maxAttempts = ReadPositiveInt(section, "MaxAttempts", PlannerOptions.Default.MaxAttempts);
        string? probe = section["OutOfScopeProbe"];
        return new PlannerOptions(TimeSpan.FromSeconds(lifetimeSeconds), maxAttempts, string.IsNullOrWhiteSpace(probe) ? null : probe);
    }

    public static AlertEndpointOptions ReadIntake(IConfiguration configuration)
    {
        IConfigurationSection section = configuration.GetSection("Intake");
        return new AlertEndpointOptions(ReadPositiveInt(section, "MaxBodyBytes", (int)AlertEndpointOptions.Default.MaxBodyBytes));
    }

    internal static int ReadPositiveInt(IConfigurationSection section, string name, int fallback)
    {
        string? text = section[name];
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int value) || value <= 0)
        {
            throw new InvalidOperationException($"Invalid setting {section.Path}:{name} '{text}': expected a positive whole number.");
        }

        return value;
    }
}
