using System.CommandLine;

namespace Nhi.Serverless.Cli.Runs;

/// <summary>The "runs" command: approve or reject a run that waits for approval, list a run's grants, and sweep now.</summary>
public static class RunsCommand
{
    public static Command Create()
    {
        var command = new Command("runs", "Act on runs through a running host: approve, reject, grants, sweep.");
        command.Subcommands.Add(DecisionCommand("approve", approve: true));
        command.Subcommands.Add(DecisionCommand("reject", approve: false));
        command.Subcommands.Add(GrantsCommand());
        command.Subcommands.Add(SweepCommand());
        return command;
    }

    private static Command DecisionCommand(string name, bool approve)
    {
        Option<Uri> host = HostOption();
        Option<FileInfo?> caCert = HostClient.CaCertOption();
        var runId = new Argument<string>("run-id") { Description = "The id of the run that waits for approval." };
        var by = new Option<string>("--by")
        {
            Description = "Who decides, as the audit trail should name them, such as an email address.",
            Required = true,
        };
        var reason = new Option<string?>("--reason") { Description = "Why; written to the audit trail." };

        var command = new Command(name, approve
            ? "Approve a run that waits for approval, so it issues its grant and acts."
            : "Reject a run that waits for approval, so it ends without a grant.")
        {
            runId, by, reason, host, caCert,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var client = Client(parse, host, caCert);
            return await client.DecideAsync(parse.GetValue(runId)!, approve, parse.GetValue(by)!, parse.GetValue(reason), cancellationToken);
        });
        return command;
    }

    private static Command GrantsCommand()
    {
        Option<Uri> host = HostOption();
        Option<FileInfo?> caCert = HostClient.CaCertOption();
        var runId = new Argument<string>("run-id") { Description = "The run whose grants to list." };
        var command = new Command("grants", "List a run's grants as the grant ledger records them.") { runId, host, caCert };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var client = Client(parse, host, caCert);
            return await client.ListGrantsAsync(parse.GetValue(runId)!, cancellationToken);
        });
        return command;
    }

    private static Command SweepCommand()
    {
        Option<Uri> host = HostOption();
        Option<FileInfo?> caCert = HostClient.CaCertOption();
        var command = new Command("sweep", "Sweep now: revoke every grant left open after its run ended or its step deadline passed.") { host, caCert };
        command.SetAction(async (parse, cancellationToken) =>
        {
            using var client = Client(parse, host, caCert);
            return await client.SweepAsync(cancellationToken);
        });
        return command;
    }

    private static RunsClient Client(ParseResult parse, Option<Uri> host, Option<FileInfo?> caCert) =>
        new(parse.GetValue(host)!, parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error, parse.GetValue(caCert));

    private static Option<Uri> HostOption() => new("--host")
    {
        Description = "Base URL of a running local host.",
        DefaultValueFactory = _ => new Uri("http://127.0.0.1:7071"),
        CustomParser = CommandLineUrls.Parse,
    };
}
