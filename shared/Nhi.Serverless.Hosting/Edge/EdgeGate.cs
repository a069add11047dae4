using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Hosting.Http;

namespace Nhi.Serverless.Hosting.Edge;

/// <summary>The checks every request at the edge passes, in order: media type, body size and read time, then
/// authentication. Each failure is answered with problem+json here, and the caller stops.</summary>
public sealed class EdgeGate(EdgeOptions options, AlertEndpointOptions limits, WebhookAuthenticator authenticator, ILogger<EdgeGate> logger)
{
    public EdgeOptions Options => options;

    /// <summary>Reads and authenticates the body, or writes the problem and returns null.</summary>
    /// <param name="authSource">The source whose secrets authenticate the request.</param>
    /// <param name="mediaTypes">Accepted media types; any "+json" type is accepted when "application/json" is listed.</param>
    public async Task<byte[]?> ReadAsync(HttpContext context, string authSource, EdgeCaller caller, IReadOnlyList<string> mediaTypes)
    {
        if (!AcceptsMediaType(context.Request.ContentType, mediaTypes))
        {
            string accepted = string.Join(" or ", mediaTypes);
            await Problems.WriteAsync(context, StatusCodes.Status415UnsupportedMediaType, "unsupported-media-type", "Unsupported media type",
                $"The request body must be sent as {accepted}.", "Content-Type", accepted);
            return null;
        }

        return await ReadAuthenticatedAsync(context, authSource, caller);
    }

    /// <summary>Reads and authenticates a body whose media type the caller checked, or writes the problem and returns null.</summary>
    /// <param name="authenticate">False to only read the body, when the caller authenticates it later with
    /// <see cref="AuthenticateReadBodyAsync"/> because part of the protocol is answered before authentication.</param>
    public async Task<byte[]?> ReadAuthenticatedAsync(HttpContext context, string authSource, EdgeCaller caller, bool authenticate = true)
    {
        (byte[]? body, bool timedOut) = await ReadBodyAsync(context);
        if (timedOut)
        {
            await Problems.WriteAsync(context, StatusCodes.Status408RequestTimeout, "body-timeout", "Request body timed out",
                $"The request body was not received within {options.BodyReadTimeout.TotalSeconds:F0} seconds.", "body", "a body sent without stalling");
            return null;
        }

        if (body is null)
        {
            await Problems.WriteAsync(context, StatusCodes.Status413PayloadTooLarge, "body-too-large", "Body too large",
                $"The request body exceeds {limits.MaxBodyBytes} bytes.", "body", $"at most {limits.MaxBodyBytes} bytes");
            return null;
        }

        if (authenticate && !await AuthenticateReadBodyAsync(context, authSource, body, caller))
        {
            return null;
        }

        return body;
    }

    /// <summary>Authenticates a body that was read already, or writes 401 and returns false.</summary>
    public async Task<bool> AuthenticateReadBodyAsync(HttpContext context, string authSource, byte[] body, EdgeCaller caller)
    {
        AuthenticationResult authentication = authenticator.Authenticate(context, authSource, body, caller);
        if (authentication.Succeeded)
        {
            return true;
        }

        logger.LogWarning(
            "Rejected an unauthenticated request to {Path} for source {Source} from {RemoteAddress}: {Failure}",
            context.Request.Path.Value, authSource, context.Connection.RemoteIpAddress, authentication.Failure);
        context.Response.Headers.WWWAuthenticate = $"{WebhookAuthenticator.SignatureHeader} realm=\"{authSource}\"";
        await Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, "unauthenticated", "Unauthenticated",
            authentication.Failure!, authentication.Header, "a valid signature or token for this source");
        return false;
    }

    /// <summary>Returns whether a Content-Type names one of the accepted media types, ignoring parameters and case.</summary>
    public static bool AcceptsMediaType(string? contentType, IReadOnlyList<string> mediaTypes)
    {
        if (string.IsNullOrEmpty(contentType))
        {
            return false;
        }

        string mediaType = contentType.Split(';', 2)[0].Trim();
        foreach (string accepted in mediaTypes)
        {
            if (mediaType.Equals(accepted, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }

            if (accepted == "application/json" && mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase) && mediaType.StartsWith("application/", StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    // Returns (null, false) when the body is larger than the limit, and (null, true) when reading it took too long.
    private async Task<(byte[]? Body, bool TimedOut)> ReadBodyAsync(HttpContext context)
    {
        long limit = limits.MaxBodyBytes;
        if (context.Request.ContentLength > limit)
        {
            return (null, false);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        timeout.CancelAfter(options.BodyReadTimeout);

        using var buffer = new MemoryStream(context.Request.ContentLength is { } length ? (int)length : 4096);
        byte[] chunk = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await context.Request.Body.ReadAsync(chunk, timeout.Token)) > 0)
            {
                if (buffer.Length + read > limit)
                {
                    return (null, false);
                }

                buffer.Write(chunk, 0, read);
            }
        }
        catch (OperationCanceledException) when (!context.RequestAborted.IsCancellationRequested)
        {
            return (null, true);
        }

        return (buffer.ToArray(), false);
    }
}
