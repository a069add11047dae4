using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Nhi.Serverless.Lambdas.Container;

/// <summary>Settings of the Lambda handlers, read from the configuration section "Lambda".</summary>
/// <param name="RunTimeout">How long the SQS handler waits for one run before it reports the record for retry.</param>
/// <param name="InvocationTimeout">
/// The handler's own budget per invocation, which must be below the function's timeout: records not finished
/// within it are reported for retry instead of being cut off when Lambda stops the invocation.
/// </param>
/// <param name="LeaseDuration">
/// How long a run's lease lasts. At least <paramref name="RunTimeout"/>, and at most the queue's visibility
/// timeout, so that a message a crashed container held finds the lease lapsed when it becomes visible again.
/// </param>
/// <param name="MaxConcurrentRecords">Records of a standard-queue batch processed at once; FIFO batches run one record at a time.</param>
public sealed record LambdaOptions(TimeSpan RunTimeout, TimeSpan InvocationTimeout, TimeSpan LeaseDuration, int MaxConcurrentRecords)
{
    /// <summary>The configuration section these settings are read from.</summary>
    public const string SectionName = "Lambda";

    /// <summary>Defaults for a function with a 15-minute timeout and a queue visibility timeout of at least 6 minutes.</summary>
    public static LambdaOptions Default { get; } = new(
        RunTimeout: TimeSpan.FromMinutes(5),
        InvocationTimeout: TimeSpan.FromMinutes(14),
        LeaseDuration: TimeSpan.FromMinutes(6),
        MaxConcurrentRecords: 10);

    /// <summary>Reads the section, keeping the default of every key that is not set.</summary>
    /// <exception cref="OptionsValidationException">A setting is invalid; the message names it and the expected value.</exception>
    public static LambdaOptions Read(IConfiguration configuration)
    {
        IConfigurationSection section = configuration.GetSection(SectionName);
        var errors = new List<string>();
        var options = new LambdaOptions(
            ReadSeconds(section, "RunTimeoutSeconds", Default.RunTimeout, errors),
            ReadSeconds(section, "InvocationTimeoutSeconds", Default.InvocationTimeout, errors),
            ReadSeconds(section, "LeaseSeconds", Default.LeaseDuration, errors),
            (int)ReadPositive(section, "MaxConcurrentRecords", Default.MaxConcurrentRecords, errors));

        if (errors.Count == 0 && options.LeaseDuration < options.RunTimeout)
        {
            errors.Add(
                $"{SectionName}:LeaseSeconds ({options.LeaseDuration.TotalSeconds}) is below {SectionName}:RunTimeoutSeconds ({options.RunTimeout.TotalSeconds}); "
                + "expected a lease at least as long as the wait for a run, or another container would start the same run while this one waits.");
        }

        if (errors.Count > 0)
        {
            throw new OptionsValidationException(SectionName, typeof(LambdaOptions), errors);
        }

        return options;
    }

    private static TimeSpan ReadSeconds(IConfigurationSection section, string name, TimeSpan fallback, List<string> errors) =>
        TimeSpan.FromSeconds(ReadPositive(section, name, (long)fallback.TotalSeconds, errors));

    private static long ReadPositive(IConfigurationSection section, string name, long fallback, List<string> errors)
    {
        string? text = section[name];
        if (text is null)
        {
            return fallback;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value) || value <= 0 || value > int.MaxValue)
        {
            errors.Add($"{SectionName}:{name} '{text}' is invalid; expected a positive whole number.");
            return fallback;
        }

        return value;
    }
}
