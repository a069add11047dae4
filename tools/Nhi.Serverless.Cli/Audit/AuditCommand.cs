using System.CommandLine;

namespace Nhi.Serverless.Cli.Audit;

/// <summary>The "audit" command: auditor tools that read the audit tables directly or verify an export offline.</summary>
public static class AuditCommand
{
    public static Command Create()
    {
        var command = new Command("audit", "Query the audit tables, export a time range, and verify an export offline.");
        command.Subcommands.Add(AuditQueryCommand.Create());
        command.Subcommands.Add(AuditExportCommand.Create());
        command.Subcommands.Add(AuditVerifyCommand.Create());
        return command;
    }
}
