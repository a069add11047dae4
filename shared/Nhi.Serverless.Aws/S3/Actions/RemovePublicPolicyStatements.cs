using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Nhi.Serverless.Playbooks;

namespace Nhi.Serverless.Aws.S3.Actions;

/// <summary>
/// Removes the bucket policy statements that grant access to anyone (see <see cref="PublicPolicyStatements"/>),
/// keeping every other statement as the bucket returned it, and deletes the policy only when nothing remains.
/// </summary>
public sealed class RemovePublicPolicyStatements : IS3RemediationAction
{
    public const string Name = "s3.remove-public-policy-statements";

    public RemediationActionDescriptor Descriptor { get; } = new(
        Name,
        "Removes bucket policy statements that allow anyone without a restricting condition.",
        ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"]);

    public async Task<string> ApplyAsync(ScopedS3Client client, string bucket, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);

        string? policy = await client.GetBucketPolicyAsync(bucket, cancellationToken);
        if (policy is null)
        {
            return "nothing to change: the bucket has no policy";
        }

        PolicyRewrite rewrite = Rewrite(policy);
        if (rewrite.Removed.Count == 0)
        {
            return "nothing to change: no policy statement grants public access";
        }

        string removed = string.Join(", ", rewrite.Removed);
        if (rewrite.RemainingPolicy is null)
        {
            await client.DeleteBucketPolicyAsync(bucket, cancellationToken);
            return $"deleted the bucket policy, whose only statements ({removed}) granted public access";
        }

        await client.PutBucketPolicyAsync(bucket, rewrite.RemainingPolicy, cancellationToken);
        return $"removed {rewrite.Removed.Count} public statement(s) ({removed}) and kept {rewrite.KeptCount}";
    }

    /// <summary>
    /// Returns the policy without its public statements. Kept statements and every other top-level property are
    /// copied as raw JSON text, so they stay byte-for-byte as read. RemainingPolicy is null when no statement remains.
    /// </summary>
    /// <exception cref="JsonException">The policy is not valid JSON.</exception>
    public static PolicyRewrite Rewrite(string policy)
    {
        using JsonDocument document = JsonDocument.Parse(policy);
        JsonElement root = document.RootElement;
        IReadOnlyList<JsonElement> statements = PublicPolicyStatements.StatementsOf(root);

        var removed = new List<string>();
        var keptStatements = new List<JsonElement>();
        for (int index = 0; index < statements.Count; index++)
        {
            if (PublicPolicyStatements.IsPublic(statements[index]))
            {
                removed.Add(PublicPolicyStatements.Describe(statements[index], index));
            }
            else
            {
                keptStatements.Add(statements[index]);
            }
        }

        if (removed.Count == 0)
        {
            return new PolicyRewrite(policy, removed, keptStatements.Count);
        }

        if (keptStatements.Count == 0)
        {
            return new PolicyRewrite(null, removed, 0);
        }

        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            foreach (JsonProperty property in root.EnumerateObject())
            {
                writer.WritePropertyName(property.Name);
                if (property.Name != "Statement")
                {
                    writer.WriteRawValue(property.Value.GetRawText());
                    continue;
                }

                writer.WriteStartArray();
                foreach (JsonElement statement in keptStatements)
                {
                    writer.WriteRawValue(statement.GetRawText());
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        return new PolicyRewrite(Encoding.UTF8.GetString(buffer.WrittenSpan), removed, keptStatements.Count);
    }
}

/// <summary>The result of removing public statements from a bucket policy.</summary>
/// <param name="RemainingPolicy">The policy to put back; null when no statement remains and the policy should be deleted.</param>
/// <param name="Removed">The Sid (or "#position") of each removed statement.</param>
/// <param name="KeptCount">How many statements remain.</param>
public sealed record PolicyRewrite(string? RemainingPolicy, IReadOnlyList<string> Removed, int KeptCount);
