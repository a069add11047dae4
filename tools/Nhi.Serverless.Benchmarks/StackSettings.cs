namespace Nhi.Serverless.Benchmarks;

/// <summary>Reads the local stack's settings from NHI_* environment variables (demo.sh and bench.sh export them).</summary>
public static class StackSettings
{
    public static string Get(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"Environment variable {name} is not set: run through ./bench.sh, which loads .stack/stack.env.");
}
