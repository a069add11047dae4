using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Http;

namespace Nhi.Serverless.Functions;

/// <summary>Event Grid delivery as an HTTP trigger, because the Event Grid trigger binding is not available to this
/// build: the handshake (POST validation event or CloudEvents OPTIONS) and event batches.</summary>
/// <remarks>The subscription's endpoint URL carries the function key in its code query parameter.</remarks>
public sealed class EventGridFunctions(EventGridEndpoint eventGrid)
{
    [Function("PostEventGrid")]
    public async Task<IActionResult> PostAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "eventgrid/{source}")] HttpRequest request,
        string source,
        [DurableClient] DurableTaskClient client)
    {
        await eventGrid.HandleAsync(request.HttpContext, source, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("OptionsEventGrid")]
    public async Task<IActionResult> OptionsAsync(
        [HttpTrigger(AuthorizationLevel.Function, "options", Route = "eventgrid/{source}")] HttpRequest request,
        string source)
    {
        _ = source;
        await eventGrid.HandleOptionsAsync(request.HttpContext);
        return new EmptyResult();
    }
}
