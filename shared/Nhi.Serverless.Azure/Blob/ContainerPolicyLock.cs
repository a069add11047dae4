using System.Collections.Concurrent;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace Nhi.Serverless.Azure.Blob;

/// <summary>
/// Serializes changes to one container's stored access policies: a semaphore within this process, and a lease on the
/// lock blob "{lock container}/{container}" across processes.
/// </summary>
/// <remarks>
/// Set Container ACL replaces the whole policy list and accepts only If-Modified-Since, If-Unmodified-Since and a lease
/// id as conditions, so two brokers reading and writing at once could each drop the other's new policy. A lease on the
/// container itself would work too, but it would clash with an application that leases its container to guard it
/// against deletion. Writers other than these brokers do not take the lock.
/// </remarks>
internal sealed class ContainerPolicyLock(BlobContainerClient lockContainer, TimeSpan timeout, TimeProvider time)
{
    // Long enough for one read and one write of the policy list; a holder that dies frees the lock after this.
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(20);

    private readonly ConcurrentDictionary<string, SemaphoreSlim> _local = new(StringComparer.Ordinal);
    private volatile bool _lockContainerExists;

    /// <summary>Takes the lock of <paramref name="container"/>; dispose the result to release it.</summary>
    /// <exception cref="TimeoutException">Another holder kept the lock for longer than the lock timeout.</exception>
    public async Task<IAsyncDisposable> AcquireAsync(string container, CancellationToken cancellationToken)
    {
        DateTimeOffset deadline = time.GetUtcNow() + timeout;
        SemaphoreSlim local = _local.GetOrAdd(container, _ => new SemaphoreSlim(1, 1));
        if (!await local.WaitAsync(timeout, cancellationToken))
        {
            throw LockTimeout(container);
        }

        try
        {
            BlobClient lockBlob = await EnsureLockBlobAsync(container, cancellationToken);
            BlobLeaseClient lease = lockBlob.GetBlobLeaseClient();
            TimeSpan delay = TimeSpan.FromMilliseconds(50);
            while (true)
            {
                try
                {
                    await lease.AcquireAsync(LeaseDuration, cancellationToken: cancellationToken);
                    return new Held(lease, local);
                }
                catch (RequestFailedException exception) when (exception.Status == 409)
                {
                    // Another process holds the lease.
                }

                TimeSpan remaining = deadline - time.GetUtcNow();
                if (remaining <= TimeSpan.Zero)
                {
                    throw LockTimeout(container);
                }

                await Task.Delay(delay < remaining ? delay : remaining, time, cancellationToken);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 500));
            }
        }
        catch
        {
            local.Release();
            throw;
        }
    }

    private async Task<BlobClient> EnsureLockBlobAsync(string container, CancellationToken cancellationToken)
    {
        if (!_lockContainerExists)
        {
            await lockContainer.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
            _lockContainerExists = true;
        }

        BlobClient blob = lockContainer.GetBlobClient(container);
        try
        {
            // If-None-Match: * creates the empty lock blob once and never overwrites it, so a held lease stays intact.
            await blob.UploadAsync(
                BinaryData.Empty,
                new BlobUploadOptions { Conditions = new BlobRequestConditions { IfNoneMatch = ETag.All } },
                cancellationToken);
        }
        catch (RequestFailedException exception) when (exception.Status is 409 or 412)
        {
            // The lock blob exists already (409 BlobAlreadyExists, or 412 while another process leases it).
        }

        return blob;
    }

    private TimeoutException LockTimeout(string container) =>
        new($"Timed out after {timeout} waiting for the lock on the stored access policies of container '{container}' "
            + $"(lease on blob '{lockContainer.Name}/{container}'); another broker is changing them. Retry the grant.");

    private sealed class Held(BlobLeaseClient lease, SemaphoreSlim local) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            try
            {
                await lease.ReleaseAsync();
            }
            catch (RequestFailedException)
            {
                // The lease expired or was broken; it frees itself after LeaseDuration anyway.
            }
            finally
            {
                local.Release();
            }
        }
    }
}
