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
/// <param name="FolderProblems">Problems with the manifest and the other files: a manifest signature that does not verify, a jwks.json that differs from the manifest's copy, or a count that does not match.</param>
/// <param name="ManifestKeyId">The kid that signed the manifest; null when it is not signed.</param>
public sealed record AuditExportReport(AuditTrailReport Trail, AuditExportManifest Manifest, IReadOnlyList<string> FolderProblems, string? ManifestKeyId)
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
/// The manifest contains a copy of jwks.json and is sealed like a checkpoint (<c>kid</c>, <c>alg</c>,
/// <c>hash</c>, <c>signature</c>), so an edited range, count or key set is detected. A manifest and
/// key set that were replaced together, and signed with a key added to them, still verify against the
/// folder's own jwks.json. Verify with a copy of the keys you trust, such as the host's
/// /.well-known/jwks.json, or compare the key ids with it.
/// </remarks>
public static class AuditExportFolder
{
    public const string RecordsFile = "records.jsonl";
    public const string CheckpointsFile = "checkpoints.jsonl";
    public const string JwksFile = "jwks.json";
    public const string ManifestFile = "manifest.json";

    /// <summary>The value of the manifest's <c>format</c> member.</summary>
    public const string FormatName = "nhi-audit-export/1";

    /// <summary>The manifest member with the signed copy of jwks.json.</summary>
    public const string JwksMember = "jwks";

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Writes jwks.json and manifest.json, the manifest with a copy of the key set and sealed by the signer.</summary>
    /// <exception cref="AuditSigningException">The signer failed.</exception>
    public static async Task WriteManifestAsync(string directory, AuditExportManifest manifest, Jwks jwks, IAuditSigner signer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ArgumentNullException.ThrowIfNull(jwks);
        ArgumentNullException.ThrowIfNull(signer);
        await File.WriteAllTextAsync(Path.Combine(directory, JwksFile), jwks.ToJson() + "\n", Utf8, cancellationToken).ConfigureAwait(false);

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
            [JwksMember] = jwks.ToJsonObject(),
        };
        await AuditChain.SignAsync(json, signer, cancellationToken).ConfigureAwait(false);
        await File.WriteAllTextAsync(Path.Combine(directory, ManifestFile), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }) + "\n", Utf8, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads manifest.json.</summary>
    /// <exception cref="FormatException">The manifest is not an export manifest of this format.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static AuditExportManifest ReadManifest(string directory) => ToManifest(ReadManifestJson(directory), Path.Combine(directory, ManifestFile));

    private static JsonObject ReadManifestJson(string directory)
    {
        string path = Path.Combine(directory, ManifestFile);
        return JsonNode.Parse(File.ReadAllText(path)) is JsonObject json && JsonRead.String(json, "format") == FormatName
            ? json
            : throw new FormatException($"{path} is not an audit export manifest; expected a JSON object with \"format\": \"{FormatName}\".");
    }

    private static AuditExportManifest ToManifest(JsonObject json, string path)
    {
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
    /// Verifies an export folder: the manifest's signature, jwks.json against the manifest's copy, the
    /// records against the checkpoints and the JWKS, checkpoints up to the manifest's
    /// <c>checkpointed_through</c> unless <paramref name="checkpointsRequiredThrough"/> is given, and
    /// the record and checkpoint counts against the manifest.
    /// </summary>
    /// <param name="directory">The export folder.</param>
    /// <param name="jwks">Trusted keys to use instead of the folder's jwks.json, for the manifest, checkpoints and records; null to use that file.</param>
    /// <param name="checkpointsRequiredThrough">The time checkpoints must reach; null for the manifest's value.</param>
    /// <param name="verifyAllSignatures">Also check the signature of every checkpointed record.</param>
    /// <exception cref="FormatException">A file is not in the export format.</exception>
    /// <exception cref="IOException">A file cannot be read.</exception>
    public static AuditExportReport Verify(string directory, Jwks? jwks = null, DateTimeOffset? checkpointsRequiredThrough = null, bool verifyAllSignatures = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        JsonObject manifestJson = ReadManifestJson(directory);
        AuditExportManifest manifest = ToManifest(manifestJson, Path.Combine(directory, ManifestFile));
        string folderJwks = File.ReadAllText(Path.Combine(directory, JwksFile));
        jwks ??= Jwks.Parse(folderJwks);
        var folderProblems = new List<string>();
        string? manifestKeyId = CheckManifest(manifestJson, folderJwks, jwks, folderProblems);
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

        if (trail.RecordCount != manifest.RecordCount)
        {
            folderProblems.Add($"{RecordsFile} has {Format(trail.RecordCount)} records but {ManifestFile} states {Format(manifest.RecordCount)}");
        }

        if (checkpoints.Count != manifest.CheckpointCount)
        {
            folderProblems.Add($"{CheckpointsFile} has {Format(checkpoints.Count)} checkpoints but {ManifestFile} states {Format(manifest.CheckpointCount)}");
        }

        return new AuditExportReport(trail, manifest, folderProblems, manifestKeyId);
    }

    /// <summary>Checks the manifest's seal against the keys and jwks.json against the manifest's signed copy.</summary>
    /// <returns>The kid that signed the manifest, or null when it is not signed.</returns>
    private static string? CheckManifest(JsonObject manifest, string folderJwks, Jwks keys, List<string> problems)
    {
        string? kid = JsonRead.String(manifest, AuditRecordFields.KeyId);
        if (kid is null || !manifest.ContainsKey(AuditRecordFields.Signature))
        {
            problems.Add($"{ManifestFile} is not signed, so its range, counts and key set cannot be trusted; export again with a signing key");
            return null;
        }

        VerificationResult seal = AuditVerifier.VerifySealed(manifest, keys, ManifestFile);
        if (!seal.Valid)
        {
            problems.Add(seal.Reason);
        }

        if (manifest[JwksMember] is not JsonObject signedCopy)
        {
            problems.Add($"{ManifestFile} has no \"{JwksMember}\" copy of the key set");
            return kid;
        }

        JsonNode? fileCopy;
        try
        {
            fileCopy = JsonNode.Parse(folderJwks);
        }
        catch (System.Text.Json.JsonException)
        {
            fileCopy = null;
        }

        if (fileCopy is null || !JsonNode.DeepEquals(fileCopy, signedCopy))
        {
            problems.Add($"{JwksFile} differs from the signed copy in {ManifestFile}: a key was added, removed or changed after the export");
        }

        return kid;
    }

    /// <summary>Formats a time as the export files do, such as "2025-03-01T10:00:00.000Z".</summary>
    public static string FormatTime(DateTimeOffset time) => AuditRecordStream.FormatTime(time);

    private static DateTimeOffset ReadTime(JsonObject json, string name, string path) =>
        DateTimeOffset.TryParse(JsonRead.String(json, name), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out DateTimeOffset time)
            ? time
            : throw new FormatException($"{path} has no valid time in \"{name}\".");

    private static string Format(long value) => value.ToString(CultureInfo.InvariantCulture);
}
