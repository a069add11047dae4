using DurableTask.AzureStorage;
using DurableTask.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.DurableTask.Testing.Sidecar.Grpc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Nhi.Serverless.Hosting.Durable;

/// <summary>Which store keeps orchestration state for the sidecar.</summary>
public enum DurableBackend
{
    /// <summary>In process memory: fastest, and nothing survives a restart.</summary>
    InMemory,

    /// <summary>Azure Storage queues, tables and blobs (Azurite locally): runs survive a restart.</summary>
    AzureStorage,
}

/// <summary>Settings of the Durable Task sidecar.</summary>
/// <param name="Backend">The orchestration store.</param>
/// <param name="AzureStorageConnectionString">Required for <see cref="DurableBackend.AzureStorage"/>.</param>
/// <param name="TaskHubName">The task hub; Azure Storage names its queues and tables after it.</param>
/// <param name="MaxConcurrentWorkItems">Orchestration and activity work items the backend hands out at once, each.</param>
/// <param name="WorkItemVisibilityTimeout">Azure Storage only: how long a dequeued work item stays hidden, so how soon a
/// work item of a host that died is handed out again; null keeps the backend's default of 5 minutes.</param>
public sealed record DurableSidecarOptions(
    DurableBackend Backend,
    string? AzureStorageConnectionString = null,
    string TaskHubName = "NhiServerless",
    int MaxConcurrentWorkItems = 64,
    TimeSpan? WorkItemVisibilityTimeout = null);

/// <summary>
/// The Durable Task gRPC sidecar (the backend side of the worker/client protocol) on 127.0.0.1 with a
/// free port, so the same orchestrators and activities run here as in the Functions host.
/// </summary>
public sealed class DurableSidecar : IAsyncDisposable
{
    private readonly WebApplication _app;

    private DurableSidecar(WebApplication app, string address)
    {
        _app = app;
        Address = address;
        Channel = GrpcChannel.ForAddress(address);
    }

    /// <summary>The sidecar's base address, such as "http://127.0.0.1:40123".</summary>
    public string Address { get; }

    /// <summary>The channel the worker and client connect over.</summary>
    public GrpcChannel Channel { get; }

    public static async Task<DurableSidecar> StartAsync(DurableSidecarOptions options, ILoggerFactory loggerFactory, CancellationToken cancellationToken)
    {
        IOrchestrationService service = await CreateBackendAsync(options, loggerFactory);

        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.Services.Configure<HostOptions>(host => host.ServicesStopConcurrently = true);
        builder.WebHost.ConfigureKestrel(kestrel =>
            kestrel.Listen(System.Net.IPAddress.Loopback, 0, listen => listen.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(service);
        builder.Services.AddSingleton((IOrchestrationServiceClient)service);
        builder.Services.AddSingleton<TaskHubGrpcServer>();

        WebApplication app = builder.Build();
        app.MapGrpcService<TaskHubGrpcServer>();
        await app.StartAsync(cancellationToken);

        string address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        loggerFactory.CreateLogger<DurableSidecar>().LogInformation(
            "Durable Task sidecar listening on {Address} with the {Backend} backend, task hub {TaskHub}",
            address, options.Backend, options.TaskHubName);

        return new DurableSidecar(app, address);
    }

    private static async Task<IOrchestrationService> CreateBackendAsync(DurableSidecarOptions options, ILoggerFactory loggerFactory)
    {
        if (options.Backend == DurableBackend.InMemory)
        {
            return new TunedInMemoryOrchestrationService(loggerFactory, options.MaxConcurrentWorkItems);
        }

        if (string.IsNullOrWhiteSpace(options.AzureStorageConnectionString))
        {
            throw new InvalidOperationException(
                "The AzureStorage backend needs a connection string: set Durable:AzureStorageConnectionString.");
        }

        var settings = new AzureStorageOrchestrationServiceSettings
        {
            StorageAccountClientProvider = new StorageAccountClientProvider(options.AzureStorageConnectionString),
            TaskHubName = options.TaskHubName,
            LoggerFactory = loggerFactory,
            // Without it the first orchestration after start waited about 5 s for partition leases on Azurite.
            UseTablePartitionManagement = true,
            MaxQueuePollingInterval = TimeSpan.FromSeconds(1),
            MaxConcurrentTaskActivityWorkItems = options.MaxConcurrentWorkItems,
            MaxConcurrentTaskOrchestrationWorkItems = options.MaxConcurrentWorkItems,
        };
        if (options.WorkItemVisibilityTimeout is { } visibility)
        {
            settings.WorkItemQueueVisibilityTimeout = visibility;
            settings.ControlQueueVisibilityTimeout = visibility;
        }

        var service = new AzureStorageOrchestrationService(settings);
        await service.CreateIfNotExistsAsync();
        return service;
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
