using System.Text;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Writes an auditor export (see <see cref="AuditExportFolder"/>) from the audit tables: every
/// checkpoint whose window overlaps the range, every record in those windows and up to the range's end,
/// the public keys published in the checkpoint table plus any extra keys given and the signer's key,
/// and a manifest that <paramref name="signer"/> signs.
/// </summary>
public sealed class AuditExporter(TableAuditStore records, AuditCheckpointTable checkpoints, IAuditSigner signer, TimeProvider? timeProvider = null)
{
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Exports [<paramref name="from"/>, <paramref name="to"/>), widened to whole checkpoint windows, into a new or empty folder.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The range is empty.</exception>
    /// <exception cref="IOException">The folder is not empty.</exception>
    /// <exception cref="AuditSigningException">The signer failed to sign the manifest.</exception>
    public async Task<AuditExportManifest> ExportAsync(
        DateTimeOffset from,
        DateTimeOffset to,
        string directory,
        IEnumerable<JsonWebKey>? extraKeys,
        CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(to, from);
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
        {
            throw new IOException($"The export folder '{directory}' is not empty; choose a new or empty folder, so files of two exports are not mixed.");
        }

        Directory.CreateDirectory(directory);
        IReadOnlyList<SignedAuditCheckpoint> exported = await checkpoints.ReadRangeAsync(from, to, cancellationToken).ConfigureAwait(false);
        DateTimeOffset recordsFrom = exported.Count > 0 && exported[0].Window.Start < from ? exported[0].Window.Start : from;
        DateTimeOffset recordsTo = exported.Count > 0 && exported[^1].Window.End > to ? exported[^1].Window.End : to;

        await File.WriteAllLinesAsync(Path.Combine(directory, AuditExportFolder.CheckpointsFile), exported.Select(checkpoint => checkpoint.Json), Utf8, cancellationToken).ConfigureAwait(false);
        long recordCount = await WriteRecordsAsync(Path.Combine(directory, AuditExportFolder.RecordsFile), recordsFrom, recordsTo, cancellationToken).ConfigureAwait(false);

        var keys = new Dictionary<string, JsonWebKey>(StringComparer.Ordinal);
        foreach (JsonWebKey key in (await checkpoints.ReadKeysAsync(cancellationToken).ConfigureAwait(false)).Concat(extraKeys ?? []).Append(signer.PublicJwk))
        {
            keys.TryAdd(key.Kid, key);
        }

        var jwks = new Jwks(keys.Values.OrderBy(key => key.Kid, StringComparer.Ordinal));

        var manifest = new AuditExportManifest(
            from,
            to,
            recordsFrom,
            recordsTo,
            recordCount,
            exported.Count,
            exported.Count > 0 ? exported[^1].Window.End : null,
            (timeProvider ?? TimeProvider.System).GetUtcNow(),
            keys.Keys.Order(StringComparer.Ordinal).ToArray());
        await AuditExportFolder.WriteManifestAsync(directory, manifest, jwks, signer, cancellationToken).ConfigureAwait(false);
        return manifest;
    }

    private async Task<long> WriteRecordsAsync(string path, DateTimeOffset from, DateTimeOffset to, CancellationToken cancellationToken)
    {
        long count = 0;
        await using var writer = new StreamWriter(path, append: false, Utf8) { NewLine = "\n" };
        string? continuationToken = null;
        do
        {
            AuditRecordPage page = await records.QueryByTimeAsync(from, to, continuationToken, TableAuditStore.MaxPageSize, cancellationToken).ConfigureAwait(false);
            foreach (SignedAuditRecord record in page.Records)
            {
                await writer.WriteLineAsync(record.Json.AsMemory(), cancellationToken).ConfigureAwait(false);
                count++;
            }

            continuationToken = page.ContinuationToken;
        }
        while (continuationToken is not null);

        return count;
    }
}
