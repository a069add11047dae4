using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Workflows;

/// <summary>Conversions between the JSON nodes that steps build and the elements that orchestration history holds.</summary>
public static class WorkflowJson
{
    /// <summary>Returns an element that outlives its document.</summary>
    public static JsonElement ToElement(JsonNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        using JsonDocument document = JsonDocument.Parse(node.ToJsonString());
        return document.RootElement.Clone();
    }

    /// <summary>Returns a mutable copy of an element.</summary>
    public static JsonNode? ToNode(JsonElement element) => JsonNode.Parse(element.GetRawText());
}
