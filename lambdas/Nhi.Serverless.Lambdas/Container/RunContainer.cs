using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Hosting.Durable;
using Nhi.Serverless.Lambdas.Sqs;
using Nhi.Serverless.Orchestration;

namespace Nhi.Serverless.Lambdas.Container;

/// <summary>
/// What the SQS handler builds once per container: the shared services, the Durable Task sidecar with the
/// in-memory backend on 127.0.0.1, and the worker and client connected to it. Runs therefore execute the same
/// orchestrator and activities as in the Functions app and the local host.
/// </summary>
/// <remarks>
/// Orchestration state lives in this container's memory and ends with it. What survives a crash is in
/// DynamoDB: the run's lease (the message is processed again once the lease and the visibility timeout
/// lapse) and the grant ledger (the sweeper revokes grants the crashed run left open).
/// </remarks>
internal sealed class RunContainer
{
    private static readonly OncePerContainer<RunContainer> Shared = new(StartAsync);

    private RunContainer(IHost host) => Services = host.Services;

    public IServiceProvider Services { get; }

    /// <summary>This container's name as a lease owner.</summary>
    public string Owner => Services.GetRequiredService<ContainerIdentity>().Owner;

    public DurableTaskClient Client => Services.GetRequiredService<DurableTaskClient>();

    public static Task<RunContainer> GetAsync() => Shared.GetAsync();

    private static async Task<RunContainer> StartAsync()
    {
        IConfiguration configuration = LambdaServices.BuildConfiguration();

        // The sidecar's own request logs would repeat every gRPC call; its warnings and errors still show.
        ILoggerFactory sidecarLogging = LoggerFactory.Create(logging =>
        {
            logging.AddLambdaConsole(configuration);
            logging.AddFilter("Microsoft", LogLevel.Warning);
            logging.AddFilter("DurableTask", LogLevel.Warning);
        });
        DurableSidecar sidecar = await DurableSidecar.StartAsync(
            new DurableSidecarOptions(DurableBackend.InMemory), sidecarLogging, CancellationToken.None);

        HostApplicationBuilder builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        builder.Configuration.AddConfiguration(configuration);
        builder.Logging.AddLambdaConsole(configuration);
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.Configure<HostOptions>(host => host.ServicesStopConcurrently = true);
        builder.Services.AddLambdaServices(configuration);
        builder.Services.AddSingleton(ContainerIdentity.Create());
        builder.Services.AddSingleton<AlertBodyRouter>();
        builder.Services.AddSingleton<ContainerRuns>();
        builder.Services.AddSingleton<FindingRecordProcessor>();
        builder.Services.AddSingleton<SqsBatchProcessor>();
        builder.Services.AddDurableTaskWorker(worker =>
        {
            worker.UseGrpc(sidecar.Channel);
            worker.AddTasks(registry => registry.AddNhiTasks());
        });
        builder.Services.AddDurableTaskClient(client => client.UseGrpc(sidecar.Channel));
        LambdaTestHooks.ConfigureServices?.Invoke(builder.Services);

        IHost host = builder.Build();
        await LambdaServices.PrepareTablesAsync(host.Services, CancellationToken.None);
        await host.StartAsync();

        var container = new RunContainer(host);
        host.Services.GetRequiredService<ILogger<RunContainer>>().LogInformation(
            "Lambda container {Owner} started the Durable Task sidecar on {Address}", container.Owner, sidecar.Address);
        return container;
    }
}
