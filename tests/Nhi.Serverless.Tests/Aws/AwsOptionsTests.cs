using Microsoft.Extensions.Options;
using Nhi.Serverless.Aws;

namespace Nhi.Serverless.Tests.Aws;

public sealed class AwsOptionsTests
{
    private static AwsOptions Valid() => new()
    {
        Region = "eu-west-1",
        RoleName = "nhi-remediation",
        RoleArn = "arn:aws:iam::123456789012:role/nhi-remediation",
    };

    [Fact]
    public void ValidOptions_HaveNoErrors()
    {
        Assert.Empty(Valid().Validate());
    }

    [Fact]
    public void StsEndpoint_DefaultsToRegional()
    {
        Assert.Equal(new Uri("https://sts.eu-west-1.amazonaws.com"), Valid().ResolveStsEndpoint());
    }

    [Fact]
    public void StsEndpoint_ChinaUsesChinaSuffix()
    {
        AwsOptions options = Valid();
        options.Partition = "aws-cn";
        options.Region = "cn-north-1";
        options.RoleArn = "arn:aws-cn:iam::123456789012:role/nhi-remediation";

        Assert.Equal(new Uri("https://sts.cn-north-1.amazonaws.com.cn"), options.ResolveStsEndpoint());
    }

    [Fact]
    public void IamEndpoint_DefaultsToGlobal()
    {
        AwsOptions options = Valid();

        Assert.Equal(new Uri("https://iam.amazonaws.com"), options.ResolveIamEndpoint());
        Assert.Equal("us-east-1", options.ResolveIamSigningRegion());
    }

    [Fact]
    public void RgwRoleArnWithoutAccount_IsAccepted()
    {
        AwsOptions options = Valid();
        options.RoleArn = "arn:aws:iam:::role/nhi-remediation";

        Assert.Empty(options.Validate());
    }

    [Fact]
    public void MissingRegion_NamesSettingAndExpectedValue()
    {
        AwsOptions options = Valid();
        options.Region = "";

        string error = Assert.Single(options.Validate());
        Assert.Contains("Aws:Region", error);
        Assert.Contains("us-east-1", error);
    }

    [Fact]
    public void RoleArnForOtherRole_IsRejected()
    {
        AwsOptions options = Valid();
        options.RoleArn = "arn:aws:iam::123456789012:role/other";

        string error = Assert.Single(options.Validate());
        Assert.Contains("Aws:RoleArn", error);
        Assert.Contains("Aws:RoleName", error);
    }

    [Fact]
    public void PlainHttpOffLoopback_IsRejected()
    {
        AwsOptions options = Valid();
        options.S3Endpoint = "http://s3.example.com";

        string error = Assert.Single(options.Validate());
        Assert.Contains("Aws:S3Endpoint", error);
        Assert.Contains("https", error);
    }

    [Fact]
    public void KeyIdWithoutSecret_IsRejected()
    {
        AwsOptions options = Valid();
        options.AccessKeyId = "AKIDEXAMPLE";

        string error = Assert.Single(options.Validate());
        Assert.Contains("Aws:SecretAccessKey", error);
    }

    [Fact]
    public void SessionBelowMinimum_IsRejected()
    {
        AwsOptions options = Valid();
        options.SessionDurationSeconds = 600;

        string error = Assert.Single(options.Validate());
        Assert.Contains("Aws:SessionDurationSeconds", error);
        Assert.Contains("900 to 3600", error);
    }

    [Fact]
    public void ThrowIfInvalid_ListsEveryError()
    {
        var options = new AwsOptions();

        var exception = Assert.Throws<OptionsValidationException>(options.ThrowIfInvalid);

        Assert.Contains(exception.Failures, failure => failure.Contains("Aws:Region", StringComparison.Ordinal));
        Assert.Contains(exception.Failures, failure => failure.Contains("Aws:RoleName", StringComparison.Ordinal));
        Assert.Contains(exception.Failures, failure => failure.Contains("Aws:RoleArn", StringComparison.Ordinal));
    }
}
