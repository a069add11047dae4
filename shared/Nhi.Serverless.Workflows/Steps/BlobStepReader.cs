using System.Diagnostics;
using Azure;
using Azure.Core;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Workflows.Steps;

/// <summary>
/// Lists and reads blobs with the SAS of one of a step's grants, and records every call in the step's call log. The
/// SAS goes only into request URLs. Recorded resources are container and blob URLs without a query.
/// </summary>
public sealed class BlobStepReader
{
    /// <summary>The blob that scope probes read in another container. It need not exist, because the SAS is rejected first.</summary>
    public const string ProbeBlobName = "nhi-scope-probe.json";

    private static readonly BlobClientOptions ClientOptions = new()
    {
        Retry = { MaxRetries = 2, Mode = RetryMode.Exponential, NetworkTimeout = TimeSpan.FromSeconds(15) },
    };

    private readonly WorkflowStepContext _context;
    private readonly string _grantName;
    private readonly BlobContainerSasCredential _credential;

    /// <param name="context">The step; calls are recorded there.</param>
    /// <param name="grantName">The step's azure-blob-sas grant.</param>
    public BlobStepReader(WorkflowStepContext context, string grantName)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
        _grantName = grantName;
        _credential = context.Lease<BlobContainerSasCredential>(grantName).Credential;
    }

    /// <summary>Returns the names of the blobs whose names start with <paramref name="prefix"/>, in the order the service lists them.</summary>
    /// <exception cref="WorkflowStepException">The service rejected or failed the listing.</exception>
    public async Task<IReadOnlyList<string>> ListAsync(string prefix, CancellationToken cancellationToken)
    {
        var container = new BlobContainerClient(_credential.ContainerSasUri(), ClientOptions);
        string resource = $"{_credential.ContainerUri.AbsoluteUri.TrimEnd('/')}?prefix={prefix}";
        DateTimeOffset at = _context.Time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        var names = new List<string>();
        try
        {
            await foreach (BlobItem item in container.GetBlobsAsync(new GetBlobsOptions { Prefix = prefix }, cancellationToken))
            {
                names.Add(item.Name);
            }
        }
        catch (RequestFailedException failure)
        {
            Record("blob:ListBlobs", resource, ApiCallPurposes.Step, at, started, failure.Status, failure.ErrorCode);
            throw new WorkflowStepException(_context.Step.Name, $"listing blobs under '{prefix}' failed with {failure.Status} {failure.ErrorCode}");
        }

        Record("blob:ListBlobs", resource, ApiCallPurposes.Step, at, started, 200, null);
        return names;
    }

    /// <summary>Returns the content of a blob of the grant's container, or null when it does not exist.</summary>
    /// <exception cref="WorkflowStepException">The service rejected or failed the read.</exception>
    public async Task<BinaryData?> ReadAsync(string blobName, CancellationToken cancellationToken)
    {
        var blob = new BlobClient(_credential.BlobSasUri(blobName), ClientOptions);
        string resource = BlobResource(blobName);
        DateTimeOffset at = _context.Time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        try
        {
            Response<BlobDownloadResult> response = await blob.DownloadContentAsync(cancellationToken);
            Record("blob:GetBlob", resource, ApiCallPurposes.Step, at, started, response.GetRawResponse().Status, null);
            return response.Value.Content;
        }
        catch (RequestFailedException failure) when (failure.Status == 404)
        {
            Record("blob:GetBlob", resource, ApiCallPurposes.Step, at, started, failure.Status, failure.ErrorCode);
            return null;
        }
        catch (RequestFailedException failure)
        {
            Record("blob:GetBlob", resource, ApiCallPurposes.Step, at, started, failure.Status, failure.ErrorCode);
            throw new WorkflowStepException(_context.Step.Name, $"reading blob '{blobName}' failed with {failure.Status} {failure.ErrorCode}");
        }
    }

    /// <summary>
    /// Reads a blob of <paramref name="container"/>, which the grant does not cover, with the grant's SAS; the service must
    /// deny it with 403. Records the call and the scope probe.
    /// </summary>
    /// <returns>True when the read was denied.</returns>
    public async Task<bool> ProbeContainerAsync(string container, CancellationToken cancellationToken)
    {
        var target = new BlobUriBuilder(_credential.ContainerUri) { BlobContainerName = container, BlobName = ProbeBlobName };
        string resource = target.ToUri().AbsoluteUri;
        var blob = new BlobClient(new Uri($"{resource}?{_credential.SasToken}"), ClientOptions);
        DateTimeOffset at = _context.Time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        int status;
        string? errorCode = null;
        try
        {
            status = (await blob.DownloadContentAsync(cancellationToken)).GetRawResponse().Status;
        }
        catch (RequestFailedException failure)
        {
            status = failure.Status;
            errorCode = failure.ErrorCode;
        }

        Record("blob:GetBlob", resource, ApiCallPurposes.ScopeProbe, at, started, status, errorCode);
        bool denied = status == 403;
        _context.Record(_grantName, new ScopeProbe(
            resource,
            denied,
            $"GetBlob on container {container} with the SAS of grant '{_grantName}' returned {status} {errorCode ?? "(no error code)"}"));
        return denied;
    }

    private string BlobResource(string blobName) => $"{_credential.ContainerUri.AbsoluteUri.TrimEnd('/')}/{blobName}";

    private void Record(string action, string resource, string purpose, DateTimeOffset at, long started, int status, string? errorCode)
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
