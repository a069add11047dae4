using Microsoft.AspNetCore.Http;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Orchestration.Intake;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>The responses shared by every endpoint that hands parsed findings to the intake.</summary>
public static class IntakeResponses
{
    /// <summary>How long a sender should wait before delivering again after a 503.</summary>
    public const int RetryAfterSeconds = 30;

    /// <summary>Writes 413 and returns false when a delivery carries more findings than the limit.</summary>
    public static async Task<bool> CheckBatchLengthAsync(HttpContext context, AlertParseResult parsed, int maxBatchLength, string field)
    {
        int count = parsed.Actionable.Count + parsed.Skipped.Count;
        if (count <= maxBatchLength)
        {
            return true;
        }

        await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "batch-too-large", "Batch too large",
            $"The request carries {count} findings; at most {maxBatchLength} are accepted per request, so split the batch.",
            field, $"at most {maxBatchLength} findings");
        return false;
    }

    /// <summary>Hands the findings to the intake and writes 202 (runs), 200 (nothing to run), or 503 when the intake
    /// could neither start nor park a run, nor record a decision, so that the sender delivers again.</summary>
    public static async Task AcceptAndWriteAsync(
        HttpContext context, AlertIntake intake, DurableTaskClient client, string source, AlertParseResult parsed, ILogger logger)
    {
        IntakeResult result;
        try
        {
            result = await intake.AcceptAsync(client, source, parsed, context.TraceIdentifier, context.RequestAborted);
        }
        catch (Exception failure) when (failure is not OperationCanceledException)
        {
            logger.LogError(
                "Intake of a delivery from {Source} failed ({ErrorType}: {Error}); answering 503 so that it is delivered again",
                source, failure.GetType().Name, failure.Message);
            await WriteUnavailableAsync(context);
            return;
        }

        await WriteAcceptedAsync(context, result);
    }

    /// <summary>Writes 503 with Retry-After: the request was not accepted and should be sent again.</summary>
    public static Task WriteUnavailableAsync(HttpContext context)
    {
        context.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Problems.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, "intake-unavailable", "Intake unavailable",
            "The request could not be recorded and was not accepted; send it again after the Retry-After interval.");
    }

    public static Task WriteAcceptedAsync(HttpContext context, IntakeResult result)
    {
        string baseUrl = BaseUrl(context);
        var body = new
        {
            source = result.Source,
            runs = result.Runs.Select(run => new
            {
                run.RunId,
                run.FindingId,
                run.Resource,
                run.Duplicate,
                parked = run.DeadLetterId is not null,
                run.DeadLetterId,
                statusUrl = $"{baseUrl}/api/runs/{run.RunId}",
            }),
            skipped = result.Skipped,
        };

        context.Response.StatusCode = result.Runs.Count > 0 ? StatusCodes.Status202Accepted : StatusCodes.Status200OK;
        if (result.Runs.Count > 0)
        {
            context.Response.Headers.Location = $"{baseUrl}/api/runs/{result.Runs[0].RunId}";
        }

        return context.Response.WriteAsJsonAsync(body, HttpJson.Options, context.RequestAborted);
    }

    /// <summary>Returns the scheme, host and path base of the request, such as http://127.0.0.1:7071.</summary>
    public static string BaseUrl(HttpContext context) =>
        $"{context.Request.Scheme}://{context.Request.Host}{context.Request.PathBase}";
}
