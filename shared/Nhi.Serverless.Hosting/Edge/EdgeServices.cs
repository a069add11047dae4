using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Azure.DeadLetter;
using Nhi.Serverless.Azure.Intake;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Hosting.Http;
using Nhi.Serverless.Hosting.Workflows;
using Nhi.Serverless.Intake;

namespace Nhi.Serverless.Hosting.Edge;

/// <summary>Registration and routes of the edge: the extra alert parsers, webhook authentication, Event Grid,
/// the SOAR and Logic Apps APIs, the intake journal, the dead-letter store and the callback dispatcher.</summary>
public static class EdgeServices
{
    /// <summary>Registers the edge. The journal, dead letters and callbacks live in the storage account of
    /// Intake:ConnectionString, or of Audit:Table:ConnectionString when that is unset.</summary>
    public static IServiceCollection AddNhiEdge(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<IAlertParser, WizAlertParser>();
        services.AddSingleton<IAlertParser, PrismaCloudAlertParser>();
        services.AddSingleton<IAlertParser, CrowdStrikeAlertParser>();
        services.AddSingleton<IAlertParser, DefenderForCloudAlertParser>();

        services.AddSingleton(EdgeOptions.Read(configuration));
        services.AddSingleton<WebhookAuthenticator>();
        services.AddSingleton<EdgeGate>();
        services.AddSingleton<EventGridEndpoint>();
        services.AddSingleton<RunRequests>();
        services.AddSingleton<SoarEndpoints>();
        services.AddSingleton<LogicAppsEndpoints>();
        services.AddSingleton<WorkflowRuns>();
        services.AddSingleton<BrokeredHandout>();
        services.AddSingleton<WorkflowEndpoints>();
        services.AddSingleton<DeadLetterEndpoints>();

        string? connectionString = configuration["Intake:ConnectionString"] is { Length: > 0 } own ? own : configuration["Audit:Table:ConnectionString"];
        if (string.IsNullOrEmpty(connectionString))
        {
            throw new InvalidOperationException(
                "Missing setting Intake:ConnectionString (or Audit:Table:ConnectionString): expected an Azure Storage connection string for the intake journal and dead letters.");
        }

        services.AddSingleton<IIntakeJournal>(provider => TableIntakeJournal.FromConnectionString(
            connectionString, configuration["Intake:JournalTableName"] ?? "NhiIntakeRecords", provider.GetService<ILogger<TableIntakeJournal>>()));
        services.AddSingleton<IDeadLetterStore>(_ => TableDeadLetterStore.FromConnectionString(
            connectionString, configuration["Intake:DeadLetterTableName"] ?? "NhiDeadLetters", configuration["Intake:DeadLetterContainerName"] ?? "nhi-dead-letters"));
        services.AddSingleton<ICallbackSubscriptionStore>(_ => TableCallbackSubscriptionStore.FromConnectionString(
            connectionString, configuration["Intake:CallbackTableName"] ?? "NhiCallbacks"));

        // Callbacks go to hosts outside this service, so redirects are not followed: a redirect could lead the
        // POST, with the run's result, to a host the allow-list never checked.
        services.AddSingleton(provider => new CallbackDispatcher(
            provider.GetRequiredService<ICallbackSubscriptionStore>(),
            provider.GetRequiredService<IDeadLetterStore>(),
            new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { Timeout = TimeSpan.FromSeconds(30) },
            provider.GetRequiredService<EdgeOptions>(),
            provider.GetRequiredService<TimeProvider>(),
            provider.GetRequiredService<Microsoft.Extensions.Logging.ILogger<CallbackDispatcher>>()));
        services.AddHostedService<CallbackDispatcherService>();
        services.AddHostedService<UnsignedLoopbackWarning>();
        return services;
    }

    /// <summary>Maps the edge routes of hosts built on ASP.NET Core (the local host and tests).</summary>
    public static IEndpointRouteBuilder MapNhiEdgeEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/api/eventgrid/{source}", (HttpContext context, string source, EventGridEndpoint eventGrid, DurableTaskClient client) =>
            eventGrid.HandleAsync(context, source, client, EdgeCaller.Direct));
        endpoints.MapMethods("/api/eventgrid/{source}", ["OPTIONS"], (HttpContext context, EventGridEndpoint eventGrid) =>
            eventGrid.HandleOptionsAsync(context));

        endpoints.MapPost("/api/soar/runs", (HttpContext context, SoarEndpoints soar, DurableTaskClient client) =>
            soar.StartAsync(context, client, EdgeCaller.Direct));
        endpoints.MapGet("/api/soar/runs", (HttpContext context, SoarEndpoints soar, DurableTaskClient client) =>
            soar.ListAsync(context, client, EdgeCaller.Direct));
        endpoints.MapGet("/api/soar/runs/{runId}", (HttpContext context, string runId, SoarEndpoints soar, DurableTaskClient client) =>
            soar.GetAsync(context, runId, client, EdgeCaller.Direct));
        endpoints.MapPost("/api/soar/runs/{runId}/approval", (HttpContext context, string runId, SoarEndpoints soar, DurableTaskClient client) =>
            soar.ApproveAsync(context, runId, client, EdgeCaller.Direct));
        endpoints.MapPost("/api/soar/runs/{runId}/cancel", (HttpContext context, string runId, SoarEndpoints soar, DurableTaskClient client) =>
            soar.CancelAsync(context, runId, client, EdgeCaller.Direct));

        endpoints.MapPost("/api/logicapps/runs", (HttpContext context, LogicAppsEndpoints logicApps, DurableTaskClient client) =>
            logicApps.StartAsync(context, client, EdgeCaller.Direct));
        endpoints.MapGet("/api/logicapps/runs/{runId}", (HttpContext context, string runId, LogicAppsEndpoints logicApps, DurableTaskClient client) =>
            logicApps.PollAsync(context, runId, client, EdgeCaller.Direct));
        endpoints.MapPost("/api/logicapps/subscriptions", (HttpContext context, LogicAppsEndpoints logicApps, DurableTaskClient client) =>
            logicApps.SubscribeAsync(context, client, EdgeCaller.Direct));
        endpoints.MapDelete("/api/logicapps/subscriptions/{subscriptionId}", (HttpContext context, string subscriptionId, LogicAppsEndpoints logicApps) =>
            logicApps.UnsubscribeAsync(context, subscriptionId, EdgeCaller.Direct));

        endpoints.MapPost("/api/workflows/{workflow}/runs", (HttpContext context, string workflow, WorkflowEndpoints workflows, DurableTaskClient client) =>
            workflows.StartAsync(context, workflow, client, EdgeCaller.Direct));
        endpoints.MapGet("/api/workflows/runs/{runId}", (HttpContext context, string runId, WorkflowEndpoints workflows, DurableTaskClient client) =>
            workflows.GetAsync(context, runId, client, EdgeCaller.Direct));
        endpoints.MapPost("/api/workflows/runs/{runId}/steps/{step}/credentials", (HttpContext context, string runId, string step, WorkflowEndpoints workflows, DurableTaskClient client) =>
            workflows.ClaimAsync(context, runId, step, client));
        endpoints.MapPost("/api/workflows/runs/{runId}/steps/{step}/done", (HttpContext context, string runId, string step, WorkflowEndpoints workflows, DurableTaskClient client) =>
            workflows.DoneAsync(context, runId, step, client));
        endpoints.MapPost("/api/workflows/runs/{runId}/cancel", (HttpContext context, string runId, WorkflowEndpoints workflows, DurableTaskClient client) =>
            workflows.CancelAsync(context, runId, client));
        endpoints.MapPost("/api/logicapps/workflows/{workflow}", (HttpContext context, string workflow, WorkflowEndpoints workflows, DurableTaskClient client) =>
            workflows.StartForLogicAppAsync(context, workflow, client, EdgeCaller.Direct));
        endpoints.MapGet("/api/logicapps/workflows/runs/{runId}", (HttpContext context, string runId, WorkflowEndpoints workflows, DurableTaskClient client) =>
            workflows.PollForLogicAppAsync(context, runId, client, EdgeCaller.Direct));

        endpoints.MapGet("/api/deadletters", (HttpContext context, DeadLetterEndpoints deadLetters) =>
            deadLetters.ListAsync(context, EdgeCaller.Direct));
        endpoints.MapPost("/api/deadletters/{id}/replay", (HttpContext context, string id, DeadLetterEndpoints deadLetters, DurableTaskClient client) =>
            deadLetters.ReplayAsync(context, id, client, EdgeCaller.Direct));
        return endpoints;
    }
}
