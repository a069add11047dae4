using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Xml;
using System.Xml.Linq;
using Amazon.Runtime;
using Nhi.Serverless.Aws.Signing;

namespace Nhi.Serverless.Aws.Iam;

/// <summary>
/// Calls the IAM query API (form POST, Version=2010-05-08) for the role operations revocation needs, signed
/// with <see cref="SigV4Signer"/>, because no IAM client package is available to this project.
/// </summary>
/// <remarks>Responses are matched by element local names, so both AWS's namespaced XML and RGW's variant parse.</remarks>
public sealed class IamQueryClient : IDisposable
{
    private const string ApiVersion = "2010-05-08";
    private static readonly MediaTypeHeaderValue FormContentType = MediaTypeHeaderValue.Parse("application/x-www-form-urlencoded; charset=utf-8");

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly Uri _endpoint;
    private readonly SigV4Signer _signer;
    private readonly Lazy<AWSCredentials> _credentials;
    private readonly TimeProvider _time;

    /// <param name="http">The HTTP client; disposed with this client when <paramref name="ownsHttp"/> is true.</param>
    /// <param name="endpoint">The IAM endpoint, such as https://iam.amazonaws.com.</param>
    /// <param name="signingRegion">The region in the signature's credential scope.</param>
    /// <param name="credentials">Resolves the service's credentials on the first request, so construction contacts nothing.</param>
    /// <param name="time">The clock used for the signature date.</param>
    /// <param name="ownsHttp">Whether disposing this client disposes <paramref name="http"/>.</param>
    public IamQueryClient(HttpClient http, Uri endpoint, string signingRegion, Func<AWSCredentials> credentials, TimeProvider time, bool ownsHttp = false)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentNullException.ThrowIfNull(time);

        _http = http;
        _ownsHttp = ownsHttp;
        _endpoint = endpoint;
        _signer = new SigV4Signer("iam", signingRegion);
        _credentials = new Lazy<AWSCredentials>(credentials, LazyThreadSafetyMode.ExecutionAndPublication);
        _time = time;
    }

    public async Task<IamRole> GetRoleAsync(string roleName, CancellationToken cancellationToken)
    {
        XElement result = await SendAsync("GetRole", [new("RoleName", roleName)], cancellationToken);
        XElement role = Child(result, "Role") ?? throw Malformed("GetRole", "Role");

        string? maxSessionText = ChildValue(role, "MaxSessionDuration");
        TimeSpan? maxSession = int.TryParse(maxSessionText, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds)
            ? TimeSpan.FromSeconds(seconds)
            : null;

        return new IamRole(
            ChildValue(role, "RoleName") ?? roleName,
            ChildValue(role, "RoleId") ?? throw Malformed("GetRole", "RoleId"),
            ChildValue(role, "Arn") ?? throw Malformed("GetRole", "Arn"),
            maxSession);
    }

    /// <summary>Creates or replaces an inline policy of the role.</summary>
    public async Task PutRolePolicyAsync(string roleName, string policyName, string policyDocument, CancellationToken cancellationToken)
    {
        await SendAsync(
            "PutRolePolicy",
            [new("RoleName", roleName), new("PolicyName", policyName), new("PolicyDocument", policyDocument)],
            cancellationToken);
    }

    /// <summary>Returns the decoded JSON document of an inline policy of the role.</summary>
    /// <exception cref="IamServiceException">With <see cref="IamServiceException.IsNoSuchEntity"/> when the policy does not exist.</exception>
    public async Task<string> GetRolePolicyAsync(string roleName, string policyName, CancellationToken cancellationToken)
    {
        XElement result = await SendAsync("GetRolePolicy", [new("RoleName", roleName), new("PolicyName", policyName)], cancellationToken);
        string document = ChildValue(result, "PolicyDocument") ?? throw Malformed("GetRolePolicy", "PolicyDocument");

        // AWS returns the document URL-encoded (RFC 3986); RGW returns it as plain JSON.
        string trimmed = document.TrimStart();
        return trimmed.StartsWith('{') ? document : Uri.UnescapeDataString(document);
    }

    public async Task DeleteRolePolicyAsync(string roleName, string policyName, CancellationToken cancellationToken)
    {
        await SendAsync("DeleteRolePolicy", [new("RoleName", roleName), new("PolicyName", policyName)], cancellationToken);
    }

    /// <summary>Returns the names of all inline policies of the role, following Marker pagination.</summary>
    public async Task<IReadOnlyList<string>> ListRolePoliciesAsync(string roleName, CancellationToken cancellationToken)
    {
        var names = new List<string>();
        string? marker = null;
        do
        {
            var parameters = new List<KeyValuePair<string, string>> { new("RoleName", roleName) };
            if (marker is not null)
            {
                parameters.Add(new("Marker", marker));
            }

            XElement result = await SendAsync("ListRolePolicies", parameters, cancellationToken);
            XElement? policyNames = Child(result, "PolicyNames");
            if (policyNames is not null)
            {
                names.AddRange(policyNames.Elements().Where(element => element.Name.LocalName == "member").Select(element => element.Value));
            }

            bool truncated = string.Equals(ChildValue(result, "IsTruncated"), "true", StringComparison.OrdinalIgnoreCase);
            marker = truncated ? ChildValue(result, "Marker") : null;
        }
        while (marker is not null);

        return names;
    }

    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    // Sends one action and returns its {Action}Result element, or the response root when there is none.
    private async Task<XElement> SendAsync(string action, IReadOnlyList<KeyValuePair<string, string>> parameters, CancellationToken cancellationToken)
    {
        byte[] body = Encoding.UTF8.GetBytes(FormEncode(action, parameters));
        ImmutableCredentials credentials = await _credentials.Value.GetCredentialsAsync();

        using var request = new HttpRequestMessage(HttpMethod.Post, _endpoint);
        request.Content = new ByteArrayContent(body);
        request.Content.Headers.ContentType = FormContentType;
        _signer.Sign(request, body, credentials, _time.GetUtcNow());

        using HttpResponseMessage response = await _http.SendAsync(request, cancellationToken);
        string text = await response.Content.ReadAsStringAsync(cancellationToken);

        XDocument? document = TryParse(text);
        if (!response.IsSuccessStatusCode)
        {
            throw ToException(action, response.StatusCode, document ?? TryParseLastError(text));
        }

        XElement root = document?.Root ?? throw Malformed(action, "a response body");
        return root.Descendants().FirstOrDefault(element => element.Name.LocalName == action + "Result") ?? root;
    }

    private static string FormEncode(string action, IReadOnlyList<KeyValuePair<string, string>> parameters)
    {
        var builder = new StringBuilder()
            .Append("Action=").Append(SigV4Signer.UriEncode(action))
            .Append("&Version=").Append(ApiVersion);
        foreach (var (name, value) in parameters)
        {
            builder.Append('&').Append(SigV4Signer.UriEncode(name)).Append('=').Append(SigV4Signer.UriEncode(value));
        }

        return builder.ToString();
    }

    private static IamServiceException ToException(string action, HttpStatusCode statusCode, XDocument? document)
    {
        XElement? error = document?.Root?.DescendantsAndSelf().FirstOrDefault(element => element.Name.LocalName == "Error");
        string code = (error is null ? null : ChildValue(error, "Code")) ?? "Unknown";
        string? message = error is null ? null : ChildValue(error, "Message");
        string? requestId = document?.Root?.DescendantsAndSelf().FirstOrDefault(element => element.Name.LocalName == "RequestId")?.Value;
        return new IamServiceException(action, statusCode, code, message, requestId);
    }

    private static XDocument? TryParse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        try
        {
            return XDocument.Parse(text);
        }
        catch (XmlException)
        {
            return null;
        }
    }

    // For DeleteRolePolicy on a missing policy, Ceph RGW 16.2 returns 404 with a body of two XML documents: a
    // DeleteRolePoliciesResponse followed by the Error document. This parses the last Error element alone.
    private static XDocument? TryParseLastError(string text)
    {
        int start = text.LastIndexOf("<Error>", StringComparison.Ordinal);
        int end = text.LastIndexOf("</Error>", StringComparison.Ordinal);
        return start < 0 || end < start ? null : TryParse(text[start..(end + "</Error>".Length)]);
    }

    private static XElement? Child(XElement parent, string localName) =>
        parent.Elements().FirstOrDefault(element => element.Name.LocalName == localName);

    private static string? ChildValue(XElement parent, string localName) => Child(parent, localName)?.Value;

    private static InvalidDataException Malformed(string action, string missing) =>
        new($"IAM {action} returned a response without {missing}.");
}
