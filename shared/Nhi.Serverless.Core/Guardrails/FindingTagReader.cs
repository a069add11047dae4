using Nhi.Serverless.Findings;

namespace Nhi.Serverless.Guardrails;

/// <summary>
/// Reads a resource's tags from the finding that reported it (ASFF Resources[].Tags, OCSF resources[].tags), so tag
/// guardrails need no credential. A finding without tags gives null, and the tag rules then fail closed.
/// </summary>
/// <remarks>
/// NOTE: the tags are those the CSPM saw when it produced the finding. A tag added to the resource later counts only
/// once a finding carries it.
/// </remarks>
public sealed class FindingTagReader(string provider) : IResourceTagReader
{
    public string Provider => provider;

    public Task<IReadOnlyDictionary<string, string>?> ReadTagsAsync(CloudResource resource, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(resource);
        return Task.FromResult(resource.Tags);
    }
}
