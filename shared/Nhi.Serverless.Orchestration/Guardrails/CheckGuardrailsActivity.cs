using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Orchestration.Remediation;

namespace Nhi.Serverless.Orchestration.Guardrails;

/// <summary>
/// Applies the configured guardrails to a planned run, reading the resource's tags first when a tag rule needs
/// them. The decision is recorded in the run's history, so a replay gets the same decision after the settings change.
/// </summary>
public sealed class CheckGuardrailsActivity(
    GuardrailEvaluator evaluator, IEnumerable<IResourceTagReader> tagReaders, ILogger<CheckGuardrailsActivity> logger)
    : TaskActivity<CheckGuardrailsInput, GuardrailDecision>
{
    public override async Task<GuardrailDecision> RunAsync(TaskActivityContext context, CheckGuardrailsInput input)
    {
        IReadOnlyDictionary<string, string>? tags = evaluator.NeedsTags ? await ReadTagsAsync(input) : null;
        GuardrailDecision decision = evaluator.Evaluate(input.Request, input.Plan, tags);

        if (decision.Refused)
        {
            logger.LogWarning("Run {RunId} refused by guardrails: {RefusedReason}", input.Request.RunId, decision.RefusedReason);
        }
        else
        {
            logger.LogInformation(
                "Guardrails for run {RunId} on {Resource}: dry run {DryRun}, approval required {RequiresApproval}, grant lifetime {GrantLifetimeSeconds} s, {LimitCount} concurrency limits",
                input.Request.RunId, input.Plan.Scope.Resource, decision.DryRun, decision.RequiresApproval, decision.GrantLifetime.TotalSeconds, decision.Limits.Count);
        }

        return decision;
    }

    // Tag rules fail closed, so a tag read that fails is logged and counts as "tags unknown".
    private async Task<IReadOnlyDictionary<string, string>?> ReadTagsAsync(CheckGuardrailsInput input)
    {
        string provider = input.Request.Finding.Resource.Provider;
        IResourceTagReader? reader = tagReaders.FirstOrDefault(candidate => candidate.Provider == provider);
        if (reader is null)
        {
            logger.LogWarning("No tag reader is registered for provider {Provider}; tag guardrails treat run {RunId} as matched", provider, input.Request.RunId);
            return null;
        }

        try
        {
            return await reader.ReadTagsAsync(input.Request.Finding.Resource, CancellationToken.None);
        }
        catch (Exception exception) when (exception is not OperationCanceledException)
        {
            logger.LogWarning(exception, "Reading the tags of {Resource} for run {RunId} failed; tag guardrails treat it as matched", input.Request.Finding.Resource.Id, input.Request.RunId);
            return null;
        }
    }
}
