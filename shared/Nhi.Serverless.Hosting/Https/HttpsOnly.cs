using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Hosting.Http;

namespace Nhi.Serverless.Hosting.Https;

/// <summary>The endpoint filter that keeps brokered credentials off plain HTTP.</summary>
public static class HttpsOnly
{
    /// <summary>Rejects a request that did not arrive over TLS with 403 problem+json, before the handler or any
    /// later filter runs, so neither a credential nor a bearer token crosses plain HTTP twice.</summary>
    public static TBuilder RequireHttps<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (invocation, next) =>
        {
            HttpContext context = invocation.HttpContext;
            if (context.Request.IsHttps)
            {
                return await next(invocation);
            }

            Uri? httpsBase = context.RequestServices.GetService<HttpsEndpoint>()?.BaseAddress;
            string where = httpsBase is null
                ? "Send the request over HTTPS."
                : $"Send the request to {new Uri(httpsBase, context.Request.Path.Value + context.Request.QueryString)}.";
            await Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "https-required", "HTTPS required",
                $"Brokered credentials are handed out over HTTPS only. {where}", "scheme", "https");
            return Results.Empty;
        });
}
