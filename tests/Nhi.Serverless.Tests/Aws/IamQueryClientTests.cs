using System.Net;
using Nhi.Serverless.Aws.Iam;

namespace Nhi.Serverless.Tests.Aws;

// Runs against the IAM API of Ceph RGW from infra/local/stack.sh, with the service's own credentials.
public sealed class IamQueryClientTests : IDisposable
{
    private readonly AwsTestStack _stack = new();

    [Fact]
    public async Task GetRole_ReturnsConfiguredRole()
    {
        IamRole role = await _stack.Iam.GetRoleAsync(_stack.Options.RoleName, CancellationToken.None);

        Assert.Equal(_stack.Options.RoleId, role.RoleId);
        Assert.Equal(_stack.Options.RoleArn, role.Arn);
    }

    [Fact]
    public async Task RolePolicy_RoundTrips()
    {
        string roleName = _stack.Options.RoleName;
        string policyName = "nhi-test-" + Guid.NewGuid().ToString("N")[..12];
        const string document = """{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"arn:aws:s3:::nhi-test-none/*"}]}""";

        await _stack.Iam.PutRolePolicyAsync(roleName, policyName, document, CancellationToken.None);
        string readBack = await _stack.Iam.GetRolePolicyAsync(roleName, policyName, CancellationToken.None);
        IReadOnlyList<string> listed = await _stack.Iam.ListRolePoliciesAsync(roleName, CancellationToken.None);
        await _stack.Iam.DeleteRolePolicyAsync(roleName, policyName, CancellationToken.None);
        IReadOnlyList<string> afterDelete = await _stack.Iam.ListRolePoliciesAsync(roleName, CancellationToken.None);

        Assert.Equal(document, readBack);
        Assert.Contains(policyName, listed);
        Assert.DoesNotContain(policyName, afterDelete);
    }

    [Fact]
    public async Task MissingPolicy_IsNoSuchEntity()
    {
        var exception = await Assert.ThrowsAsync<IamServiceException>(
            () => _stack.Iam.GetRolePolicyAsync(_stack.Options.RoleName, "nhi-test-missing", CancellationToken.None));

        Assert.True(exception.IsNoSuchEntity, exception.Message);
        Assert.Equal(HttpStatusCode.NotFound, exception.StatusCode);
        Assert.Equal("GetRolePolicy", exception.Action);
    }

    [Fact]
    public async Task DeleteMissingPolicy_IsNoSuchEntity()
    {
        var exception = await Assert.ThrowsAsync<IamServiceException>(
            () => _stack.Iam.DeleteRolePolicyAsync(_stack.Options.RoleName, "nhi-test-missing", CancellationToken.None));

        Assert.True(exception.IsNoSuchEntity, exception.Message);
    }

    [Fact]
    public async Task ErrorMessage_EchoesNoRequestBody()
    {
        const string marker = "nhi-test-marker-in-body";
        string document = $$"""{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:GetObject","Resource":"{{marker}}"""; // not valid JSON

        var exception = await Assert.ThrowsAsync<IamServiceException>(
            () => _stack.Iam.PutRolePolicyAsync(_stack.Options.RoleName, "nhi-test-malformed", document, CancellationToken.None));

        Assert.DoesNotContain(marker, exception.Message);
        Assert.DoesNotContain(_stack.Options.SecretAccessKey!, exception.ToString());
    }

    public void Dispose() => _stack.Dispose();
}
