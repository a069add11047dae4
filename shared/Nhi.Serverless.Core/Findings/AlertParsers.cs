using System.Diagnostics.CodeAnalysis;

namespace Nhi.Serverless.Findings;

/// <summary>The alert parsers a host accepts, looked up by <see cref="IAlertParser.Source"/>.</summary>
public sealed class AlertParsers
{
    private readonly Dictionary<string, IAlertParser> _parsers;

    /// <exception cref="ArgumentException">Two parsers have the same source name, ignoring case.</exception>
    public AlertParsers(IEnumerable<IAlertParser> parsers)
    {
        ArgumentNullException.ThrowIfNull(parsers);

        _parsers = new Dictionary<string, IAlertParser>(StringComparer.OrdinalIgnoreCase);
        foreach (var parser in parsers)
        {
            if (!_parsers.TryAdd(parser.Source, parser))
            {
                throw new ArgumentException($"Two alert parsers have the source name '{parser.Source}'.", nameof(parsers));
            }
        }

        Sources = _parsers.Keys.Order(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The Security Hub CSPM (ASFF) and OCSF parsers.</summary>
    public static AlertParsers Default { get; } = new([new SecurityHubAlertParser(), new OcsfAlertParser()]);

    /// <summary>Every parser: Security Hub, OCSF, Wiz, Prisma Cloud, CrowdStrike and Defender for Cloud.</summary>
    public static AlertParsers All { get; } = new(
    [
        new SecurityHubAlertParser(),
        new OcsfAlertParser(),
        new WizAlertParser(),
        new PrismaCloudAlertParser(),
        new CrowdStrikeAlertParser(),
        new DefenderForCloudAlertParser(),
    ]);

    /// <summary>The known source names, sorted.</summary>
    public IReadOnlyList<string> Sources { get; }

    /// <summary>Returns the parser for a source name, ignoring case.</summary>
    /// <exception cref="ArgumentException">No parser has that source name. The message lists the known ones.</exception>
    public IAlertParser Get(string source)
    {
        if (TryGet(source, out var parser))
        {
            return parser;
        }

        throw new ArgumentException(
            $"Unknown alert source '{source}'. Known sources: {string.Join(", ", Sources)}.",
            nameof(source));
    }

    public bool TryGet(string source, [NotNullWhen(true)] out IAlertParser? parser)
    {
        ArgumentNullException.ThrowIfNull(source);

        return _parsers.TryGetValue(source, out parser);
    }
}
