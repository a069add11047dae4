using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Http;

namespace Nhi.Serverless.Functions;

/// <summary>Dead-letter listing and replay, open only to the app's admin (master) key.</summary>
public sealed class DeadLetterFunctions(DeadLetterEndpoints deadLetters)
{
    [Function("ListDeadLetters")]
    public async Task<IActionResult> ListAsync(
        [HttpTrigger(AuthorizationLevel.Admin, "get", Route = "deadletters")] HttpRequest request)
    {
        await deadLetters.ListAsync(request.HttpContext, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("ReplayDeadLetter")]
    public async Task<IActionResult> ReplayAsync(
        [HttpTrigger(AuthorizationLevel.Admin, "post", Route = "deadletters/{id}/replay")] HttpRequest request,
        string id,
        [DurableClient] DurableTaskClient client)
    {
        await deadLetters.ReplayAsync(request.HttpContext, id, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }
}
