using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Nhi.Serverless.Hosting.Edge;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>Builds signed and unsigned requests to the edge, and reads their answers.</summary>
public static class EdgeRequests
{
    public const string WizSecret = "wiz-webhook-secret-0123456789";
    public const string WizRotatedSecret = "wiz-webhook-secret-rotated-9876543210";
    public const string EventGridToken = "eventgrid-delivery-token-0123456789";
    public const string SoarSecret = "soar-api-secret-0123456789abcdef";
    public const string LogicAppsToken = "logicapps-token-0123456789abcdef";
    public const string AdminSecret = "admin-secret-0123456789abcdef01";

    /// <summary>The settings of a host whose sources require signatures or tokens, and accepts no unsigned loopback request.</summary>
    public static Dictionary<string, string?> SecuredSettings() => new()
    {
        ["Edge:AllowUnsignedLoopback"] = "false",
        ["Edge:Sources:wiz:Secrets:0"] = WizSecret,
        ["Edge:Sources:wiz:Secrets:1"] = WizRotatedSecret,
        ["Edge:Sources:securityhub:Secret"] = WizSecret,
        ["Edge:Sources:prismacloud:Secret"] = WizSecret,
        ["Edge:Sources:crowdstrike:Secret"] = WizSecret,
        ["Edge:Sources:defender:Secret"] = WizSecret,
        ["Edge:Sources:ocsf:Secret"] = WizSecret,
        ["Edge:Sources:eventgrid:Scheme"] = "Token",
        ["Edge:Sources:eventgrid:TokenHeader"] = "X-Delivery-Token",
        ["Edge:Sources:eventgrid:Secret"] = EventGridToken,
        ["Edge:Sources:soar:Secret"] = SoarSecret,
        ["Edge:Sources:logicapps:Scheme"] = "Token",
        ["Edge:Sources:logicapps:Secret"] = LogicAppsToken,
        ["Edge:Sources:admin:Secret"] = AdminSecret,
    };

    public static HttpRequestMessage Signed(HttpMethod method, string path, string body, string secret, DateTimeOffset? at = null, string mediaType = "application/json")
    {
        var request = new HttpRequestMessage(method, path);
        byte[] bytes = Encoding.UTF8.GetBytes(body);
        if (method != HttpMethod.Get && method != HttpMethod.Delete)
        {
            request.Content = new ByteArrayContent(bytes);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        }

        long seconds = (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds();
        request.Headers.Add(WebhookAuthenticator.TimestampHeader, seconds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.Add(WebhookAuthenticator.SignatureHeader, WebhookAuthenticator.Sign(secret, seconds, bytes));
        return request;
    }

    public static HttpRequestMessage WithToken(HttpMethod method, string path, string? body, string header, string token, string mediaType = "application/json")
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        }

        request.Headers.TryAddWithoutValidation(header, header == "Authorization" ? "Bearer " + token : token);
        return request;
    }

    public static async Task<(int Status, JsonNode? Body, HttpResponseMessage Response)> SendAsync(HttpClient http, HttpRequestMessage request)
    {
        using (request)
        {
            HttpResponseMessage response = await http.SendAsync(request);
            string text = await response.Content.ReadAsStringAsync();
            JsonNode? body = text.Length == 0 ? null : JsonNode.Parse(text);
            return ((int)response.StatusCode, body, response);
        }
    }
}
