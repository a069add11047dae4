using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Removes credential material from the text of audit records. AWS access key ids (AKIA, ASIA, ABIA and
/// ACCA prefixes) become their fingerprint. The values after names such as SecretAccessKey,
/// SessionToken, sig, password or client_secret become "[redacted]", and so do bearer tokens and Splunk
/// HEC tokens after their authorization scheme.
/// </summary>
/// <remarks>
/// This is a safety net for text that providers or brokers put into evidence, error and check
/// strings. It recognizes the shapes listed here and no others, so brokers must still keep secrets
/// out of what they report.
/// </remarks>
public sealed partial class AuditRedactor(ICredentialFingerprinter? fingerprinter)
{
    /// <summary>What replaces a secret value.</summary>
    public const string Redacted = "[redacted]";

    /// <summary>What replaces an access key id when no fingerprinter is configured.</summary>
    public const string RedactedAccessKeyId = "[redacted access key id]";

    /// <summary>Returns the text with credential material replaced.</summary>
    public string Redact(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string result = AccessKeyIdPattern().Replace(text, match => FingerprintOrRedact(match.Value));
        result = NamedSecretPattern().Replace(result, match => match.Groups["name"].Value + match.Groups["separator"].Value + Redacted);
        return AuthorizationPattern().Replace(result, match => match.Groups["scheme"].Value + " " + Redacted);
    }

    /// <summary>Replaces credential material in every string value of the tree, leaving member names as they are.</summary>
    public void RedactStrings(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (string name in obj.Select(pair => pair.Key).ToList())
                {
                    RedactMember(obj, name);
                }

                break;
            case JsonArray array:
                for (int i = 0; i < array.Count; i++)
                {
                    if (array[i] is JsonValue value && value.TryGetValue(out string? text))
                    {
                        array[i] = Redact(text);
                    }
                    else
                    {
                        RedactStrings(array[i]);
                    }
                }

                break;
        }
    }

    /// <summary>
    /// Returns a credential fingerprint as given when it is one ("hmac-sha256:..."), or else treats the
    /// value as the raw identifier a broker put there by mistake and fingerprints or redacts it.
    /// </summary>
    public string EnsureFingerprint(string value) =>
        value.StartsWith(CredentialFingerprinter.Prefix, StringComparison.Ordinal) ? value : FingerprintOrRedact(value);

    private void RedactMember(JsonObject obj, string name)
    {
        if (obj[name] is JsonValue value && value.TryGetValue(out string? text))
        {
            obj[name] = Redact(text);
        }
        else
        {
            RedactStrings(obj[name]);
        }
    }

    private string FingerprintOrRedact(string identifier) =>
        fingerprinter is null || identifier.Length == 0 ? RedactedAccessKeyId : fingerprinter.Fingerprint(identifier);

    [GeneratedRegex("(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex AccessKeyIdPattern();

    [GeneratedRegex(
        """(?<name>\b(?:aws_)?(?:secret_?access_?key|session_?token|security_?token|sig|password|client_?secret|x-amz-security-token))(?<separator>["']?\s*[:=]\s*["']?)[^\s"'&,;]+""",
        RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex NamedSecretPattern();

    // A Splunk HEC token is a GUID; requiring that shape keeps phrases such as "Splunk HEC" intact.
    [GeneratedRegex(
        @"\b(?<scheme>Bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*|\b(?<scheme>Splunk)\s+[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\b",
        RegexOptions.CultureInvariant)]
    private static partial Regex AuthorizationPattern();
}
