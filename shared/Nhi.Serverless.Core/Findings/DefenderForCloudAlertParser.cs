using System.Text.Json;

namespace Nhi.Serverless.Findings;

/// <summary>Reads Microsoft Defender for Cloud security alerts and recommendations (assessments) as continuous
/// export and workflow automation deliver them, and records each one as skipped.</summary>
/// <remarks>
/// <para>Accepted bodies: an alert in the Azure Resource Manager shape (<c>id</c>, <c>type</c>
/// "Microsoft.Security/Locations/alerts", <c>properties</c> with <c>systemAlertId</c>, <c>alertType</c>,
/// <c>severity</c>, <c>status</c>, <c>timeGeneratedUtc</c> and <c>resourceIdentifiers</c>), as continuous export
/// writes it; an alert in the flat shape a workflow automation Logic App receives (<c>SystemAlertId</c>,
/// <c>AlertType</c>, <c>Severity</c>, <c>TimeGenerated</c>); an assessment (<c>type</c>
/// "Microsoft.Security/assessments", <c>properties.status.code</c> Healthy, Unhealthy or NotApplicable); or a JSON
/// array of any of these.</para>
/// <para>No playbook acts on Azure resources yet, so every well-formed item is returned as skipped with a reason
/// and the delivery is acknowledged; only a malformed item is an error.</para>
/// </remarks>
public sealed class DefenderForCloudAlertParser : IAlertParser
{
    public const string SourceName = "defender";

    public const string AlertType = "Microsoft.Security/Locations/alerts";

    public const string AssessmentType = "Microsoft.Security/assessments";

    private static readonly string[] AssessmentCodes = ["Healthy", "Unhealthy", "NotApplicable"];
    private static readonly string[] AlertStatuses = ["Active", "InProgress", "Resolved", "Dismissed"];

    public string Source => SourceName;

    /// <inheritdoc />
    public AlertParseResult Parse(JsonElement body)
    {
        var skipped = new List<SkippedFinding>();

        switch (body.ValueKind)
        {
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in body.EnumerateArray())
                {
                    skipped.Add(ReadItem(item, AlertJson.Index(AlertJson.Root, index)));
                    index++;
                }

                break;
            case JsonValueKind.Object:
                skipped.Add(ReadItem(body, AlertJson.Root));
                break;
            default:
                throw new InvalidAlertException(AlertJson.Root, "must be a Defender for Cloud alert or assessment object, or a JSON array of them");
        }

        return new AlertParseResult([], skipped);
    }

    private static SkippedFinding ReadItem(JsonElement item, string path)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidAlertException(path, "must be a JSON object holding one Defender for Cloud alert or assessment");
        }

        if (AlertJson.Has(item, "SystemAlertId"))
        {
            return ReadWorkflowAlert(item, path);
        }

        var type = VendorFields.RequiredText(item, "type", path);
        if (string.Equals(type, AlertType, StringComparison.OrdinalIgnoreCase))
        {
            return ReadAlert(item, path);
        }

        if (string.Equals(type, AssessmentType, StringComparison.OrdinalIgnoreCase))
        {
            return ReadAssessment(item, path);
        }

        throw new InvalidAlertException(
            AlertJson.Join(path, "type"),
            $"must be \"{AlertType}\" or \"{AssessmentType}\", or the item must carry SystemAlertId as workflow automation sends alerts");
    }

    private static SkippedFinding ReadAlert(JsonElement item, string path)
    {
        var propertiesPath = AlertJson.Join(path, "properties");
        var properties = AlertJson.RequiredObject(item, "properties", path);
        var id = VendorFields.Text(properties, "systemAlertId", propertiesPath) ?? VendorFields.RequiredText(item, "id", path);
        _ = VendorFields.Time(properties, "timeGeneratedUtc", propertiesPath);
        var status = VendorFields.Text(properties, "status", propertiesPath);

        return new SkippedFinding(id, AlertReason(SkipReasons.Describe("properties.status", status, AlertStatuses)));
    }

    private static SkippedFinding ReadWorkflowAlert(JsonElement item, string path)
    {
        var id = VendorFields.RequiredText(item, "SystemAlertId", path);
        _ = VendorFields.Time(item, "TimeGenerated", path);
        var status = VendorFields.Text(item, "Status", path);

        return new SkippedFinding(id, AlertReason(SkipReasons.Describe("Status", status, AlertStatuses)));
    }

    private static string AlertReason(string status) =>
        $"Defender for Cloud security alert ({status}): no playbook acts on alerts from Defender for Cloud yet; recorded and not acted on";

    private static SkippedFinding ReadAssessment(JsonElement item, string path)
    {
        var id = VendorFields.RequiredText(item, "id", path);
        var propertiesPath = AlertJson.Join(path, "properties");
        var properties = AlertJson.RequiredObject(item, "properties", path);
        var statusPath = AlertJson.Join(propertiesPath, "status");
        var status = AlertJson.RequiredObject(properties, "status", propertiesPath);
        var code = VendorFields.RequiredText(status, "code", statusPath);

        var known = SkipReasons.Canonical(code, AssessmentCodes);
        if (known != "Unhealthy")
        {
            return new SkippedFinding(id, $"{SkipReasons.Describe("properties.status.code", code, AssessmentCodes)}; only Unhealthy recommendations need action");
        }

        return new SkippedFinding(
            id,
            "Defender for Cloud recommendation is Unhealthy: no playbook acts on recommendations from Defender for Cloud yet; recorded and not acted on");
    }
}
