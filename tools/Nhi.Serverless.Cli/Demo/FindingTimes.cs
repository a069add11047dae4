using System.Globalization;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Cli.Demo;

/// <summary>
/// Sets the update time of every finding in a sample to now, as the CSPM does when it observes a bucket
/// public again. The run id derives from finding id and update time, so without this a second demo
/// would be recognized as a redelivery of the first and start no run.
/// </summary>
public static class FindingTimes
{
    public static string StampNow(string body, bool jsonLines, DateTimeOffset now)
    {
        if (!jsonLines)
        {
            return StampDocument(body, now);
        }

        IEnumerable<string> lines = body.Split('\n').Select(line => string.IsNullOrWhiteSpace(line) ? line : StampDocument(line, now));
        return string.Join('\n', lines);
    }

    private static string StampDocument(string json, DateTimeOffset now)
    {
        JsonNode root = JsonNode.Parse(json) ?? throw new FormatException("The sample is an empty JSON document.");
        foreach (JsonObject finding in Findings(root))
        {
            Stamp(finding, now);
        }

        return root.ToJsonString();
    }

    private static IEnumerable<JsonObject> Findings(JsonNode root) => root switch
    {
        JsonArray array => array.OfType<JsonObject>(),
        JsonObject { } envelope when envelope["detail"]?["findings"] is JsonArray findings => findings.OfType<JsonObject>(),
        JsonObject single => [single],
        _ => [],
    };

    private static void Stamp(JsonObject finding, DateTimeOffset now)
    {
        string text = now.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);

        // ASFF.
        if (finding.ContainsKey("UpdatedAt"))
        {
            finding["UpdatedAt"] = text;
        }

        // OCSF: keep each epoch field in the unit it had (Prowler writes seconds, others milliseconds).
        JsonObject? info = finding["finding_info"] as JsonObject;
        foreach (JsonObject holder in new[] { finding, info }.OfType<JsonObject>())
        {
            foreach (string field in new[] { "modified_time", "time" })
            {
                if (holder[field] is JsonValue value && value.TryGetValue(out long epoch))
                {
                    holder[field] = epoch < 100_000_000_000 ? now.ToUnixTimeSeconds() : now.ToUnixTimeMilliseconds();
                }

                if (holder.ContainsKey(field + "_dt"))
                {
                    holder[field + "_dt"] = text;
                }
            }
        }
    }
}
