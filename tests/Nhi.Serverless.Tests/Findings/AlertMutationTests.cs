using System.Diagnostics;
using System.Text.Json.Nodes;
using Nhi.Serverless.Findings;

namespace Nhi.Serverless.Tests.Findings;

/// <summary>Feeds randomly damaged samples to the parsers, which must accept them or raise only InvalidAlertException.</summary>
public sealed class AlertMutationTests
{
    private const int MutationsPerSample = 300;

    private const string SecretLookingValue = "AKIA-SECRET-LOOKING";

    // All five samples' 1,500 parses took about 0.3 s on a development container, so the bound only catches
    // runaway parsing, not a slow machine.
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(10);

    public static TheoryData<string, int> Samples => new()
    {
        { SampleFiles.AsffPublicPolicy, 1 },
        { SampleFiles.AsffMultiple, 2 },
        { SampleFiles.OcsfSecurityHub, 3 },
        { SampleFiles.ProwlerArray, 4 },
        { SampleFiles.ProwlerJsonLines, 5 },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void MutationsRaiseOnlyInvalidAlert(string sample, int seed)
    {
        var jsonLines = sample.EndsWith(".jsonl", StringComparison.Ordinal);
        var parse = ParserFor(sample, jsonLines);
        var text = SampleFiles.Read(sample);
        var random = new Random(seed);
        var stopwatch = Stopwatch.StartNew();

        for (var attempt = 0; attempt < MutationsPerSample; attempt++)
        {
            var mutated = jsonLines ? MutateLine(text, random) : MutateDocument(text, random);

            var error = Record.Exception(() => parse(mutated));

            if (error is null)
            {
                continue;
            }

            Assert.True(
                error is InvalidAlertException,
                $"Mutation {attempt} raised {error.GetType().Name}: {error.Message}\nInput: {mutated}");
            Assert.DoesNotContain(SecretLookingValue, error.Message, StringComparison.Ordinal);
        }

        Assert.True(stopwatch.Elapsed < TimeLimit, $"{MutationsPerSample} parses took {stopwatch.Elapsed}.");
    }

    private static Func<string, AlertParseResult> ParserFor(string sample, bool jsonLines)
    {
        if (jsonLines)
        {
            return new OcsfAlertParser().ParseJsonLines;
        }

        IAlertParser parser = sample.StartsWith("securityhub/", StringComparison.Ordinal)
            ? new SecurityHubAlertParser()
            : new OcsfAlertParser();
        return body => parser.Parse(body);
    }

    private static string MutateLine(string text, Random random)
    {
        var lines = text.Split('\n');
        var index = random.Next(lines.Length);
        if (lines[index].Length > 0)
        {
            lines[index] = MutateDocument(lines[index], random);
        }

        return string.Join('\n', lines);
    }

    /// <summary>Truncates the text, or deletes or retypes one to three values anywhere in the JSON tree.</summary>
    private static string MutateDocument(string text, Random random)
    {
        if (random.Next(4) == 0)
        {
            return text[..random.Next(text.Length)];
        }

        JsonNode? root = JsonNode.Parse(text);
        var changes = random.Next(1, 4);
        for (var change = 0; change < changes; change++)
        {
            root = MutateOneValue(root, random);
        }

        return root?.ToJsonString() ?? "null";
    }

    private static JsonNode? MutateOneValue(JsonNode? root, Random random)
    {
        var slots = new List<(JsonNode Parent, string? Key, int Index)>();
        CollectSlots(root, slots);

        var replacement = random.Next(3) == 0 ? null : Replacement(random);
        if (slots.Count == 0 || random.Next(50) == 0)
        {
            return replacement;
        }

        var (parent, key, index) = slots[random.Next(slots.Count)];
        var delete = random.Next(2) == 0;
        if (parent is JsonObject obj)
        {
            if (delete)
            {
                obj.Remove(key!);
            }
            else
            {
                obj[key!] = replacement;
            }
        }
        else if (parent is JsonArray array)
        {
            if (delete)
            {
                array.RemoveAt(index);
            }
            else
            {
                array[index] = replacement;
            }
        }

        return root;
    }

    private static void CollectSlots(JsonNode? node, List<(JsonNode Parent, string? Key, int Index)> slots)
    {
        if (node is JsonObject obj)
        {
            foreach (var (key, child) in obj)
            {
                slots.Add((obj, key, -1));
                CollectSlots(child, slots);
            }
        }
        else if (node is JsonArray array)
        {
            for (var index = 0; index < array.Count; index++)
            {
                slots.Add((array, null, index));
                CollectSlots(array[index], slots);
            }
        }
    }

    /// <summary>Returns a value of a random kind, including strings shaped like the fields the parsers check.</summary>
    private static JsonNode? Replacement(Random random) => random.Next(14) switch
    {
        0 => JsonValue.Create(SecretLookingValue),
        1 => JsonValue.Create(42),
        2 => JsonValue.Create(-1),
        3 => JsonValue.Create(1e300),
        4 => JsonValue.Create(long.MaxValue),
        5 => JsonValue.Create(true),
        6 => new JsonObject(),
        7 => new JsonArray(),
        8 => JsonValue.Create(""),
        9 => JsonValue.Create("2026-13-45T99:99:99Z"),
        10 => JsonValue.Create("arn:aws:s3:::" + SecretLookingValue),
        11 => JsonValue.Create("arn:aws:s3:::*"),
        12 => JsonValue.Create(99_999_999_999_999L),
        _ => null,
    };
}
