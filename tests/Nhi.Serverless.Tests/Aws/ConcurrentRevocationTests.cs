using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Aws;

/// <summary>
/// Revocations that overlap on one role, from two broker instances that stand for two host processes.
/// Ceph RGW loses overlapping role policy writes, so this checks that every revocation still ends proven.
/// </summary>
public sealed class ConcurrentRevocationTests : IDisposable
{
    private readonly AwsTestStack _first = new();
    private readonly AwsTestStack _second = new();

    [Fact]
    public async Task OverlappingRevocationsAllProven()
    {
        string bucket = await _first.CreateBucketAsync();
        try
        {
            StsGrantBroker[] brokers = [_first.Get<StsGrantBroker>(), _second.Get<StsGrantBroker>()];
            Scope scope = _first.PlaybookScope(bucket);
            GrantRequest[] grants = Enumerable.Range(0, 12).Select(_ => _first.NewGrant(scope)).ToArray();
            Lease<AwsSessionCredential>[] leases = await Task.WhenAll(
                grants.Select((grant, index) => brokers[index % 2].IssueAsync(grant, CancellationToken.None)));

            RevocationOutcome[] proofs = await Task.WhenAll(grants.Select(async (grant, index) =>
            {
                StsGrantBroker broker = brokers[index % 2];
                RevocationOutcome revocation = await broker.RevokeAsync(grant, pruneExpired: false, CancellationToken.None);
                return await broker.ProveRevokedAsync(leases[index], revocation, new ApiCallLog(), CancellationToken.None);
            }));

            Assert.All(proofs, proof => Assert.True(proof.Proven, proof.Evidence));
        }
        finally
        {
            await _first.DeleteBucketAsync(bucket);
        }
    }

    public void Dispose()
    {
        _first.Dispose();
        _second.Dispose();
    }
}
