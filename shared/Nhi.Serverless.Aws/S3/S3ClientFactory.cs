using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Aws.S3;

/// <summary>Builds S3 clients for the configured endpoint, and the scoped clients actions use with a grant's credential.</summary>
public sealed class S3ClientFactory : IDisposable
{
    private readonly AwsOptions _options;
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly TimeProvider _time;

    /// <param name="options">The validated adapter settings.</param>
    /// <param name="http">The HTTP client for the requests the SDK cannot make; disposed with this factory when <paramref name="ownsHttp"/> is true.</param>
    /// <param name="time">The clock for call records and signatures.</param>
    /// <param name="ownsHttp">Whether disposing this factory disposes <paramref name="http"/>.</param>
    public S3ClientFactory(AwsOptions options, HttpClient http, TimeProvider time, bool ownsHttp = false)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(time);
        _options = options;
        _http = http;
        _ownsHttp = ownsHttp;
        _time = time;
    }

    /// <summary>The region S3 requests are signed for.</summary>
    public string SigningRegion => _options.Region;

    /// <summary>
    /// Whether requests put the bucket in the path: when configured, and always for an endpoint on an IP address
    /// or localhost, where a bucket-name subdomain cannot resolve.
    /// </summary>
    public bool UsesPathStyle
    {
        get
        {
            if (_options.ForcePathStyle)
            {
                return true;
            }

            if (_options.S3Endpoint is null)
            {
                return false;
            }

            var endpoint = new Uri(_options.S3Endpoint);
            return endpoint.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 || endpoint.IsLoopback;
        }
    }

    /// <summary>Creates an SDK client with the given credentials; the caller disposes it.</summary>
    /// <remarks>
    /// Checksums are sent and validated only where S3 requires them: with AWSSDK 4.x defaults, Ceph RGW 16.2 rejects
    /// PutObject with XAmzContentSHA256Mismatch.
    /// </remarks>
    public AmazonS3Client CreateClient(AWSCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        var config = new AmazonS3Config
        {
            ForcePathStyle = UsesPathStyle,
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
            IgnoreConfiguredEndpointUrls = true,
            Timeout = TimeSpan.FromSeconds(30),
            MaxErrorRetry = 2,
        };

        if (_options.S3Endpoint is not null)
        {
            config.ServiceURL = _options.S3Endpoint;
            config.AuthenticationRegion = _options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(_options.Region);
        }

        return new AmazonS3Client(credentials, config);
    }

    /// <summary>Creates a client that checks each call against <paramref name="scope"/> and records it in <paramref name="calls"/>.</summary>
    public ScopedS3Client CreateScoped(AwsSessionCredential credential, Scope scope, ApiCallLog calls, string purpose)
    {
        ArgumentNullException.ThrowIfNull(credential);
        ArgumentNullException.ThrowIfNull(scope);
        ArgumentNullException.ThrowIfNull(calls);

        if (!S3BucketArn.TryParse(scope.Resource, _options.Partition, out string? bucket))
        {
            throw new ArgumentException($"Scope resource '{scope.Resource}' is not an S3 bucket ARN in partition '{_options.Partition}'.", nameof(scope));
        }

        var sdkCredentials = new SessionAWSCredentials(credential.AccessKeyId, credential.SecretAccessKey, credential.SessionToken);
        AmazonS3Client client = CreateClient(sdkCredentials);
        var reader = new PublicAccessBlockReader(
            _http, this, new ImmutableCredentials(credential.AccessKeyId, credential.SecretAccessKey, credential.SessionToken), _time);
        return new ScopedS3Client(client, reader, scope, bucket, calls, purpose, _time, ownsClient: true);
    }

    /// <summary>Returns the URL of a bucket subresource, such as https://s3.us-east-1.amazonaws.com/bucket?publicAccessBlock.</summary>
    public Uri BucketUri(string bucket, string subresource)
    {
        if (!S3BucketArn.IsBucketName(bucket))
        {
            throw new ArgumentException($"'{bucket}' is not a valid S3 bucket name.", nameof(bucket));
        }

        Uri endpoint = _options.S3Endpoint is not null
            ? new Uri(_options.S3Endpoint)
            : new Uri($"https://s3.{_options.Region}.{AwsPartitions.DnsSuffix(_options.Partition)}");

        if (UsesPathStyle)
        {
            return new Uri(endpoint, $"/{bucket}?{subresource}");
        }

        var builder = new UriBuilder(endpoint) { Host = $"{bucket}.{endpoint.Host}", Path = "/", Query = subresource };
        return builder.Uri;
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    internal static HttpClient CreateHttpClient() =>
        new(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
}
