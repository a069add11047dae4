using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Nhi.Serverless.Grants;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Workflows;

/// <summary>
/// Calls the partner APIs (credit bureau, fraud screening, insurer) with a step's OAuth token, and records each call in
/// the step's call log. The token goes only into the Authorization header.
/// </summary>
public sealed class PartnerApiClient(HttpClient http, WorkflowOptions options)
{
    /// <summary>Sends a request with the token of the step's grant <paramref name="grantName"/> and returns the JSON response.</summary>
    /// <param name="context">The step; the call is recorded there.</param>
    /// <param name="grantName">The step's OAuth grant.</param>
    /// <param name="action">The partner action for the audit trail, such as "credit-bureau:GetScore".</param>
    /// <param name="method">GET or POST.</param>
    /// <param name="path">The path under the partner base address, such as "credit-bureau/v1/scores/1".</param>
    /// <param name="body">The JSON body of a POST; null for GET.</param>
    /// <exception cref="WorkflowStepException">The partner returned an error status or no JSON.</exception>
    public async Task<JsonNode> SendAsync(
        WorkflowStepContext context, string grantName, string action, HttpMethod method, string path, JsonNode? body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        (HttpStatusCode? status, JsonNode? response) = await CallAsync(context, grantName, action, method, path, body, ApiCallPurposes.Step, cancellationToken);
        if (status is not { } code || (int)code >= 300 || response is null)
        {
            throw new WorkflowStepException(context.Step.Name, $"{action} on {path} returned {(status is null ? "nothing" : ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture))}");
        }

        return response;
    }

    /// <summary>
    /// Calls a partner API outside the grant's audience or scope, which must be refused with 401 or 403, and records the
    /// result as a scope probe.
    /// </summary>
    public async Task<bool> ProbeOutOfScopeAsync(
        WorkflowStepContext context, string grantName, string action, HttpMethod method, string path, JsonNode? body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        (HttpStatusCode? status, _) = await CallAsync(context, grantName, action, method, path, body, ApiCallPurposes.ScopeProbe, cancellationToken);
        bool denied = status is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden;
        context.Record(grantName, new ScopeProbe(
            PathUri(path).AbsoluteUri,
            denied,
            $"{action} on {path} with the token of grant '{grantName}' returned {(status is null ? "nothing" : ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture))}"));
        return denied;
    }

    private async Task<(HttpStatusCode? Status, JsonNode? Answer)> CallAsync(
        WorkflowStepContext context, string grantName, string action, HttpMethod method, string path, JsonNode? body, string purpose, CancellationToken cancellationToken)
    {
        Lease<OAuthAccessToken> lease = context.Lease<OAuthAccessToken>(grantName);
        Uri uri = PathUri(path);
        using var request = new HttpRequestMessage(method, uri);
        request.Headers.Authorization = lease.Credential.AuthorizationHeader();
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        DateTimeOffset at = context.Time.GetUtcNow();
        long started = Stopwatch.GetTimestamp();
        HttpStatusCode? status = null;
        JsonNode? answer = null;
        string? errorCode = null;
        try
        {
            using HttpResponseMessage response = await http.SendAsync(request, cancellationToken);
            status = response.StatusCode;
            string text = await response.Content.ReadAsStringAsync(cancellationToken);
            answer = text.Length > 0 && response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.OrdinalIgnoreCase) == true
                ? JsonNode.Parse(text)
                : null;
            if (!response.IsSuccessStatusCode)
            {
                errorCode = answer?["error"]?.GetValueKind() == System.Text.Json.JsonValueKind.String ? answer["error"]!.GetValue<string>() : response.ReasonPhrase;
            }
        }
        catch (HttpRequestException exception)
        {
            errorCode = exception.HttpRequestError.ToString();
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The client's timeout, not the caller's cancellation: recorded as a call without a response.
            errorCode = "Timeout";
        }
        catch (System.Text.Json.JsonException)
        {
            errorCode = "invalid-json";
        }

        string outcome = status switch
        {
            null => ApiCallOutcomes.Error,
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => ApiCallOutcomes.Denied,
            _ when (int)status < 300 => ApiCallOutcomes.Allowed,
            _ => ApiCallOutcomes.Error,
        };

        context.Record(grantName, new ApiCall(
            action, uri.AbsoluteUri, purpose, at, status is null ? null : (int)status, outcome, errorCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds));
        return (status, answer);
    }

    private Uri PathUri(string path)
    {
        if (string.IsNullOrEmpty(options.PartnerBaseUrl))
        {
            throw new InvalidOperationException($"Setting {WorkflowOptions.SectionName}:PartnerBaseUrl is empty; the partner APIs cannot be called.");
        }

        return new Uri(new Uri(options.PartnerBaseUrl.TrimEnd('/') + "/"), path.TrimStart('/'));
    }
}
