using System.CommandLine;
using Azure;
using Azure.Data.Tables;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Azure.Intake;
using Nhi.Serverless.Azure.Runs;

namespace Nhi.Serverless.Cli.Intake;

/// <summary>
/// The "intake migrate" command: copies the run registry and the intake journal from the tables of the previous key
/// layout into the tables that the current host reads. Entities already in the destination are kept, and the source
/// tables are only read.
/// </summary>
/// <remarks>Exit codes: 0 when both tables were copied; 1 when the connection string is missing or invalid or a
/// source table does not exist, before anything is copied; 2 when a storage request failed or entities were left out
/// because their keys are not of the previous layout.</remarks>
public static class IntakeMigrateCommand
{
    public const int DefaultProgressEvery = 5000;

    public static Command Create()
    {
        var connectionString = new Option<string?>("--connection-string")
        {
            Description = $"Azure Storage connection string, {TableAuditStoreOptions.ConnectionStringVariable} when omitted. Never printed.",
        };
        var fromRuns = new Option<string>("--from-runs")
        {
            Description = "The run registry table of the previous layout.",
            DefaultValueFactory = _ => TableRunRegistry.PreviousTableName,
        };
        var toRuns = new Option<string>("--to-runs")
        {
            Description = "The run registry table the host reads (Runs:TableName).",
            DefaultValueFactory = _ => TableRunRegistry.DefaultTableName,
        };
        var fromJournal = new Option<string>("--from-journal")
        {
            Description = "The intake journal table of the previous layout.",
            DefaultValueFactory = _ => TableIntakeJournal.PreviousTableName,
        };
        var toJournal = new Option<string>("--to-journal")
        {
            Description = "The intake records table the host reads (Intake:JournalTableName).",
            DefaultValueFactory = _ => TableIntakeJournal.DefaultTableName,
        };
        var progressEvery = new Option<int>("--progress-every")
        {
            Description = "Print a progress line after about every this many entities read.",
            DefaultValueFactory = _ => DefaultProgressEvery,
        };

        var command = new Command(
            "migrate",
            "Copy the run registry and intake journal from the tables of the previous key layout into the current ones. "
            + "Run it once before starting the new version. Running it again changes nothing.")
        {
            connectionString, fromRuns, toRuns, fromJournal, toJournal, progressEvery,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            TextWriter error = parse.InvocationConfiguration.Error;
            var plan = new MigrationPlan(
                parse.GetValue(fromRuns)!, parse.GetValue(toRuns)!, parse.GetValue(fromJournal)!, parse.GetValue(toJournal)!);
            int every = parse.GetValue(progressEvery);
            if (every < 1)
            {
                await error.WriteLineAsync($"error: --progress-every is {every}; expected 1 or more.");
                return 1;
            }

            if (plan.SameTable() is { } same)
            {
                await error.WriteLineAsync($"error: {same} names the same table twice, but the source and the destination must differ.");
                return 1;
            }

            TableServiceClient? service = Connect(parse.GetValue(connectionString), out string? problem);
            if (service is null)
            {
                await error.WriteLineAsync($"error: {problem}");
                return 1;
            }

            return await RunAsync(service, plan, every, output, error, cancellationToken);
        });
        return command;
    }

    private static TableServiceClient? Connect(string? option, out string? problem)
    {
        string variable = TableAuditStoreOptions.ConnectionStringVariable;
        string? connectionString = option ?? Environment.GetEnvironmentVariable(variable);
        problem = null;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            problem = $"No storage connection string: pass --connection-string or set {variable}.";
            return null;
        }

        try
        {
            return new TableServiceClient(connectionString);
        }
        catch (Exception invalid) when (invalid is FormatException or ArgumentException or InvalidOperationException)
        {
            // The exception's message may quote the connection string, which contains the account key.
            problem = $"The storage connection string is invalid. Expected an Azure Storage connection string in --connection-string or {variable}.";
            return null;
        }
    }

    private static async Task<int> RunAsync(
        TableServiceClient service, MigrationPlan plan, int every, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        try
        {
            IReadOnlyList<string> missing = await PreviousLayoutMigration.FindMissingTablesAsync(
                service, [plan.FromRuns, plan.FromJournal], cancellationToken);
            if (missing.Count > 0)
            {
                await error.WriteLineAsync(
                    $"error: the source table {string.Join(" and ", missing.Select(name => $"'{name}'"))} does not exist in this storage account. "
                    + "Check --from-runs and --from-journal. Nothing was copied.");
                return 1;
            }

            void Report(TableMigrationCounts counts) =>
                output.WriteLine($"{counts.Source} -> {counts.Destination}: {counts.Read} read, {counts.Copied} copied, {counts.Skipped} skipped");

            await output.WriteLineAsync($"Copying the run registry from {plan.FromRuns} to {plan.ToRuns}.");
            TableMigrationCounts runs = await PreviousLayoutMigration.MigrateAsync(
                service, MigratedTable.RunRegistry, plan.FromRuns, plan.ToRuns, every, Report, cancellationToken);
            await output.WriteLineAsync($"Copying the intake journal from {plan.FromJournal} to {plan.ToJournal}.");
            TableMigrationCounts journal = await PreviousLayoutMigration.MigrateAsync(
                service, MigratedTable.IntakeJournal, plan.FromJournal, plan.ToJournal, every, Report, cancellationToken);

            int exitCode = 0;
            foreach (TableMigrationCounts counts in new[] { runs, journal })
            {
                await output.WriteLineAsync($"{counts.Source} -> {counts.Destination}: {counts.Copied} copied, {counts.Skipped} skipped (already there).");
                if (counts.NotInPreviousLayout > 0)
                {
                    await error.WriteLineAsync(
                        $"error: {counts.NotInPreviousLayout} of {counts.Read} entities in {counts.Source} were not copied because their keys are not of the previous layout. "
                        + "Check that the table is the one the previous version wrote.");
                    exitCode = 2;
                }
            }

            return exitCode;
        }
        catch (RequestFailedException failure)
        {
            // Prints the status and error code but not the message, because the message can quote request URLs.
            await error.WriteLineAsync(
                $"error: a storage request failed with status {failure.Status} ({failure.ErrorCode ?? "no error code"}). "
                + "What was copied stays, and running the command again copies the rest.");
            return 2;
        }
    }

    private sealed record MigrationPlan(string FromRuns, string ToRuns, string FromJournal, string ToJournal)
    {
        /// <summary>Returns the option pair that names one table twice, or null when every table is different.</summary>
        public string? SameTable()
        {
            (string Options, string First, string Second)[] pairs =
            [
                ("--from-runs and --to-runs", FromRuns, ToRuns),
                ("--from-journal and --to-journal", FromJournal, ToJournal),
                ("--from-runs and --to-journal", FromRuns, ToJournal),
                ("--from-journal and --to-runs", FromJournal, ToRuns),
                ("--to-runs and --to-journal", ToRuns, ToJournal),
            ];
            return pairs.FirstOrDefault(pair => string.Equals(pair.First, pair.Second, StringComparison.OrdinalIgnoreCase)).Options;
        }
    }
}
