using System.Text.Json.Nodes;

namespace Nhi.Serverless.Tests.Findings;

/// <summary>Damages JSON samples deterministically from a seeded <see cref="Random"/>: truncation, deleted or retyped
/// values anywhere in the tree, and strings shaped like the values parsers check.</summary>
public static class SampleMutator
{
    public const string SecretLookingValue = "AKIA-SECRET-LOOKING";

    /// <summary>Returns a damaged copy of <paramref name="text"/>, which must be one JSON document.</summary>
    public static string Mutate(string text, Random random)
    {
        switch (random.Next(6))
        {
            case 0:
                return text[..random.Next(text.Length)];
            case 1:
                int position = random.Next(text.Length);
                return text[..position] + "\"}]{[\\\u0000\uD800"[random.Next(8)] + text[position..];
        }

        JsonNode? root = JsonNode.Parse(text);
        int changes = random.Next(1, 4);
        for (int change = 0; change < changes; change++)
        {
            root = MutateOneValue(root, random);
        }

        return root?.ToJsonString() ?? "null";
    }

    private static JsonNode? MutateOneValue(JsonNode? root, Random random)
    {
        var slots = new List<(JsonNode Parent, string? Key, int Index)>();
        Collect(root, slots);

        JsonNode? replacement = random.Next(4) == 0 ? null : Replacement(random);
        if (slots.Count == 0 || random.Next(40) == 0)
        {
            return replacement;
        }

        (JsonNode parent, string? key, int index) = slots[random.Next(slots.Count)];
        bool delete = random.Next(2) == 0;
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

    private static void Collect(JsonNode? node, List<(JsonNode, string?, int)> slots)
    {
        if (node is JsonObject obj)
        {
            foreach ((string key, JsonNode? child) in obj)
            {
                slots.Add((obj, key, -1));
                Collect(child, slots);
            }
        }
        else if (node is JsonArray array)
        {
            for (int index = 0; index < array.Count; index++)
            {
                slots.Add((array, null, index));
                Collect(array[index], slots);
            }
        }
    }

    private static JsonNode? Replacement(Random random) => random.Next(16) switch
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
        12 => JsonValue.Create("99999999999999999999"),
        13 => JsonValue.Create(new string('x', 5000)),
        14 => JsonValue.Create("Public " + SecretLookingValue),
        _ => null,
    };
}
