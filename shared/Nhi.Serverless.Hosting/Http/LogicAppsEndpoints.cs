using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Orchestration.Approvals;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>
/// The two patterns a Logic App uses to call a long-running step mid-workflow, authenticated as the "logicapps" source.
/// </summary>
/// <remarks>
/// <para>Asynchronous request-reply: POST /api/logicapps/runs answers 202 with Location and Retry-After; the HTTP
/// action polls the Location, which answers 202 with the same headers until the run has finished and then 200 with
/// the result.</para>
/// <para>Webhook action: POST /api/logicapps/subscriptions with {"callbackUrl": listCallbackUrl(), "request": {...}}
/// starts the run and stores the callback; when the run ends, <see cref="CallbackDispatcher"/> POSTs the result to
/// the callback URL. DELETE /api/logicapps/subscriptions/{id} is the unsubscribe call the action makes when it is
/// cancelled or times out.</para>
/// </remarks>
public sealed class LogicAppsEndpoints(
    RunRequests requests, ICallbackSubscriptionStore subscriptions, TimeProvider time, ILogger<LogicAppsEndpoints> logger)
{
    public const string AuthSource = "logicapps";

    /// <summary>POST /api/logicapps/runs: starts the run and answers 202 with the polling URL.</summary>
    public async Task StartAsync(HttpContext context, DurableTaskClient client, EdgeCaller caller)
    {
        if (await requests.ReadAsync(context, AuthSource, caller) is not { } request)
        {
            return;
        }

        if (await requests.StartAsync(context, client, request, AuthSource) is not { } started)
        {
            return;
        }

        WritePollingHeaders(context, started.RunId);
        context.Response.StatusCode = StatusCodes.Status202Accepted;
        await context.Response.WriteAsJsonAsync(new { runId = started.RunId, duplicate = started.Existed, status = "Accepted" }, HttpJson.Options, context.RequestAborted);
    }

    /// <summary>GET /api/logicapps/runs/{runId}: 202 while the run is going, 200 with the result once it has finished.</summary>
    public async Task PollAsync(HttpContext context, string runId, DurableTaskClient client, EdgeCaller caller)
    {
        if (await requests.Gate.ReadAuthenticatedAsync(context, AuthSource, caller) is null)
        {
            return;
        }

        OrchestrationMetadata? metadata = await client.GetInstanceAsync(runId, getInputsAndOutputs: true, context.RequestAborted);
        if (metadata is null)
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "run-not-found", "Run not found", "No run has this id.", "runId", "the id of a started run");
            return;
        }

        if (!metadata.IsCompleted)
        {
            WritePollingHeaders(context, runId);
            context.Response.StatusCode = StatusCodes.Status202Accepted;
            RunWaitStatus? wait = RunViews.WaitOf(metadata);
            await context.Response.WriteAsJsonAsync(
                new { runId, status = RunViews.StatusOf(metadata, wait), wait = RunViews.DescribeWait(wait) }, HttpJson.Options, context.RequestAborted);
            return;
        }

        // A failed or terminated run is also a finished step: the body says how it ended, and the workflow branches on it.
        await context.Response.WriteAsJsonAsync(RunViews.Describe(metadata, IntakeResponses.BaseUrl(context), withResult: true), HttpJson.Options, context.RequestAborted);
    }

    /// <summary>POST /api/logicapps/subscriptions: starts the run and stores the callback URL; answers 201.</summary>
    public async Task SubscribeAsync(HttpContext context, DurableTaskClient client, EdgeCaller caller)
    {
        byte[]? body = await requests.Gate.ReadAsync(context, AuthSource, caller, ["application/json"]);
        if (body is null)
        {
            return;
        }

        Uri? callback = await ReadCallbackUrlAsync(context, body);
        if (callback is null)
        {
            return;
        }

        RunRequest? request = await RunRequests.ParseAsync(context, body, root => root.ValueKind == JsonValueKind.Object && root.TryGetProperty("request", out JsonElement inner) ? inner : default, "request");
        if (request is null)
        {
            return;
        }

        if (await requests.StartAsync(context, client, request, AuthSource) is not { } started)
        {
            return;
        }

        DateTimeOffset now = time.GetUtcNow();
        var subscription = new CallbackSubscription
        {
            Id = "cb-" + Guid.NewGuid().ToString("N"),
            RunId = started.RunId,
            CallbackUrl = callback,
            CreatedAt = now,
            NextAttemptAt = now,
        };

        try
        {
            await subscriptions.AddAsync(subscription, context.RequestAborted);
        }
        catch (Exception failure) when (failure is not OperationCanceledException)
        {
            logger.LogError("Could not store callback subscription for run {RunId} ({ErrorType}: {Error})", started.RunId, failure.GetType().Name, failure.Message);
            await IntakeResponses.WriteUnavailableAsync(context);
            return;
        }

        logger.LogInformation("Subscribed {Subscription}", subscription);
        string baseUrl = IntakeResponses.BaseUrl(context);
        context.Response.StatusCode = StatusCodes.Status201Created;
        context.Response.Headers.Location = $"{baseUrl}/api/logicapps/subscriptions/{subscription.Id}";
        await context.Response.WriteAsJsonAsync(
            new { subscriptionId = subscription.Id, runId = started.RunId, duplicate = started.Existed, statusUrl = $"{baseUrl}/api/logicapps/runs/{started.RunId}" },
            HttpJson.Options,
            context.RequestAborted);
    }

    /// <summary>DELETE /api/logicapps/subscriptions/{id}: stops the callback; the run itself goes on.</summary>
    public async Task UnsubscribeAsync(HttpContext context, string subscriptionId, EdgeCaller caller)
    {
        if (await requests.Gate.ReadAuthenticatedAsync(context, AuthSource, caller) is null)
        {
            return;
        }

        CallbackSubscription? subscription = await subscriptions.GetAsync(subscriptionId, context.RequestAborted);
        if (subscription is null)
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "subscription-not-found", "Subscription not found",
                "No callback subscription has this id.", "subscriptionId", "the id returned by the subscribe call");
            return;
        }

        if (subscription.Status == CallbackStatuses.Pending)
        {
            await subscriptions.UpdateAsync(
                new CallbackSubscription
                {
                    Id = subscription.Id,
                    RunId = subscription.RunId,
                    CallbackUrl = subscription.CallbackUrl,
                    CreatedAt = subscription.CreatedAt,
                    Status = CallbackStatuses.Unsubscribed,
                    Attempts = subscription.Attempts,
                    NextAttemptAt = subscription.NextAttemptAt,
                },
                context.RequestAborted);
            logger.LogInformation("Unsubscribed callback {SubscriptionId} for run {RunId}", subscription.Id, subscription.RunId);
        }

        await context.Response.WriteAsJsonAsync(new { subscriptionId, status = CallbackStatuses.Unsubscribed }, HttpJson.Options, context.RequestAborted);
    }

    private void WritePollingHeaders(HttpContext context, string runId)
    {
        context.Response.Headers.Location = $"{IntakeResponses.BaseUrl(context)}/api/logicapps/runs/{runId}";
        context.Response.Headers.RetryAfter = ((int)requests.Gate.Options.LogicAppsRetryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
    }

    private async Task<Uri?> ReadCallbackUrlAsync(HttpContext context, byte[] body)
    {
        string? text = null;
        try
        {
            using JsonDocument document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("callbackUrl", out JsonElement value)
                && value.ValueKind == JsonValueKind.String)
            {
                text = value.GetString();
            }
        }
        catch (JsonException)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "malformed-json", "Malformed JSON",
                "The request body is not a well-formed JSON document.", "$", "a JSON object with callbackUrl and request");
            return null;
        }

        // The messages never repeat the URL, because its query string carries the Logic App's signature.
        if (!Uri.TryCreate(text, UriKind.Absolute, out Uri? url) || url.UserInfo.Length > 0)
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-callback", "Invalid callback URL",
                "Field 'callbackUrl' must be an absolute URL, such as the value of listCallbackUrl().", "callbackUrl", "an absolute https URL");
            return null;
        }

        EdgeOptions options = requests.Gate.Options;
        bool schemeAllowed = url.Scheme == Uri.UriSchemeHttps || (options.AllowHttpCallbacks && url.Scheme == Uri.UriSchemeHttp);
        if (!schemeAllowed || !HostAllowed(url.Host, options.CallbackAllowedHosts))
        {
            logger.LogWarning("Rejected a callback URL whose scheme or host is not allowed");
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-callback", "Callback host not allowed",
                "Field 'callbackUrl' must use https and a host in Edge:LogicApps:CallbackAllowedHosts.", "callbackUrl",
                "an https URL on one of: " + string.Join(", ", options.CallbackAllowedHosts));
            return null;
        }

        return url;
    }

    /// <summary>Returns whether a host matches an allowed name exactly, or a "*.suffix" pattern as a subdomain.</summary>
    public static bool HostAllowed(string host, IReadOnlyList<string> allowed)
    {
        foreach (string pattern in allowed)
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                if (host.EndsWith(pattern[1..], StringComparison.OrdinalIgnoreCase) && host.Length > pattern.Length - 1)
                {
                    return true;
                }
            }
            else if (host.Equals(pattern, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
