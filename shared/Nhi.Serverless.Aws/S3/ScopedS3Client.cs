using System.Diagnostics;
using System.Net;
using System.Xml;
using System.Xml.Linq;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Aws.S3;

/// <summary>
/// An S3 client holding one grant's credential. Before each call it checks that the IAM action and the bucket
/// are in the grant's scope, and it records every call it makes, so tests can prove that the scope equals what
/// the actions call.
/// </summary>
public sealed class ScopedS3Client : IDisposable
{
    private static readonly string[] NoSuchBucketPolicy = ["NoSuchBucketPolicy"];

    private readonly IAmazonS3 _s3;
    private readonly PublicAccessBlockReader _publicAccessBlocks;
    private readonly TimeProvider _time;
    private readonly bool _ownsClient;

    internal ScopedS3Client(
        IAmazonS3 s3,
        PublicAccessBlockReader publicAccessBlocks,
        Scope scope,
        string bucket,
        ApiCallLog calls,
        string purpose,
        TimeProvider time,
        bool ownsClient)
    {
        _s3 = s3;
        _publicAccessBlocks = publicAccessBlocks;
        _time = time;
        _ownsClient = ownsClient;
        Scope = scope;
        Bucket = bucket;
        Calls = calls;
        Purpose = purpose;
    }

    /// <summary>The permissions and the one bucket the credential was issued for.</summary>
    public Scope Scope { get; }

    /// <summary>The bucket named by <see cref="Scope"/>.</summary>
    public string Bucket { get; }

    /// <summary>The purpose recorded with each call, one of <see cref="ApiCallPurposes"/>.</summary>
    public string Purpose { get; }

    /// <summary>The calls made so far, shared by every view returned by <see cref="ForPurpose"/>.</summary>
    public ApiCallLog Calls { get; }

    /// <summary>Returns a view of the same client that records its calls with another purpose; disposing the view does nothing.</summary>
    public ScopedS3Client ForPurpose(string purpose) =>
        new(_s3, _publicAccessBlocks, Scope, Bucket, Calls, purpose, _time, ownsClient: false);

    /// <summary>Returns the bucket policy JSON, or null when the bucket has none.</summary>
    public Task<string?> GetBucketPolicyAsync(string bucket, CancellationToken cancellationToken) =>
        CallAsync<string?>(
            "s3:GetBucketPolicy",
            bucket,
            async () =>
            {
                GetBucketPolicyResponse response = await _s3.GetBucketPolicyAsync(new GetBucketPolicyRequest { BucketName = bucket }, cancellationToken);
                ThrowIfErrorBody(response.HttpStatusCode, response.Policy);
                return (string.IsNullOrWhiteSpace(response.Policy) ? null : response.Policy, response.HttpStatusCode);
            },
            NoSuchBucketPolicy,
            absentValue: null);

    public Task PutBucketPolicyAsync(string bucket, string policy, CancellationToken cancellationToken) =>
        CallAsync<bool>(
            "s3:PutBucketPolicy",
            bucket,
            async () =>
            {
                var response = await _s3.PutBucketPolicyAsync(new PutBucketPolicyRequest { BucketName = bucket, Policy = policy }, cancellationToken);
                return (true, response.HttpStatusCode);
            });

    public Task DeleteBucketPolicyAsync(string bucket, CancellationToken cancellationToken) =>
        CallAsync<bool>(
            "s3:DeleteBucketPolicy",
            bucket,
            async () =>
            {
                var response = await _s3.DeleteBucketPolicyAsync(new DeleteBucketPolicyRequest { BucketName = bucket }, cancellationToken);
                return (true, response.HttpStatusCode);
            });

    public Task<S3AccessControlList> GetBucketAclAsync(string bucket, CancellationToken cancellationToken) =>
        CallAsync<S3AccessControlList>(
            "s3:GetBucketAcl",
            bucket,
            async () =>
            {
                GetBucketAclResponse response = await _s3.GetBucketAclAsync(new GetBucketAclRequest { BucketName = bucket }, cancellationToken);
                var accessControlList = new S3AccessControlList { Owner = response.Owner, Grants = response.Grants ?? [] };
                return (accessControlList, response.HttpStatusCode);
            });

    /// <summary>Replaces the bucket ACL with exactly these grants, sent as x-amz-grant-* headers (see <see cref="AclGrantHeaders"/>).</summary>
    public Task PutBucketAclAsync(string bucket, IReadOnlyList<S3Grant> grants, CancellationToken cancellationToken) =>
        CallAsync<bool>(
            "s3:PutBucketAcl",
            bucket,
            async () =>
            {
                var response = await _s3.PutBucketAclAsync(AclGrantHeaders.Request(bucket, grants), cancellationToken);
                return (true, response.HttpStatusCode);
            });

    /// <summary>Returns the bucket's public access block, or null when none is set; read with <see cref="PublicAccessBlockReader"/>.</summary>
    public Task<PublicAccessBlockConfiguration?> GetPublicAccessBlockAsync(string bucket, CancellationToken cancellationToken) =>
        CallAsync("s3:GetBucketPublicAccessBlock", bucket, () => _publicAccessBlocks.ReadAsync(bucket, cancellationToken));

    public Task PutPublicAccessBlockAsync(string bucket, PublicAccessBlockConfiguration configuration, CancellationToken cancellationToken) =>
        CallAsync<bool>(
            "s3:PutBucketPublicAccessBlock",
            bucket,
            async () =>
            {
                var request = new PutPublicAccessBlockRequest { BucketName = bucket, PublicAccessBlockConfiguration = configuration };
                var response = await _s3.PutPublicAccessBlockAsync(request, cancellationToken);
                return (true, response.HttpStatusCode);
            });

    /// <summary>
    /// Makes one read call that is expected to be denied, records it, and returns the record instead of throwing
    /// on an error response. An out-of-scope probe names a bucket outside the scope on purpose.
    /// </summary>
    internal async Task<ApiCall> ProbeAsync(string action, string bucket, bool outsideScope, CancellationToken cancellationToken)
    {
        Func<Task> call = action switch
        {
            "s3:GetBucketAcl" => () => _s3.GetBucketAclAsync(new GetBucketAclRequest { BucketName = bucket }, cancellationToken),
            "s3:GetBucketPolicy" => async () =>
            {
                GetBucketPolicyResponse response = await _s3.GetBucketPolicyAsync(new GetBucketPolicyRequest { BucketName = bucket }, cancellationToken);
                ThrowIfErrorBody(response.HttpStatusCode, response.Policy);
            },
            "s3:GetBucketPublicAccessBlock" => () => _publicAccessBlocks.ReadAsync(bucket, cancellationToken),
            "s3:ListBucket" => () => _s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, MaxKeys = 1 }, cancellationToken),

            // A HEAD on a key that does not exist returns 404 while GetObject is allowed and 403 once it is denied.
            "s3:GetObject" => () => _s3.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = bucket, Key = ProbeObjectKey }, cancellationToken),
            _ => throw new ArgumentException(
                $"Action '{action}' cannot be used as a probe; expected s3:GetBucketAcl, s3:GetBucketPolicy, s3:GetBucketPublicAccessBlock, s3:ListBucket or s3:GetObject.",
                nameof(action)),
        };

        EnsureInScope(action, bucket, outsideScope);
        DateTimeOffset startedAt = _time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        try
        {
            await call();
            return Record(action, bucket, startedAt, started, HttpStatusCode.OK, ApiCallOutcomes.Allowed, null);
        }
        catch (AmazonServiceException exception) when (exception.ErrorCode == "NoSuchBucketPolicy"
            || (action == "s3:GetObject" && exception.StatusCode == HttpStatusCode.NotFound && exception.ErrorCode != "NoSuchBucket"))
        {
            return Record(action, bucket, startedAt, started, exception.StatusCode, ApiCallOutcomes.Allowed, exception.ErrorCode);
        }
        catch (AmazonServiceException exception)
        {
            return Record(action, bucket, startedAt, started, exception.StatusCode, OutcomeOf(exception.StatusCode), exception.ErrorCode);
        }
        catch (HttpRequestException exception)
        {
            return Record(action, bucket, startedAt, started, null, ApiCallOutcomes.Error, exception.HttpRequestError.ToString());
        }
    }

    /// <summary>The key that an s3:GetObject probe requests. No object is expected to have it.</summary>
    internal const string ProbeObjectKey = "nhi-revocation-probe/absent";

    public void Dispose()
    {
        if (_ownsClient)
        {
            _s3.Dispose();
        }
    }

    // Checks the scope, makes the call and records it. Error codes in absentCodes mean "not configured" and return absentValue.
    private async Task<T> CallAsync<T>(
        string action,
        string bucket,
        Func<Task<(T Value, HttpStatusCode Status)>> call,
        IReadOnlyCollection<string>? absentCodes = null,
        T absentValue = default!)
    {
        EnsureInScope(action, bucket, outsideScope: false);
        DateTimeOffset startedAt = _time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        try
        {
            (T value, HttpStatusCode status) = await call();

            // The SDK does not throw for every error status (see ThrowIfErrorBody), so a non-2xx status fails here.
            ThrowIfErrorBody(status, null);
            Record(action, bucket, startedAt, started, status, ApiCallOutcomes.Allowed, null);
            return value;
        }
        catch (AmazonServiceException exception) when (absentCodes?.Contains(exception.ErrorCode) == true)
        {
            Record(action, bucket, startedAt, started, exception.StatusCode, ApiCallOutcomes.Allowed, exception.ErrorCode);
            return absentValue;
        }
        catch (AmazonServiceException exception)
        {
            Record(action, bucket, startedAt, started, exception.StatusCode, OutcomeOf(exception.StatusCode), exception.ErrorCode);
            throw;
        }
        catch (Exception exception)
        {
            // No response came back (network failure, timeout, cancellation); the call is recorded and the error passed on.
            Record(action, bucket, startedAt, started, null, ApiCallOutcomes.Error, exception.GetType().Name);
            throw;
        }
    }

    private void EnsureInScope(string action, string bucket, bool outsideScope)
    {
        string resource = S3BucketArn.Format(PartitionOf(Scope.Resource), bucket);
        if (!Scope.Allows(action))
        {
            throw new ScopeViolationException(action, resource, Scope);
        }

        if (!outsideScope && resource != Scope.Resource)
        {
            throw new ScopeViolationException(action, resource, Scope);
        }
    }

    private ApiCall Record(
        string action,
        string bucket,
        DateTimeOffset startedAt,
        long started,
        HttpStatusCode? status,
        string outcome,
        string? errorCode)
    {
        var call = new ApiCall(
            action,
            S3BucketArn.Format(PartitionOf(Scope.Resource), bucket),
            Purpose,
            startedAt,
            status is null ? null : (int)status,
            outcome,
            errorCode,
            Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        Calls.Add(call);
        return call;
    }

    /// <summary>
    /// Throws the S3 error for a non-2xx status, with the code from the XML error body when there is one. Measured with
    /// AWSSDK.S3 4.1.0.1 against Ceph RGW 16.2: a 404 NoSuchBucketPolicy does not throw, and the response's Policy
    /// contains the XML error document.
    /// </summary>
    private static void ThrowIfErrorBody(HttpStatusCode status, string? body)
    {
        if ((int)status is >= 200 and < 300)
        {
            return;
        }

        XElement? error = null;
        try
        {
            error = string.IsNullOrWhiteSpace(body) ? null : XDocument.Parse(body).Root;
        }
        catch (XmlException)
        {
            // Not an XML error document; the status code alone describes the error.
        }

        string code = error?.Elements().FirstOrDefault(element => element.Name.LocalName == "Code")?.Value ?? "Unknown";
        string message = error?.Elements().FirstOrDefault(element => element.Name.LocalName == "Message")?.Value ?? $"HTTP {(int)status}";
        string? requestId = error?.Elements().FirstOrDefault(element => element.Name.LocalName == "RequestId")?.Value;
        throw new AmazonS3Exception(message, (int)status >= 500 ? ErrorType.Receiver : ErrorType.Sender, code, requestId, status);
    }

    private static string OutcomeOf(HttpStatusCode status) =>
        status == HttpStatusCode.Forbidden ? ApiCallOutcomes.Denied : ApiCallOutcomes.Error;

    // The scope resource is arn:PARTITION:s3:::BUCKET; calls on other buckets are recorded in the same partition.
    private static string PartitionOf(string bucketArn) => bucketArn.Split(':')[1];
}
