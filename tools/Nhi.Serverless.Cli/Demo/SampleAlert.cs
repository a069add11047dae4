namespace Nhi.Serverless.Cli.Demo;

/// <summary>One sample alert file and the intake route it belongs to.</summary>
public sealed record SampleAlert(string Name, string Path, string Source, string ContentType)
{
    /// <summary>Finds samples/securityhub/*.json and samples/ocsf/*.json(l), in name order.</summary>
    public static IReadOnlyList<SampleAlert> Discover(DirectoryInfo root)
    {
        List<SampleAlert> alerts = [];
        foreach (string source in new[] { "securityhub", "ocsf" })
        {
            var folder = new DirectoryInfo(System.IO.Path.Combine(root.FullName, source));
            if (!folder.Exists)
            {
                continue;
            }

            foreach (FileInfo file in folder.EnumerateFiles().OrderBy(file => file.Name, StringComparer.Ordinal))
            {
                string? contentType = file.Extension switch
                {
                    ".json" => "application/json",
                    ".jsonl" => "application/x-ndjson",
                    _ => null,
                };
                if (contentType is not null)
                {
                    alerts.Add(new SampleAlert($"{source}/{file.Name}", file.FullName, source, contentType));
                }
            }
        }

        return alerts;
    }
}
