using System.Diagnostics;
using Nhi.Serverless.Findings;

namespace Nhi.Serverless.Tests.Findings;

/// <summary>Feeds seeded, randomly damaged samples to each new parser, which must accept them or raise only
/// InvalidAlertException without echoing a value.</summary>
public sealed class VendorMutationTests
{
    private const int MutationsPerSample = 400;

    // 400 parses of one sample took well under a second on a 2-core container; the bound only catches runaway parsing.
    private static readonly TimeSpan TimeLimit = TimeSpan.FromSeconds(15);

    public static TheoryData<string, int> Samples => new()
    {
        { SampleFiles.WizIssue, 11 },
        { SampleFiles.PrismaAlerts, 12 },
        { SampleFiles.CrowdStrikeIom, 13 },
        { SampleFiles.DefenderAlert, 14 },
        { SampleFiles.DefenderWorkflowAlert, 15 },
        { SampleFiles.DefenderRecommendations, 16 },
        { SampleFiles.RunRequest, 17 },
    };

    [Theory]
    [MemberData(nameof(Samples))]
    public void MutationsRaiseOnlyInvalidAlert(string sample, int seed)
    {
        Func<string, object> parse = ParserFor(sample);
        string text = SampleFiles.Read(sample);
        var random = new Random(seed);
        var stopwatch = Stopwatch.StartNew();

        for (int attempt = 0; attempt < MutationsPerSample; attempt++)
        {
            string mutated = SampleMutator.Mutate(text, random);

            Exception? error = Record.Exception(() => parse(mutated));

            if (error is null)
            {
                continue;
            }

            Assert.True(error is InvalidAlertException, $"Mutation {attempt} raised {error.GetType().Name}: {error.Message}\nInput: {mutated}");
            Assert.DoesNotContain(SampleMutator.SecretLookingValue, error.Message, StringComparison.Ordinal);
        }

        Assert.True(stopwatch.Elapsed < TimeLimit, $"{MutationsPerSample} parses took {stopwatch.Elapsed}.");
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void SkipReasonsNeverEchoValues(string sample, int seed)
    {
        Func<string, object> parse = ParserFor(sample);
        string text = SampleFiles.Read(sample);
        var random = new Random(seed + 1000);

        for (int attempt = 0; attempt < MutationsPerSample; attempt++)
        {
            string mutated = SampleMutator.Mutate(text, random);
            object? parsed = null;
            if (Record.Exception(() => parsed = parse(mutated)) is not null || parsed is not AlertParseResult result)
            {
                continue;
            }

            Assert.All(result.Skipped, skipped => Assert.DoesNotContain(SampleMutator.SecretLookingValue, skipped.Reason, StringComparison.Ordinal));
        }
    }

    private static Func<string, object> ParserFor(string sample)
    {
        if (sample == SampleFiles.RunRequest)
        {
            return text => RunRequestParser.Parse(text);
        }

        IAlertParser parser = AlertParsers.All.Get(sample.Split('/')[0]);
        return text => parser.Parse(text);
    }
}
