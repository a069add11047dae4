using System.Globalization;
using Azure;
using Azure.Storage;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Sas;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Azure.Blob;

/// <summary>
/// Issues a service SAS for one blob container, bound to a stored access policy created for that grant alone, and revokes
/// it by deleting the policy.
/// </summary>
/// <remarks>
/// The policy carries the permissions and the expiry, so the SAS itself cannot be widened, and deleting the policy makes
/// the service reject the SAS. The account key from the connection string signs the SAS and edits the policies; it never
/// leaves this class.
/// </remarks>
public sealed class BlobContainerSasBroker : ICredentialBroker<BlobContainerSasCredential>, IDisposable
{
    public const string BrokerName = "azure-blob-sas";

    public const string RevocationMethod = "stored-access-policy-deleted";

    private readonly BlobSasBrokerOptions _options;
    private readonly BlobServiceClient _service;
    private readonly StorageSharedKeyCredential _accountKey;
    private readonly StoredAccessPolicyEditor _policies;
    private readonly BlobSasProbe _probe;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly ICredentialFingerprinter _fingerprinter;
    private readonly TimeProvider _time;
    private readonly ILogger<BlobContainerSasBroker> _logger;

    /// <param name="http">The client for SAS probes; null to create one that this broker disposes.</param>
    public BlobContainerSasBroker(
        BlobSasBrokerOptions options,
        ICredentialFingerprinter fingerprinter,
        TimeProvider time,
        ILogger<BlobContainerSasBroker> logger,
        HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();

        _options = options;
        _fingerprinter = fingerprinter ?? throw new ArgumentNullException(nameof(fingerprinter));
        _time = time ?? throw new ArgumentNullException(nameof(time));
        _logger = logger ?? throw new ArgumentNullException(nameof(logger));
        BlobSasBrokerOptions.TryReadAccountKey(options.ConnectionString, out StorageSharedKeyCredential? accountKey, out _);
        _accountKey = accountKey!;
        _service = new BlobServiceClient(options.ConnectionString);
        _ownsHttp = http is null;
        _http = http ?? new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        _probe = new BlobSasProbe(_http);
        var policyLock = new ContainerPolicyLock(_service.GetBlobContainerClient(options.LockContainerName), options.LockTimeout, time);
        _policies = new StoredAccessPolicyEditor(_service, policyLock, options, time, logger);
        Lifetime = new GrantLifetimeBounds(options.MinLifetime, options.MaxLifetime);
    }

    public string Name => BrokerName;

    public GrantLifetimeBounds Lifetime { get; }

    /// <summary>The blob endpoint of the broker's storage account; scope resources are this URL plus a container name.</summary>
    public Uri ServiceUri => _service.Uri;

    /// <summary>Returns the scope resource that names <paramref name="container"/> in the broker's account.</summary>
    public string ContainerResource(string container) => BlobContainerResource.Format(_service.Uri, container);

    /// <summary>
    /// Accepts only provider "azure", one container of the broker's account other than the lock container, no named
    /// objects, and permissions from read, list, write, create, add and delete.
    /// </summary>
    public void ValidateScope(Scope scope)
    {
        ArgumentNullException.ThrowIfNull(scope);

        if (scope.Provider != "azure")
        {
            throw new ScopeNotSupportedException(Name, $"provider '{scope.Provider}' is not 'azure'");
        }

        if (!BlobContainerResource.TryParse(scope.Resource, _service.Uri, out string container, out string? reason))
        {
            throw new ScopeNotSupportedException(Name, reason!);
        }

        if (container == _options.LockContainerName)
        {
            throw new ScopeNotSupportedException(Name, $"container '{container}' contains the broker's lock blobs and cannot be granted");
        }

        if (scope.Objects.Count > 0)
        {
            throw new ScopeNotSupportedException(Name, "a container SAS applies to the whole container; the scope must name no objects inside it");
        }

        if (scope.Permissions.Count == 0)
        {
            throw new ScopeNotSupportedException(Name, "the scope has no permissions");
        }

        foreach (string permission in scope.Permissions)
        {
            if (!BlobSasPermissions.IsKnown(permission))
            {
                throw new ScopeNotSupportedException(
                    Name, $"permission '{permission}' is not one of {string.Join(", ", BlobSasPermissions.Names)}");
            }
        }
    }

    /// <summary>
    /// Creates a stored access policy with a fresh id for this grant, waits until the service accepts a SAS bound to it,
    /// and returns that SAS. Waits for a free slot when the container already has the maximum number of policies.
    /// </summary>
    /// <exception cref="TimeoutException">No policy slot became free, or the new policy did not take effect, in time.</exception>
    /// <exception cref="InvalidOperationException">The container does not exist, or Azure Storage rejected a policy change.</exception>
    public async Task<Lease<BlobContainerSasCredential>> IssueAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateScope(request.Scope);
        BlobContainerResource.TryParse(request.Scope.Resource, _service.Uri, out string container, out _);

        TimeSpan duration = SasDuration(request);
        string policyId = StoredAccessPolicyIds.NewFor(request.GrantId);
        string permissions = BlobSasPermissions.ToPolicyString(request.Scope.Permissions);
        DateTimeOffset issuedAt = _time.GetUtcNow();
        DateTimeOffset expiresAt = issuedAt + duration;

        var policy = new BlobSignedIdentifier
        {
            Id = policyId,
            AccessPolicy = new BlobAccessPolicy { PolicyExpiresOn = expiresAt, Permissions = permissions },
        };

        try
        {
            await _policies.AddAsync(container, policy, request.GrantId, cancellationToken);
        }
        catch (RequestFailedException exception)
        {
            throw new InvalidOperationException(
                $"Creating stored access policy {policyId} on container '{container}' for grant {request.GrantId} failed: "
                + $"{exception.Status} {exception.ErrorCode}. Check that the container exists and that the connection string's account key is current.",
                exception);
        }

        var credential = new BlobContainerSasCredential(
            _service.GetBlobContainerClient(container).Uri, SignSas(container, policyId), policyId, expiresAt, request.Scope);

        await WaitUntilAcceptedAsync(request, container, credential, cancellationToken);

        var grant = new IssuedGrant(
            request.GrantId,
            Name,
            $"{_service.AccountName}/{container}/{policyId}",
            _fingerprinter.Fingerprint(policyId),
            issuedAt,
            expiresAt);

        _logger.LogInformation(
            "Issued grant {GrantId} of run {RunId}: stored access policy {PolicyId} on container {Container} with permissions {Permissions} for {DurationSeconds} s, expiring {ExpiresAt:O}",
            request.GrantId, request.RunId, policyId, container, permissions, (int)duration.TotalSeconds, expiresAt);

        return new Lease<BlobContainerSasCredential>(grant, credential);
    }

    /// <summary>
    /// Deletes every stored access policy of the grant from its container, keeping the others. Needs no secret, is
    /// idempotent, and succeeds for a grant never issued.
    /// </summary>
    /// <returns>An outcome with Proven false. On failure RevokedAt is null and Error contains the reason; cancellation still throws.</returns>
    public async Task<RevocationOutcome> RevokeAsync(GrantRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);

        DateTimeOffset validUntil = LatestPossibleExpiry(request);
        if (!BlobContainerResource.TryParse(request.Scope.Resource, _service.Uri, out string container, out string? reason))
        {
            return new RevocationOutcome(
                request.GrantId, RevocationMethod, null, false, null, "no policy deleted", validUntil,
                $"revocation failed: {reason}; this broker cannot have issued the grant");
        }

        string prefix = StoredAccessPolicyIds.PrefixFor(request.GrantId);
        try
        {
            (IReadOnlyList<string> deleted, int kept, bool exists) = await _policies.RemoveAsync(container, prefix, cancellationToken);
            DateTimeOffset revokedAt = _time.GetUtcNow();

            string evidence = !exists
                ? $"container {container} does not exist, so no stored access policy of grant {request.GrantId} remains"
                : deleted.Count == 0
                    ? $"container {container} has no stored access policy {prefix}*; the grant was never issued or is already revoked"
                    : $"deleted stored access policy {string.Join(", ", deleted)} from container {container} and kept {kept} other policies; not yet proven by a probe";

            _logger.LogInformation(
                "Revoked grant {GrantId} of run {RunId} on container {Container}: deleted {DeletedCount} stored access policies, kept {KeptCount}",
                request.GrantId, request.RunId, container, deleted.Count, kept);

            return new RevocationOutcome(request.GrantId, RevocationMethod, revokedAt, false, null, evidence, validUntil);
        }
        catch (Exception exception) when (exception is RequestFailedException or TimeoutException or InvalidOperationException or HttpRequestException
            || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            _logger.LogError(
                exception,
                "Revoking grant {GrantId} of run {RunId} failed: stored access policies {PolicyPrefix}* on container {Container} could not be deleted",
                request.GrantId, request.RunId, prefix, container);

            return new RevocationOutcome(
                request.GrantId, RevocationMethod, null, false, null,
                $"stored access policies {prefix}* on container {container} could not be deleted", validUntil, exception.Message);
        }
    }

    /// <summary>
    /// Repeats a HEAD request with the revoked SAS until the service rejects the SAS itself (403 AuthorizationFailure or
    /// AuthenticationFailed) and the container's policy list no longer has its policy, or until
    /// <see cref="BlobSasBrokerOptions.PropagationTimeout"/> passes (Azure documents up to 30 s for a policy change).
    /// </summary>
    public async Task<RevocationOutcome> ProveRevokedAsync(
        Lease<BlobContainerSasCredential> lease,
        RevocationOutcome revocation,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(revocation);

        DateTimeOffset expiresAt = lease.Grant.ExpiresAt;
        if (revocation.RevokedAt is null)
        {
            return revocation with
            {
                Evidence = revocation.Evidence + "; no probe was made because the policy was not deleted",
                ValidUntil = expiresAt,
            };
        }

        string container = lease.Credential.ContainerUri.Segments[^1].TrimEnd('/');
        DateTimeOffset deadline = _time.GetUtcNow() + _options.PropagationTimeout;
        TimeSpan delay = TimeSpan.FromMilliseconds(100);
        BlobSasProbeResult last;
        int attempts = 0;

        while (true)
        {
            attempts++;
            last = await _probe.HeadAsync(lease.Credential, cancellationToken);
            DateTimeOffset now = _time.GetUtcNow();

            if (last.IsRejected && !await PolicyExistsAsync(container, lease.Credential.PolicyId, cancellationToken))
            {
                double afterRevocation = (now - revocation.RevokedAt.Value).TotalSeconds;
                _logger.LogInformation(
                    "Proved revocation of grant {GrantId}: the SAS on container {Container} was rejected with {Response} on attempt {Attempts}",
                    lease.Grant.GrantId, container, last, attempts);

                return revocation with
                {
                    Proven = true,
                    ProvenAt = now,
                    Evidence = string.Create(
                        CultureInfo.InvariantCulture,
                        $"HEAD of blob {BlobSasProbe.ProbeBlobName} in container {container} with the revoked SAS returned {last} on attempt {attempts}, {afterRevocation:0.000} s after the policy was deleted; Get Container ACL no longer lists policy {lease.Credential.PolicyId}"),
                    ValidUntil = now,
                    Error = null,
                };
            }

            if (now >= deadline)
            {
                break;
            }

            TimeSpan remaining = deadline - now;
            await Task.Delay(delay < remaining ? delay : remaining, _time, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }

        string reason = string.Create(
            CultureInfo.InvariantCulture,
            $"the SAS on container {container} was not rejected in {attempts} attempt(s) within {_options.PropagationTimeout.TotalSeconds:0.#} s; last response {last}");
        _logger.LogWarning(
            "Revocation of grant {GrantId} not proven: {Reason}; the SAS may stay valid until {ExpiresAt:O}",
            lease.Grant.GrantId, reason, expiresAt);

        return revocation with
        {
            Proven = false,
            ProvenAt = null,
            Evidence = $"{revocation.Evidence}; not proven: {reason}; the SAS may stay valid until it expires at {expiresAt:O}",
            ValidUntil = expiresAt,
            Error = $"revocation not proven: {reason}",
        };
    }

    /// <summary>
    /// Returns the latest moment a SAS of this grant could be valid: IssueAsync never lets a policy outlive RequestedAt +
    /// the maximum lifetime, and the clock skew allowance covers a difference between this clock and the service's.
    /// </summary>
    public DateTimeOffset LatestPossibleExpiry(GrantRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.RequestedAt + Lifetime.Maximum + _options.ClockSkewAllowance;
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private async Task<bool> PolicyExistsAsync(string container, string policyId, CancellationToken cancellationToken)
    {
        try
        {
            BlobContainerAccessPolicy policies = await _service.GetBlobContainerClient(container).GetAccessPolicyAsync(cancellationToken: cancellationToken);
            return policies.SignedIdentifiers.Any(policy => policy.Id == policyId);
        }
        catch (RequestFailedException exception) when (exception.ErrorCode == BlobErrorCode.ContainerNotFound)
        {
            return false;
        }
    }

    // Signs a service SAS that names only the container and the policy: permissions and expiry come from the policy.
    private string SignSas(string container, string policyId)
    {
        var builder = new BlobSasBuilder
        {
            BlobContainerName = container,
            Resource = "c",
            Identifier = policyId,
            Protocol = _service.Uri.Scheme == Uri.UriSchemeHttps ? SasProtocol.Https : SasProtocol.HttpsAndHttp,
        };
        return builder.ToSasQueryParameters(_accountKey).ToString();
    }

    // A new policy can take up to 30 s to take effect on Azure, and a SAS bound to it fails with 403 until then. Waiting
    // here spares the workflow step that window; when the policy never takes effect, it is deleted again.
    private async Task WaitUntilAcceptedAsync(
        GrantRequest request, string container, BlobContainerSasCredential credential, CancellationToken cancellationToken)
    {
        DateTimeOffset deadline = _time.GetUtcNow() + _options.PropagationTimeout;
        TimeSpan delay = TimeSpan.FromMilliseconds(100);
        int attempts = 0;

        while (true)
        {
            attempts++;
            BlobSasProbeResult result = await _probe.HeadAsync(credential, cancellationToken);
            if (result.IsAccepted)
            {
                return;
            }

            DateTimeOffset now = _time.GetUtcNow();
            if (now >= deadline)
            {
                await RevokeAsync(request, CancellationToken.None);
                throw new TimeoutException(
                    $"The SAS of grant {request.GrantId} on container '{container}' was not accepted within {_options.PropagationTimeout} "
                    + $"after policy {credential.PolicyId} was created (last response {result}, {attempts} attempts); the policy was deleted again.");
            }

            TimeSpan remaining = deadline - now;
            await Task.Delay(delay < remaining ? delay : remaining, _time, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 1000));
        }
    }

    // The lifetime asked for, clamped to the bounds and cut so the SAS ends by RequestedAt + Maximum.
    private TimeSpan SasDuration(GrantRequest request)
    {
        TimeSpan requested = request.Lifetime > TimeSpan.Zero ? request.Lifetime : _options.DefaultLifetime;
        TimeSpan clamped = Lifetime.Clamp(requested);
        TimeSpan remaining = request.RequestedAt + Lifetime.Maximum - _time.GetUtcNow();
        if (remaining < Lifetime.Minimum)
        {
            throw new InvalidOperationException(
                $"Grant {request.GrantId} was requested at {request.RequestedAt:O}, too long ago to issue: a SAS must end by "
                + $"{request.RequestedAt + Lifetime.Maximum:O} and last at least {Lifetime.Minimum}; request a new grant.");
        }

        TimeSpan duration = clamped < remaining ? clamped : remaining;
        return TimeSpan.FromSeconds(Math.Floor(duration.TotalSeconds));
    }
}
