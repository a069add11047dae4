using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Intake;
using Nhi.Serverless.Orchestration.Intake;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>
/// GET /api/deadletters lists parked items and POST /api/deadletters/{id}/replay processes one again; both
/// authenticate as the "admin" source (the Functions app also requires the admin key).
/// </summary>
public sealed class DeadLetterEndpoints(
    IDeadLetterStore store, AlertIntake intake, CallbackDispatcher callbacks, EdgeGate gate, TimeProvider time, ILogger<DeadLetterEndpoints> logger)
{
    public const string AuthSource = "admin";

    private const int MaxListed = 1000;

    public async Task ListAsync(HttpContext context, EdgeCaller caller)
    {
        if (await gate.ReadAuthenticatedAsync(context, AuthSource, caller) is null)
        {
            return;
        }

        string? status = context.Request.Query["status"].FirstOrDefault();
        if (status is not (null or DeadLetterStatuses.Parked or DeadLetterStatuses.Replayed))
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-query", "Invalid query", "The status filter is not a dead-letter status.",
                "status", $"{DeadLetterStatuses.Parked} or {DeadLetterStatuses.Replayed}");
            return;
        }

        int max = 100;
        if (context.Request.Query["max"].FirstOrDefault() is { } maxText
            && (!int.TryParse(maxText, NumberStyles.None, CultureInfo.InvariantCulture, out max) || max is < 1 or > MaxListed))
        {
            await Problems.WriteAsync(context, StatusCodes.Status400BadRequest, "invalid-query", "Invalid query", "max is out of range.",
                "max", $"a whole number from 1 to {MaxListed}");
            return;
        }

        IReadOnlyList<DeadLetterItem> letters = await store.ListAsync(status, max, context.RequestAborted);
        await context.Response.WriteAsJsonAsync(
            new
            {
                deadLetters = letters.Select(letter => new
                {
                    letter.Id,
                    letter.Kind,
                    letter.Source,
                    letter.RunId,
                    letter.FindingId,
                    letter.Reason,
                    letter.ParkedAt,
                    letter.Status,
                    letter.ReplayCount,
                    letter.LastReplayAt,
                    letter.LastReplayError,
                }),
            },
            HttpJson.Options,
            context.RequestAborted);
    }

    public async Task ReplayAsync(HttpContext context, string id, DurableTaskClient client, EdgeCaller caller)
    {
        if (await gate.ReadAuthenticatedAsync(context, AuthSource, caller) is null)
        {
            return;
        }

        DeadLetterItem? letter = await store.GetAsync(id, context.RequestAborted);
        if (letter is null)
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "dead-letter-not-found", "Dead letter not found",
                "No dead letter has this id.", "id", "the id of a listed dead letter");
            return;
        }

        string? error = null;
        string result;
        try
        {
            result = letter.Kind switch
            {
                DeadLetterKinds.Run => await intake.ReplayAsync(client, letter, context.RequestAborted) ? "started" : "already-existed",
                DeadLetterKinds.Callback => await callbacks.RequeueAsync(letter.Payload, context.RequestAborted) ? "requeued" : "subscription-missing",
                _ => throw new InvalidOperationException($"Dead letters of kind '{letter.Kind}' cannot be replayed."),
            };
        }
        catch (Exception failure) when (failure is not OperationCanceledException)
        {
            error = $"{failure.GetType().Name}: {failure.Message}";
            result = "failed";
            logger.LogError("Replay of dead letter {DeadLetterId} failed ({Error})", letter.Id, error);
        }

        await store.RecordReplayAsync(letter.Id, time.GetUtcNow(), error, context.RequestAborted);
        context.Response.StatusCode = error is null ? StatusCodes.Status200OK : StatusCodes.Status502BadGateway;
        await context.Response.WriteAsJsonAsync(new { id = letter.Id, letter.Kind, letter.RunId, result, error }, HttpJson.Options, context.RequestAborted);
    }
}
