using System.CommandLine;

namespace Nhi.Serverless.Cli.Audit;

/// <summary>The "audit" command: auditor tools that read the audit tables directly or verify an export offline, and signing key rotation.</summary>
public static class AuditCommand
{
    public static Command Create()
    {
        var command = new Command("audit", "Query the audit tables, export a time range, verify an export offline, and rotate the local signing key.");
        command.Subcommands.Add(AuditQueryCommand.Create());
        command.Subcommands.Add(AuditExportCommand.Create());
        command.Subcommands.Add(AuditVerifyCommand.Create());
        command.Subcommands.Add(AuditRotateKeyCommand.Create());
        return command;
    }
}
