using System.Collections.Concurrent;
using System.Globalization;
using System.Text.RegularExpressions;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Aws.Iam;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Aws.Sts;

/// <summary>
/// Issues STS AssumeRole sessions narrowed by an inline session policy to one S3 bucket, and revokes one session
/// by putting a role inline policy that denies its aws:userid ("{RoleId}:{SessionName}").
/// </summary>
/// <remarks>
/// No STS or IAM API revokes a single session. The deny policy cuts exactly one session of the role, and the role's
/// other sessions keep working. Deny policies are pruned once the session they name cannot be valid any more.
/// </remarks>
public sealed partial class StsGrantBroker : ICredentialBroker<AwsSessionCredential>
{
    public const string BrokerName = "aws-sts";

    public const string RevocationMethod = "iam-deny-session-policy";

    // Cheap bucket reads that can prove a revocation; the first one in the grant's scope is used. s3:ListBucket serves
    // object read grants (s3:GetObject and s3:ListBucket), whose other action needs a key that exists.
    private static readonly string[] ProbeActions = ["s3:GetBucketAcl", "s3:GetBucketPolicy", "s3:GetBucketPublicAccessBlock", "s3:ListBucket"];

    // Pruning caches each deny policy's expiry after the first read, and skips a run that starts within this interval
    // of the previous one. Reading every policy on every revocation took about 7 s against the local RGW with 150 deny
    // policies on the role (about 44 ms per IAM call).
    private static readonly TimeSpan PruneInterval = TimeSpan.FromMinutes(1);

    private readonly AwsOptions _options;
    private readonly IAmazonSecurityTokenService _sts;
    private readonly IamQueryClient _iam;
    private readonly S3ClientFactory _s3Clients;
    private readonly ICredentialFingerprinter _fingerprinter;
    private readonly TimeProvider _time;
    private readonly ILogger<StsGrantBroker> _logger;
    private readonly SemaphoreSlim _roleIdLock = new(1, 1);

    // Ceph RGW 16.2 loses role policy writes that overlap on one role (8 of 16 concurrent
    // PutRolePolicy calls survived in a measurement), so this process writes one at a time, and the
    // revocation proof puts a lost deny policy back.
    private readonly SemaphoreSlim _roleWriteLock = new(1, 1);
    private readonly ConcurrentDictionary<string, DateTimeOffset> _denyPolicyExpiries = new(StringComparer.Ordinal);
    private string? _roleId;
    private long _lastPruneTicks = long.MinValue;

    public StsGrantBroker(
        AwsOptions options,
        IAmazonSecurityTokenService sts,
        IamQueryClient iam,
        S3ClientFactory s3Clients,
        ICredentialFingerprinter fingerprinter,
        TimeProvider time,
        ILogger<StsGrantBroker> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();

        _options = options;
        _sts = sts ?? throw new ArgumentNullException(nameof(sts));
        _iam = iam ?? throw new ArgumentNullException(nameof(iam));
        _s3Clients = s3Clients ?? throw new ArgumentNullException(nameof(s3Clients));
        _fingerprinter = fingerprinter ?? throw new ArgumentNullException(nameof(fingerprinter));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        _roleId = options.RoleId;
        Lifetime = new GrantLifetimeBounds(
            TimeSpan.FromSeconds(options.MinSessionDurationSeconds),
            TimeSpan.FromSeconds(options.MaxSessionDurationSeconds));
    }

    public string Name => BrokerName;

    public GrantLifetimeBounds Lifetime { get; }

    /// <summary>Accepts only provider "aws", one S3 bucket ARN in the configured partition, and exact s3: actions.</summary>
    public void ValidateScope(Scope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);

        if (scope.Provider != "aws")
        {
            throw new ScopeNotSupportedException(Name, $"provider '{scope.Provider}' is not 'aws'");
        }

        if (!S3BucketArn.TryParse(scope.Resource, _options.Partition, out _))
        {
            throw new ScopeNotSupportedException(
                Name,
                $"resource '{scope.Resource}' is not one S3 bucket ARN of the form arn:{_options.Partition}:s3:::bucket-name without wildcards");
        }

        if (scope.Permissions.Count == 0)
        {
            throw new ScopeNotSupportedException(Name, "the scope has no permissions");
        }

        foreach (string permission in scope.Permissions)
        {
            if (!S3ActionPattern().IsMatch(permission))
            {
                throw new ScopeNotSupportedException(
                    Name,
                    $"permission '{permission}' is not one exact S3 action such as s3:GetBucketAcl (no wildcards, no other services)");
            }

            if (S3ActionLevels.IsAccountLevel(permission))
            {
                throw new ScopeNotSupportedException(Name, $"permission '{permission}' applies to the account, not to one bucket");
            }
        }
    }

    public async Task<Lease<AwsSessionCredential>> IssueAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateScope(request.Scope);

        string sessionName = SessionNames.For(request.GrantId);
        string roleId = await GetRoleIdAsync(cancellationToken);
        TimeSpan duration = SessionDuration(request);

        var assumeRole = new AssumeRoleRequest
        {
            RoleArn = _options.RoleArn,
            RoleSessionName = sessionName,
            Policy = SessionPolicy.For(request.Scope),
            DurationSeconds = (int)duration.TotalSeconds,
        };
        AssumeRoleResponse response = await _sts.AssumeRoleAsync(assumeRole, cancellationToken);
        Credentials credentials = response.Credentials
            ?? throw new InvalidDataException($"STS AssumeRole for grant {request.GrantId} returned no credentials.");

        DateTimeOffset issuedAt = _time.GetUtcNow();
        DateTimeOffset expiresAt = credentials.Expiration is { } expiration
            ? new DateTimeOffset(DateTime.SpecifyKind(expiration.ToUniversalTime(), DateTimeKind.Utc))
            : issuedAt + duration;
        string principal = $"{roleId}:{sessionName}";

        string? assumedRoleId = response.AssumedRoleUser?.AssumedRoleId;
        if (assumedRoleId is not null && assumedRoleId != principal)
        {
            // The deny policy matches aws:userid = principal; a different id would make revocation miss this session.
            _logger.LogWarning(
                "STS returned assumed role id {AssumedRoleId} for grant {GrantId}, but revocation will deny aws:userid {Principal}",
                assumedRoleId, request.GrantId, principal);
        }

        var credential = new AwsSessionCredential(credentials.AccessKeyId, credentials.SecretAccessKey, credentials.SessionToken, request.Scope);
        var grant = new IssuedGrant(
            request.GrantId,
            Name,
            principal,
            _fingerprinter.Fingerprint(credentials.AccessKeyId),
            issuedAt,
            expiresAt);

        _logger.LogInformation(
            "Issued grant {GrantId} of run {RunId} as {Principal} on {Resource} for {DurationSeconds} s, expiring {ExpiresAt:O}",
            request.GrantId, request.RunId, principal, request.Scope.Resource, (int)duration.TotalSeconds, expiresAt);

        return new Lease<AwsSessionCredential>(grant, credential);
    }

    /// <summary>
    /// Puts the deny policy for the grant's session on the role, then prunes expired deny policies. Needs no
    /// secret and works for a grant never issued (a later AssumeRole with that session name is denied too).
    /// </summary>
    /// <returns>An outcome with Proven false. On failure RevokedAt is null and Error contains the reason; cancellation still throws.</returns>
    public Task<RevocationOutcome> RevokeAsync(GrantRequest request, CancellationToken cancellationToken) =>
        RevokeAsync(request, pruneExpired: true, cancellationToken);

    /// <summary>
    /// Puts the deny policy for the grant's session on the role. With <paramref name="pruneExpired"/> false the caller
    /// prunes later with <see cref="PruneExpiredDenyPoliciesAsync"/>, so a revocation proof can start at once.
    /// </summary>
    public async Task<RevocationOutcome> RevokeAsync(GrantRequest request, bool pruneExpired, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        string sessionName = SessionNames.For(request.GrantId);
        string policyName = RevocationPolicy.NameFor(sessionName);
        DateTimeOffset validUntil = LatestPossibleExpiry(request);

        try
        {
            string principal = $"{await GetRoleIdAsync(cancellationToken)}:{sessionName}";
            string document = RevocationPolicy.Create(principal, validUntil);

            // NOTE: AWS limits the inline policies of one role to 10,240 characters in total (whitespace excluded).
            // Each deny policy is about 235 characters, so about 43 revocations fit within one maximum session duration.
            // Beyond that PutRolePolicy fails with LimitExceeded, and the put is retried once after pruning expired entries.
            try
            {
                await PutRolePolicySerializedAsync(policyName, document, cancellationToken);
            }
            catch (IamServiceException exception) when (exception.ErrorCode == "LimitExceeded")
            {
                _logger.LogWarning(
                    "Role {RoleName} is at its inline policy limit while revoking grant {GrantId}; pruning and retrying once",
                    _options.RoleName, request.GrantId);
                await PruneAsync(policyName, force: true, cancellationToken);
                await PutRolePolicySerializedAsync(policyName, document, cancellationToken);
            }

            DateTimeOffset revokedAt = _time.GetUtcNow();
            _logger.LogInformation(
                "Revoked grant {GrantId} of run {RunId}: deny policy {PolicyName} on role {RoleName} for {Principal}",
                request.GrantId, request.RunId, policyName, _options.RoleName, principal);

            _denyPolicyExpiries[policyName] = validUntil;
            if (pruneExpired)
            {
                await PruneExpiredDenyPoliciesAsync(cancellationToken);
            }

            return new RevocationOutcome(
                request.GrantId,
                RevocationMethod,
                revokedAt,
                Proven: false,
                ProvenAt: null,
                $"deny policy {policyName} put on role {_options.RoleName} for aws:userid {principal}; not yet proven by a probe",
                validUntil);
        }
        catch (Exception exception) when (exception is IamServiceException or HttpRequestException or InvalidDataException
            || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            _logger.LogError(
                exception,
                "Revoking grant {GrantId} of run {RunId} failed: deny policy {PolicyName} could not be put on role {RoleName}",
                request.GrantId, request.RunId, policyName, _options.RoleName);

            return new RevocationOutcome(
                request.GrantId,
                RevocationMethod,
                RevokedAt: null,
                Proven: false,
                ProvenAt: null,
                $"deny policy {policyName} could not be put on role {_options.RoleName}",
                validUntil,
                exception.Message);
        }
    }

    public Task<RevocationOutcome> ProveRevokedAsync(
        Lease<AwsSessionCredential> lease,
        RevocationOutcome revocation,
        CancellationToken cancellationToken) =>
        ProveRevokedAsync(lease, revocation, calls: null, cancellationToken);

    /// <summary>
    /// Repeats a cheap read with the revoked credential on its own bucket until it is denied with 403 or
    /// <see cref="AwsOptions.RevocationProofTimeout"/> passes, recording each attempt in <paramref name="calls"/>.
    /// </summary>
    public async Task<RevocationOutcome> ProveRevokedAsync(
        Lease<AwsSessionCredential> lease,
        RevocationOutcome revocation,
        ApiCallLog? calls,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(revocation);

        DateTimeOffset expiresAt = lease.Grant.ExpiresAt;
        if (revocation.RevokedAt is null)
        {
            return revocation with
            {
                Evidence = revocation.Evidence + "; no probe was made because the deny policy is not in place",
                ValidUntil = expiresAt,
            };
        }

        Scope scope = lease.Credential.Scope;
        string? probeAction = ProbeActions.FirstOrDefault(scope.Allows);
        if (probeAction is null)
        {
            return NotProven(revocation, expiresAt, $"the scope contains none of {string.Join(", ", ProbeActions)} to probe with");
        }

        var log = calls ?? new ApiCallLog();
        using ScopedS3Client client = _s3Clients.CreateScoped(lease.Credential, scope, log, ApiCallPurposes.RevocationProbe);
        string bucket = client.Bucket;
        DateTimeOffset deadline = _time.GetUtcNow() + _options.RevocationProofTimeout;
        TimeSpan delay = TimeSpan.FromMilliseconds(100);
        ApiCall? last = null;
        int attempts = 0;

        while (true)
        {
            attempts++;
            last = await ProbeOnceAsync(client, probeAction, bucket, cancellationToken);

            if (last.Outcome == ApiCallOutcomes.Denied)
            {
                DateTimeOffset provenAt = last.At + TimeSpan.FromMilliseconds(last.DurationMs);
                double afterRevocation = (provenAt - revocation.RevokedAt.Value).TotalSeconds;
                _logger.LogInformation(
                    "Proved revocation of grant {GrantId}: {Action} on {Bucket} denied with {ErrorCode} on attempt {Attempts}",
                    lease.Grant.GrantId, probeAction, bucket, last.ErrorCode, attempts);

                return revocation with
                {
                    Proven = true,
                    ProvenAt = provenAt,
                    Evidence = string.Create(
                        CultureInfo.InvariantCulture,
                        $"{probeAction} on {bucket} returned {last.StatusCode} {last.ErrorCode} on attempt {attempts}, {afterRevocation:0.000} s after the deny policy was put"),
                    ValidUntil = provenAt,
                    Error = null,
                };
            }

            if (last.ErrorCode is "NoSuchBucket")
            {
                // No probe can be denied on a deleted bucket, so at least make sure the deny is still in place.
                await RestoreLostDenyPolicyAsync(lease.Grant, revocation, cancellationToken);
                break;
            }

            if (attempts % 3 == 2)
            {
                await RestoreLostDenyPolicyAsync(lease.Grant, revocation, cancellationToken);
            }

            DateTimeOffset now = _time.GetUtcNow();
            if (now >= deadline)
            {
                break;
            }

            TimeSpan wait = delay < deadline - now ? delay : deadline - now;
            await Task.Delay(wait, _time, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }

        string lastResponse = last.StatusCode is null ? $"no response ({last.ErrorCode})" : $"{last.StatusCode} {last.ErrorCode ?? "OK"}";
        string reason = last.ErrorCode is "NoSuchBucket"
            ? $"{probeAction} on {bucket} returned {lastResponse} on attempt {attempts}; the bucket is gone, and Ceph RGW 16.2 returned NoSuchBucket rather than 403 to a revoked session, so this probe cannot prove the revocation"
            : string.Create(
                CultureInfo.InvariantCulture,
                $"{probeAction} on {bucket} was not denied in {attempts} attempt(s) within {_options.RevocationProofTimeout.TotalSeconds:0.#} s; last response {lastResponse}");
        _logger.LogWarning(
            "Revocation of grant {GrantId} not proven: {Reason}; the credential may stay valid until {ExpiresAt:O}",
            lease.Grant.GrantId, reason, expiresAt);
        return NotProven(revocation, expiresAt, reason);
    }

    /// <summary>Reads the grant's deny policy back with GetRolePolicy and checks that it denies the grant's session.</summary>
    /// <returns>Whether the policy is in place, and a line saying what was read.</returns>
    public async Task<(bool Present, string Evidence)> ConfirmDenyPolicyAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        string sessionName = SessionNames.For(request.GrantId);
        string policyName = RevocationPolicy.NameFor(sessionName);
        string principal = $"{await GetRoleIdAsync(cancellationToken)}:{sessionName}";

        string document;
        try
        {
            document = await _iam.GetRolePolicyAsync(_options.RoleName, policyName, cancellationToken);
        }
        catch (IamServiceException exception) when (exception.IsNoSuchEntity)
        {
            return (false, $"deny policy {policyName} not found on role {_options.RoleName}");
        }

        return RevocationPolicy.Denies(document, principal)
            ? (true, $"deny policy {policyName} present on role {_options.RoleName} for aws:userid {principal} (read back with GetRolePolicy)")
            : (false, $"policy {policyName} on role {_options.RoleName} does not deny aws:userid {principal}");
    }

    /// <summary>
    /// Returns the latest moment a session of this grant could be valid: IssueAsync never lets a session outlive
    /// RequestedAt + the maximum lifetime, and the clock skew allowance covers a difference between this clock and STS's.
    /// </summary>
    public DateTimeOffset LatestPossibleExpiry(GrantRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return IssueDeadline(request) + _options.ClockSkewAllowance;
    }

    /// <summary>Returns the role's unique id: from the options, else read once with IAM GetRole.</summary>
    public async Task<string> GetRoleIdAsync(CancellationToken cancellationToken)
    {
        if (_roleId is not null)
        {
            return _roleId;
        }

        await _roleIdLock.WaitAsync(cancellationToken);
        try
        {
            if (_roleId is null)
            {
                IamRole role = await _iam.GetRoleAsync(_options.RoleName, cancellationToken);
                _roleId = role.RoleId;
                _logger.LogInformation("Read role id {RoleId} of role {RoleName} with GetRole", role.RoleId, role.RoleName);
            }

            return _roleId;
        }
        finally
        {
            _roleIdLock.Release();
        }
    }

    // The lifetime asked for, clamped to the bounds and cut so the session ends by RequestedAt + Maximum.
    // The requested lifetime, clamped to the platform's bounds.
    private TimeSpan RequestedDuration(GrantRequest request) =>
        Lifetime.Clamp(request.Lifetime > TimeSpan.Zero ? request.Lifetime : TimeSpan.FromSeconds(_options.SessionDurationSeconds));

    // Every session of the grant ends by this time: the requested lifetime after the request, plus one clock skew
    // allowance for the time between request and issue. Revocation can then bound the expiry without a store, and
    // a deny policy can be pruned after the requested lifetime, not the platform's maximum.
    private DateTimeOffset IssueDeadline(GrantRequest request) =>
        request.RequestedAt + RequestedDuration(request) + _options.ClockSkewAllowance;

    private TimeSpan SessionDuration(GrantRequest request)
    {
        TimeSpan requested = RequestedDuration(request);
        TimeSpan remaining = IssueDeadline(request) - _time.GetUtcNow();
        if (remaining < Lifetime.Minimum)
        {
            throw new InvalidOperationException(
                $"Grant {request.GrantId} was requested at {request.RequestedAt:O}, too long ago to issue: a session must end by "
                + $"{IssueDeadline(request):O} and last at least {Lifetime.Minimum.TotalSeconds} s; request a new grant.");
        }

        TimeSpan duration = requested < remaining ? requested : remaining;
        return TimeSpan.FromSeconds(Math.Floor(duration.TotalSeconds));
    }

    private async Task<ApiCall> ProbeOnceAsync(ScopedS3Client client, string action, string bucket, CancellationToken cancellationToken)
    {
        try
        {
            return await client.ProbeAsync(action, bucket, outsideScope: false, cancellationToken);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // An HTTP timeout: the probe proved nothing, so the loop tries again until the deadline.
            return new ApiCall(action, client.Scope.Resource, client.Purpose, _time.GetUtcNow(), null, ApiCallOutcomes.Error, "Timeout", 0);
        }
    }

    /// <summary>
    /// Deletes the role's nhi-revoke-* policies whose session cannot be valid any more. Within one broker instance it
    /// does nothing when it last ran less than a minute ago. Failures are logged and skipped, because an expired deny
    /// policy left in place denies nothing that could still work.
    /// </summary>
    /// <returns>The number of policies deleted.</returns>
    public async Task<int> PruneExpiredDenyPoliciesAsync(CancellationToken cancellationToken)
    {
        int pruned = await PruneAsync(keepPolicyName: null, force: false, cancellationToken);
        if (pruned > 0)
        {
            _logger.LogInformation("Pruned {Count} expired deny policies from role {RoleName}", pruned, _options.RoleName);
        }

        return pruned;
    }

    // Unless forced, returns at once when the last prune started less than PruneInterval ago. Skips keepPolicyName.
    private async Task<int> PruneAsync(string? keepPolicyName, bool force, CancellationToken cancellationToken)
    {
        DateTimeOffset now = _time.GetUtcNow();
        long last = Interlocked.Read(ref _lastPruneTicks);
        if (!force && last != long.MinValue && now.UtcTicks - last < PruneInterval.Ticks)
        {
            return 0;
        }

        Interlocked.Exchange(ref _lastPruneTicks, now.UtcTicks);

        IReadOnlyList<string> names;
        try
        {
            names = await _iam.ListRolePoliciesAsync(_options.RoleName, cancellationToken);
        }
        catch (Exception exception) when (exception is IamServiceException or HttpRequestException or InvalidDataException)
        {
            _logger.LogWarning(exception, "Listing the inline policies of role {RoleName} for pruning failed; nothing pruned", _options.RoleName);
            return 0;
        }

        int pruned = 0;
        string[] candidates = names
            .Where(name => name.StartsWith(RevocationPolicy.NamePrefix, StringComparison.Ordinal) && name != keepPolicyName)
            .ToArray();

        // A few reads at a time: each IAM call took about 44 ms on RGW, and AWS throttles bursts of IAM calls.
        var parallelism = new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = cancellationToken };
        await Parallel.ForEachAsync(candidates, parallelism, async (name, token) =>
        {
            try
            {
                DateTimeOffset? validUntil = await DenyPolicyExpiryAsync(name, token);
                if (validUntil is null || validUntil.Value >= now)
                {
                    return;
                }

                await DeleteRolePolicySerializedAsync(name, token);
                _denyPolicyExpiries.TryRemove(name, out _);
                Interlocked.Increment(ref pruned);
            }
            catch (IamServiceException exception) when (exception.IsNoSuchEntity)
            {
                // Another revocation pruned it first.
                _denyPolicyExpiries.TryRemove(name, out _);
            }
            catch (Exception exception) when (exception is IamServiceException or HttpRequestException or InvalidDataException)
            {
                _logger.LogWarning(exception, "Pruning deny policy {PolicyName} from role {RoleName} failed; left in place", name, _options.RoleName);
            }
        });

        return pruned;
    }

    // Returns the expiry recorded in a deny policy, reading the policy only the first time; null when it has none.
    private async Task<DateTimeOffset?> DenyPolicyExpiryAsync(string policyName, CancellationToken cancellationToken)
    {
        if (_denyPolicyExpiries.TryGetValue(policyName, out DateTimeOffset known))
        {
            return known;
        }

        string document = await _iam.GetRolePolicyAsync(_options.RoleName, policyName, cancellationToken);
        if (!RevocationPolicy.TryReadValidUntil(document, out DateTimeOffset validUntil))
        {
            _logger.LogWarning("Deny policy {PolicyName} on role {RoleName} has no readable expiry; left in place", policyName, _options.RoleName);
            return null;
        }

        _denyPolicyExpiries[policyName] = validUntil;
        return validUntil;
    }

    private static RevocationOutcome NotProven(RevocationOutcome revocation, DateTimeOffset expiresAt, string reason) =>
        revocation with
        {
            Proven = false,
            ProvenAt = null,
            Evidence = $"{revocation.Evidence}; not proven: {reason}; the credential may stay valid until it expires at {expiresAt:O}",
            ValidUntil = expiresAt,
            Error = $"revocation not proven: {reason}",
        };

    [GeneratedRegex("^s3:[A-Za-z0-9]+\\z", RegexOptions.CultureInvariant)]
    private static partial Regex S3ActionPattern();

    private async Task PutRolePolicySerializedAsync(string policyName, string document, CancellationToken cancellationToken)
    {
        await _roleWriteLock.WaitAsync(cancellationToken);
        try
        {
            await _iam.PutRolePolicyAsync(_options.RoleName, policyName, document, cancellationToken);
        }
        finally
        {
            _roleWriteLock.Release();
        }
    }

    private async Task DeleteRolePolicySerializedAsync(string policyName, CancellationToken cancellationToken)
    {
        await _roleWriteLock.WaitAsync(cancellationToken);
        try
        {
            await _iam.DeleteRolePolicyAsync(_options.RoleName, policyName, cancellationToken);
        }
        finally
        {
            _roleWriteLock.Release();
        }
    }

    // Called while a revoked credential still works: if the deny policy is gone (a concurrent role
    // policy write by another process overwrote it), it is put again.
    private async Task RestoreLostDenyPolicyAsync(IssuedGrant grant, RevocationOutcome revocation, CancellationToken cancellationToken)
    {
        string policyName = RevocationPolicy.NameFor(SessionNames.For(grant.GrantId));
        try
        {
            await _iam.GetRolePolicyAsync(_options.RoleName, policyName, cancellationToken);
        }
        catch (IamServiceException missing) when (missing.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            _logger.LogWarning(
                "Deny policy {PolicyName} of grant {GrantId} is missing from role {RoleName} after revocation; putting it again",
                policyName, grant.GrantId, _options.RoleName);
            await PutRolePolicySerializedAsync(policyName, RevocationPolicy.Create(grant.Principal, revocation.ValidUntil), cancellationToken);
        }
    }
}
