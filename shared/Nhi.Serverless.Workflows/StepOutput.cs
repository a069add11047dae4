using System.Text.Json;

namespace Nhi.Serverless.Workflows;

/// <summary>
/// Converts a step's typed output to the JSON element that orchestration history stores, and back for the decision.
/// Property names are camelCase, as System.Text.Json's web defaults write them.
/// </summary>
public static class StepOutput
{
    public static JsonSerializerOptions SerializerOptions { get; } = new(JsonSerializerDefaults.Web);

    /// <summary>Returns <paramref name="value"/> as a JSON element.</summary>
    public static JsonElement From<T>(T value) => JsonSerializer.SerializeToElement(value, SerializerOptions);

    /// <summary>Reads the output of step <paramref name="step"/> from the reports of a completed run.</summary>
    /// <exception cref="InvalidOperationException">The step has no report or no output, or the output does not fit <typeparamref name="T"/>.</exception>
    public static T Read<T>(IReadOnlyList<StepReport> reports, string step)
    {
        ArgumentNullException.ThrowIfNull(reports);
        StepReport report = reports.FirstOrDefault(candidate => candidate.Step == step)
            ?? throw new InvalidOperationException($"The run has no report of step '{step}'.");
        if (report.Output is not { } output)
        {
            throw new InvalidOperationException($"Step '{step}' returned no output.");
        }

        try
        {
            return output.Deserialize<T>(SerializerOptions)
                ?? throw new InvalidOperationException($"The output of step '{step}' is null; expected a {typeof(T).Name}.");
        }
        catch (JsonException exception)
        {
            throw new InvalidOperationException($"The output of step '{step}' is not a {typeof(T).Name}: {exception.Message}", exception);
        }
    }
}
