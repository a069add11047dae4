using System.Net;
using System.Xml;
using System.Xml.Linq;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Nhi.Serverless.Aws.Signing;

namespace Nhi.Serverless.Aws.S3;

/// <summary>
/// Reads a bucket's public access block with a SigV4-signed GET /{bucket}?publicAccessBlock instead of the SDK.
/// </summary>
/// <remarks>
/// Measured with AWSSDK.S3 4.1 against Ceph RGW 16.2: the SDK's GetPublicAccessBlock returns a null configuration,
/// because RGW names the XML root differently from AWS's PublicAccessBlockConfiguration. This reader accepts any
/// root name and reads the four flags from its children. When none was ever set, RGW returns all four flags false
/// instead of 404 NoSuchPublicAccessBlockConfiguration, and both read as "not blocked" here.
/// </remarks>
internal sealed class PublicAccessBlockReader(HttpClient http, S3ClientFactory endpoints, ImmutableCredentials credentials, TimeProvider time)
{
    private readonly SigV4Signer _signer = new("s3", endpoints.SigningRegion);

    /// <summary>Returns the configuration and the HTTP status; the configuration is null when the bucket has none (404).</summary>
    /// <exception cref="AmazonS3Exception">Any other error response, such as 403 AccessDenied or 404 NoSuchBucket.</exception>
    public async Task<(PublicAccessBlockConfiguration? Configuration, HttpStatusCode Status)> ReadAsync(string bucket, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, endpoints.BucketUri(bucket, "publicAccessBlock"));
        _signer.Sign(request, [], credentials, time.GetUtcNow());

        using HttpResponseMessage response = await http.SendAsync(request, cancellationToken);
        string body = await response.Content.ReadAsStringAsync(cancellationToken);
        XElement? root = TryParse(body);

        if (response.IsSuccessStatusCode)
        {
            if (root is null)
            {
                throw new AmazonS3Exception(
                    $"GetPublicAccessBlock on {bucket} returned HTTP {(int)response.StatusCode} without an XML body.",
                    ErrorType.Unknown, "MalformedResponse", null, response.StatusCode);
            }

            return (ParseConfiguration(root), response.StatusCode);
        }

        string code = ChildValue(root, "Code") ?? "Unknown";
        if (response.StatusCode == HttpStatusCode.NotFound && code == "NoSuchPublicAccessBlockConfiguration")
        {
            return (null, response.StatusCode);
        }

        string message = ChildValue(root, "Message") ?? $"GetPublicAccessBlock on {bucket} failed";
        var errorType = (int)response.StatusCode >= 500 ? ErrorType.Receiver : ErrorType.Sender;
        throw new AmazonS3Exception(message, errorType, code, ChildValue(root, "RequestId"), response.StatusCode);
    }

    private static PublicAccessBlockConfiguration ParseConfiguration(XElement root) => new()
    {
        BlockPublicAcls = Flag(root, "BlockPublicAcls"),
        IgnorePublicAcls = Flag(root, "IgnorePublicAcls"),
        BlockPublicPolicy = Flag(root, "BlockPublicPolicy"),
        RestrictPublicBuckets = Flag(root, "RestrictPublicBuckets"),
    };

    // A missing flag reads as false, which is what S3 applies when a flag is not set.
    private static bool Flag(XElement root, string name) =>
        string.Equals(ChildValue(root, name)?.Trim(), "true", StringComparison.OrdinalIgnoreCase);

    private static string? ChildValue(XElement? parent, string localName) =>
        parent?.Elements().FirstOrDefault(element => element.Name.LocalName == localName)?.Value;

    private static XElement? TryParse(string body)
    {
        if (string.IsNullOrWhiteSpace(body))
        {
            return null;
        }

        try
        {
            return XDocument.Parse(body).Root;
        }
        catch (XmlException)
        {
            return null;
        }
    }
}
