using System.CommandLine;
using Azure;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Aws.Audit;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Cli.Audit;

/// <summary>The "audit export" command: writes records, checkpoints and keys of a time range to a folder that verifies offline.</summary>
public static class AuditExportCommand
{
    public static Command Create()
    {
        var tables = new AuditTableOptions();
        var from = new Option<string>("--from") { Description = "Start of the range (ISO 8601, UTC when no offset); moved back to the start of its checkpoint window.", Required = true };
        var to = new Option<string>("--to") { Description = "End of the range (ISO 8601); moved forward to the end of its checkpoint window.", Required = true };
        var output = new Option<DirectoryInfo>("--out") { Description = "A new or empty folder for records.jsonl, checkpoints.jsonl, jwks.json and manifest.json.", Required = true };
        var jwks = new Option<FileInfo?>("--jwks") { Description = "A JWKS file whose keys are added to those published in the checkpoint table." };
        var signingKey = new Option<FileInfo?>("--signing-key")
        {
            Description = $"The PKCS#8 PEM audit signing key that signs manifest.json; {AuditSigningOptions.KeyFilePathVariable} when omitted. Its public key must be one that auditors trust.",
        };
        var kmsKeyId = new Option<string?>("--kms-key-id") { Description = $"Sign manifest.json with this AWS KMS key (key id, ARN or alias) instead; {AuditSigningOptions.KmsKeyIdVariable} when omitted." };
        var kmsServiceUrl = new Option<string?>("--kms-service-url") { Description = $"The KMS endpoint for --kms-key-id; {AuditSigningOptions.KmsServiceUrlVariable}, or the SDK's endpoint of the key's region, when omitted." };

        var command = new Command("export", "Export audit records with their checkpoints and public keys, and a signed manifest, for offline verification.")
        {
            from, to, output, jwks, signingKey, kmsKeyId, kmsServiceUrl,
        };
        tables.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter console = parse.InvocationConfiguration.Output;
            TextWriter error = parse.InvocationConfiguration.Error;
            try
            {
                DateTimeOffset start = AuditTableOptions.ParseTime(parse.GetValue(from))!.Value;
                DateTimeOffset end = AuditTableOptions.ParseTime(parse.GetValue(to))!.Value;
                if (end <= start)
                {
                    await error.WriteLineAsync("error: --to must be after --from.");
                    return 2;
                }

                IEnumerable<JsonWebKey> extraKeys = parse.GetValue(jwks) is { } file ? Jwks.Parse(await File.ReadAllTextAsync(file.FullName, cancellationToken)).Keys : [];
                (TableAuditStore records, AuditCheckpointTable checkpoints) = tables.Open(parse);
                await AuditTableOptions.RequireTablesAsync(records, needIndex: false, cancellationToken);
                if (!await checkpoints.ExistsAsync(cancellationToken))
                {
                    await console.WriteLineAsync($"note: the checkpoint table '{checkpoints.TableName}' does not exist, so the export has no checkpoints; check --checkpoints-table");
                }

                string directory = parse.GetValue(output)!.FullName;
                IAuditSigner signer = CreateSigner(parse.GetValue(signingKey), parse.GetValue(kmsKeyId), parse.GetValue(kmsServiceUrl));

                AuditExportManifest manifest;
                try
                {
                    manifest = await new AuditExporter(records, checkpoints, signer).ExportAsync(start, end, directory, extraKeys, cancellationToken);
                }
                finally
                {
                    (signer as IDisposable)?.Dispose();
                }

                await console.WriteLineAsync($"exported {manifest.RecordCount} records and {manifest.CheckpointCount} checkpoints to {directory}");
                await console.WriteLineAsync($"records from {AuditExportFolder.FormatTime(manifest.RecordsFrom)} to {AuditExportFolder.FormatTime(manifest.RecordsTo)}");
                await console.WriteLineAsync(manifest.CheckpointedThrough is { } through
                    ? $"checkpointed through {AuditExportFolder.FormatTime(through)}; records after that are verified by their signatures alone"
                    : "no checkpoint covers the range; records are verified by their signatures alone");
                await console.WriteLineAsync($"signing keys: {string.Join(", ", manifest.KeyIds)}; compare them with a copy you trust, such as the host's /.well-known/jwks.json");
                await console.WriteLineAsync($"manifest.json signed with key {signer.KeyId}");
                return 0;
            }
            catch (Exception ex) when (ex is AuditConfigurationException or AuditSigningException or InvalidOperationException or FormatException or ArgumentException or IOException or UnauthorizedAccessException or RequestFailedException)
            {
                await error.WriteLineAsync($"error: {ex.Message}");
                return 2;
            }
        });
        return command;
    }

    /// <summary>Creates the manifest signer from the options, falling back to the NHI_AUDIT_* variables; never creates a key file.</summary>
    /// <exception cref="AuditConfigurationException">No key is given, or a setting is invalid.</exception>
    private static IAuditSigner CreateSigner(FileInfo? signingKey, string? kmsKeyId, string? kmsServiceUrl)
    {
        AuditSigningOptions options = AuditSigningOptions.FromEnvironment();
        if (signingKey is not null)
        {
            options.Signer = AuditSigningOptions.LocalSigner;
            options.KeyFilePath = signingKey.FullName;
        }
        else if (kmsKeyId is not null)
        {
            options.Signer = AuditSigningOptions.AwsKmsSigner;
            options.KmsKeyId = kmsKeyId;
        }

        options.KmsServiceUrl = kmsServiceUrl ?? options.KmsServiceUrl;
        if (options.Signer == AuditSigningOptions.LocalSigner && string.IsNullOrWhiteSpace(options.KeyFilePath))
        {
            throw new AuditConfigurationException(
                [$"No key to sign manifest.json: pass --signing-key or --kms-key-id, or set {AuditSigningOptions.KeyFilePathVariable} or {AuditSigningOptions.KmsKeyIdVariable} with {AuditSigningOptions.SignerVariable}=aws-kms."]);
        }

        return AuditSigners.Create(options, aws: null, createKeyFile: false);
    }
}
