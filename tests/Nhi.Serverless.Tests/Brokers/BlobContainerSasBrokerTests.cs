using System.Diagnostics;
using System.Text.Json;
using Azure.Storage.Blobs.Models;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Grants;
using Xunit.Abstractions;

namespace Nhi.Serverless.Tests.Brokers;

// Runs against Azurite from infra/local/stack.sh; every test creates and deletes its own nhi-test-* containers.
public sealed class BlobContainerSasBrokerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly BlobTestAccount _account = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _account.DisposeAsync();

    [Fact]
    public async Task Issue_WorksWithinScope()
    {
        BlobContainerSasBroker broker = _account.Broker();
        string container = await _account.CreateContainerAsync();
        GrantRequest grant = BrokerTestSupport.NewGrant(Scope(broker, container, "create", "list", "read", "write"));

        Lease<BlobContainerSasCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);

        Assert.Equal(201, await BlobTestAccount.UploadStatusAsync(lease.Credential, "invoices/2026-01.csv"));
        Assert.Equal(200, await BlobTestAccount.ListStatusAsync(lease.Credential));
        Assert.Equal("azure-blob-sas", lease.Grant.Broker);
        Assert.StartsWith($"devstoreaccount1/{container}/nhi-", lease.Grant.Principal);
    }

    [Fact]
    public async Task Sas_IsDeniedOnAnotherContainer()
    {
        BlobContainerSasBroker broker = _account.Broker();
        string container = await _account.CreateContainerAsync();
        string other = await _account.CreateContainerAsync();
        Lease<BlobContainerSasCredential> lease = await broker.IssueAsync(BrokerTestSupport.NewGrant(Scope(broker, container, "list", "read")), CancellationToken.None);

        Assert.Equal(200, await BlobTestAccount.ListStatusAsync(lease.Credential));
        Assert.Equal(403, await _account.ListStatusWithSasAsync(other, lease.Credential));
    }

    [Fact]
    public async Task Sas_HasOnlyDeclaredPermissions()
    {
        BlobContainerSasBroker broker = _account.Broker();
        string container = await _account.CreateContainerAsync();
        await _account.Service.GetBlobContainerClient(container).UploadBlobAsync("keep.txt", BinaryData.FromString("keep"));
        Lease<BlobContainerSasCredential> lease = await broker.IssueAsync(BrokerTestSupport.NewGrant(Scope(broker, container, "list", "read")), CancellationToken.None);

        BlobSignedIdentifier policy = Assert.Single(await _account.PoliciesAsync(container));
        Assert.Equal("rl", policy.AccessPolicy.Permissions);
        Assert.Equal(403, await BlobTestAccount.UploadStatusAsync(lease.Credential, "new.txt"));
        Assert.Equal(403, await BlobTestAccount.DeleteStatusAsync(lease.Credential, "keep.txt"));
    }

    [Fact]
    public async Task Revoke_DeniesSasWhileOtherGrantWorks()
    {
        BlobContainerSasBroker broker = _account.Broker();
        string container = await _account.CreateContainerAsync();
        GrantRequest revoked = BrokerTestSupport.NewGrant(Scope(broker, container, "list"));
        GrantRequest other = BrokerTestSupport.NewGrant(Scope(broker, container, "list"));
        Lease<BlobContainerSasCredential>[] leases = await Task.WhenAll(
            broker.IssueAsync(revoked, CancellationToken.None),
            broker.IssueAsync(other, CancellationToken.None));

        RevocationOutcome revocation = await broker.RevokeAsync(revoked, CancellationToken.None);
        RevocationOutcome proof = await broker.ProveRevokedAsync(leases[0], revocation, CancellationToken.None);
        output.WriteLine(proof.Evidence);

        Assert.True(proof.Proven, proof.Evidence);
        Assert.Null(proof.Error);
        Assert.Equal(proof.ProvenAt, proof.ValidUntil);
        Assert.Contains("returned 403", proof.Evidence);
        Assert.Equal(403, await BlobTestAccount.ListStatusAsync(leases[0].Credential));
        Assert.Equal(200, await BlobTestAccount.ListStatusAsync(leases[1].Credential));
    }

    [Fact]
    public async Task Revoke_NeverIssuedGrantSucceeds()
    {
        BlobContainerSasBroker broker = _account.Broker();
        string container = await _account.CreateContainerAsync();
        await _account.AddForeignPolicyAsync(container, "app-readers");
        GrantRequest grant = BrokerTestSupport.NewGrant(Scope(broker, container, "read"));

        RevocationOutcome first = await broker.RevokeAsync(grant, CancellationToken.None);
        RevocationOutcome second = await broker.RevokeAsync(grant, CancellationToken.None);

        Assert.NotNull(first.RevokedAt);
        Assert.Null(first.Error);
        Assert.NotNull(second.RevokedAt);
        Assert.Null(second.Error);
        Assert.Equal(broker.LatestPossibleExpiry(grant), first.ValidUntil);
        Assert.Equal("app-readers", Assert.Single(await _account.PoliciesAsync(container)).Id);
    }

    [Fact]
    public async Task Revoke_MissingContainerSucceeds()
    {
        BlobContainerSasBroker broker = _account.Broker();
        GrantRequest grant = BrokerTestSupport.NewGrant(Scope(broker, "nhi-test-" + Guid.NewGuid().ToString("N")[..12], "read"));

        RevocationOutcome outcome = await broker.RevokeAsync(grant, CancellationToken.None);

        Assert.NotNull(outcome.RevokedAt);
        Assert.Null(outcome.Error);
        Assert.Contains("does not exist", outcome.Evidence);
    }

    [Fact]
    public async Task Lifetime_IsClampedToBounds()
    {
        BlobContainerSasBroker broker = _account.Broker(options =>
        {
            options.MinLifetime = TimeSpan.FromMinutes(2);
            options.MaxLifetime = TimeSpan.FromMinutes(30);
        });
        string container = await _account.CreateContainerAsync();

        Lease<BlobContainerSasCredential> tooLong = await broker.IssueAsync(BrokerTestSupport.NewGrant(Scope(broker, container, "read"), TimeSpan.FromHours(10)), CancellationToken.None);
        Lease<BlobContainerSasCredential> tooShort = await broker.IssueAsync(BrokerTestSupport.NewGrant(Scope(broker, container, "read"), TimeSpan.FromSeconds(5)), CancellationToken.None);
        IReadOnlyList<BlobSignedIdentifier> policies = await _account.PoliciesAsync(container);
        DateTimeOffset? storedExpiry = policies.Single(policy => policy.Id == tooLong.Credential.PolicyId).AccessPolicy.PolicyExpiresOn;

        // The SAS must also end by RequestedAt + maximum, so a few milliseconds of issuing cut it to whole seconds below 30 minutes.
        Assert.InRange(tooLong.Grant.ExpiresAt - tooLong.Grant.IssuedAt, TimeSpan.FromMinutes(30) - TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(30));
        Assert.Equal(TimeSpan.FromMinutes(2), tooShort.Grant.ExpiresAt - tooShort.Grant.IssuedAt);
        Assert.NotNull(storedExpiry);
        Assert.InRange(storedExpiry!.Value - tooLong.Grant.ExpiresAt, TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1));
        Assert.Equal(new GrantLifetimeBounds(TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(30)), broker.Lifetime);
    }

    [Fact]
    public async Task Issue_WaitsForFreePolicySlot()
    {
        BlobContainerSasBroker broker = _account.Broker(options => options.MaxPoliciesPerContainer = 2);
        string container = await _account.CreateContainerAsync();
        BlobSignedIdentifier foreign = await _account.AddForeignPolicyAsync(container, "app-readers");
        GrantRequest first = BrokerTestSupport.NewGrant(Scope(broker, container, "list"));
        Lease<BlobContainerSasCredential> firstLease = await broker.IssueAsync(first, CancellationToken.None);

        Task<Lease<BlobContainerSasCredential>> waiting = broker.IssueAsync(BrokerTestSupport.NewGrant(Scope(broker, container, "list")), CancellationToken.None);
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        bool completedWhileFull = waiting.IsCompleted;
        await broker.RevokeAsync(first, CancellationToken.None);
        Lease<BlobContainerSasCredential> second = await waiting.WaitAsync(TimeSpan.FromSeconds(20));
        IReadOnlyList<BlobSignedIdentifier> policies = await _account.PoliciesAsync(container);
        BlobSignedIdentifier survivor = policies.Single(policy => policy.Id == "app-readers");

        Assert.False(completedWhileFull);
        Assert.Equal(2, policies.Count);
        Assert.Contains(policies, policy => policy.Id == second.Credential.PolicyId);
        Assert.Equal(foreign.AccessPolicy.Permissions, survivor.AccessPolicy.Permissions);
        Assert.Equal(foreign.AccessPolicy.PolicyStartsOn, survivor.AccessPolicy.PolicyStartsOn);
        Assert.Equal(foreign.AccessPolicy.PolicyExpiresOn, survivor.AccessPolicy.PolicyExpiresOn);
        Assert.Equal(200, await BlobTestAccount.ListStatusAsync(second.Credential));
        Assert.Equal(403, await BlobTestAccount.ListStatusAsync(firstLease.Credential));
        Assert.Contains(_account.Logs.Lines, line => line.Contains("waits up to", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Issue_TimesOutWhenNoSlotFrees()
    {
        BlobContainerSasBroker broker = _account.Broker(options =>
        {
            options.MaxPoliciesPerContainer = 1;
            options.PolicySlotTimeout = TimeSpan.FromSeconds(1);
        });
        string container = await _account.CreateContainerAsync();
        await _account.AddForeignPolicyAsync(container, "app-readers");
        var clock = Stopwatch.StartNew();

        var timeout = await Assert.ThrowsAsync<TimeoutException>(
            () => broker.IssueAsync(BrokerTestSupport.NewGrant(Scope(broker, container, "read")), CancellationToken.None));

        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"Failed after {clock.Elapsed}, before the slot timeout.");
        Assert.Contains($"Container '{container}'", timeout.Message);
        Assert.Contains("the maximum of 1", timeout.Message);
        Assert.Equal("app-readers", Assert.Single(await _account.PoliciesAsync(container)).Id);
    }

    [Fact]
    public async Task ConcurrentIssues_KeepEveryPolicy()
    {
        // Separate broker instances share no in-process lock, as separate hosts would not; only the lease serializes them.
        BlobContainerSasBroker[] brokers = [_account.Broker(), _account.Broker(), _account.Broker(), _account.Broker()];
        string container = await _account.CreateContainerAsync();
        await _account.AddForeignPolicyAsync(container, "app-readers");

        Lease<BlobContainerSasCredential>[] leases = await Task.WhenAll(
            brokers.Select(broker => broker.IssueAsync(BrokerTestSupport.NewGrant(Scope(broker, container, "list")), CancellationToken.None)));
        string[] ids = (await _account.PoliciesAsync(container)).Select(policy => policy.Id).Order().ToArray();

        Assert.Equal(leases.Select(lease => lease.Credential.PolicyId).Append("app-readers").Order().ToArray(), ids);
    }

    [Fact]
    public async Task Reissue_NeverRevivesOldSas()
    {
        BlobContainerSasBroker broker = _account.Broker();
        string container = await _account.CreateContainerAsync();
        GrantRequest grant = BrokerTestSupport.NewGrant(Scope(broker, container, "list"));
        Lease<BlobContainerSasCredential> old = await broker.IssueAsync(grant, CancellationToken.None);
        await broker.ProveRevokedAsync(old, await broker.RevokeAsync(grant, CancellationToken.None), CancellationToken.None);

        Lease<BlobContainerSasCredential> renewed = await broker.IssueAsync(grant, CancellationToken.None);

        Assert.NotEqual(old.Credential.PolicyId, renewed.Credential.PolicyId);
        Assert.Equal(403, await BlobTestAccount.ListStatusAsync(old.Credential));
        Assert.Equal(200, await BlobTestAccount.ListStatusAsync(renewed.Credential));
    }

    [Fact]
    public async Task Secrets_StayOutOfLogsAndRecords()
    {
        BlobContainerSasBroker broker = _account.Broker();
        string container = await _account.CreateContainerAsync();
        GrantRequest grant = BrokerTestSupport.NewGrant(Scope(broker, container, "read", "list"));
        Lease<BlobContainerSasCredential> lease = await broker.IssueAsync(grant, CancellationToken.None);
        RevocationOutcome revocation = await broker.RevokeAsync(grant, CancellationToken.None);
        RevocationOutcome proof = await broker.ProveRevokedAsync(lease, revocation, CancellationToken.None);
        var failure = await Assert.ThrowsAsync<InvalidOperationException>(
            () => broker.IssueAsync(BrokerTestSupport.NewGrant(Scope(broker, "nhi-test-missing-" + Guid.NewGuid().ToString("N")[..8], "read")), CancellationToken.None));

        string signature = System.Web.HttpUtility.ParseQueryString(lease.Credential.SasToken)["sig"]!;
        string accountKey = _account.ConnectionString.Split(';').Single(part => part.StartsWith("AccountKey=", StringComparison.Ordinal))["AccountKey=".Length..];
        string[] texts = [BrokerTestSupport.Json(lease.Grant), BrokerTestSupport.Json(revocation), BrokerTestSupport.Json(proof), failure.ToString(), lease.ToString(), lease.Credential.ToString()];

        Assert.Empty(BrokerTestSupport.LinesContaining(_account.Logs, signature));
        Assert.Empty(BrokerTestSupport.LinesContaining(_account.Logs, lease.Credential.SasToken));
        Assert.Empty(BrokerTestSupport.LinesContaining(_account.Logs, accountKey));
        Assert.DoesNotContain(texts, text => text.Contains(signature, StringComparison.Ordinal));
        Assert.DoesNotContain(texts, text => text.Contains(accountKey, StringComparison.Ordinal));
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(lease.Credential));
    }

    [Fact]
    public void ValidateScope_RejectsWhatItCannotExpress()
    {
        BlobContainerSasBroker broker = _account.Broker();
        string resource = broker.ContainerResource("nhi-test-scope");

        broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("azure", resource, ["read", "list"]));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("aws", resource, ["read"])));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("azure", resource, ["racwdl"])));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("azure", resource, [])));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("azure", resource + "/blob.txt", ["read"])));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("azure", resource + "?comp=list", ["read"])));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("azure", "https://other.blob.core.windows.net/nhi-test-scope", ["read"])));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("azure", broker.ContainerResource("nhi-sas-locks"), ["read"])));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("azure", broker.ContainerResource("Bad--Name"), ["read"])));
        Assert.Throws<ScopeNotSupportedException>(() => broker.ValidateScope(Nhi.Serverless.Grants.Scope.Create("azure", resource, ["read"], ["table:x.y"])));
    }

    private static Scope Scope(BlobContainerSasBroker broker, string container, params string[] permissions) =>
        Nhi.Serverless.Grants.Scope.Create("azure", broker.ContainerResource(container), permissions);
}
