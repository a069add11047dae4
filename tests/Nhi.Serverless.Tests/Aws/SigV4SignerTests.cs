using System.Net.Http.Headers;
using System.Text;
using Amazon.Runtime;
using Nhi.Serverless.Aws.Signing;

namespace Nhi.Serverless.Tests.Aws;

public sealed class SigV4SignerTests
{
    // The example secret keys that AWS publishes with its worked examples; they are not real credentials.
    private const string S3ExampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    private const string TestSuiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    // "Example: GET Object" in "Signature Calculations for the Authorization Header: Transferring Payload in a Single
    // Chunk", Amazon S3 API Reference (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
    // The expected signature was recomputed with Python's hmac and hashlib modules before it was written here.
    [Fact]
    public void S3GetObjectExample_MatchesDocumentedSignature()
    {
        var signer = new SigV4Signer("s3", "us-east-1");
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Host", "examplebucket.s3.amazonaws.com"),
            new("Range", "bytes=0-9"),
            new("x-amz-content-sha256", SigV4Signer.EmptyPayloadHash),
            new("x-amz-date", "20130524T000000Z"),
        };

        string authorization = signer.ComputeAuthorization(
            "GET",
            new Uri("https://examplebucket.s3.amazonaws.com/test.txt"),
            headers,
            SigV4Signer.EmptyPayloadHash,
            "AKIAIOSFODNN7EXAMPLE",
            S3ExampleSecret,
            new DateTimeOffset(2013, 5, 24, 0, 0, 0, TimeSpan.Zero));

        Assert.Equal(
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            + "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            + "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            authorization);
    }

    // "get-vanilla-query-order-key-case" of the Signature Version 4 test suite
    // (https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html): query parameters out of order.
    [Fact]
    public void TestSuiteQueryOrder_MatchesDocumentedSignature()
    {
        var signer = new SigV4Signer("service", "us-east-1");
        var headers = new List<KeyValuePair<string, string>>
        {
            new("Host", "example.amazonaws.com"),
            new("X-Amz-Date", "20150830T123600Z"),
        };

        string authorization = signer.ComputeAuthorization(
            "GET",
            new Uri("https://example.amazonaws.com/?Param2=value2&Param1=value1"),
            headers,
            SigV4Signer.EmptyPayloadHash,
            "AKIDEXAMPLE",
            TestSuiteSecret,
            new DateTimeOffset(2015, 8, 30, 12, 36, 0, TimeSpan.Zero));

        Assert.EndsWith("Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500", authorization);
    }

    // A form POST with a session token, as IamQueryClient sends it. The expected value was computed by botocore 1.43's
    // SigV4Auth for the same request, an implementation independent of this one.
    [Fact]
    public void FormPostWithSessionToken_MatchesBotocore()
    {
        var signer = new SigV4Signer("iam", "us-east-1");
        byte[] body = Encoding.UTF8.GetBytes("Action=GetRole&Version=2010-05-08&RoleName=nhi-remediation");
        using var request = new HttpRequestMessage(HttpMethod.Post, "http://127.0.0.1:7480/") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/x-www-form-urlencoded; charset=utf-8");
        var credentials = new ImmutableCredentials("ASIAEXAMPLEKEYID0001", "exampleSecretKey/with+chars=", "exampleSessionToken//+==");

        signer.Sign(request, body, credentials, new DateTimeOffset(2026, 12, 4, 20, 31, 10, TimeSpan.Zero));

        Assert.Equal("20261204T203110Z", request.Headers.GetValues("x-amz-date").Single());
        Assert.Equal("exampleSessionToken//+==", request.Headers.GetValues("x-amz-security-token").Single());
        Assert.Equal(
            "AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEKEYID0001/20261204/us-east-1/iam/aws4_request, "
            + "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, "
            + "Signature=110bf31e7234b250139b433830a2c4d5819269e4fd3d13d7a87f9d6f05a89f2a",
            request.Headers.GetValues("Authorization").Single());
    }

    [Fact]
    public void S3Request_CarriesPayloadHashHeader()
    {
        var signer = new SigV4Signer("s3", "us-east-1");
        using var request = new HttpRequestMessage(HttpMethod.Get, "http://127.0.0.1:7480/bucket?publicAccessBlock");

        signer.Sign(request, [], new ImmutableCredentials("AKID", "secret", null), DateTimeOffset.UnixEpoch);

        Assert.Equal(SigV4Signer.EmptyPayloadHash, request.Headers.GetValues("x-amz-content-sha256").Single());
        Assert.False(request.Headers.Contains("x-amz-security-token"));
        Assert.Contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,", request.Headers.GetValues("Authorization").Single());
    }

    [Theory]
    [InlineData("abc-_.~XYZ019", "abc-_.~XYZ019")]
    [InlineData("a b+c/d=e*", "a%20b%2Bc%2Fd%3De%2A")]
    [InlineData("é", "%C3%A9")]
    public void UriEncode_KeepsOnlyUnreservedCharacters(string value, string expected)
    {
        Assert.Equal(expected, SigV4Signer.UriEncode(value));
    }
}
