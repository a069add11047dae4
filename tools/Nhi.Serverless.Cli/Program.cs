using System.CommandLine;
using Nhi.Serverless.Cli.Demo;

var root = new RootCommand("Nhi.Serverless command-line tool: runs the demo against a local host.");
root.Subcommands.Add(DemoCommand.Create());
root.Subcommands.Add(Nhi.Serverless.Cli.Audit.AuditCommand.Create());
root.Subcommands.Add(Nhi.Serverless.Cli.Runs.RunsCommand.Create());
root.Subcommands.Add(Nhi.Serverless.Cli.DeadLetter.DeadLetterCommand.Create());
root.Subcommands.Add(Nhi.Serverless.Cli.Intake.IntakeCommand.Create());
root.Subcommands.Add(Nhi.Serverless.Cli.Oidc.OidcCommand.Create());
return await root.Parse(args).InvokeAsync();
