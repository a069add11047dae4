using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Brokers;

/// <summary>
/// Azurite's development account from the local stack: the account-key client that tests use to set containers up and
/// inspect their policies, and brokers wired to the same account.
/// </summary>
public sealed class BlobTestAccount : IAsyncDisposable
{
    private readonly List<string> _containers = [];
    private readonly List<BlobContainerSasBroker> _brokers = [];

    public BlobTestAccount()
    {
        ConnectionString = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING");
        Service = new BlobServiceClient(ConnectionString);
        BrokerTestSupport.RequireReachable("Azurite (Blob)", Service.Uri.Host, Service.Uri.Port);
    }

    public string ConnectionString { get; }

    /// <summary>The account-key client; only test set-up and inspection use it.</summary>
    public BlobServiceClient Service { get; }

    public CapturingLoggerProvider Logs { get; } = new();

    public TestFingerprinter Fingerprinter { get; } = new();

    /// <summary>Returns a broker on this account; every broker of one test shares <see cref="Logs"/>.</summary>
    public BlobContainerSasBroker Broker(Action<BlobSasBrokerOptions>? configure = null)
    {
        var options = new BlobSasBrokerOptions { ConnectionString = ConnectionString, PropagationTimeout = TimeSpan.FromSeconds(5) };
        configure?.Invoke(options);
        var broker = new BlobContainerSasBroker(options, Fingerprinter, TimeProvider.System, BrokerTestSupport.LoggerFor<BlobContainerSasBroker>(Logs));
        _brokers.Add(broker);
        return broker;
    }

    /// <summary>Creates an empty container named nhi-test-{random}; <see cref="DisposeAsync"/> deletes it.</summary>
    public async Task<string> CreateContainerAsync()
    {
        string name = "nhi-test-" + Guid.NewGuid().ToString("N")[..12];
        await Service.GetBlobContainerClient(name).CreateAsync();
        _containers.Add(name);
        return name;
    }

    /// <summary>Adds a policy that does not belong to the broker, such as an application's own readers policy.</summary>
    public async Task<BlobSignedIdentifier> AddForeignPolicyAsync(string container, string id)
    {
        BlobContainerClient client = Service.GetBlobContainerClient(container);
        BlobContainerAccessPolicy current = await client.GetAccessPolicyAsync();
        var policy = new BlobSignedIdentifier
        {
            Id = id,
            AccessPolicy = new BlobAccessPolicy
            {
                PolicyStartsOn = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero),
                PolicyExpiresOn = new DateTimeOffset(2099, 1, 1, 0, 0, 0, TimeSpan.Zero),
                Permissions = "r",
            },
        };
        await client.SetAccessPolicyAsync(current.BlobPublicAccess, current.SignedIdentifiers.Append(policy));
        return policy;
    }

    public async Task<IReadOnlyList<BlobSignedIdentifier>> PoliciesAsync(string container) =>
        (await Service.GetBlobContainerClient(container).GetAccessPolicyAsync()).Value.SignedIdentifiers.ToArray();

    /// <summary>Returns the HTTP status of listing the container's blobs with the SAS (200 when allowed).</summary>
    public static async Task<int> ListStatusAsync(BlobContainerSasCredential credential) =>
        await StatusAsync(() => new BlobContainerClient(credential.ContainerSasUri()).GetBlobsAsync().AsPages(pageSizeHint: 1).GetAsyncEnumerator().MoveNextAsync().AsTask());

    /// <summary>Returns the HTTP status of listing <paramref name="container"/> with another container's SAS.</summary>
    public async Task<int> ListStatusWithSasAsync(string container, BlobContainerSasCredential credential)
    {
        var uri = new Uri($"{Service.GetBlobContainerClient(container).Uri.AbsoluteUri}?{credential.SasToken}");
        return await StatusAsync(() => new BlobContainerClient(uri).GetBlobsAsync().AsPages(pageSizeHint: 1).GetAsyncEnumerator().MoveNextAsync().AsTask());
    }

    /// <summary>Returns the HTTP status of uploading a small blob with the SAS (201 when allowed).</summary>
    public static async Task<int> UploadStatusAsync(BlobContainerSasCredential credential, string blobName) =>
        await StatusAsync(async () =>
        {
            Response<BlobContentInfo> response = await new BlobClient(credential.BlobSasUri(blobName)).UploadAsync(BinaryData.FromString("hello"), overwrite: true);
            return response.GetRawResponse().Status;
        });

    /// <summary>Returns the HTTP status of deleting a blob with the SAS (202 when allowed).</summary>
    public static async Task<int> DeleteStatusAsync(BlobContainerSasCredential credential, string blobName) =>
        await StatusAsync(async () => (await new BlobClient(credential.BlobSasUri(blobName)).DeleteAsync()).Status);

    public async ValueTask DisposeAsync()
    {
        foreach (BlobContainerSasBroker broker in _brokers)
        {
            broker.Dispose();
        }

        foreach (string container in _containers)
        {
            await Service.GetBlobContainerClient(container).DeleteIfExistsAsync();
        }
    }

    private static async Task<int> StatusAsync(Func<Task<bool>> call) => await StatusAsync(async () =>
    {
        await call();
        return 200;
    });

    private static async Task<int> StatusAsync(Func<Task<int>> call)
    {
        try
        {
            return await call();
        }
        catch (RequestFailedException exception)
        {
            return exception.Status;
        }
    }
}
