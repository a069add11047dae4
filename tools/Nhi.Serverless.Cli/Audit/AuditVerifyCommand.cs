using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Cli.Audit;

/// <summary>The "audit verify" command: verifies an export folder offline, prints a report, and exits 1 on any problem.</summary>
public static class AuditVerifyCommand
{
    /// <summary>How many problems the report lists one by one; the counts per kind cover the rest.</summary>
    public const int ListedProblems = 50;

    public static Command Create()
    {
        var folder = new Argument<DirectoryInfo>("folder") { Description = "The folder that 'audit export' wrote." };
        var allSignatures = new Option<bool>("--all-signatures") { Description = "Also check the signature of every checkpointed record (about 70 microseconds each)." };
        var jwks = new Option<FileInfo?>("--jwks") { Description = "Verify the manifest, checkpoints and records with the keys in this trusted JWKS file instead of the folder's jwks.json." };
        var through = new Option<string?>("--checkpoints-through") { Description = "Require checkpoints up to this time (ISO 8601) instead of the manifest's checkpointed_through." };

        var command = new Command("verify", "Verify an audit export offline: the manifest signature, record hashes and chains, checkpoint signatures, Merkle roots and links. Exit code 1 on any problem.")
        {
            folder, allSignatures, jwks, through,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            string directory = parse.GetValue(folder)!.FullName;
            AuditExportReport report;
            var stopwatch = Stopwatch.StartNew();
            try
            {
                Jwks? keys = parse.GetValue(jwks) is { } file ? Jwks.Parse(await File.ReadAllTextAsync(file.FullName, cancellationToken)) : null;
                DateTimeOffset? required = AuditTableOptions.ParseTime(parse.GetValue(through));
                report = AuditExportFolder.Verify(directory, keys, required, parse.GetValue(allSignatures));
            }
            catch (Exception ex) when (ex is FormatException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
            {
                await output.WriteLineAsync($"FAILED: the export in {directory} cannot be read: {ex.Message}");
                return 1;
            }

            stopwatch.Stop();
            await WriteReportAsync(output, directory, report, stopwatch.Elapsed);
            return report.Valid ? 0 : 1;
        });
        return command;
    }

    private static async Task WriteReportAsync(TextWriter output, string directory, AuditExportReport report, TimeSpan elapsed)
    {
        AuditTrailReport trail = report.Trail;
        await output.WriteLineAsync($"export: {directory}");
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture,
            $"records: {trail.RecordCount} ({trail.CoveredRecordCount} in checkpointed windows, {trail.SignaturesVerified} signatures checked one by one)"));
        await output.WriteLineAsync(trail.FirstWindow is { } first && trail.LastWindow is { } last
            ? $"checkpoints: {trail.CheckpointCount}, windows {AuditExportFolder.FormatTime(first.Start)} to {AuditExportFolder.FormatTime(last.End)}"
            : "checkpoints: none");
        if (trail.ChainAnchorId is { } anchor)
        {
            await output.WriteLineAsync($"checkpoint chain continues from checkpoint {anchor}, which is not in this export");
        }

        await output.WriteLineAsync($"signing keys: {string.Join(", ", trail.KeyIds)}; compare them with a copy you trust");
        await output.WriteLineAsync(report.ManifestKeyId is { } manifestKid ? $"manifest signed with key {manifestKid}" : "manifest: not signed");
        await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"verified in {elapsed.TotalSeconds:F1} s"));

        foreach (string problem in report.FolderProblems)
        {
            await output.WriteLineAsync($"PROBLEM Folder: {problem}");
        }

        foreach (AuditTrailProblem problem in trail.Problems.Take(ListedProblems))
        {
            await output.WriteLineAsync($"PROBLEM {problem.Kind}: {problem.Message}");
        }

        if (trail.ProblemCount > ListedProblems)
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"... and {trail.ProblemCount - ListedProblems} more problems"));
        }

        foreach ((AuditProblemKind kind, long count) in trail.ProblemCounts.OrderBy(pair => pair.Key))
        {
            await output.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"count {kind}: {count}"));
        }

        await output.WriteLineAsync(report.Valid ? "VALID" : string.Create(CultureInfo.InvariantCulture, $"FAILED: {trail.ProblemCount + report.FolderProblems.Count} problems"));
    }
}
