using System.Globalization;
using System.Text.RegularExpressions;

namespace Nhi.Serverless.Guardrails;

/// <summary>
/// The "Guardrails" configuration section: where runs may act, what they may never touch, what needs a person's
/// approval, how long a grant may live, and how many runs may act at once. Empty lists mean "no restriction".
/// </summary>
public sealed partial class GuardrailOptions
{
    public const string SectionName = "Guardrails";

    /// <summary>Plans and audits every run but issues no credential and changes nothing.</summary>
    public bool DryRun { get; set; }

    /// <summary>The AWS account ids (12 digits) runs may act in; empty allows every account.</summary>
    public List<string> AllowedAccounts { get; set; } = [];

    /// <summary>The Azure subscription ids (GUIDs) runs may act in; empty allows every subscription.</summary>
    public List<string> AllowedSubscriptions { get; set; } = [];

    /// <summary>The regions runs may act in, such as "eu-west-1"; empty allows every region.</summary>
    public List<string> AllowedRegions { get; set; } = [];

    /// <summary>Resources no run may touch.</summary>
    public ResourceRules ProtectedResources { get; set; } = new();

    /// <summary>The playbooks each intake source may start, by source name ("securityhub", "ocsf"); "*" applies to sources not listed.
    /// A source with no entry, when there is no "*" entry either, may start every playbook.</summary>
    public Dictionary<string, List<string>> AllowedPlaybooks { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The longest lifetime, in seconds, of one grant by broker name, such as "aws-sts"; a plan asking more is cut down to it.</summary>
    public Dictionary<string, int> MaxTtlSeconds { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Resources and playbooks whose runs wait for a person's approval before a credential is issued.</summary>
    public ApprovalRules RequireApproval { get; set; } = new();

    /// <summary>How long a run waits for approval before it is rejected, in seconds; 4 hours by default.</summary>
    public int ApprovalTimeoutSeconds { get; set; } = 4 * 60 * 60;

    /// <summary>How many runs may hold a grant at once per target account and per playbook.</summary>
    public ConcurrencyRules Concurrency { get; set; } = new();

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first invalid setting and the expected value.</summary>
    public void ThrowIfInvalid()
    {
        for (int i = 0; i < AllowedAccounts.Count; i++)
        {
            Require(AwsAccountPattern().IsMatch(AllowedAccounts[i] ?? ""), $"AllowedAccounts:{i}", AllowedAccounts[i], "a 12-digit AWS account id");
        }

        for (int i = 0; i < AllowedSubscriptions.Count; i++)
        {
            Require(Guid.TryParse(AllowedSubscriptions[i], out _), $"AllowedSubscriptions:{i}", AllowedSubscriptions[i], "an Azure subscription id (a GUID)");
        }

        for (int i = 0; i < AllowedRegions.Count; i++)
        {
            Require(RegionPattern().IsMatch(AllowedRegions[i] ?? ""), $"AllowedRegions:{i}", AllowedRegions[i], "a region name such as eu-west-1 or westeurope");
        }

        ProtectedResources.ThrowIfInvalid("ProtectedResources");
        RequireApproval.ThrowIfInvalid("RequireApproval");

        foreach ((string source, List<string> playbooks) in AllowedPlaybooks)
        {
            Require(NamePattern().IsMatch(source) || source == "*", $"AllowedPlaybooks:{source}", source, "an intake source name such as securityhub, or *");
            for (int i = 0; i < playbooks.Count; i++)
            {
                Require(NamePattern().IsMatch(playbooks[i] ?? ""), $"AllowedPlaybooks:{source}:{i}", playbooks[i], "a playbook name such as s3-bucket-public-access");
            }
        }

        foreach ((string broker, int seconds) in MaxTtlSeconds)
        {
            Require(NamePattern().IsMatch(broker), $"MaxTtlSeconds:{broker}", broker, "a broker name such as aws-sts");
            Require(seconds > 0, $"MaxTtlSeconds:{broker}", seconds.ToString(CultureInfo.InvariantCulture), "a positive number of seconds");
        }

        Require(ApprovalTimeoutSeconds > 0, "ApprovalTimeoutSeconds", ApprovalTimeoutSeconds.ToString(CultureInfo.InvariantCulture), "a positive number of seconds");
        Concurrency.ThrowIfInvalid();
    }

    /// <summary>Throws unless every playbook named in the settings is one of <paramref name="playbooks"/>.</summary>
    public void ThrowIfUnknownPlaybooks(IReadOnlyCollection<string> playbooks)
    {
        string known = string.Join(", ", playbooks.Order(StringComparer.Ordinal));
        foreach ((string source, List<string> names) in AllowedPlaybooks)
        {
            for (int i = 0; i < names.Count; i++)
            {
                Require(playbooks.Contains(names[i]), $"AllowedPlaybooks:{source}:{i}", names[i], "a registered playbook: " + known);
            }
        }

        for (int i = 0; i < RequireApproval.Playbooks.Count; i++)
        {
            Require(playbooks.Contains(RequireApproval.Playbooks[i]), $"RequireApproval:Playbooks:{i}", RequireApproval.Playbooks[i], "a registered playbook: " + known);
        }

        foreach (string playbook in Concurrency.Playbooks.Keys)
        {
            Require(playbooks.Contains(playbook), $"Concurrency:Playbooks:{playbook}", playbook, "a registered playbook: " + known);
        }
    }

    /// <summary>Throws unless each broker's maximum TTL is at least the shortest lifetime that broker can issue.</summary>
    /// <param name="minimumLifetimes">The shortest lifetime of each known broker, by name.</param>
    public void ThrowIfBelowBrokerMinimum(IReadOnlyDictionary<string, TimeSpan> minimumLifetimes)
    {
        foreach ((string broker, int seconds) in MaxTtlSeconds)
        {
            if (!minimumLifetimes.TryGetValue(broker, out TimeSpan minimum))
            {
                Require(false, $"MaxTtlSeconds:{broker}", broker, "a configured broker: " + string.Join(", ", minimumLifetimes.Keys.Order(StringComparer.Ordinal)));
            }

            Require(
                seconds >= minimum.TotalSeconds,
                $"MaxTtlSeconds:{broker}",
                seconds.ToString(CultureInfo.InvariantCulture),
                $"at least {minimum.TotalSeconds.ToString(CultureInfo.InvariantCulture)} seconds, the shortest lifetime {broker} can issue");
        }
    }

    internal static void Require(bool condition, string setting, string? value, string expected)
    {
        if (!condition)
        {
            throw new InvalidOperationException($"Invalid setting {SectionName}:{setting} '{value}': expected {expected}.");
        }
    }

    [GeneratedRegex("^[0-9]{12}$")]
    private static partial Regex AwsAccountPattern();

    [GeneratedRegex("^[a-z]{2,}(-[a-z0-9]+)*$")]
    private static partial Regex RegionPattern();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")]
    internal static partial Regex NamePattern();
}

/// <summary>Resources matched by ARN or resource id, by name, or by tag.</summary>
public class ResourceRules
{
    /// <summary>Resource ids or ARNs; <c>*</c> matches any run of characters and <c>?</c> one character, such as "arn:aws:s3:::prod-*".</summary>
    public List<string> Arns { get; set; } = [];

    /// <summary>Resource names with the same wildcards, such as "*-prod".</summary>
    public List<string> NamePatterns { get; set; } = [];

    /// <summary>Tags as "key=value", or "key" to match any value, such as "nhi:protected=true".</summary>
    public List<string> Tags { get; set; } = [];

    public bool IsEmpty => Arns.Count == 0 && NamePatterns.Count == 0 && Tags.Count == 0;

    internal virtual void ThrowIfInvalid(string path)
    {
        for (int i = 0; i < Arns.Count; i++)
        {
            string pattern = Arns[i] ?? "";
            GuardrailOptions.Require(
                pattern.Length > 0 && (pattern.StartsWith("arn:", StringComparison.Ordinal) || pattern.StartsWith('/')),
                $"{path}:Arns:{i}", pattern, "an ARN or Azure resource id, with * and ? as wildcards");
        }

        for (int i = 0; i < NamePatterns.Count; i++)
        {
            GuardrailOptions.Require(!string.IsNullOrWhiteSpace(NamePatterns[i]), $"{path}:NamePatterns:{i}", NamePatterns[i], "a resource name, with * and ? as wildcards");
        }

        for (int i = 0; i < Tags.Count; i++)
        {
            string tag = Tags[i] ?? "";
            GuardrailOptions.Require(tag.Length > 0 && !tag.StartsWith('='), $"{path}:Tags:{i}", tag, "key=value, or key to match any value");
        }
    }
}

/// <summary>Resources and playbooks whose runs need approval.</summary>
public sealed class ApprovalRules : ResourceRules
{
    /// <summary>Playbooks whose every run needs approval.</summary>
    public List<string> Playbooks { get; set; } = [];

    internal override void ThrowIfInvalid(string path)
    {
        base.ThrowIfInvalid(path);
        for (int i = 0; i < Playbooks.Count; i++)
        {
            GuardrailOptions.Require(
                GuardrailOptions.NamePattern().IsMatch(Playbooks[i] ?? ""), $"{path}:Playbooks:{i}", Playbooks[i], "a playbook name such as s3-bucket-public-access");
        }
    }
}

/// <summary>How many runs may hold a grant at once; excess runs wait durably for a free slot.</summary>
public sealed class ConcurrencyRules
{
    /// <summary>Runs at once per target account or subscription, unless <see cref="Accounts"/> names the account; 0 for no limit.</summary>
    public int PerAccount { get; set; } = 10;

    /// <summary>Runs at once per playbook, unless <see cref="Playbooks"/> names the playbook; 0 for no limit.</summary>
    public int PerPlaybook { get; set; } = 25;

    /// <summary>Limits for single accounts or subscriptions, by id.</summary>
    public Dictionary<string, int> Accounts { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Limits for single playbooks, by name.</summary>
    public Dictionary<string, int> Playbooks { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How long a slot stays taken when its run never releases it (its host died with an in-memory backend), in seconds.</summary>
    public int SlotLeaseSeconds { get; set; } = 1800;

    /// <summary>The first wait of a run that found no free slot, in seconds; later waits double up to <see cref="MaxRetrySeconds"/>.</summary>
    public int RetrySeconds { get; set; } = 2;

    /// <summary>The longest wait between two tries for a slot, in seconds.</summary>
    public int MaxRetrySeconds { get; set; } = 30;

    internal void ThrowIfInvalid()
    {
        GuardrailOptions.Require(PerAccount >= 0, "Concurrency:PerAccount", PerAccount.ToString(CultureInfo.InvariantCulture), "0 (no limit) or a positive number of runs");
        GuardrailOptions.Require(PerPlaybook >= 0, "Concurrency:PerPlaybook", PerPlaybook.ToString(CultureInfo.InvariantCulture), "0 (no limit) or a positive number of runs");
        foreach ((string account, int limit) in Accounts)
        {
            GuardrailOptions.Require(limit >= 0, $"Concurrency:Accounts:{account}", limit.ToString(CultureInfo.InvariantCulture), "0 (no limit) or a positive number of runs");
        }

        foreach ((string playbook, int limit) in Playbooks)
        {
            GuardrailOptions.Require(limit >= 0, $"Concurrency:Playbooks:{playbook}", limit.ToString(CultureInfo.InvariantCulture), "0 (no limit) or a positive number of runs");
        }

        GuardrailOptions.Require(SlotLeaseSeconds > 0, "Concurrency:SlotLeaseSeconds", SlotLeaseSeconds.ToString(CultureInfo.InvariantCulture), "a positive number of seconds");
        GuardrailOptions.Require(RetrySeconds > 0, "Concurrency:RetrySeconds", RetrySeconds.ToString(CultureInfo.InvariantCulture), "a positive number of seconds");
        GuardrailOptions.Require(
            MaxRetrySeconds >= RetrySeconds, "Concurrency:MaxRetrySeconds", MaxRetrySeconds.ToString(CultureInfo.InvariantCulture), "a number of seconds no smaller than Concurrency:RetrySeconds");
    }
}
