using System.Text.Json;

namespace Nhi.Serverless.Workflows.Steps;

/// <summary>Reads the outputs of earlier stages' steps inside a managed step.</summary>
public static class EarlierStepOutputs
{
    /// <summary>Returns the output of <paramref name="step"/> from an earlier stage, as the record that step returned.</summary>
    /// <exception cref="WorkflowStepException">The earlier step left no output that fits <typeparamref name="T"/>.</exception>
    public static T EarlierOutput<T>(this WorkflowStepContext context, string step)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!context.EarlierOutputs.TryGetValue(step, out JsonElement output))
        {
            throw new WorkflowStepException(context.Step.Name, $"the output of step '{step}' is missing");
        }

        try
        {
            return output.Deserialize<T>(StepOutput.SerializerOptions)
                ?? throw new WorkflowStepException(context.Step.Name, $"the output of step '{step}' is null");
        }
        catch (JsonException exception)
        {
            throw new WorkflowStepException(context.Step.Name, $"the output of step '{step}' is not a {typeof(T).Name}", exception);
        }
    }
}
