using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Hosting.Edge;
using Nhi.Serverless.Hosting.Http;
using Nhi.Serverless.Orchestration.Workflows;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Functions;

/// <summary>
/// The business workflows in the Functions app: the shared orchestrator and activities under the names the orchestrator
/// calls, and the HTTP API (start, status, credential hand-out over HTTPS, done, cancel, and the Logic Apps 202 pattern).
/// </summary>
public sealed class WorkflowFunctions(
    WorkflowEndpoints endpoints,
    PlanWorkflowActivity plan,
    ExecuteWorkflowStepActivity execute,
    DecideWorkflowActivity decide,
    RecordWorkflowActivity record)
{
    [Function(RunWorkflowOrchestrator.Name)]
    public static Task<WorkflowResult> RunWorkflowAsync([OrchestrationTrigger] TaskOrchestrationContext context) =>
        new RunWorkflowOrchestrator().RunAsync(context, context.GetInput<WorkflowRequest>()
            ?? throw new InvalidOperationException($"Orchestration {context.InstanceId} has no input."));

    [Function(nameof(PlanWorkflowActivity))]
    public Task<WorkflowPlanDecision> PlanAsync([ActivityTrigger] WorkflowRequest input, FunctionContext context) =>
        plan.RunAsync(new FunctionActivityContext(nameof(PlanWorkflowActivity), context), input);

    [Function(nameof(ExecuteWorkflowStepActivity))]
    public Task<StepReport> ExecuteAsync([ActivityTrigger] ExecuteWorkflowStepInput input, FunctionContext context) =>
        execute.RunAsync(new FunctionActivityContext(nameof(ExecuteWorkflowStepActivity), context), input);

    [Function(nameof(DecideWorkflowActivity))]
    public Task<WorkflowDecision> DecideAsync([ActivityTrigger] DecideWorkflowInput input, FunctionContext context) =>
        decide.RunAsync(new FunctionActivityContext(nameof(DecideWorkflowActivity), context), input);

    [Function(nameof(RecordWorkflowActivity))]
    public Task<AuditReceipt> RecordAsync([ActivityTrigger] RecordWorkflowInput input, FunctionContext context) =>
        record.RunAsync(new FunctionActivityContext(nameof(RecordWorkflowActivity), context), input);

    [Function("WorkflowStart")]
    public async Task<IActionResult> StartAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "workflows/{workflow}/runs")] HttpRequest request,
        string workflow,
        [DurableClient] DurableTaskClient client)
    {
        await endpoints.StartAsync(request.HttpContext, workflow, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("WorkflowStatus")]
    public async Task<IActionResult> GetAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "workflows/runs/{runId}")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await endpoints.GetAsync(request.HttpContext, runId, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    /// <summary>The run's ticket authenticates the hand-out, so the function needs no key; Functions serves HTTPS.</summary>
    [Function("WorkflowClaimCredentials")]
    public async Task<IActionResult> ClaimAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "workflows/runs/{runId}/steps/{step}/credentials")] HttpRequest request,
        string runId,
        string step,
        [DurableClient] DurableTaskClient client)
    {
        await endpoints.ClaimAsync(request.HttpContext, runId, step, client);
        return new EmptyResult();
    }

    [Function("WorkflowStepDone")]
    public async Task<IActionResult> DoneAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "workflows/runs/{runId}/steps/{step}/done")] HttpRequest request,
        string runId,
        string step,
        [DurableClient] DurableTaskClient client)
    {
        await endpoints.DoneAsync(request.HttpContext, runId, step, client);
        return new EmptyResult();
    }

    [Function("WorkflowCancel")]
    public async Task<IActionResult> CancelAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "workflows/runs/{runId}/cancel")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await endpoints.CancelAsync(request.HttpContext, runId, client);
        return new EmptyResult();
    }

    [Function("LogicAppsStartWorkflow")]
    public async Task<IActionResult> StartForLogicAppAsync(
        [HttpTrigger(AuthorizationLevel.Function, "post", Route = "logicapps/workflows/{workflow}")] HttpRequest request,
        string workflow,
        [DurableClient] DurableTaskClient client)
    {
        await endpoints.StartForLogicAppAsync(request.HttpContext, workflow, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }

    [Function("LogicAppsPollWorkflow")]
    public async Task<IActionResult> PollForLogicAppAsync(
        [HttpTrigger(AuthorizationLevel.Function, "get", Route = "logicapps/workflows/runs/{runId}")] HttpRequest request,
        string runId,
        [DurableClient] DurableTaskClient client)
    {
        await endpoints.PollForLogicAppAsync(request.HttpContext, runId, client, EdgeCaller.FunctionsHost);
        return new EmptyResult();
    }
}

/// <summary>Registers the workflow activity classes so the wrappers above can take them by injection.</summary>
public static class WorkflowActivityRegistration
{
    public static IServiceCollection AddWorkflowActivities(this IServiceCollection services)
    {
        services.AddTransient<PlanWorkflowActivity>();
        services.AddTransient<ExecuteWorkflowStepActivity>();
        services.AddTransient<DecideWorkflowActivity>();
        services.AddTransient<RecordWorkflowActivity>();
        return services;
    }
}
