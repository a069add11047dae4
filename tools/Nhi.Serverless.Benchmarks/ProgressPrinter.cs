namespace Nhi.Serverless.Benchmarks;

/// <summary>Prints a progress line every few seconds until disposed, so that a long measurement shows its progress.</summary>
internal sealed class ProgressPrinter : IDisposable
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly Timer _timer;

    /// <summary>Starts printing <paramref name="describe"/>'s line every 5 seconds.</summary>
    public ProgressPrinter(Func<string> describe) =>
        _timer = new Timer(_ => Console.WriteLine(describe()), null, Interval, Interval);

    public void Dispose() => _timer.Dispose();
}
