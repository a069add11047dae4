using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Lambdas.Container;

namespace Nhi.Serverless.Lambdas.Sweeper;

/// <summary>
/// The scheduled Lambda function that runs the grant sweeper. Handler string:
/// <c>Nhi.Serverless.Lambdas::Nhi.Serverless.Lambdas.Sweeper.GrantSweeperHandler::HandleAsync</c>.
/// </summary>
/// <remarks>
/// Runs the shared <see cref="GrantSweeper"/> on the DynamoDB grant ledger. It cannot ask the SQS function's
/// orchestrations whether a run ended, because each of them lives in one container's memory, so it relies on the
/// ledger's run end times and step deadlines. Input is the EventBridge Scheduler payload, which only names the
/// invocation in the log; output is the sweep report as JSON. A grant that could not be revoked stays open in the
/// ledger and is tried again by the next scheduled sweep.
/// </remarks>
public sealed class GrantSweeperHandler
{
    private static readonly JsonSerializerOptions ReportJson = new(JsonSerializerDefaults.Web);

    public async Task<Stream> HandleAsync(Stream input)
    {
        SweeperContainer container = await SweeperContainer.GetAsync();
        ILogger logger = container.Services.GetRequiredService<ILogger<GrantSweeperHandler>>();
        logger.LogInformation("Sweep started by schedule event {EventId}", ScheduleEventId(input));

        SweepReport report = await container.Sweeper.SweepAsync(CancellationToken.None);

        var output = new MemoryStream();
        await JsonSerializer.SerializeAsync(output, report, ReportJson);
        output.Position = 0;
        return output;
    }

    // EventBridge scheduled events carry an "id"; a Scheduler target gets whatever input the schedule defines.
    private static string ScheduleEventId(Stream input)
    {
        try
        {
            using JsonDocument document = JsonDocument.Parse(input);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("id", out JsonElement id)
                && id.ValueKind == JsonValueKind.String
                    ? id.GetString() ?? "none"
                    : "none";
        }
        catch (JsonException)
        {
            return "none";
        }
    }
}
