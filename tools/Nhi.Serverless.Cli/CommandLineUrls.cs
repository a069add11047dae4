using System.CommandLine.Parsing;

namespace Nhi.Serverless.Cli;

/// <summary>Parses absolute http(s) URL options, which System.CommandLine does not convert by itself.</summary>
public static class CommandLineUrls
{
    public static Uri? Parse(ArgumentResult result)
    {
        string text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (Uri.TryCreate(text, UriKind.Absolute, out Uri? url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps))
        {
            return url;
        }

        result.AddError($"Invalid URL '{text}': expected an absolute http or https URL such as http://127.0.0.1:7071.");
        return null;
    }
}
