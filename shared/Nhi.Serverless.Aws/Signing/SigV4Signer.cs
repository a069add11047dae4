using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Amazon.Runtime;

namespace Nhi.Serverless.Aws.Signing;

/// <summary>
/// Signs HTTP requests with AWS Signature Version 4 in the Authorization header, for the calls the SDK cannot
/// make here: the IAM query API (no IAM client package is available) and S3 GetPublicAccessBlock against RGW.
/// </summary>
/// <remarks>
/// Implements "Create a signed AWS API request" (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
/// Path segments are encoded once for S3 and twice for every other service, as that page requires.
/// </remarks>
public sealed class SigV4Signer
{
    public const string Algorithm = "AWS4-HMAC-SHA256";

    /// <summary>The lowercase hex SHA-256 of an empty payload.</summary>
    public const string EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    public SigV4Signer(string service, string region)
    {
        ArgumentException.ThrowIfNullOrEmpty(service);
        ArgumentException.ThrowIfNullOrEmpty(region);
        Service = service;
        Region = region;
    }

    /// <summary>The signing name of the service, such as "iam" or "s3".</summary>
    public string Service { get; }

    /// <summary>The region in the credential scope, such as "us-east-1".</summary>
    public string Region { get; }

    /// <summary>
    /// Adds X-Amz-Date, X-Amz-Security-Token (when the credentials have a token), X-Amz-Content-SHA256 (for S3)
    /// and Authorization to the request. Signs host, content-type and every x-amz-* header.
    /// </summary>
    public void Sign(HttpRequestMessage request, ReadOnlySpan<byte> payload, ImmutableCredentials credentials, DateTimeOffset signingTime)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(credentials);
        Uri uri = request.RequestUri ?? throw new ArgumentException("The request has no URI.", nameof(request));
        if (!uri.IsAbsoluteUri)
        {
            throw new ArgumentException("The request URI must be absolute.", nameof(request));
        }

        string payloadHash = HexSha256(payload);
        SetHeader(request, "x-amz-date", FormatAmzDate(signingTime));
        if (!string.IsNullOrEmpty(credentials.Token))
        {
            SetHeader(request, "x-amz-security-token", credentials.Token);
        }

        if (Service == "s3")
        {
            SetHeader(request, "x-amz-content-sha256", payloadHash);
        }

        var headers = new List<KeyValuePair<string, string>> { new("host", HostHeader(uri)) };
        if (request.Content?.Headers.ContentType is { } contentType)
        {
            headers.Add(new("content-type", contentType.ToString()));
        }

        foreach (var header in request.Headers)
        {
            if (header.Key.StartsWith("x-amz-", StringComparison.OrdinalIgnoreCase))
            {
                headers.Add(new(header.Key, string.Join(",", header.Value)));
            }
        }

        string authorization = ComputeAuthorization(
            request.Method.Method, uri, headers, payloadHash, credentials.AccessKey, credentials.SecretKey, signingTime);
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
    }

    /// <summary>Returns the Authorization header value for a request whose signed headers, including host and x-amz-date, are given.</summary>
    public string ComputeAuthorization(
        string method,
        Uri uri,
        IReadOnlyList<KeyValuePair<string, string>> signedHeaders,
        string payloadHash,
        string accessKeyId,
        string secretAccessKey,
        DateTimeOffset signingTime)
    {
        ArgumentNullException.ThrowIfNull(uri);
        ArgumentNullException.ThrowIfNull(signedHeaders);

        string date = signingTime.UtcDateTime.ToString("yyyyMMdd", CultureInfo.InvariantCulture);
        string credentialScope = $"{date}/{Region}/{Service}/aws4_request";

        var canonicalHeaders = signedHeaders
            .GroupBy(header => header.Key.ToLowerInvariant(), StringComparer.Ordinal)
            .Select(group => (Name: group.Key, Value: string.Join(",", group.Select(header => CanonicalHeaderValue(header.Value)))))
            .OrderBy(header => header.Name, StringComparer.Ordinal)
            .ToArray();
        string signedHeaderNames = string.Join(";", canonicalHeaders.Select(header => header.Name));

        var canonicalRequest = new StringBuilder()
            .Append(method).Append('\n')
            .Append(CanonicalPath(uri)).Append('\n')
            .Append(CanonicalQuery(uri)).Append('\n');
        foreach (var (name, value) in canonicalHeaders)
        {
            canonicalRequest.Append(name).Append(':').Append(value).Append('\n');
        }

        canonicalRequest.Append('\n').Append(signedHeaderNames).Append('\n').Append(payloadHash);

        string stringToSign = string.Join(
            "\n",
            Algorithm,
            FormatAmzDate(signingTime),
            credentialScope,
            HexSha256(Encoding.UTF8.GetBytes(canonicalRequest.ToString())));

        byte[] signingKey = DeriveSigningKey(secretAccessKey, date);
        string signature = Convert.ToHexStringLower(HMACSHA256.HashData(signingKey, Encoding.UTF8.GetBytes(stringToSign)));

        return $"{Algorithm} Credential={accessKeyId}/{credentialScope}, SignedHeaders={signedHeaderNames}, Signature={signature}";
    }

    /// <summary>Percent-encodes a value as SigV4 requires: every byte except A-Z, a-z, 0-9 and -_.~ becomes %XX (uppercase hex) of its UTF-8 encoding.</summary>
    public static string UriEncode(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var builder = new StringBuilder(value.Length);
        foreach (byte octet in Encoding.UTF8.GetBytes(value))
        {
            bool unreserved = octet is (>= (byte)'A' and <= (byte)'Z') or (>= (byte)'a' and <= (byte)'z') or (>= (byte)'0' and <= (byte)'9')
                or (byte)'-' or (byte)'_' or (byte)'.' or (byte)'~';
            if (unreserved)
            {
                builder.Append((char)octet);
            }
            else
            {
                builder.Append('%').Append(octet.ToString("X2", CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    /// <summary>Returns the lowercase hex SHA-256 of the payload.</summary>
    public static string HexSha256(ReadOnlySpan<byte> payload) => Convert.ToHexStringLower(SHA256.HashData(payload));

    public static string FormatAmzDate(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);

    private byte[] DeriveSigningKey(string secretAccessKey, string date)
    {
        byte[] key = HMACSHA256.HashData(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), Encoding.UTF8.GetBytes(date));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(Region));
        key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(Service));
        return HMACSHA256.HashData(key, "aws4_request"u8);
    }

    private string CanonicalPath(Uri uri)
    {
        string path = uri.AbsolutePath;
        if (path.Length == 0)
        {
            return "/";
        }

        IEnumerable<string> segments = path.Split('/').Select(segment => UriEncode(Uri.UnescapeDataString(segment)));
        if (Service != "s3")
        {
            segments = segments.Select(UriEncode);
        }

        return string.Join("/", segments);
    }

    private static string CanonicalQuery(Uri uri)
    {
        string query = uri.Query.TrimStart('?');
        if (query.Length == 0)
        {
            return "";
        }

        var parameters = query
            .Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(parameter =>
            {
                int equals = parameter.IndexOf('=', StringComparison.Ordinal);
                string name = equals < 0 ? parameter : parameter[..equals];
                string value = equals < 0 ? "" : parameter[(equals + 1)..];
                return (Name: UriEncode(Uri.UnescapeDataString(name)), Value: UriEncode(Uri.UnescapeDataString(value)));
            })
            .OrderBy(parameter => parameter.Name, StringComparer.Ordinal)
            .ThenBy(parameter => parameter.Value, StringComparer.Ordinal);

        return string.Join("&", parameters.Select(parameter => parameter.Name + "=" + parameter.Value));
    }

    // Trims the value and collapses each run of spaces into one, as the canonical headers require.
    private static string CanonicalHeaderValue(string value)
    {
        var builder = new StringBuilder(value.Length);
        bool previousWasSpace = false;
        foreach (char character in value.Trim())
        {
            if (character == ' ')
            {
                if (!previousWasSpace)
                {
                    builder.Append(' ');
                }

                previousWasSpace = true;
                continue;
            }

            builder.Append(character);
            previousWasSpace = false;
        }

        return builder.ToString();
    }

    private static string HostHeader(Uri uri) => uri.IsDefaultPort ? uri.Host : $"{uri.Host}:{uri.Port.ToString(CultureInfo.InvariantCulture)}";

    private static void SetHeader(HttpRequestMessage request, string name, string value)
    {
        request.Headers.Remove(name);
        request.Headers.TryAddWithoutValidation(name, value);
    }
}
