using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>What an export folder contains, as stated in its manifest.json.</summary>
/// <param name="From">The start of the requested range.</param>
/// <param name="To">The end of the requested range.</param>
/// <param name="RecordsFrom">The start of the exported records: the requested start, moved back to the start of its checkpoint window.</param>
/// <param name="RecordsTo">The end of the exported records: the requested end, moved forward to the end of its checkpoint window.</param>
/// <param name="RecordCount">How many records records.jsonl has.</param>
/// <param name="CheckpointCount">How many checkpoints checkpoints.jsonl has.</param>
/// <param name="CheckpointedThrough">The end of the last exported checkpoint's window, or null without checkpoints.</param>
/// <param name="ExportedAt">When the export was written.</param>
/// <param name="KeyIds">The key ids in jwks.json.</param>
public sealed record AuditExportManifest(
    DateTimeOffset From,
    DateTimeOffset To,
    DateTimeOffset RecordsFrom,
    DateTimeOffset RecordsTo,
    long RecordCount,
    int CheckpointCount,
    DateTimeOffset? CheckpointedThrough,
    DateTimeOffset ExportedAt,
    IReadOnlyList<string> KeyIds);

/// <summary>The result of verifying an export folder.</summary>
/// <param name="Trail">The verification of the records against the checkpoints and keys.</param>
/// <param name="Manifest">The folder's manifest.</param>
/// <param name="FolderProblems">Differences between the files and the manifest, such as a record count that does not match.</param>
public sealed record AuditExportReport(AuditTrailReport Trail, AuditExportManifest Manifest, IReadOnlyList<string> FolderProblems)
{
    /// <summary>True when the trail verified and the files match the manifest.</summary>
    public bool Valid => Trail.Valid && FolderProblems.Count == 0;
}

/// <summary>
/// The auditor export format: a folder with records.jsonl (one sealed record per line, in id order),
/// checkpoints.jsonl (one checkpoint per line, in window order), jwks.json (the public keys) and
/// manifest.json. It verifies offline with nothing else.
/// </summary>
/// <remarks>
/// NOTE: the manifest and jwks.json are not signed, so they show only what the exporter saw. Compare the
/// key ids with a copy of the keys you trust, such as the host's /.well-known/jwks.json. Pass the time
/// that checkpoints must reach when you know it, because someone who can change the files can also
/// shorten the manifest's range.
/// </remarks>
public static class AuditExportFolder
{
    public const string RecordsFile = "records.jsonl";
    public const string CheckpointsFile = "checkpoints.jsonl";
    public const string JwksFile = "jwks.json";
    public const string ManifestFile = "manifest.json";

    /// <summary>The value of the manifest's <c>format</c> member.</summary>
    public const string FormatName = "nhi-audit-export/1";

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Writes manifest.json.</summary>
    public static void WriteManifest(string directory, AuditExportManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        var json = new JsonObject
        {
            ["format"] = FormatName,
            ["from"] = FormatTime(manifest.From),
            ["to"] = FormatTime(manifest.To),
            ["records_from"] = FormatTime(manifest.RecordsFrom),
            ["records_to"] = FormatTime(manifest.RecordsTo),
            ["record_count"] = manifest.RecordCount,
            ["checkpoint_count"] = manifest.CheckpointCount,
            ["checkpointed_through"] = manifest.CheckpointedThrough is { } through ? FormatTime(through) : null,
            ["exported_at"] = FormatTime(manifest.ExportedAt),
            ["key_ids"] = new JsonArray(manifest.KeyIds.Select(kid => (JsonNode)kid).ToArray()),
        };
        File.WriteAllText(Path.Combine(directory, ManifestFile), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n", Utf8);
    }

    /// <summary>Reads manifest.json.</summary>
    /// <exception cref="FormatException">The manifest is not an export manifest of this format.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static AuditExportManifest ReadManifest(string directory)
    {
        string path = Path.Combine(directory, ManifestFile);
        if (JsonNode.Parse(File.ReadAllText(path)) is not JsonObject json || JsonRead.String(json, "format") != FormatName)
        {
            throw new FormatException($"{path} is not an audit export manifest; expected a JSON object with \"format\": \"{FormatName}\".");
        }

        string through = JsonRead.String(json, "checkpointed_through") ?? "";
        return new AuditExportManifest(
            ReadTime(json, "from", path),
            ReadTime(json, "to", path),
            ReadTime(json, "records_from", path),
            ReadTime(json, "records_to", path),
            JsonRead.Integer(json, "record_count") ?? throw new FormatException($"{path} has no integer record_count."),
            (int)(JsonRead.Integer(json, "checkpoint_count") ?? throw new FormatException($"{path} has no integer checkpoint_count.")),
            through.Length == 0 ? null : ReadTime(json, "checkpointed_through", path),
            ReadTime(json, "exported_at", path),
            json["key_ids"] is JsonArray kids ? kids.Select(kid => kid?.GetValue<string>() ?? "").ToArray() : []);
    }

    /// <summary>
    /// Verifies an export folder: the records against the checkpoints and the JWKS, checkpoints up to
    /// the manifest's <c>checkpointed_through</c> unless <paramref name="checkpointsRequiredThrough"/> is
    /// given, and the record and checkpoint counts against the manifest.
    /// </summary>
    /// <param name="directory">The export folder.</param>
    /// <param name="jwks">Keys to use instead of the folder's jwks.json; null to use that file.</param>
    /// <param name="checkpointsRequiredThrough">The time checkpoints must reach; null for the manifest's value.</param>
    /// <param name="verifyAllSignatures">Also check the signature of every checkpointed record.</param>
    /// <exception cref="FormatException">A file is not in the export format.</exception>
    /// <exception cref="IOException">A file cannot be read.</exception>
    public static AuditExportReport Verify(string directory, Jwks? jwks = null, DateTimeOffset? checkpointsRequiredThrough = null, bool verifyAllSignatures = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        AuditExportManifest manifest = ReadManifest(directory);
        jwks ??= Jwks.Parse(File.ReadAllText(Path.Combine(directory, JwksFile)));
        List<string> checkpoints = File.ReadLines(Path.Combine(directory, CheckpointsFile))
            .Where(line => !string.IsNullOrWhiteSpace(line))
            .ToList();

        var options = new AuditTrailVerificationOptions
        {
            VerifyAllSignatures = verifyAllSignatures,
            CheckpointsRequiredThrough = checkpointsRequiredThrough ?? manifest.CheckpointedThrough,
        };

        AuditTrailReport trail;
        using (var records = new FileStream(Path.Combine(directory, RecordsFile), FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.SequentialScan))
        {
            trail = AuditVerifier.VerifyTrail(records, checkpoints, jwks, options);
        }

        var folderProblems = new List<string>();
        if (trail.RecordCount != manifest.RecordCount)
        {
            folderProblems.Add($"{RecordsFile} has {Format(trail.RecordCount)} records but {ManifestFile} states {Format(manifest.RecordCount)}");
        }

        if (checkpoints.Count != manifest.CheckpointCount)
        {
            folderProblems.Add($"{CheckpointsFile} has {Format(checkpoints.Count)} checkpoints but {ManifestFile} states {Format(manifest.CheckpointCount)}");
        }

        return new AuditExportReport(trail, manifest, folderProblems);
    }

    /// <summary>Formats a time as the export files do, such as "2025-03-01T10:00:00.000Z".</summary>
    public static string FormatTime(DateTimeOffset time) => AuditRecordStream.FormatTime(time);

    private static DateTimeOffset ReadTime(JsonObject json, string name, string path) =>
        DateTimeOffset.TryParse(JsonRead.String(json, name), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset time)
            ? time
            : throw new FormatException($"{path} has no valid time in \"{name}\".");

    private static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}
