using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Nhi.Serverless.Hosting.Edge;

/// <summary>How a source authenticates its requests.</summary>
public enum WebhookScheme
{
    /// <summary>HMAC-SHA256 over "{timestamp}.{body}" in X-Nhi-Signature, with the Unix time in X-Nhi-Timestamp.</summary>
    Hmac,

    /// <summary>A static token in a header, for senders that can set headers but cannot sign (Event Grid delivery
    /// attributes, Wiz and Prisma Cloud webhook headers, Logic Apps). It has no replay protection.</summary>
    Token,
}

/// <summary>The authentication settings of one source.</summary>
/// <param name="Scheme">How requests are authenticated.</param>
/// <param name="Secrets">The shared secrets; more than one while a secret is rotated. Never logged.</param>
/// <param name="TokenHeader">The header that carries the token for <see cref="WebhookScheme.Token"/>.</param>
public sealed record SourceAuthentication(WebhookScheme Scheme, IReadOnlyList<string> Secrets, string TokenHeader)
{
    public override string ToString() => $"{Scheme} with {Secrets.Count} secret(s) in {(Scheme == WebhookScheme.Token ? TokenHeader : "X-Nhi-Signature")}";
}

/// <summary>Settings of the HTTP edge: authentication per source, limits, and the Logic Apps patterns.</summary>
public sealed class EdgeOptions
{
    public const string SectionName = "Edge";

    /// <summary>Authentication per source name (alerts/{source}, "eventgrid", "soar", "logicapps", "admin"), ignoring case.</summary>
    public IReadOnlyDictionary<string, SourceAuthentication> Sources { get; init; } =
        new Dictionary<string, SourceAuthentication>(StringComparer.OrdinalIgnoreCase);

    /// <summary>How far a signed request's timestamp may be from the host's clock, either way.</summary>
    public TimeSpan ReplayWindow { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Whether a source without secrets accepts unsigned requests that come from a loopback address
    /// (the local host and tests). Requests through the Functions host are authenticated by function keys instead.</summary>
    public bool AllowUnsignedLoopback { get; init; } = true;

    /// <summary>The most findings, alerts or events one request may carry.</summary>
    public int MaxBatchLength { get; init; } = 500;

    /// <summary>How long reading a request body may take before the request is rejected.</summary>
    public TimeSpan BodyReadTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The CloudEvents abuse-protection origins the Event Grid endpoint allows.</summary>
    public IReadOnlyList<string> EventGridAllowedOrigins { get; init; } = ["eventgrid.azure.net"];

    /// <summary>The Retry-After the Logic Apps polling answers carry.</summary>
    public TimeSpan LogicAppsRetryAfter { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Hosts a Logic Apps callback URL may name: exact names, or "*.suffix" for any subdomain.</summary>
    public IReadOnlyList<string> CallbackAllowedHosts { get; init; } = ["*.logic.azure.com"];

    /// <summary>Whether callback URLs may use http instead of https (local tests only).</summary>
    public bool AllowHttpCallbacks { get; init; }

    /// <summary>How often the callback dispatcher looks for finished runs.</summary>
    public TimeSpan CallbackPollInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How many times a callback is tried before it is parked as a dead letter.</summary>
    public int CallbackMaxAttempts { get; init; } = 8;

    /// <summary>Returns the authentication of a source, or null when none is configured.</summary>
    public SourceAuthentication? AuthenticationOf(string source) =>
        Sources.TryGetValue(source, out SourceAuthentication? authentication) && authentication.Secrets.Count > 0 ? authentication : null;

    /// <summary>Reads the Edge section; a bad value fails with the key's name.</summary>
    /// <exception cref="InvalidOperationException">A setting has an invalid value.</exception>
    public static EdgeOptions Read(IConfiguration configuration)
    {
        IConfigurationSection section = configuration.GetSection(SectionName);
        var sources = new Dictionary<string, SourceAuthentication>(StringComparer.OrdinalIgnoreCase);
        foreach (IConfigurationSection source in section.GetSection("Sources").GetChildren())
        {
            sources[source.Key] = ReadSource(source);
        }

        IConfigurationSection logicApps = section.GetSection("LogicApps");
        return new EdgeOptions
        {
            Sources = sources,
            ReplayWindow = TimeSpan.FromSeconds(ReadInt(section, "ReplayWindowSeconds", 300)),
            AllowUnsignedLoopback = ReadBool(section, "AllowUnsignedLoopback", true),
            MaxBatchLength = ReadInt(section, "MaxBatchLength", 500),
            BodyReadTimeout = TimeSpan.FromSeconds(ReadInt(section, "BodyReadTimeoutSeconds", 30)),
            EventGridAllowedOrigins = ReadList(section.GetSection("EventGrid:AllowedOrigins"), ["eventgrid.azure.net"]),
            LogicAppsRetryAfter = TimeSpan.FromSeconds(ReadInt(logicApps, "RetryAfterSeconds", 5)),
            CallbackAllowedHosts = ReadList(logicApps.GetSection("CallbackAllowedHosts"), ["*.logic.azure.com"]),
            AllowHttpCallbacks = ReadBool(logicApps, "AllowHttpCallbacks", false),
            CallbackPollInterval = TimeSpan.FromMilliseconds(ReadInt(logicApps, "CallbackPollMilliseconds", 2000)),
            CallbackMaxAttempts = ReadInt(logicApps, "CallbackMaxAttempts", 8),
        };
    }

    private static SourceAuthentication ReadSource(IConfigurationSection source)
    {
        string schemeText = source["Scheme"] ?? nameof(WebhookScheme.Hmac);
        if (!Enum.TryParse(schemeText, ignoreCase: true, out WebhookScheme scheme) || !Enum.IsDefined(scheme))
        {
            throw new InvalidOperationException($"Invalid setting {source.Path}:Scheme: expected Hmac or Token.");
        }

        List<string> secrets = ReadList(source.GetSection("Secrets"), []).ToList();
        if (source["Secret"] is { Length: > 0 } single)
        {
            secrets.Insert(0, single);
        }

        foreach (string secret in secrets)
        {
            // The message names the key and the rule, never the value.
            if (secret.Length < 16)
            {
                throw new InvalidOperationException($"Invalid setting {source.Path}:Secrets: each secret must be at least 16 characters.");
            }
        }

        return new SourceAuthentication(scheme, secrets, source["TokenHeader"] ?? "Authorization");
    }

    private static IReadOnlyList<string> ReadList(IConfigurationSection section, IReadOnlyList<string> fallback)
    {
        if (section.Value is { Length: > 0 } commaSeparated)
        {
            return commaSeparated.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        string[] items = section.GetChildren().Select(child => child.Value).OfType<string>().Where(value => value.Length > 0).ToArray();
        return items.Length > 0 ? items : fallback;
    }

    private static int ReadInt(IConfigurationSection section, string name, int fallback)
    {
        string? text = section[name];
        if (text is null)
        {
            return fallback;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int value) || value <= 0)
        {
            throw new InvalidOperationException($"Invalid setting {section.Path}:{name} '{text}': expected a positive whole number.");
        }

        return value;
    }

    private static bool ReadBool(IConfigurationSection section, string name, bool fallback)
    {
        string? text = section[name];
        if (text is null)
        {
            return fallback;
        }

        return bool.TryParse(text, out bool value)
            ? value
            : throw new InvalidOperationException($"Invalid setting {section.Path}:{name} '{text}': expected true or false.");
    }
}
