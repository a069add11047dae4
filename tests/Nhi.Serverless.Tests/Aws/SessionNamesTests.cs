using System.Text.RegularExpressions;
using Nhi.Serverless.Aws.Sts;

namespace Nhi.Serverless.Tests.Aws;

public sealed partial class SessionNamesTests
{
    [Fact]
    public void Guid_BecomesItsHexDigits()
    {
        Assert.Equal("nhi-0f8fad5bd9cb469fa16570867728950e", SessionNames.For("0f8fad5b-d9cb-469f-a165-70867728950e"));
    }

    [Fact]
    public void HexId_IsKeptInLowercase()
    {
        Assert.Equal("nhi-abc123", SessionNames.For("ABC123"));
    }

    [Fact]
    public void RunGrantId_KeepsRunPrefix()
    {
        string grantId = Nhi.Serverless.Runs.RunIds.GrantIdFor("run-e92501f0c88d48ad0012a0ea664eb150", Guid.Parse("fdeb2d6e-c034-521b-9712-17c1f32583ec"));

        Assert.Equal("nhi-e92501f0c88d48ad-fdeb2d6ec034521b971217c1f32583ec", SessionNames.For(grantId));
        Assert.Matches(SessionNamePattern(), SessionNames.For(grantId));
    }

    [Theory]
    [InlineData("run-1/attempt 2")]
    [InlineData("-abcd")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void OtherId_IsHashedWithinLimits(string grantId)
    {
        string name = SessionNames.For(grantId);

        Assert.Matches(SessionNamePattern(), name);
        Assert.Equal(64, name.Length);
    }

    [Fact]
    public void HyphenatedId_DiffersFromJoinedId()
    {
        Assert.NotEqual(SessionNames.For("abcd"), SessionNames.For("ab-cd"));
    }

    // STS RoleSessionName: 2 to 64 characters of [\w+=,.@-].
    [GeneratedRegex("^[\\w+=,.@-]{2,64}\\z")]
    private static partial Regex SessionNamePattern();
}
