using System.Globalization;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Microsoft.Extensions.Logging;

namespace Nhi.Serverless.Azure.Blob;

/// <summary>
/// Adds and deletes stored access policies of a container by read-modify-write under <see cref="ContainerPolicyLock"/>,
/// keeping every other policy and the container's public access level as they were.
/// </summary>
internal sealed class StoredAccessPolicyEditor(
    BlobServiceClient service,
    ContainerPolicyLock policyLock,
    BlobSasBrokerOptions options,
    TimeProvider time,
    ILogger logger)
{
    // A write that failed its If-Unmodified-Since condition is retried this many times before the change fails.
    private const int MaxConflictRetries = 5;

    /// <summary>
    /// Adds <paramref name="policy"/> to the container. When the container already has the maximum number of policies,
    /// waits with backoff until another grant frees a slot or <see cref="BlobSasBrokerOptions.PolicySlotTimeout"/> passes.
    /// Expired policies of this broker are deleted on the way, because no SAS can use them any more.
    /// </summary>
    /// <exception cref="TimeoutException">No slot became free in time; no policy was changed.</exception>
    /// <exception cref="RequestFailedException">Azure Storage rejected a read or write, such as 404 ContainerNotFound.</exception>
    public async Task AddAsync(string container, BlobSignedIdentifier policy, string grantId, CancellationToken cancellationToken)
    {
        BlobContainerClient client = service.GetBlobContainerClient(container);
        DateTimeOffset started = time.GetUtcNow();
        DateTimeOffset deadline = started + options.PolicySlotTimeout;
        TimeSpan delay = TimeSpan.FromMilliseconds(100);
        int conflicts = 0;
        bool loggedWait = false;

        while (true)
        {
            int held;
            await using (await policyLock.AcquireAsync(container, cancellationToken))
            {
                BlobContainerAccessPolicy current = await client.GetAccessPolicyAsync(cancellationToken: cancellationToken);
                List<BlobSignedIdentifier> kept = WithoutExpiredBrokerPolicies(current.SignedIdentifiers, container);
                held = kept.Count;

                if (held < options.MaxPoliciesPerContainer)
                {
                    kept.Add(policy);
                    if (await TryWriteAsync(client, current, kept, cancellationToken))
                    {
                        if (loggedWait)
                        {
                            logger.LogInformation(
                                "Grant {GrantId} got a stored access policy slot on container {Container} after waiting {WaitSeconds:0.0} s",
                                grantId, container, (time.GetUtcNow() - started).TotalSeconds);
                        }

                        return;
                    }

                    conflicts = CountConflict(conflicts, container);
                    continue;
                }
            }

            DateTimeOffset now = time.GetUtcNow();
            if (now >= deadline)
            {
                throw new TimeoutException(
                    $"Container '{container}' still had {held} stored access policies, the maximum of {options.MaxPoliciesPerContainer}, "
                    + $"after grant {grantId} waited {options.PolicySlotTimeout} for a free slot. A slot frees when another grant is revoked or "
                    + "its policy expires; revoke finished grants or retry later. No policy was changed.");
            }

            if (!loggedWait)
            {
                logger.LogWarning(
                    "Container {Container} has {Held} stored access policies, the maximum of {Max}; grant {GrantId} waits up to {Timeout} for a free slot",
                    container, held, options.MaxPoliciesPerContainer, grantId, options.PolicySlotTimeout);
                loggedWait = true;
            }

            TimeSpan remaining = deadline - now;
            await Task.Delay(delay < remaining ? delay : remaining, time, cancellationToken);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
        }
    }

    /// <summary>Deletes every policy whose id starts with <paramref name="idPrefix"/>.</summary>
    /// <returns>The ids deleted and the number of other policies kept; both empty when the container does not exist.</returns>
    /// <exception cref="RequestFailedException">Azure Storage rejected a read or write.</exception>
    public async Task<(IReadOnlyList<string> Deleted, int Kept, bool ContainerExists)> RemoveAsync(
        string container, string idPrefix, CancellationToken cancellationToken)
    {
        BlobContainerClient client = service.GetBlobContainerClient(container);
        int conflicts = 0;

        while (true)
        {
            await using (await policyLock.AcquireAsync(container, cancellationToken))
            {
                BlobContainerAccessPolicy current;
                try
                {
                    current = await client.GetAccessPolicyAsync(cancellationToken: cancellationToken);
                }
                catch (RequestFailedException exception) when (exception.ErrorCode == BlobErrorCode.ContainerNotFound)
                {
                    return ([], 0, false);
                }

                List<BlobSignedIdentifier> all = current.SignedIdentifiers.ToList();
                string[] deleted = all.Where(policy => policy.Id.StartsWith(idPrefix, StringComparison.Ordinal)).Select(policy => policy.Id).ToArray();
                if (deleted.Length == 0)
                {
                    return ([], all.Count, true);
                }

                List<BlobSignedIdentifier> kept = all.Where(policy => !deleted.Contains(policy.Id, StringComparer.Ordinal)).ToList();
                if (await TryWriteAsync(client, current, kept, cancellationToken))
                {
                    return (deleted, kept.Count, true);
                }

                conflicts = CountConflict(conflicts, container);
            }
        }
    }

    // Writes the list only if the container is unchanged since the read. The condition has one-second resolution, so it
    // catches most writes by tools that do not take the lock, not all of them.
    private static async Task<bool> TryWriteAsync(
        BlobContainerClient client, BlobContainerAccessPolicy current, List<BlobSignedIdentifier> policies, CancellationToken cancellationToken)
    {
        try
        {
            await client.SetAccessPolicyAsync(
                current.BlobPublicAccess,
                policies,
                new BlobRequestConditions { IfUnmodifiedSince = current.LastModified },
                cancellationToken);
            return true;
        }
        catch (RequestFailedException exception) when (exception.Status == 412)
        {
            return false;
        }
    }

    private int CountConflict(int conflicts, string container)
    {
        conflicts++;
        logger.LogWarning(
            "Stored access policies of container {Container} changed between read and write (attempt {Attempt} of {MaxAttempts}); reading again",
            container, conflicts, MaxConflictRetries + 1);
        if (conflicts > MaxConflictRetries)
        {
            throw new InvalidOperationException(
                $"The stored access policies of container '{container}' changed between read and write {conflicts} times in a row; "
                + "another tool is editing them without the broker's lock. Retry when it has finished.");
        }

        return conflicts;
    }

    private List<BlobSignedIdentifier> WithoutExpiredBrokerPolicies(IEnumerable<BlobSignedIdentifier> policies, string container)
    {
        DateTimeOffset cutoff = time.GetUtcNow() - options.ClockSkewAllowance;
        var kept = new List<BlobSignedIdentifier>();
        foreach (BlobSignedIdentifier policy in policies)
        {
            if (StoredAccessPolicyIds.IsBrokerPolicy(policy.Id) && policy.AccessPolicy?.PolicyExpiresOn is { } expiresOn && expiresOn < cutoff)
            {
                logger.LogInformation(
                    "Deleting expired stored access policy {PolicyId} from container {Container}; it expired at {ExpiresOn}",
                    policy.Id, container, expiresOn.ToString("O", CultureInfo.InvariantCulture));
                continue;
            }

            kept.Add(policy);
        }

        return kept;
    }
}
