using Microsoft.AspNetCore.Builder;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Worker;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Hosting.Durable;
using Nhi.Serverless.Hosting.Http;
using Nhi.Serverless.Hosting.Https;
using Nhi.Serverless.Orchestration;

namespace Nhi.Serverless.Hosting;

/// <summary>
/// Builds the local host: the HTTP API on the configured URLs and on an HTTPS listener, the Durable Task worker and
/// client, and the gRPC sidecar with the configured backend, all in one process. Tests build the same host with
/// their own configuration.
/// </summary>
public static class NhiLocalHost
{
    /// <param name="args">Command-line arguments, such as --urls.</param>
    /// <param name="configureConfiguration">Adds configuration sources after the defaults and the NHI_* variables.</param>
    /// <param name="configureServices">Adds or replaces services after the shared registrations.</param>
    public static async Task<WebApplication> BuildAsync(
        string[] args,
        Action<IConfigurationBuilder>? configureConfiguration = null,
        Action<IServiceCollection>? configureServices = null)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddStackEnvironment();
        configureConfiguration?.Invoke(builder.Configuration);

        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.UseUtcTimestamp = true;
            console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
        });
        builder.Services.Configure<HostOptions>(host => host.ServicesStopConcurrently = true);
        builder.Services.AddNhiServerless(builder.Configuration);
        HttpsOptions https = HttpsOptions.Read(builder.Configuration);
        LocalTlsCertificate certificate = builder.AddLocalHttps(https);

        DurableSidecarOptions durable = NhiConfiguration.ReadDurable(builder.Configuration);
        // The sidecar's own request logs would repeat every gRPC call; its warnings and errors still show.
        ILoggerFactory sidecarLogging = LoggerFactory.Create(logging =>
        {
            logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
            logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
            logging.AddFilter("Microsoft.DurableTask", LogLevel.Warning);
            logging.AddFilter("DurableTask", LogLevel.Warning);
            logging.AddFilter("Microsoft.Hosting", LogLevel.Warning);
            logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.UseUtcTimestamp = true;
                console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            });
        });

        DurableSidecar sidecar = await DurableSidecar.StartAsync(durable, sidecarLogging, CancellationToken.None);
        try
        {
            builder.Services.AddDurableTaskWorker(worker =>
            {
                worker.UseGrpc(sidecar.Channel);
                worker.AddTasks(registry => registry.AddNhiTasks());
            });
            builder.Services.AddDurableTaskClient(client => client.UseGrpc(sidecar.Channel));
            configureServices?.Invoke(builder.Services);

            // An unexpected exception becomes a problem+json 500 without details; the middleware logs it.
            builder.Services.AddProblemDetails();

            WebApplication app = builder.Build();
            app.UseExceptionHandler();
            app.MapNhiEndpoints();
            app.LogHttpsEndpointOnStart(https, certificate);
            // The worker stops with the other hosted services; the sidecar it streams from goes after it.
            app.Lifetime.ApplicationStopped.Register(() =>
            {
                sidecar.DisposeAsync().AsTask().GetAwaiter().GetResult();
                sidecarLogging.Dispose();
            });
            return app;
        }
        catch
        {
            await sidecar.DisposeAsync();
            sidecarLogging.Dispose();
            throw;
        }
    }
}
