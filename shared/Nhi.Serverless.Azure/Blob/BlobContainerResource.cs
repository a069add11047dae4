namespace Nhi.Serverless.Azure.Blob;

/// <summary>Parses the resource of a blob SAS scope: the URL of one container in the broker's storage account.</summary>
/// <remarks>
/// Azure's form is https://{account}.blob.core.windows.net/{container}; Azurite's is
/// http://127.0.0.1:10000/{account}/{container}. Either way the URL is the account's blob endpoint plus one container name.
/// </remarks>
public static class BlobContainerResource
{
    /// <summary>Returns the container URL for a container of the account at <paramref name="serviceUri"/>.</summary>
    public static string Format(Uri serviceUri, string container) => $"{serviceUri.AbsoluteUri.TrimEnd('/')}/{container}";

    /// <summary>
    /// Reads the container name from <paramref name="resource"/>, which must be the blob endpoint <paramref name="serviceUri"/>
    /// followed by one valid container name, with no query, fragment or trailing slash.
    /// </summary>
    /// <param name="reason">Why the resource was rejected; null on success.</param>
    public static bool TryParse(string resource, Uri serviceUri, out string container, out string? reason)
    {
        ArgumentNullException.ThrowIfNull(serviceUri);
        container = "";

        if (!Uri.TryCreate(resource, UriKind.Absolute, out Uri? uri))
        {
            reason = $"resource '{resource}' is not an absolute URL";
            return false;
        }

        string endpoint = serviceUri.AbsoluteUri.TrimEnd('/') + "/";
        bool sameEndpoint =
            Uri.Compare(uri, serviceUri, UriComponents.SchemeAndServer, UriFormat.UriEscaped, StringComparison.OrdinalIgnoreCase) == 0
            && uri.AbsolutePath.StartsWith(new Uri(endpoint).AbsolutePath, StringComparison.Ordinal);
        if (!sameEndpoint)
        {
            reason = $"resource '{resource}' is not a container of the broker's storage account at {endpoint}";
            return false;
        }

        if (uri.Query.Length > 0 || uri.Fragment.Length > 0 || resource.Contains('?', StringComparison.Ordinal) || resource.Contains('#', StringComparison.Ordinal))
        {
            reason = $"resource '{resource}' has a query or fragment; expected only the container URL";
            return false;
        }

        string name = uri.AbsolutePath[new Uri(endpoint).AbsolutePath.Length..];
        if (!IsValidContainerName(name))
        {
            reason = $"resource '{resource}' does not end in one container name (3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or digit)";
            return false;
        }

        container = name;
        reason = null;
        return true;
    }

    /// <summary>Whether <paramref name="name"/> is a valid container name; $root, $web and other system containers are not accepted.</summary>
    public static bool IsValidContainerName(string name) =>
        BlobSasBrokerOptions.ContainerNamePattern().IsMatch(name) && !name.Contains("--", StringComparison.Ordinal);
}
