using System.CommandLine;
using Nhi.Serverless.Cli.Demo;

var root = new RootCommand("Nhi.Serverless command-line tool: runs the demo against a local host.");
root.Subcommands.Add(DemoCommand.Create());
return await root.Parse(args).InvokeAsync();
