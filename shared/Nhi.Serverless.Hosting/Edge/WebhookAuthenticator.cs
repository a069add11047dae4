using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Nhi.Serverless.Hosting.Edge;

/// <summary>Who authenticated the caller before the request reached the shared edge.</summary>
public enum EdgeCaller
{
    /// <summary>Nobody: the local host or a test server received the request directly.</summary>
    Direct,

    /// <summary>The Azure Functions host, which checked a function key (AuthorizationLevel.Function or Admin).</summary>
    FunctionsHost,
}

/// <summary>The result of <see cref="WebhookAuthenticator.Authenticate"/>: success, or what failed, without secrets.</summary>
public sealed record AuthenticationResult(bool Succeeded, string? Failure, string? Header)
{
    public static AuthenticationResult Success { get; } = new(true, null, null);

    public static AuthenticationResult Fail(string failure, string header) => new(false, failure, header);
}

/// <summary>
/// Checks webhook signatures and tokens per source. HMAC signatures cover "{timestamp}.{body}" so that neither can be
/// changed, and the timestamp must lie within the replay window; every comparison takes constant time.
/// </summary>
/// <remarks>A signed request replayed within the window is accepted again, and the intake then records it as a
/// duplicate of the finding version it carries, so a replay starts no second run.</remarks>
public sealed class WebhookAuthenticator(EdgeOptions options, TimeProvider time)
{
    public const string TimestampHeader = "X-Nhi-Timestamp";

    public const string SignatureHeader = "X-Nhi-Signature";

    /// <summary>The prefix of each signature in <see cref="SignatureHeader"/>; a header may list several, comma-separated.</summary>
    public const string SignaturePrefix = "v1=";

    /// <summary>Returns the signature header value for a body, as a sender computes it.</summary>
    public static string Sign(string secret, long unixSeconds, ReadOnlySpan<byte> body)
    {
        byte[] mac = ComputeMac(Encoding.UTF8.GetBytes(secret), unixSeconds.ToString(CultureInfo.InvariantCulture), body);
        return SignaturePrefix + Convert.ToHexStringLower(mac);
    }

    /// <summary>Authenticates a request to <paramref name="source"/> whose body was read into <paramref name="body"/>.</summary>
    public AuthenticationResult Authenticate(HttpContext context, string source, ReadOnlySpan<byte> body, EdgeCaller caller)
    {
        SourceAuthentication? authentication = options.AuthenticationOf(source);
        if (authentication is null)
        {
            return AuthenticateUnsigned(context, source, caller);
        }

        return authentication.Scheme == WebhookScheme.Hmac
            ? AuthenticateHmac(context.Request, authentication, body)
            : AuthenticateToken(context.Request, authentication);
    }

    private AuthenticationResult AuthenticateUnsigned(HttpContext context, string source, EdgeCaller caller)
    {
        if (caller == EdgeCaller.FunctionsHost)
        {
            return AuthenticationResult.Success;
        }

        IPAddress? remote = context.Connection.RemoteIpAddress;
        if (options.AllowUnsignedLoopback && remote is not null && IPAddress.IsLoopback(remote))
        {
            return AuthenticationResult.Success;
        }

        return AuthenticationResult.Fail(
            $"Source '{source}' has no webhook secret configured, so only loopback requests are accepted; set Edge:Sources:{source}:Secrets.",
            SignatureHeader);
    }

    private AuthenticationResult AuthenticateHmac(HttpRequest request, SourceAuthentication authentication, ReadOnlySpan<byte> body)
    {
        string? timestampText = request.Headers[TimestampHeader].FirstOrDefault();
        string? signatureText = request.Headers[SignatureHeader].FirstOrDefault();
        if (string.IsNullOrEmpty(timestampText) || string.IsNullOrEmpty(signatureText))
        {
            return AuthenticationResult.Fail($"The request is not signed: {TimestampHeader} and {SignatureHeader} are required.", SignatureHeader);
        }

        if (!long.TryParse(timestampText, NumberStyles.None, CultureInfo.InvariantCulture, out long unixSeconds)
            || unixSeconds > DateTimeOffset.MaxValue.ToUnixTimeSeconds())
        {
            return AuthenticationResult.Fail($"{TimestampHeader} must be a Unix time in seconds.", TimestampHeader);
        }

        TimeSpan age = time.GetUtcNow() - DateTimeOffset.FromUnixTimeSeconds(unixSeconds);
        if (age.Duration() > options.ReplayWindow)
        {
            return AuthenticationResult.Fail(
                $"{TimestampHeader} is outside the replay window of {options.ReplayWindow.TotalSeconds:F0} seconds; sign the request again with the current time.",
                TimestampHeader);
        }

        List<byte[]> provided = ReadSignatures(signatureText);
        if (provided.Count == 0)
        {
            return AuthenticationResult.Fail($"{SignatureHeader} must hold {SignaturePrefix} and 64 hex digits of HMAC-SHA256.", SignatureHeader);
        }

        bool matched = false;
        foreach (string secret in authentication.Secrets)
        {
            byte[] expected = ComputeMac(Encoding.UTF8.GetBytes(secret), timestampText, body);
            foreach (byte[] signature in provided)
            {
                // Every pair is compared, so the time taken does not tell which secret or signature matched.
                matched |= CryptographicOperations.FixedTimeEquals(expected, signature);
            }
        }

        return matched
            ? AuthenticationResult.Success
            : AuthenticationResult.Fail($"{SignatureHeader} does not match the body and timestamp for this source's secret.", SignatureHeader);
    }

    private static AuthenticationResult AuthenticateToken(HttpRequest request, SourceAuthentication authentication)
    {
        string? value = request.Headers[authentication.TokenHeader].FirstOrDefault();
        if (string.IsNullOrEmpty(value))
        {
            return AuthenticationResult.Fail($"The request carries no token: the {authentication.TokenHeader} header is required.", authentication.TokenHeader);
        }

        if (authentication.TokenHeader.Equals("Authorization", StringComparison.OrdinalIgnoreCase))
        {
            const string bearer = "Bearer ";
            if (!value.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
            {
                return AuthenticationResult.Fail("The Authorization header must use the Bearer scheme.", authentication.TokenHeader);
            }

            value = value[bearer.Length..].Trim();
        }

        // Hashing both sides first gives equal lengths, so the comparison time does not reveal the token's length.
        byte[] presented = SHA256.HashData(Encoding.UTF8.GetBytes(value));
        bool matched = false;
        foreach (string secret in authentication.Secrets)
        {
            matched |= CryptographicOperations.FixedTimeEquals(presented, SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
        }

        return matched
            ? AuthenticationResult.Success
            : AuthenticationResult.Fail($"The token in {authentication.TokenHeader} is not valid for this source.", authentication.TokenHeader);
    }

    private static List<byte[]> ReadSignatures(string header)
    {
        List<byte[]> signatures = [];
        foreach (string part in header.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!part.StartsWith(SignaturePrefix, StringComparison.Ordinal) || part.Length != SignaturePrefix.Length + 64)
            {
                continue;
            }

            try
            {
                signatures.Add(Convert.FromHexString(part.AsSpan(SignaturePrefix.Length)));
            }
            catch (FormatException)
            {
                // Not hex: ignored like any other malformed entry.
            }
        }

        return signatures;
    }

    private static byte[] ComputeMac(byte[] key, string timestamp, ReadOnlySpan<byte> body)
    {
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(Encoding.ASCII.GetBytes(timestamp));
        hmac.AppendData("."u8);
        hmac.AppendData(body);
        return hmac.GetHashAndReset();
    }
}
