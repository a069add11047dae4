using System.Net.Http.Json;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Intake;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>
/// Delivers the result of each finished run to its Logic Apps callback URL, with retries and backoff; a callback that
/// still fails after <see cref="EdgeOptions.CallbackMaxAttempts"/> tries is parked as a dead letter.
/// </summary>
/// <remarks>NOTE: two hosts polling the same store can both deliver one callback; a Logic App accepts the first
/// and ignores the second, so the result is the same, but the second POST is wasted.</remarks>
public sealed class CallbackDispatcher(
    ICallbackSubscriptionStore subscriptions,
    IDeadLetterStore deadLetters,
    HttpClient http,
    EdgeOptions options,
    TimeProvider time,
    ILogger<CallbackDispatcher> logger)
{
    private const int BatchSize = 50;

    private static readonly TimeSpan MaxBackoff = TimeSpan.FromMinutes(5);

    private static readonly TimeSpan RunStartGrace = TimeSpan.FromMinutes(2);

    /// <summary>Looks at every due subscription once; returns how many callbacks were delivered.</summary>
    public async Task<int> DispatchDueAsync(DurableTaskClient client, CancellationToken cancellationToken)
    {
        int delivered = 0;
        foreach (CallbackSubscription subscription in await subscriptions.ListDueAsync(time.GetUtcNow(), BatchSize, cancellationToken))
        {
            if (await DispatchAsync(client, subscription, cancellationToken))
            {
                delivered++;
            }
        }

        return delivered;
    }

    private async Task<bool> DispatchAsync(DurableTaskClient client, CallbackSubscription subscription, CancellationToken cancellationToken)
    {
        DateTimeOffset now = time.GetUtcNow();
        OrchestrationMetadata? run = await client.GetInstanceAsync(subscription.RunId, getInputsAndOutputs: true, cancellationToken);
        // A subscription can be stored before its run is scheduled, so a missing run is only reported
        // as not found once it has stayed missing for a while.
        bool notStartedYet = run is null && now - subscription.CreatedAt < RunStartGrace;
        if (run is { IsCompleted: false } || notStartedYet)
        {
            await subscriptions.UpdateAsync(With(subscription, subscription.Status, subscription.Attempts, now + options.CallbackPollInterval, subscription.LastError), cancellationToken);
            return false;
        }

        object body = run is null
            ? new { runId = subscription.RunId, status = "NotFound", finished = true }
            : RunViews.Describe(run, baseUrl: "", withResult: true);

        string? error = await PostAsync(subscription, body, cancellationToken);
        if (error is null)
        {
            await subscriptions.UpdateAsync(With(subscription, CallbackStatuses.Delivered, subscription.Attempts + 1, now, null), cancellationToken);
            logger.LogInformation("Delivered the result of run {RunId} to {Subscription}", subscription.RunId, subscription);
            return true;
        }

        int attempts = subscription.Attempts + 1;
        if (attempts < options.CallbackMaxAttempts)
        {
            TimeSpan backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, options.CallbackPollInterval.Ticks << Math.Min(attempts, 16)));
            await subscriptions.UpdateAsync(With(subscription, CallbackStatuses.Pending, attempts, now + backoff, error), cancellationToken);
            logger.LogWarning(
                "Callback {SubscriptionId} for run {RunId} failed (attempt {Attempt} of {MaxAttempts}): {Error}; retrying in {Backoff}",
                subscription.Id, subscription.RunId, attempts, options.CallbackMaxAttempts, error, backoff);
            return false;
        }

        var letter = new DeadLetterItem(
            DeadLetterItem.NewId(now), DeadLetterKinds.Callback, LogicAppsEndpoints.AuthSource, subscription.RunId, "", subscription.Id,
            $"callback delivery failed {attempts} times; last error: {error}", now);
        await deadLetters.ParkAsync(letter, cancellationToken);
        await subscriptions.UpdateAsync(With(subscription, CallbackStatuses.Failed, attempts, now, error), cancellationToken);
        logger.LogError(
            "Callback {SubscriptionId} for run {RunId} failed {Attempts} times; parked as dead letter {DeadLetterId}",
            subscription.Id, subscription.RunId, attempts, letter.Id);
        return false;
    }

    /// <summary>Returns null when the callback answered 2xx, else the error without the URL.</summary>
    private async Task<string?> PostAsync(CallbackSubscription subscription, object body, CancellationToken cancellationToken)
    {
        try
        {
            using HttpResponseMessage response = await http.PostAsJsonAsync(subscription.CallbackUrl, body, HttpJson.Options, cancellationToken);
            return response.IsSuccessStatusCode ? null : $"the callback answered {(int)response.StatusCode}";
        }
        catch (HttpRequestException failure)
        {
            // HttpRequestException messages can name the URL, so only the error category is kept.
            return $"the callback request failed ({failure.HttpRequestError})";
        }
        catch (TaskCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return "the callback request timed out";
        }
    }

    /// <summary>Resets a failed or parked callback so that the dispatcher delivers it again.</summary>
    public async Task<bool> RequeueAsync(string subscriptionId, CancellationToken cancellationToken)
    {
        CallbackSubscription? subscription = await subscriptions.GetAsync(subscriptionId, cancellationToken);
        if (subscription is null)
        {
            return false;
        }

        await subscriptions.UpdateAsync(With(subscription, CallbackStatuses.Pending, 0, time.GetUtcNow(), subscription.LastError), cancellationToken);
        return true;
    }

    private static CallbackSubscription With(CallbackSubscription subscription, string status, int attempts, DateTimeOffset next, string? error) =>
        new()
        {
            Id = subscription.Id,
            RunId = subscription.RunId,
            CallbackUrl = subscription.CallbackUrl,
            CreatedAt = subscription.CreatedAt,
            Status = status,
            Attempts = attempts,
            NextAttemptAt = next,
            LastError = error,
        };
}

/// <summary>Runs <see cref="CallbackDispatcher"/> on a timer in hosts that register a <see cref="DurableTaskClient"/>
/// service (the local host); the Functions app calls it from a timer trigger instead.</summary>
public sealed class CallbackDispatcherService(IServiceProvider services, CallbackDispatcher dispatcher, EdgeOptions options, ILogger<CallbackDispatcherService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        DurableTaskClient? client = services.GetService<DurableTaskClient>();
        if (client is null)
        {
            logger.LogInformation("No Durable Task client is registered; Logic Apps callbacks are dispatched by the host's timer trigger");
            return;
        }

        using var timer = new PeriodicTimer(options.CallbackPollInterval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await dispatcher.DispatchDueAsync(client, stoppingToken);
            }
            catch (Exception failure) when (failure is not OperationCanceledException)
            {
                logger.LogError("Dispatching Logic Apps callbacks failed ({ErrorType}: {Error}); trying again in {Interval}",
                    failure.GetType().Name, failure.Message, options.CallbackPollInterval);
            }
        }
    }
}
