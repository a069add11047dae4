namespace Nhi.Serverless.Benchmarks;

/// <summary>Percentiles of a set of durations, by the nearest-rank method.</summary>
public sealed record LatencyStats(int Count, double P50Ms, double P90Ms, double P99Ms, double MaxMs)
{
    public static LatencyStats From(IEnumerable<double> millisecondValues)
    {
        double[] sorted = millisecondValues.Order().ToArray();
        if (sorted.Length == 0)
        {
            return new LatencyStats(0, double.NaN, double.NaN, double.NaN, double.NaN);
        }

        return new LatencyStats(sorted.Length, Rank(sorted, 0.50), Rank(sorted, 0.90), Rank(sorted, 0.99), sorted[^1]);
    }

    private static double Rank(double[] sorted, double percentile) =>
        sorted[Math.Clamp((int)Math.Ceiling(percentile * sorted.Length) - 1, 0, sorted.Length - 1)];
}
