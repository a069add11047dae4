using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Nhi.Serverless.Lambdas.Container;

namespace Nhi.Serverless.Tests.Lambda;

/// <summary>Validation of the Lambda settings, which a function checks when its container starts.</summary>
public sealed class LambdaOptionsTests
{
    [Fact]
    public void UnsetKeysKeepDefaults()
    {
        LambdaOptions options = LambdaOptions.Read(Configuration([]));

        Assert.Equal(LambdaOptions.Default, options);
    }

    [Fact]
    public void LeaseShorterThanWaitIsRejected()
    {
        OptionsValidationException invalid = Assert.Throws<OptionsValidationException>(() => LambdaOptions.Read(Configuration(new()
        {
            ["Lambda:RunTimeoutSeconds"] = "300",
            ["Lambda:LeaseSeconds"] = "200",
        })));

        Assert.Contains("Lambda:LeaseSeconds", invalid.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("ten")]
    public void NonPositiveNumberIsRejected(string value)
    {
        OptionsValidationException invalid = Assert.Throws<OptionsValidationException>(
            () => LambdaOptions.Read(Configuration(new() { ["Lambda:MaxConcurrentRecords"] = value })));

        Assert.Contains($"Lambda:MaxConcurrentRecords '{value}'", invalid.Message, StringComparison.Ordinal);
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();
}
