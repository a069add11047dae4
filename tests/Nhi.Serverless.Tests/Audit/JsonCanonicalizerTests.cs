using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// RFC 8785 vectors worked out by hand from the RFC's rules: members sorted by UTF-16 code units,
/// only the mandatory string escapes, and ECMAScript number formatting.
/// </summary>
public sealed class JsonCanonicalizerTests
{
    [Fact]
    public void SortsMembersAndDropsWhitespace()
    {
        string canonical = Canonical("""{ "b" : 2, "a" : 1, "c" : { "z" : true, "y" : null }, "d" : [ 3, 1, 2 ] }""");

        Assert.Equal("""{"a":1,"b":2,"c":{"y":null,"z":true},"d":[3,1,2]}""", canonical);
    }

    [Fact]
    public void SortsNamesByUtf16CodeUnits()
    {
        // U+1F600 is the surrogate pair D83D DE00, which sorts before U+FB33 by code unit although
        // it comes after it by code point.
        const string input = """{"\ufb33":7,"\ud83d\ude00":6,"\u20ac":5,"\u00f6":4,"\u0080":3,"1":2,"\r":1}""";

        string canonical = Canonical(input);

        Assert.Equal("{\"\\r\":1,\"1\":2,\"\u0080\":3,\"\u00f6\":4,\"\u20ac\":5,\"\ud83d\ude00\":6,\"\ufb33\":7}", canonical);
    }

    [Fact]
    public void SortsNodeNamesLikeElementNames()
    {
        var node = new JsonObject
        {
            ["\ufb33"] = 7,
            ["\ud83d\ude00"] = 6,
            ["\u20ac"] = 5,
            ["a"] = 1,
        };

        string canonical = JsonCanonicalizer.CanonicalizeToString(node);

        Assert.Equal("{\"a\":1,\"\u20ac\":5,\"\ud83d\ude00\":6,\"\ufb33\":7}", canonical);
    }

    [Fact]
    public void EscapesOnlyMandatoryCharacters()
    {
        const string input = "\"\\u0000\\u0008\\u0009\\u000a\\u000c\\u000d\\u001f\\u0022\\u005c\\u002f\\u007f\\u00e9\\u2028\"";

        string canonical = Canonical(input);

        Assert.Equal("\"\\u0000\\b\\t\\n\\f\\r\\u001f\\\"\\\\/\u007f\u00e9\u2028\"", canonical);
    }

    [Fact]
    public void WritesNonAsciiAsUtf8()
    {
        byte[] canonical = JsonCanonicalizer.Canonicalize(JsonValue.Create("\u00e9\u20ac\ud83d\ude00"));

        Assert.Equal(
            [0x22, 0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0x22],
            canonical);
    }

    [Theory]
    [InlineData(0.0, "0")]
    [InlineData(1.0, "1")]
    [InlineData(-1.0, "-1")]
    [InlineData(1.5, "1.5")]
    [InlineData(0.1, "0.1")]
    [InlineData(0.1 + 0.2, "0.30000000000000004")]
    [InlineData(4.35, "4.35")]
    [InlineData(100.0, "100")]
    [InlineData(1e20, "100000000000000000000")]
    [InlineData(123e18, "123000000000000000000")]
    [InlineData(123456789012345680000.0, "123456789012345680000")]
    [InlineData(1e21, "1e+21")]
    [InlineData(1.2e21, "1.2e+21")]
    [InlineData(1e22, "1e+22")]
    [InlineData(0.000001, "0.000001")]
    [InlineData(0.0000012345, "0.0000012345")]
    [InlineData(1e-7, "1e-7")]
    [InlineData(-1e-7, "-1e-7")]
    [InlineData(1.5e-7, "1.5e-7")]
    [InlineData(5e-324, "5e-324")]
    [InlineData(1.7976931348623157e308, "1.7976931348623157e+308")]
    [InlineData(1740824100123.0, "1740824100123")]
    public void FormatsNumbersLikeEcmaScript(double value, string expected)
    {
        Assert.Equal(expected, JsonCanonicalizer.FormatNumber(value));
    }

    [Fact]
    public void FormatsNegativeZeroAsZero()
    {
        Assert.Equal("0", JsonCanonicalizer.FormatNumber(-0.0));
    }

    [Theory]
    [InlineData("1.0", "1")]
    [InlineData("1E2", "100")]
    [InlineData("-0", "0")]
    [InlineData("-0.0e5", "0")]
    [InlineData("0.00001", "0.00001")]
    [InlineData("1e-7", "1e-7")]
    [InlineData("9007199254740993", "9007199254740992")]
    [InlineData("12.340000", "12.34")]
    public void NormalizesNumberText(string input, string expected)
    {
        Assert.Equal(expected, Canonical(input));
    }

    [Fact]
    public void WritesClrNumbersOfNodes()
    {
        var node = new JsonArray(JsonValue.Create(42), JsonValue.Create(1740824100123L), JsonValue.Create(1.50m), JsonValue.Create(2.5f));

        Assert.Equal("[42,1740824100123,1.5,2.5]", JsonCanonicalizer.CanonicalizeToString(node));
    }

    [Fact]
    public void WritesLiterals()
    {
        Assert.Equal("[true,false,null]", Canonical("[ true , false , null ]"));
    }

    [Fact]
    public void NodeAndElementGiveSameBytes()
    {
        const string input = """{"z":[1.0,"\u00e9",{"b":false,"a":1e-7}],"a":"x"}""";
        using JsonDocument document = JsonDocument.Parse(input);

        byte[] fromElement = JsonCanonicalizer.Canonicalize(document.RootElement);
        byte[] fromNode = JsonCanonicalizer.Canonicalize(JsonNode.Parse(input));

        Assert.Equal(fromElement, fromNode);
    }

    [Fact]
    public void RejectsNaN()
    {
        var error = Assert.Throws<JsonCanonicalizationException>(() => JsonCanonicalizer.Canonicalize(new JsonObject { ["n"] = double.NaN }));

        Assert.Equal("$[\"n\"]", error.Path);
    }

    [Fact]
    public void RejectsInfinity()
    {
        Assert.Throws<JsonCanonicalizationException>(() => JsonCanonicalizer.Canonicalize(new JsonArray(JsonValue.Create(double.PositiveInfinity))));
    }

    [Fact]
    public void RejectsNumberOutsideDoubleRange()
    {
        var error = Assert.Throws<JsonCanonicalizationException>(() => Canonical("""{"a":[1e400]}"""));

        Assert.Equal("$[\"a\"][0]", error.Path);
    }

    [Fact]
    public void RejectsDuplicateNames()
    {
        var error = Assert.Throws<JsonCanonicalizationException>(() => Canonical("""{"a":1,"b":2,"a":3}"""));

        Assert.Contains("more than once", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsLoneSurrogateInNode()
    {
        Assert.Throws<JsonCanonicalizationException>(() => JsonCanonicalizer.Canonicalize(JsonValue.Create("a\ud800b")));
    }

    [Fact]
    public void RejectsLoneSurrogateInElement()
    {
        Assert.Throws<JsonCanonicalizationException>(() => Canonical("\"\\udc00\""));
    }

    [Fact]
    public void RejectsDeepNesting()
    {
        string deep = new string('[', JsonCanonicalizer.MaxDepth + 1) + new string(']', JsonCanonicalizer.MaxDepth + 1);

        Assert.Throws<JsonCanonicalizationException>(() => JsonCanonicalizer.Canonicalize(JsonNode.Parse(deep, documentOptions: new JsonDocumentOptions { MaxDepth = 512 })));
    }

    private static string Canonical(string json)
    {
        using JsonDocument document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowDuplicateProperties = true });
        return Encoding.UTF8.GetString(JsonCanonicalizer.Canonicalize(document.RootElement));
    }
}
