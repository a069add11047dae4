using System.Diagnostics;
using System.Globalization;
using System.Net;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Workflows.Steps;

/// <summary>
/// Reads objects of the one bucket of a step's aws-sts grant with the grant's session credential, and records every call
/// in the step's call log. The credential stays inside the SDK client.
/// </summary>
public sealed class S3StepReader : IDisposable
{
    private readonly WorkflowStepContext _context;
    private readonly string _grantName;
    private readonly string _partition;
    private readonly AmazonS3Client _client;

    /// <param name="context">The step; calls are recorded there.</param>
    /// <param name="grantName">The step's aws-sts grant, whose scope names one bucket.</param>
    /// <param name="clients">The adapter's client factory, for the endpoint and the settings Ceph RGW needs.</param>
    /// <param name="aws">The adapter's settings, for the partition of bucket ARNs.</param>
    public S3StepReader(WorkflowStepContext context, string grantName, S3ClientFactory clients, AwsOptions aws)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(clients);
        ArgumentNullException.ThrowIfNull(aws);

        AwsSessionCredential credential = context.Lease<AwsSessionCredential>(grantName).Credential;
        if (!S3BucketArn.TryParse(credential.Scope.Resource, aws.Partition, out string? bucket))
        {
            throw new InvalidOperationException($"Grant '{grantName}' of step '{context.Step.Name}' is not scoped to one S3 bucket.");
        }

        _context = context;
        _grantName = grantName;
        _partition = aws.Partition;
        Bucket = bucket;
        _client = clients.CreateClient(new SessionAWSCredentials(credential.AccessKeyId, credential.SecretAccessKey, credential.SessionToken));
    }

    /// <summary>The bucket of the grant's scope.</summary>
    public string Bucket { get; }

    /// <summary>Returns whether an object with exactly this key exists, with ListObjectsV2 (s3:ListBucket).</summary>
    /// <exception cref="WorkflowStepException">S3 rejected or failed the listing.</exception>
    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken)
    {
        string resource = S3BucketArn.Format(_partition, Bucket);
        DateTimeOffset at = _context.Time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        try
        {
            ListObjectsV2Response response = await _client.ListObjectsV2Async(
                new ListObjectsV2Request { BucketName = Bucket, Prefix = key, MaxKeys = 1 }, cancellationToken);
            Record("s3:ListBucket", resource, ApiCallPurposes.Step, at, started, (int)response.HttpStatusCode, null);
            return (response.S3Objects ?? []).Any(item => item.Key == key);
        }
        catch (AmazonS3Exception failure)
        {
            Record("s3:ListBucket", resource, ApiCallPurposes.Step, at, started, (int)failure.StatusCode, failure.ErrorCode);
            throw new WorkflowStepException(_context.Step.Name, $"listing '{key}' in bucket {Bucket} failed with {(int)failure.StatusCode} {failure.ErrorCode}");
        }
    }

    /// <summary>Returns the content of an object of the grant's bucket, or null when it does not exist.</summary>
    /// <exception cref="WorkflowStepException">S3 rejected or failed the read.</exception>
    public async Task<BinaryData?> ReadAsync(string key, CancellationToken cancellationToken)
    {
        string resource = $"{S3BucketArn.Format(_partition, Bucket)}/{key}";
        DateTimeOffset at = _context.Time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        try
        {
            using GetObjectResponse response = await _client.GetObjectAsync(new GetObjectRequest { BucketName = Bucket, Key = key }, cancellationToken);
            BinaryData content = await BinaryData.FromStreamAsync(response.ResponseStream, cancellationToken);
            Record("s3:GetObject", resource, ApiCallPurposes.Step, at, started, (int)response.HttpStatusCode, null);
            return content;
        }
        catch (AmazonS3Exception failure) when (failure.ErrorCode == "NoSuchKey")
        {
            Record("s3:GetObject", resource, ApiCallPurposes.Step, at, started, (int)failure.StatusCode, failure.ErrorCode);
            return null;
        }
        catch (AmazonS3Exception failure)
        {
            Record("s3:GetObject", resource, ApiCallPurposes.Step, at, started, (int)failure.StatusCode, failure.ErrorCode);
            throw new WorkflowStepException(_context.Step.Name, $"reading '{key}' from bucket {Bucket} failed with {(int)failure.StatusCode} {failure.ErrorCode}");
        }
    }

    /// <summary>
    /// Lists <paramref name="bucket"/>, which the grant does not cover, with the grant's credential; S3 must deny it with
    /// 403 AccessDenied. Records the call and the scope probe.
    /// </summary>
    /// <returns>True when the listing was denied.</returns>
    public async Task<bool> ProbeBucketAsync(string bucket, CancellationToken cancellationToken)
    {
        string resource = S3BucketArn.Format(_partition, bucket);
        DateTimeOffset at = _context.Time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        int? status;
        string? errorCode = null;
        try
        {
            ListObjectsV2Response response = await _client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, MaxKeys = 1 }, cancellationToken);
            status = (int)response.HttpStatusCode;
        }
        catch (AmazonS3Exception failure)
        {
            status = (int)failure.StatusCode;
            errorCode = failure.ErrorCode;
        }
        catch (HttpRequestException failure)
        {
            status = null;
            errorCode = failure.HttpRequestError.ToString();
        }

        Record("s3:ListBucket", resource, ApiCallPurposes.ScopeProbe, at, started, status, errorCode);
        bool denied = status == (int)HttpStatusCode.Forbidden && errorCode == "AccessDenied";
        _context.Record(_grantName, new ScopeProbe(
            resource,
            denied,
            $"ListObjectsV2 on bucket {bucket} with the session of grant '{_grantName}' returned {status?.ToString(CultureInfo.InvariantCulture) ?? "nothing"} {errorCode ?? "OK"}"));
        return denied;
    }

    public void Dispose() => _client.Dispose();

    private void Record(string action, string resource, string purpose, DateTimeOffset at, long started, int? status, string? errorCode)
    {
        string outcome = status switch
        {
            403 => ApiCallOutcomes.Denied,
            (>= 200 and < 300) or 404 => ApiCallOutcomes.Allowed,
            _ => ApiCallOutcomes.Error,
        };

        _context.Record(_grantName, new ApiCall(action, resource, purpose, at, status, outcome, errorCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds));
    }
}
