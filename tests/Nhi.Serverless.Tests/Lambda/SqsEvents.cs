using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Nhi.Serverless.Findings;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Lambda;

/// <summary>
/// SQS events built from the checked-in samples under samples/sqs: each record is a copy of the sample's first
/// record with a fresh message id and another body, so the events keep the shape Lambda delivers.
/// </summary>
public static class SqsEvents
{
    public const string StandardSample = "sqs/standard-securityhub-event.json";
    public const string FifoSample = "sqs/fifo-raw-findings.json";

    /// <summary>Returns a standard-queue event with one record per body, and the records' message ids.</summary>
    public static (string Event, string[] MessageIds) Standard(params string[] bodies) => Build(StandardSample, bodies);

    /// <summary>Returns a FIFO-queue event with one record per body, in order, in one message group.</summary>
    public static (string Event, string[] MessageIds) Fifo(params string[] bodies) => Build(FifoSample, bodies);

    /// <summary>Returns the EventBridge Security Hub event for <paramref name="bucket"/> with a new finding id.</summary>
    public static string SecurityHubEnvelope(string bucket) => FindingSamples.SecurityHubFor(bucket);

    /// <summary>Returns one ASFF finding on its own, as a custom integration sends it.</summary>
    public static string RawAsffFinding(string bucket) =>
        JsonNode.Parse(FindingSamples.SecurityHubFor(bucket))!["detail"]!["findings"]![0]!.ToJsonString();

    /// <summary>Returns one OCSF Compliance Finding on its own, taken from the Security Hub "Findings Imported V2" sample.</summary>
    public static string RawOcsfFinding(string bucket)
    {
        string text = FindingSamples.Read("ocsf/securityhub-compliance-s3.2.json")
            .Replace("nhi-demo-public-acl", bucket, StringComparison.Ordinal)
            .Replace("3ef7e122-eb34-44e7-811e-c27c73af2b60", Guid.NewGuid().ToString(), StringComparison.Ordinal);
        return JsonNode.Parse(text)!["detail"]!["findings"]![0]!.ToJsonString();
    }

    /// <summary>Returns the request the handler builds for the body's one actionable finding.</summary>
    public static RemediationRequest RequestOf(string body)
    {
        var router = new Nhi.Serverless.Lambdas.Sqs.AlertBodyRouter([new SecurityHubAlertParser(), new OcsfAlertParser()]);
        (string source, AlertParseResult parsed) = router.Parse(body);
        Finding finding = Assert.Single(parsed.Actionable);
        return new RemediationRequest(RunIds.ForFinding(finding), finding, source, DateTimeOffset.UtcNow);
    }

    private static (string Event, string[] MessageIds) Build(string sample, string[] bodies)
    {
        JsonNode template = JsonNode.Parse(FindingSamples.Read(sample))!["Records"]![0]!;
        var records = new JsonArray();
        var messageIds = new string[bodies.Length];
        for (int index = 0; index < bodies.Length; index++)
        {
            JsonNode record = template.DeepClone();
            messageIds[index] = Guid.NewGuid().ToString();
            record["messageId"] = messageIds[index];
            record["body"] = bodies[index];
            record["md5OfBody"] = Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(bodies[index])));
            if (record["attributes"]?["SequenceNumber"] is not null)
            {
                record["attributes"]!["SequenceNumber"] = (18880745213467500544m + index).ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            records.Add(record);
        }

        return (new JsonObject { ["Records"] = records }.ToJsonString(), messageIds);
    }
}
