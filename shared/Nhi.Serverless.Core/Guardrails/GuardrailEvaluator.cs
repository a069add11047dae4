using System.Text.RegularExpressions;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Guardrails;

/// <summary>A concurrency slot a run must hold while it acts: at most <see cref="Limit"/> runs hold the same key.</summary>
/// <param name="Key">Such as "account:aws:123456789012" or "playbook:s3-bucket-public-access".</param>
public sealed record ConcurrencyLimit(string Key, int Limit);

/// <summary>What the guardrails decided for one planned run. Holds no secret.</summary>
/// <param name="RefusedReason">Why the run must not act; null when it may.</param>
/// <param name="DryRun">True when the run records its plan and stops before any credential is issued.</param>
/// <param name="ApprovalReasons">Why the run needs approval first; empty when it does not.</param>
/// <param name="ApprovalTimeout">How long the run waits for approval before it is rejected.</param>
/// <param name="GrantLifetime">The plan's grant lifetime after the broker's maximum TTL was applied.</param>
/// <param name="Limits">The concurrency slots the run must hold while it acts.</param>
/// <param name="SlotRetry">The first wait after no slot was free.</param>
/// <param name="MaxSlotRetry">The longest wait between two tries for a slot.</param>
public sealed record GuardrailDecision(
    string? RefusedReason,
    bool DryRun,
    IReadOnlyList<string> ApprovalReasons,
    TimeSpan ApprovalTimeout,
    TimeSpan GrantLifetime,
    IReadOnlyList<ConcurrencyLimit> Limits,
    TimeSpan SlotRetry,
    TimeSpan MaxSlotRetry)
{
    public bool Refused => RefusedReason is not null;

    public bool RequiresApproval => ApprovalReasons.Count > 0;
}

/// <summary>Reads a resource's tags for the tag rules of the guardrails.</summary>
public interface IResourceTagReader
{
    /// <summary>The provider whose resources it reads, such as "aws".</summary>
    string Provider { get; }

    /// <summary>Returns the resource's tags, or null when they could not be read.</summary>
    Task<IReadOnlyDictionary<string, string>?> ReadTagsAsync(CloudResource resource, CancellationToken cancellationToken);
}

/// <summary>
/// Applies <see cref="GuardrailOptions"/> to a planned run: refuses runs outside the allowed accounts, subscriptions
/// and regions, on protected resources or with a playbook the source may not start; cuts the grant lifetime to the
/// broker's maximum TTL; and reports whether the run needs approval, is a dry run, and which concurrency slots it needs.
/// </summary>
/// <remarks>Tag rules fail closed: when a tag rule is configured and the tags cannot be read, the resource counts as
/// protected, and as needing approval.</remarks>
public sealed class GuardrailEvaluator
{
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    private readonly GuardrailOptions _options;
    private readonly CompiledRules _protected;
    private readonly CompiledRules _approval;

    public GuardrailEvaluator(GuardrailOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _options = options;
        _protected = new CompiledRules(options.ProtectedResources);
        _approval = new CompiledRules(options.RequireApproval);
    }

    public GuardrailOptions Options => _options;

    /// <summary>True when a rule needs the resource's tags, so the caller must read them before <see cref="Evaluate"/>.</summary>
    public bool NeedsTags => _protected.HasTagRules || _approval.HasTagRules;

    /// <summary>Decides for one planned run.</summary>
    /// <param name="request">The run's input: its source and finding.</param>
    /// <param name="plan">The planner's plan.</param>
    /// <param name="tags">The resource's tags; null when they were not read or could not be read.</param>
    public GuardrailDecision Evaluate(RemediationRequest request, RemediationPlan plan, IReadOnlyDictionary<string, string>? tags)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(plan);

        CloudResource resource = request.Finding.Resource;
        TimeSpan lifetime = LifetimeFor(plan);
        ConcurrencyRules concurrency = _options.Concurrency;
        var decision = new GuardrailDecision(
            RefusedReason: RefusalFor(request, plan, tags),
            DryRun: _options.DryRun,
            ApprovalReasons: ApprovalReasonsFor(resource, plan, tags),
            ApprovalTimeout: TimeSpan.FromSeconds(_options.ApprovalTimeoutSeconds),
            GrantLifetime: lifetime,
            Limits: LimitsFor(resource, plan),
            SlotRetry: TimeSpan.FromSeconds(concurrency.RetrySeconds),
            MaxSlotRetry: TimeSpan.FromSeconds(concurrency.MaxRetrySeconds));

        return decision;
    }

    private string? RefusalFor(RemediationRequest request, RemediationPlan plan, IReadOnlyDictionary<string, string>? tags)
    {
        CloudResource resource = request.Finding.Resource;

        if (resource.Provider == "aws" && _options.AllowedAccounts.Count > 0 && !_options.AllowedAccounts.Contains(resource.AccountId, StringComparer.Ordinal))
        {
            return $"account '{resource.AccountId}' is not in {GuardrailOptions.SectionName}:AllowedAccounts";
        }

        if (resource.Provider == "azure" && _options.AllowedSubscriptions.Count > 0
            && !_options.AllowedSubscriptions.Contains(resource.AccountId, StringComparer.OrdinalIgnoreCase))
        {
            return $"subscription '{resource.AccountId}' is not in {GuardrailOptions.SectionName}:AllowedSubscriptions";
        }

        if (_options.AllowedRegions.Count > 0 && !_options.AllowedRegions.Contains(resource.Region, StringComparer.OrdinalIgnoreCase))
        {
            return $"region '{resource.Region}' is not in {GuardrailOptions.SectionName}:AllowedRegions";
        }

        if (AllowedPlaybooksFor(request.Source) is { } allowed && !allowed.Contains(plan.Playbook, StringComparer.Ordinal))
        {
            return $"source '{request.Source}' may not start playbook '{plan.Playbook}' under {GuardrailOptions.SectionName}:AllowedPlaybooks";
        }

        if (_protected.Match(resource, tags) is { } rule)
        {
            return $"resource '{resource.Id}' is protected by {GuardrailOptions.SectionName}:ProtectedResources ({rule})";
        }

        return null;
    }

    private List<string>? AllowedPlaybooksFor(string source)
    {
        foreach ((string name, List<string> playbooks) in _options.AllowedPlaybooks)
        {
            if (string.Equals(name, source, StringComparison.OrdinalIgnoreCase))
            {
                return playbooks;
            }
        }

        return _options.AllowedPlaybooks.TryGetValue("*", out List<string>? fallback) ? fallback : null;
    }

    private List<string> ApprovalReasonsFor(CloudResource resource, RemediationPlan plan, IReadOnlyDictionary<string, string>? tags)
    {
        List<string> reasons = [];
        if (_options.RequireApproval.Playbooks.Contains(plan.Playbook, StringComparer.Ordinal))
        {
            reasons.Add($"playbook '{plan.Playbook}' requires approval under {GuardrailOptions.SectionName}:RequireApproval:Playbooks");
        }

        if (_approval.Match(resource, tags) is { } rule)
        {
            reasons.Add($"resource '{resource.Id}' requires approval under {GuardrailOptions.SectionName}:RequireApproval ({rule})");
        }

        return reasons;
    }

    private TimeSpan LifetimeFor(RemediationPlan plan) =>
        _options.MaxTtlSeconds.TryGetValue(plan.Broker, out int seconds) && plan.GrantLifetime > TimeSpan.FromSeconds(seconds)
            ? TimeSpan.FromSeconds(seconds)
            : plan.GrantLifetime;

    private List<ConcurrencyLimit> LimitsFor(CloudResource resource, RemediationPlan plan)
    {
        ConcurrencyRules rules = _options.Concurrency;
        List<ConcurrencyLimit> limits = [];

        int perAccount = rules.Accounts.TryGetValue(resource.AccountId, out int accountLimit) ? accountLimit : rules.PerAccount;
        if (perAccount > 0 && resource.AccountId.Length > 0)
        {
            limits.Add(new ConcurrencyLimit($"account:{resource.Provider}:{resource.AccountId}", perAccount));
        }

        int perPlaybook = rules.Playbooks.TryGetValue(plan.Playbook, out int playbookLimit) ? playbookLimit : rules.PerPlaybook;
        if (perPlaybook > 0)
        {
            limits.Add(new ConcurrencyLimit($"playbook:{plan.Playbook}", perPlaybook));
        }

        return limits;
    }

    /// <summary>One set of ARN, name and tag rules, with the wildcards compiled once.</summary>
    private sealed class CompiledRules
    {
        private readonly (string Pattern, Regex Regex)[] _ids;
        private readonly (string Pattern, Regex Regex)[] _names;
        private readonly (string Rule, string Key, string? Value)[] _tags;

        public CompiledRules(ResourceRules rules)
        {
            _ids = rules.Arns.Select(pattern => (pattern, Wildcard(pattern))).ToArray();
            _names = rules.NamePatterns.Select(pattern => (pattern, Wildcard(pattern))).ToArray();
            _tags = rules.Tags.Select(ParseTag).ToArray();
        }

        public bool HasTagRules => _tags.Length > 0;

        /// <summary>Returns the first rule that matches, such as "Arns: arn:aws:s3:::prod-*", or null.</summary>
        public string? Match(CloudResource resource, IReadOnlyDictionary<string, string>? tags)
        {
            foreach ((string pattern, Regex regex) in _ids)
            {
                if (regex.IsMatch(resource.Id))
                {
                    return "Arns: " + pattern;
                }
            }

            foreach ((string pattern, Regex regex) in _names)
            {
                if (regex.IsMatch(resource.Name))
                {
                    return "NamePatterns: " + pattern;
                }
            }

            if (_tags.Length > 0 && tags is null)
            {
                return "Tags: the resource's tags could not be read, so the tag rules count as matched";
            }

            foreach ((string rule, string key, string? value) in _tags)
            {
                if (tags!.TryGetValue(key, out string? actual) && (value is null || string.Equals(actual, value, StringComparison.Ordinal)))
                {
                    return "Tags: " + rule;
                }
            }

            return null;
        }

        private static (string Rule, string Key, string? Value) ParseTag(string rule)
        {
            int equals = rule.IndexOf('=', StringComparison.Ordinal);
            return equals < 0 ? (rule, rule, null) : (rule, rule[..equals], rule[(equals + 1)..]);
        }

        private static Regex Wildcard(string pattern) =>
            new(
                "^" + Regex.Escape(pattern).Replace("\\*", ".*", StringComparison.Ordinal).Replace("\\?", ".", StringComparison.Ordinal) + "$",
                RegexOptions.CultureInvariant | RegexOptions.Singleline,
                MatchTimeout);
    }
}

/// <summary>Values of <see cref="RunResult.Outcome"/> that the guardrails and approvals add.</summary>
public static class GuardrailOutcomes
{
    /// <summary>A guardrail forbade the run, and the skip reason names the rule.</summary>
    public const string Refused = "refused";

    /// <summary>A person rejected the run, or its approval timed out.</summary>
    public const string Rejected = "rejected";

    /// <summary>Dry-run mode: the plan was recorded and no credential was issued.</summary>
    public const string DryRun = "dry-run";
}
