using System.Globalization;
using Amazon.SecurityToken;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.Iam;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Aws.Sts;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Azure.Grants;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Guardrails;
using Nhi.Serverless.Orchestration;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Hosting.Sweeper;

/// <summary>
/// Registers what keeps a credential from outliving its task: the grant ledger and run slots on Azure Table Storage,
/// the guardrails, the approval audit log, the sweeper and, in hosts that run it in process, the sweeper loop.
/// </summary>
/// <remarks>
/// The ledger's open grants and the run slots are kept per <c>Durable:TaskHubName</c> (default NhiServerless).
/// Settings: <c>Grants:ConnectionString</c> (default: <c>Audit:Table:ConnectionString</c>), <c>Grants:LedgerTableName</c>
/// (NhiGrants), <c>Grants:RunSlotsTableName</c> (NhiRunSlots), <c>Grants:MaxStepSeconds</c> (300),
/// <c>Sweeper:IntervalSeconds</c> (60), <c>Sweeper:Loop</c> (true), the <c>Guardrails</c> section, and, for fault-injection
/// tests only, <c>FaultInjection:DelayAfterGrantIssuedSeconds</c> (0, off).
/// </remarks>
public static class GrantSafetyServices
{
    /// <summary>Registers the services; throws <see cref="InvalidOperationException"/> naming the first invalid setting.</summary>
    public static IServiceCollection AddGrantSafety(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);

        GrantLedgerOptions ledgerOptions = ReadLedgerOptions(configuration);
        GuardrailOptions guardrails = ReadGuardrails(configuration);
        string connectionString = ReadConnectionString(configuration);
        string ledgerTable = ReadTableName(configuration, "Grants:LedgerTableName", "NhiGrants");
        string slotsTable = ReadTableName(configuration, "Grants:RunSlotsTableName", "NhiRunSlots");
        // One deployment is one task hub; deployments sharing a storage account keep their open grants and slots apart.
        string scope = configuration["Durable:TaskHubName"] is { Length: > 0 } taskHub ? taskHub : "NhiServerless";
        TimeSpan delayAfterIssue = TimeSpan.FromSeconds(ReadSeconds(configuration, "FaultInjection:DelayAfterGrantIssuedSeconds", 0, allowZero: true));

        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(ledgerOptions);
        services.AddSingleton(guardrails);
        services.AddSingleton(new GuardrailEvaluator(guardrails));
        services.AddSingleton<IResourceTagReader>(new FindingTagReader("aws"));
        services.AddSingleton<IGrantLedger>(provider => TableGrantLedger.FromConnectionString(
            connectionString, ledgerTable, scope, provider.GetRequiredService<TimeProvider>(), provider.GetService<ILogger<TableGrantLedger>>()));
        services.AddSingleton<IRunSlots>(provider => TableRunSlots.FromConnectionString(
            connectionString,
            slotsTable,
            scope,
            provider.GetService<DurableTaskClient>() is { } client ? new DurableRunStatusReader(client) : null,
            provider.GetRequiredService<TimeProvider>(),
            provider.GetService<ILogger<TableRunSlots>>()));
        services.AddSingleton<IGrantAuditLog>(provider => new TableGrantAuditLog(
            provider.GetRequiredService<TableAuditStore>(),
            provider.GetRequiredService<IAuditSigner>(),
            provider.GetService<ICredentialFingerprinter>(),
            provider.GetServices<IAuditSink>(),
            provider.GetService<ILogger<TableGrantAuditLog>>()));
        services.AddSingleton<IHostedService, GuardrailStartupCheck>();

        if (!string.Equals(configuration["Sweeper:Loop"], "false", StringComparison.OrdinalIgnoreCase))
        {
            services.AddHostedService<GrantSweeperLoop>();
        }

        RecordStsIssues(services, delayAfterIssue);
        return services;
    }

    /// <summary>Removes the in-process sweeper loop, for hosts that sweep from a schedule of their own, such as a timer trigger.</summary>
    public static IServiceCollection RemoveGrantSweeperLoop(this IServiceCollection services)
    {
        services.RemoveAll<GrantSweeperLoop>();
        ServiceDescriptor[] loops = services
            .Where(descriptor => descriptor.ServiceType == typeof(IHostedService) && descriptor.ImplementationType == typeof(GrantSweeperLoop))
            .ToArray();
        foreach (ServiceDescriptor loop in loops)
        {
            services.Remove(loop);
        }

        return services;
    }

    public static GrantLedgerOptions ReadLedgerOptions(IConfiguration configuration) =>
        new(
            TimeSpan.FromSeconds(ReadSeconds(configuration, "Grants:MaxStepSeconds", (int)GrantLedgerOptions.Default.MaxStepTime.TotalSeconds)),
            TimeSpan.FromSeconds(ReadSeconds(configuration, "Sweeper:IntervalSeconds", (int)GrantLedgerOptions.Default.SweepInterval.TotalSeconds)));

    public static GuardrailOptions ReadGuardrails(IConfiguration configuration)
    {
        var options = new GuardrailOptions();
        try
        {
            configuration.GetSection(GuardrailOptions.SectionName).Bind(options);
        }
        catch (InvalidOperationException binding)
        {
            throw new InvalidOperationException($"Invalid setting in section {GuardrailOptions.SectionName}: {binding.Message}", binding);
        }

        options.ThrowIfInvalid();
        return options;
    }

    // The STS broker gets its client wrapped, so the ledger records each grant as issued while its step runs.
    private static void RecordStsIssues(IServiceCollection services, TimeSpan delayAfterIssue)
    {
        if (!services.Any(descriptor => descriptor.ServiceType == typeof(StsGrantBroker)))
        {
            return;
        }

        services.AddSingleton(provider => new StsGrantBroker(
            provider.GetRequiredService<AwsOptions>(),
            StsIssueRecorder.Wrap(
                provider.GetRequiredService<IAmazonSecurityTokenService>(),
                provider.GetRequiredService<IGrantLedger>(),
                provider.GetRequiredService<ICredentialFingerprinter>(),
                provider.GetRequiredService<TimeProvider>(),
                delayAfterIssue,
                LoggerFor<StsIssueRecorder>(provider)),
            provider.GetRequiredService<IamQueryClient>(),
            provider.GetRequiredService<S3ClientFactory>(),
            provider.GetRequiredService<ICredentialFingerprinter>(),
            provider.GetRequiredService<TimeProvider>(),
            LoggerFor<StsGrantBroker>(provider)));
    }

    private static string ReadConnectionString(IConfiguration configuration)
    {
        if (configuration["Grants:ConnectionString"] is { Length: > 0 } own)
        {
            return own;
        }

        return configuration["Audit:Table:ConnectionString"] is { Length: > 0 } audit
            ? audit
            : throw new InvalidOperationException(
                "Missing setting Grants:ConnectionString: expected an Azure Storage connection string for the grant ledger (or Audit:Table:ConnectionString).");
    }

    private static string ReadTableName(IConfiguration configuration, string key, string fallback)
    {
        string name = configuration[key] is { Length: > 0 } configured ? configured : fallback;
        if (name.Length is < 3 or > 63 || !char.IsAsciiLetter(name[0]) || !name.All(char.IsAsciiLetterOrDigit))
        {
            throw new InvalidOperationException($"Invalid setting {key} '{name}': expected an Azure table name of 3 to 63 letters and digits, starting with a letter.");
        }

        return name;
    }

    private static int ReadSeconds(IConfiguration configuration, string key, int fallback, bool allowZero = false)
    {
        string? text = configuration[key];
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || (value == 0 && !allowZero))
        {
            throw new InvalidOperationException(
                $"Invalid setting {key} '{text}': expected {(allowZero ? "0 (off) or a positive" : "a positive")} whole number of seconds.");
        }

        return value;
    }

    private static ILogger<T> LoggerFor<T>(IServiceProvider provider) =>
        provider.GetService<ILogger<T>>() ?? NullLogger<T>.Instance;
}

/// <summary>
/// Checks at start the guardrail settings that need other services: playbook names against the registered playbooks,
/// and each broker's maximum TTL against the shortest lifetime the broker can issue. A bad setting stops the host.
/// </summary>
internal sealed class GuardrailStartupCheck(
    GuardrailOptions options, IEnumerable<Playbook> playbooks, IEnumerable<BrokerRoute> brokers, IEnumerable<IResourceTagReader> tagReaders, IServiceProvider services)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        options.ThrowIfUnknownPlaybooks(playbooks.Select(playbook => playbook.Name).ToArray());

        // Tag rules fail closed, so without a reader they would refuse, or hold for approval, every run.
        if (!tagReaders.Any() && (options.ProtectedResources.Tags.Count > 0 || options.RequireApproval.Tags.Count > 0))
        {
            string setting = options.ProtectedResources.Tags.Count > 0 ? "ProtectedResources:Tags" : "RequireApproval:Tags";
            throw new InvalidOperationException(
                $"Invalid setting {GuardrailOptions.SectionName}:{setting}: tag rules need a resource tag reader and none is registered, so every run would match; "
                + "expected no tag rules until a reader for the resources' provider is registered.");
        }

        // NOTE: only the STS broker's shortest lifetime is known here; other brokers accept any positive maximum TTL.
        Dictionary<string, TimeSpan> minimums = brokers.ToDictionary(route => route.Broker, _ => TimeSpan.Zero, StringComparer.Ordinal);
        if (services.GetService<StsGrantBroker>() is { } sts)
        {
            minimums[sts.Name] = sts.Lifetime.Minimum;
        }

        options.ThrowIfBelowBrokerMinimum(minimums);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
