using System.CommandLine;

namespace Nhi.Serverless.Cli.Intake;

/// <summary>The "intake" command: maintenance of the tables that the alert intake writes.</summary>
public static class IntakeCommand
{
    public static Command Create()
    {
        var command = new Command("intake", "Maintain the run registry and intake journal tables.");
        command.Subcommands.Add(IntakeMigrateCommand.Create());
        return command;
    }
}
