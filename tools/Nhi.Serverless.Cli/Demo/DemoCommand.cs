using System.CommandLine;

namespace Nhi.Serverless.Cli.Demo;

/// <summary>The "demo" command: posts the sample findings to a running host and reports every run.</summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var host = new Option<Uri>("--host")
        {
            Description = "Base URL of a running local host.",
            DefaultValueFactory = _ => new Uri("http://127.0.0.1:7071"),
            CustomParser = CommandLineUrls.Parse,
        };
        Option<FileInfo?> caCert = HostClient.CaCertOption();
        var samples = new Option<DirectoryInfo>("--samples")
        {
            Description = "Folder with securityhub/ and ocsf/ sample alerts.",
            DefaultValueFactory = _ => new DirectoryInfo("samples"),
        };
        var summary = new Option<FileInfo?>("--summary")
        {
            Description = "Also write the facts of every run as a JSON array to this file.",
        };
        var timeout = new Option<int>("--timeout")
        {
            Description = "Seconds to wait for all runs to finish.",
            DefaultValueFactory = _ => 120,
        };

        var httpsHost = new Option<Uri?>("--https-host")
        {
            Description = "HTTPS base URL of the same host, where brokered steps' credentials are claimed.",
            CustomParser = CommandLineUrls.Parse,
        };
        var workflow = new Option<string?>("--workflow")
        {
            Description = "Run only this business workflow (cicd, rpa, loan, claims or healthcare) and no remediation samples.",
        };

        var command = new Command("demo", "Post every sample finding and run every business workflow sample, and print what each run did.")
        {
            host, caCert, samples, summary, timeout, httpsHost, workflow,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var demo = new DemoRunner(
                parse.GetValue(host)!,
                parse.GetValue(samples)!,
                parse.GetValue(summary),
                TimeSpan.FromSeconds(parse.GetValue(timeout)),
                Console.Out,
                parse.GetValue(caCert))
            {
                HttpsHost = parse.GetValue(httpsHost),
                OnlyWorkflow = parse.GetValue(workflow),
            };
            return await demo.RunAsync(cancellationToken);
        });
        return command;
    }
}
