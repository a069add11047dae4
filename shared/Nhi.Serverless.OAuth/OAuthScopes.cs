using Nhi.Serverless.Grants;

namespace Nhi.Serverless.OAuth;

/// <summary>
/// The grant scope form of the OAuth broker: provider "oauth", the resource is the audience (an RFC 8707 resource
/// indicator such as urn:nhi:partner:credit-bureau), and the permissions are OAuth scope values such as credit-score:read.
/// </summary>
public static class OAuthScopes
{
    public const string Provider = "oauth";

    /// <summary>Returns a scope for <paramref name="audience"/> with the given OAuth scope values.</summary>
    public static Scope For(string audience, params string[] scopes) => Scope.Create(Provider, audience, scopes);

    /// <summary>Whether <paramref name="audience"/> is an absolute URI without a fragment, as RFC 8707 requires of a resource indicator.</summary>
    public static bool IsValidAudience(string audience) =>
        Uri.TryCreate(audience, UriKind.Absolute, out Uri? uri) && uri.Fragment.Length == 0 && !audience.Contains('#', StringComparison.Ordinal);

    /// <summary>
    /// Whether <paramref name="value"/> is one scope token of RFC 6749 section 3.3: one or more of the characters
    /// %x21 / %x23-5B / %x5D-7E, so no space, double quote or backslash.
    /// </summary>
    public static bool IsValidScopeToken(string value) =>
        value.Length > 0 && value.All(c => c == 0x21 || (c >= 0x23 && c <= 0x5B) || (c >= 0x5D && c <= 0x7E));

    /// <summary>Splits a space-delimited scope string into sorted, distinct values.</summary>
    public static IReadOnlyList<string> Parse(string? scope) =>
        (scope ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
}
