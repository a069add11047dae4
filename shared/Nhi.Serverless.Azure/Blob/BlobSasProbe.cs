namespace Nhi.Serverless.Azure.Blob;

/// <summary>
/// Sends Get Blob Properties (HEAD) for a blob that does not exist, with a SAS, and reports how the service judged the
/// SAS. The request changes nothing, so it is safe for any set of permissions.
/// </summary>
/// <remarks>
/// A valid SAS gets 404 when it may read, and 403 AuthorizationPermissionMismatch when it may not. A SAS whose stored
/// access policy is missing is rejected before permissions are looked at: Azurite 3.37.0 returns 403 AuthorizationFailure
/// (read in its BlobSASAuthenticator). NOTE: the code Azure itself sends for a missing policy was not observed here;
/// 403 AuthenticationFailed, its code for a SAS it cannot authenticate, is accepted as well.
/// </remarks>
internal sealed class BlobSasProbe(HttpClient http)
{
    /// <summary>The blob that probes ask for; no blob of this name is ever written.</summary>
    public const string ProbeBlobName = "nhi-sas-probe-does-not-exist";

    public async Task<BlobSasProbeResult> HeadAsync(BlobContainerSasCredential credential, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Head, credential.BlobSasUri(ProbeBlobName));
        try
        {
            using HttpResponseMessage response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
            string? errorCode = response.Headers.TryGetValues("x-ms-error-code", out IEnumerable<string>? values) ? values.FirstOrDefault() : null;
            return new BlobSasProbeResult((int)response.StatusCode, errorCode);
        }
        catch (HttpRequestException exception)
        {
            // The message of a connection failure names the host and port, never the URL with its signature.
            return new BlobSasProbeResult(null, exception.HttpRequestError.ToString());
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new BlobSasProbeResult(null, "Timeout");
        }
    }
}

/// <summary>The outcome of one probe: the HTTP status (null when no response came) and the x-ms-error-code header.</summary>
internal sealed record BlobSasProbeResult(int? StatusCode, string? ErrorCode)
{
    /// <summary>The service rejected the SAS itself: its policy is gone, expired, or not yet in effect.</summary>
    public bool IsRejected => StatusCode == 403 && ErrorCode is "AuthenticationFailed" or "AuthorizationFailure";

    /// <summary>The service accepted the SAS's signature and policy.</summary>
    public bool IsAccepted => StatusCode is >= 200 and < 300 or 404 || (StatusCode == 403 && ErrorCode == "AuthorizationPermissionMismatch");

    public override string ToString() => StatusCode is null ? $"no response ({ErrorCode})" : $"{StatusCode} {ErrorCode ?? "(no error code)"}";
}
