namespace Nhi.Serverless.Lambdas.Container;

/// <summary>The name this container takes leases under: its log stream (or host name) and a random suffix.</summary>
/// <param name="Owner">Unique per container, so a lease always names the container that holds it.</param>
internal sealed record ContainerIdentity(string Owner)
{
    public static ContainerIdentity Create()
    {
        string logStream = Environment.GetEnvironmentVariable("AWS_LAMBDA_LOG_STREAM_NAME") is { Length: > 0 } stream
            ? stream
            : Environment.MachineName;
        return new ContainerIdentity($"{logStream}#{Guid.NewGuid():N}");
    }
}
