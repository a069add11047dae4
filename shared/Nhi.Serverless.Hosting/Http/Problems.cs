using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>Writes RFC 9457 problem details (application/problem+json).</summary>
public static class Problems
{
    private const string TypeBase = "https://nhi-serverless.dev/problems/";

    /// <summary>Writes a problem response. <paramref name="field"/> and <paramref name="expected"/> become extension members.</summary>
    public static Task WriteAsync(
        HttpContext context, int status, string type, string title, string detail, string? field = null, string? expected = null)
    {
        var problem = new Dictionary<string, object?>
        {
            ["type"] = TypeBase + type,
            ["title"] = title,
            ["status"] = status,
            ["detail"] = detail,
            ["instance"] = context.Request.Path.Value,
        };
        if (field is not null)
        {
            problem["field"] = field;
        }

        if (expected is not null)
        {
            problem["expected"] = expected;
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/problem+json";
        return JsonSerializer.SerializeAsync(context.Response.Body, problem, HttpJson.Options, context.RequestAborted);
    }
}

/// <summary>The JSON settings of every response body: camelCase names, enums as strings.</summary>
public static class HttpJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };
}
