using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Aws;

/// <summary>Temporary AWS credentials from STS AssumeRole, and the scope they were issued for.</summary>
/// <remarks>
/// A class rather than a record, so no generated ToString or equality prints the secret. Serializing it with
/// System.Text.Json throws, so it cannot slip into an activity output, a log scope or an audit record.
/// </remarks>
[JsonConverter(typeof(RejectSerializationConverter))]
public sealed class AwsSessionCredential : IHandoffCredential
{
    public AwsSessionCredential(string accessKeyId, string secretAccessKey, string sessionToken, Scope scope)
    {
        ArgumentException.ThrowIfNullOrEmpty(accessKeyId);
        ArgumentException.ThrowIfNullOrEmpty(secretAccessKey);
        ArgumentException.ThrowIfNullOrEmpty(sessionToken);
        ArgumentNullException.ThrowIfNull(scope);

        AccessKeyId = accessKeyId;
        SecretAccessKey = secretAccessKey;
        SessionToken = sessionToken;
        Scope = scope;
    }

    /// <summary>The temporary access key id (ASIA... on AWS); public, but only its fingerprint goes into records.</summary>
    public string AccessKeyId { get; }

    /// <summary>The secret access key.</summary>
    public string SecretAccessKey { get; }

    /// <summary>The session token, sent as X-Amz-Security-Token.</summary>
    public string SessionToken { get; }

    /// <summary>The scope the session policy was generated from.</summary>
    public Scope Scope { get; }

    /// <summary>The credential as an AWS SDK or CLI takes it, for a brokered step's caller.</summary>
    public JsonObject ToHandoff() => new()
    {
        ["type"] = "aws-session",
        ["accessKeyId"] = AccessKeyId,
        ["secretAccessKey"] = SecretAccessKey,
        ["sessionToken"] = SessionToken,
        ["resource"] = Scope.Resource,
        ["permissions"] = new JsonArray(Scope.Permissions.Select(permission => (JsonNode?)JsonValue.Create(permission)).ToArray()),
    };

    public override string ToString() => "AwsSessionCredential(redacted)";

    private sealed class RejectSerializationConverter : JsonConverter<AwsSessionCredential>
    {
        public override AwsSessionCredential Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("AwsSessionCredential cannot be deserialized; credentials come only from STS.");

        public override void Write(Utf8JsonWriter writer, AwsSessionCredential value, JsonSerializerOptions options) =>
            throw new NotSupportedException("AwsSessionCredential cannot be serialized, because it contains a secret key and session token.");
    }
}
