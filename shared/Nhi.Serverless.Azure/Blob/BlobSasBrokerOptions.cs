using System.Text.RegularExpressions;
using Azure.Storage;
using Azure.Storage.Blobs;
using Microsoft.Extensions.Options;

namespace Nhi.Serverless.Azure.Blob;

/// <summary>Settings of <see cref="BlobContainerSasBroker"/>.</summary>
/// <remarks>Property names match the configuration keys under "AzureBlobSas", such as "AzureBlobSas:ConnectionString".</remarks>
public sealed partial class BlobSasBrokerOptions
{
    /// <summary>The configuration section these settings are read from.</summary>
    public const string SectionName = "AzureBlobSas";

    /// <summary>
    /// The storage account's connection string with its account key: the service's standing credential. Only the broker
    /// uses it, to change stored access policies and to sign SAS tokens. Locally, Azurite's development account.
    /// </summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// The container that holds one lock blob per managed container. Brokers lease that blob around every change of a
    /// container's stored access policies, because Set Container ACL replaces the whole list and accepts no ETag condition.
    /// </summary>
    public string LockContainerName { get; set; } = "nhi-sas-locks";

    /// <summary>
    /// The most stored access policies a container may hold. Azure allows 5 and rejects a sixth with 400; Azurite does
    /// not enforce a limit, so tests set a lower value to exercise the wait.
    /// </summary>
    public int MaxPoliciesPerContainer { get; set; } = 5;

    /// <summary>How long issuing waits for a free policy slot on a full container before it fails.</summary>
    public TimeSpan PolicySlotTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long one policy change waits for the lock blob's lease before it fails.</summary>
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The SAS lifetime used when a grant request's lifetime is zero.</summary>
    public TimeSpan DefaultLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// The shortest SAS lifetime issued. Azure sets no minimum, but a new stored access policy can take up to 30 s to
    /// take effect, so a shorter lifetime could leave almost nothing of the grant usable.
    /// </summary>
    public TimeSpan MinLifetime { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The longest SAS lifetime issued. Azure Storage has no fixed maximum for a service SAS, but an account's SAS
    /// expiration policy (sasExpirationPeriod, with action Log or Block) may set one. A grant serves one workflow step,
    /// so an hour is the default.
    /// </summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// How long issuing waits for the new policy to accept the SAS, and how long a revocation proof keeps probing.
    /// Azure documents up to 30 s for a policy change to take effect.
    /// </summary>
    public TimeSpan PropagationTimeout { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>The clock difference allowed between this service and Azure Storage when judging whether a policy has expired.</summary>
    public TimeSpan ClockSkewAllowance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Returns one message per invalid setting, each naming the setting and the expected value; empty when all are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();

        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            errors.Add($"{SectionName}:ConnectionString is missing; expected a storage connection string with AccountName and AccountKey.");
        }
        else if (!TryReadAccountKey(ConnectionString, out _, out string? problem))
        {
            errors.Add($"{SectionName}:ConnectionString is invalid: {problem}");
        }

        if (!ContainerNamePattern().IsMatch(LockContainerName) || LockContainerName.Contains("--", StringComparison.Ordinal))
        {
            errors.Add($"{SectionName}:LockContainerName '{LockContainerName}' is invalid; expected a container name: 3 to 63 lowercase letters, digits and single hyphens.");
        }

        if (MaxPoliciesPerContainer is < 1 or > 5)
        {
            errors.Add($"{SectionName}:MaxPoliciesPerContainer {MaxPoliciesPerContainer} is invalid; expected 1 to 5 (Azure allows 5 per container).");
        }

        RequireRange(errors, nameof(PolicySlotTimeout), PolicySlotTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromHours(1));
        RequireRange(errors, nameof(LockTimeout), LockTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(5));
        RequireRange(errors, nameof(PropagationTimeout), PropagationTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(5));
        RequireRange(errors, nameof(ClockSkewAllowance), ClockSkewAllowance, TimeSpan.Zero, TimeSpan.FromHours(1));

        if (MinLifetime <= TimeSpan.Zero || MinLifetime > MaxLifetime)
        {
            errors.Add($"{SectionName}:MinLifetime '{MinLifetime}' is invalid; expected more than 0 and at most {SectionName}:MaxLifetime ('{MaxLifetime}').");
        }

        if (MaxLifetime > TimeSpan.FromDays(7))
        {
            errors.Add($"{SectionName}:MaxLifetime '{MaxLifetime}' is invalid; expected at most 7.00:00:00, because a grant serves one workflow step.");
        }

        if (DefaultLifetime < MinLifetime || DefaultLifetime > MaxLifetime)
        {
            errors.Add($"{SectionName}:DefaultLifetime '{DefaultLifetime}' is invalid; expected {MinLifetime} to {MaxLifetime} ({SectionName}:MinLifetime to {SectionName}:MaxLifetime).");
        }

        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every invalid setting.</summary>
    public void ThrowIfInvalid()
    {
        IReadOnlyList<string> errors = Validate();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(SectionName, typeof(BlobSasBrokerOptions), errors);
        }
    }

    // Reads the account name and key; the problem text never contains the key.
    internal static bool TryReadAccountKey(string connectionString, out StorageSharedKeyCredential? credential, out string? problem)
    {
        credential = null;
        problem = null;
        string? name = null;
        string? key = null;
        foreach (string part in connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                continue;
            }

            string setting = part[..equals];
            if (setting.Equals("AccountName", StringComparison.OrdinalIgnoreCase))
            {
                name = part[(equals + 1)..];
            }
            else if (setting.Equals("AccountKey", StringComparison.OrdinalIgnoreCase))
            {
                key = part[(equals + 1)..];
            }
        }

        if (string.IsNullOrEmpty(name) || string.IsNullOrEmpty(key))
        {
            problem = "it has no AccountName or no AccountKey; a service SAS bound to a stored access policy must be signed with the account key.";
            return false;
        }

        try
        {
            credential = new StorageSharedKeyCredential(name, key);
            _ = new BlobServiceClient(connectionString);
            return true;
        }
        catch (Exception exception) when (exception is FormatException or ArgumentException or InvalidOperationException)
        {
            problem = "the AccountKey is not base64, or the connection string cannot be parsed.";
            return false;
        }
    }

    private static void RequireRange(List<string> errors, string name, TimeSpan value, TimeSpan minimum, TimeSpan maximum)
    {
        if (value < minimum || value > maximum)
        {
            errors.Add($"{SectionName}:{name} '{value}' is invalid; expected {minimum} to {maximum}.");
        }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\\z", RegexOptions.CultureInvariant)]
    internal static partial Regex ContainerNamePattern();
}
