namespace Nhi.Serverless.Workflows;

/// <summary>
/// Where the business workflows find their resources, and how long their steps may take. Property names match the
/// configuration keys under "Workflows", such as "Workflows:ClaimsContainer".
/// </summary>
public sealed class WorkflowOptions
{
    public const string SectionName = "Workflows";

    /// <summary>The database with the ERP and loan tables, on the PostgreSQL broker's server.</summary>
    public string Database { get; set; } = "erp";

    /// <summary>The schema a CI/CD deploy may change.</summary>
    public string DeploySchema { get; set; } = "app";

    /// <summary>The bucket a CI/CD deploy may read its logs from.</summary>
    public string DeployLogsBucket { get; set; } = "nhi-deploy-logs";

    /// <summary>The bucket with the billing records by patient.</summary>
    public string BillingBucket { get; set; } = "nhi-billing";

    /// <summary>The Blob container with the claim documents.</summary>
    public string ClaimsContainer { get; set; } = "claims-documents";

    /// <summary>The Blob container with the patient records.</summary>
    public string PatientRecordsContainer { get; set; } = "patient-records";

    /// <summary>
    /// A Blob container that no workflow grant covers. Steps with a Blob grant prove their scope by reading from it, which
    /// must be denied. It need not exist, because Azurite 3.37.0 rejects another container's SAS with 403 before it looks
    /// the container up.
    /// </summary>
    public string ScopeProbeContainer { get; set; } = "hr-records";

    /// <summary>
    /// An existing bucket that no workflow grant covers. Steps with an S3 grant prove their scope by listing it, which must
    /// be denied. It must exist, because Ceph RGW returns 404 NoSuchBucket for a missing bucket before it checks access.
    /// </summary>
    public string ScopeProbeBucket { get; set; } = "nhi-demo-bystander";

    /// <summary>The claimed amount below which a claims run may approve without an adjuster, in the claim's currency.</summary>
    public decimal ClaimsAutoApprovalLimit { get; set; } = 5000m;

    /// <summary>The base address of the partner APIs (credit bureau, fraud screening, insurer).</summary>
    public string PartnerBaseUrl { get; set; } = "";

    public string CreditBureauAudience { get; set; } = "urn:nhi:partner:credit-bureau";

    public string FraudScreeningAudience { get; set; } = "urn:nhi:partner:fraud-screening";

    public string InsurerAudience { get; set; } = "urn:nhi:partner:insurer";

    /// <summary>How long a managed step may take; its grants ask for this lifetime, which brokers raise to their minimum.</summary>
    public TimeSpan StepLifetime { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a CI/CD job may hold its credentials before they are revoked.</summary>
    public TimeSpan DeployWindow { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How long an RPA bot may hold its read access before it is revoked.</summary>
    public TimeSpan BotWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The problems with the settings, each naming its key; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!string.IsNullOrEmpty(PartnerBaseUrl)
            && (!Uri.TryCreate(PartnerBaseUrl, UriKind.Absolute, out Uri? partner) || partner.Scheme is not ("http" or "https")))
        {
            errors.Add($"{SectionName}:PartnerBaseUrl '{PartnerBaseUrl}' is not valid; expected an absolute http or https URL.");
        }

        if (ClaimsAutoApprovalLimit <= 0)
        {
            errors.Add($"{SectionName}:ClaimsAutoApprovalLimit is {ClaimsAutoApprovalLimit}; expected an amount above zero.");
        }

        if (string.IsNullOrWhiteSpace(ScopeProbeContainer) || ScopeProbeContainer == ClaimsContainer || ScopeProbeContainer == PatientRecordsContainer)
        {
            errors.Add($"{SectionName}:ScopeProbeContainer '{ScopeProbeContainer}' is not valid; expected a container other than the claims and patient records containers.");
        }

        if (string.IsNullOrWhiteSpace(ScopeProbeBucket) || ScopeProbeBucket == BillingBucket || ScopeProbeBucket == DeployLogsBucket)
        {
            errors.Add($"{SectionName}:ScopeProbeBucket '{ScopeProbeBucket}' is not valid; expected an existing bucket other than the billing and deploy logs buckets.");
        }

        foreach ((string key, TimeSpan value) in new[] { ("StepLifetime", StepLifetime), ("DeployWindow", DeployWindow), ("BotWindow", BotWindow) })
        {
            if (value <= TimeSpan.Zero || value > TimeSpan.FromHours(12))
            {
                errors.Add($"{SectionName}:{key} is {value}; expected more than zero and at most 12 hours.");
            }
        }

        return errors;
    }

    public void ThrowIfInvalid()
    {
        IReadOnlyList<string> errors = Validate();
        if (errors.Count > 0)
        {
            throw new InvalidOperationException("Invalid workflow settings: " + string.Join(" ", errors));
        }
    }
}
