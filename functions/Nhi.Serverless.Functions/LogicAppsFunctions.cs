using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Http;

namespace Nhi.Serverless.Functions;

/// <summary>The Logic Apps patterns as HTTP triggers (asynchronous request-reply and webhook action), and the timer
/// that delivers webhook callbacks, because the Functions host registers no Durable Task client for background services.</summary>
public sealed class LogicAppsFunctions(LogicAppsEndpoints logicApps, CallbackDispatcher callbacks)
{
    [Function("LogicAppsStartRun")]
    public async Task<IActionResult> StartAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "logicapps/runs")] HttpRequest request,
        [DurableClient] DurableTaskClient client)
    {
        await logicApps.StartAsync(request.HttpContext, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("LogicAppsPollRun")]
    public async Task<IActionResult> PollAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "logicapps/runs/{runId}")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await logicApps.PollAsync(request.HttpContext, runId, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("LogicAppsSubscribe")]
    public async Task<IActionResult> SubscribeAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "logicapps/subscriptions")] HttpRequest request,
        [DurableClient] DurableTaskClient client)
    {
        await logicApps.SubscribeAsync(request.HttpContext, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("LogicAppsUnsubscribe")]
    public async Task<IActionResult> UnsubscribeAsync(
        [HttpTrigger(AuthorizationLevel.Function, "delete", Route = "logicapps/subscriptions/{subscriptionId}")] HttpRequest request,
        string subscriptionId)
    {
        await logicApps.UnsubscribeAsync(request.HttpContext, subscriptionId, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    /// <summary>Delivers the results of finished runs to their callbacks every 10 seconds.</summary>
    [Function("LogicAppsDispatchCallbacks")]
    public Task DispatchCallbacksAsync(
        [TimerTrigger("*/10 * * * * *")] TimerInfo timer,
        [DurableClient] DurableTaskClient client,
        FunctionContext context)
    {
        _ = timer;
        return callbacks.DispatchDueAsync(client, context.CancellationToken);
    }
}
