using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Hosting.Sweeper;

namespace Nhi.Serverless.Lambdas.Container;

/// <summary>The services of the sweeper function: the ledger and the revokers, without the orchestration.</summary>
internal sealed class SweeperContainer
{
    private static readonly OncePerContainer<SweeperContainer> Shared = new(BuildAsync);

    private SweeperContainer(ServiceProvider services)
    {
        Services = services;
        Sweeper = GrantSweepers.Create(services, client: null);
    }

    public IServiceProvider Services { get; }

    public GrantSweeper Sweeper { get; }

    public static Task<SweeperContainer> GetAsync() => Shared.GetAsync();

    private static async Task<SweeperContainer> BuildAsync()
    {
        IConfiguration configuration = LambdaServices.BuildConfiguration();
        var services = new ServiceCollection();
        services.AddLogging(logging => logging.AddLambdaConsole(configuration));
        services.AddLambdaServices(configuration);
        LambdaTestHooks.ConfigureServices?.Invoke(services);

        ServiceProvider provider = services.BuildServiceProvider();
        await LambdaServices.PrepareTablesAsync(provider, CancellationToken.None);
        return new SweeperContainer(provider);
    }
}
