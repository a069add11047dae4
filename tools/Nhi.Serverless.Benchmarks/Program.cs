using System.CommandLine;
using Nhi.Serverless.Benchmarks;

var root = new RootCommand("Nhi.Serverless benchmarks. Each writes a Markdown results page.");
root.Subcommands.Add(RemediationBenchmark.CreateCommand());
root.Subcommands.Add(AuditBenchmark.CreateCommand());
root.Subcommands.Add(EdgeBenchmark.CreateCommand());
root.Subcommands.Add(AzuriteCommand.Create());
return await root.Parse(args).InvokeAsync();
