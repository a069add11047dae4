using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Azure.Blob;

/// <summary>A service SAS for one blob container, bound to a stored access policy that only this grant uses.</summary>
/// <remarks>
/// A class rather than a record, so no generated ToString or equality prints the token. Serializing it with
/// System.Text.Json throws, so it cannot slip into an activity output, a log scope or an audit record.
/// </remarks>
[JsonConverter(typeof(RejectSerializationConverter))]
public sealed class BlobContainerSasCredential : IHandoffCredential
{
    public BlobContainerSasCredential(Uri containerUri, string sasToken, string policyId, DateTimeOffset expiresOn, Scope scope)
    {
        ArgumentNullException.ThrowIfNull(containerUri);
        ArgumentException.ThrowIfNullOrEmpty(sasToken);
        ArgumentException.ThrowIfNullOrEmpty(policyId);
        ArgumentNullException.ThrowIfNull(scope);

        ContainerUri = containerUri;
        SasToken = sasToken.TrimStart('?');
        PolicyId = policyId;
        ExpiresOn = expiresOn;
        Scope = scope;
    }

    /// <summary>The container's URL without any query.</summary>
    public Uri ContainerUri { get; }

    /// <summary>The SAS query string without the leading '?'; it contains the signature.</summary>
    public string SasToken { get; }

    /// <summary>The id of the stored access policy the SAS is bound to; public, it appears as "si" in the token.</summary>
    public string PolicyId { get; }

    /// <summary>When the stored access policy expires.</summary>
    public DateTimeOffset ExpiresOn { get; }

    /// <summary>The scope the policy was created for.</summary>
    public Scope Scope { get; }

    /// <summary>Returns the container URL with the SAS appended; it contains the secret signature.</summary>
    public Uri ContainerSasUri() => new($"{ContainerUri.AbsoluteUri.TrimEnd('/')}?{SasToken}");

    /// <summary>Returns the URL of one blob in the container with the SAS appended; it contains the secret signature.</summary>
    public Uri BlobSasUri(string blobName)
    {
        ArgumentException.ThrowIfNullOrEmpty(blobName);
        string path = string.Join('/', blobName.Split('/').Select(Uri.EscapeDataString));
        return new Uri($"{ContainerUri.AbsoluteUri.TrimEnd('/')}/{path}?{SasToken}");
    }

    /// <summary>The credential as an Azure Storage client takes it, for a brokered step's caller.</summary>
    public JsonObject ToHandoff() => new()
    {
        ["type"] = "azure-blob-sas",
        ["containerUri"] = ContainerUri.AbsoluteUri,
        ["sasToken"] = SasToken,
        ["expiresOn"] = ExpiresOn.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
    };

    public override string ToString() => $"BlobContainerSasCredential({ContainerUri.AbsoluteUri}, policy {PolicyId}, token redacted)";

    private sealed class RejectSerializationConverter : JsonConverter<BlobContainerSasCredential>
    {
        public override BlobContainerSasCredential Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
            throw new NotSupportedException("BlobContainerSasCredential cannot be deserialized; SAS tokens come only from the broker.");

        public override void Write(Utf8JsonWriter writer, BlobContainerSasCredential value, JsonSerializerOptions options) =>
            throw new NotSupportedException("BlobContainerSasCredential cannot be serialized, because it contains a SAS signature.");
    }
}
