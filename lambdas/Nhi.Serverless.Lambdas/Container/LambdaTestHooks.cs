using Microsoft.Extensions.DependencyInjection;

namespace Nhi.Serverless.Lambdas.Container;

/// <summary>
/// The one place where tests change a container before it is built, such as wrapping the STS client to record the
/// credentials it issues so they can be searched for in logs and outputs. Unset on Lambda.
/// </summary>
internal static class LambdaTestHooks
{
    /// <summary>Applied after every other registration when a container is built.</summary>
    public static Action<IServiceCollection>? ConfigureServices { get; set; }
}
