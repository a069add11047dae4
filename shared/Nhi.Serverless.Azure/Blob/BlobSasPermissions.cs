using Azure.Storage.Sas;

namespace Nhi.Serverless.Azure.Blob;

/// <summary>The container permissions a blob SAS grant may carry, by the names scopes use.</summary>
public static class BlobSasPermissions
{
    private static readonly IReadOnlyDictionary<string, BlobContainerSasPermissions> ByName =
        new Dictionary<string, BlobContainerSasPermissions>(StringComparer.Ordinal)
        {
            ["read"] = BlobContainerSasPermissions.Read,
            ["list"] = BlobContainerSasPermissions.List,
            ["write"] = BlobContainerSasPermissions.Write,
            ["create"] = BlobContainerSasPermissions.Create,
            ["add"] = BlobContainerSasPermissions.Add,
            ["delete"] = BlobContainerSasPermissions.Delete,
        };

    /// <summary>Every permission name a scope may use.</summary>
    public static IReadOnlyCollection<string> Names => (IReadOnlyCollection<string>)ByName.Keys;

    public static bool IsKnown(string name) => ByName.ContainsKey(name);

    /// <summary>Returns the permission string of a stored access policy, such as "rl", in the order Azure requires.</summary>
    /// <exception cref="ArgumentException">A name is not one of <see cref="Names"/>.</exception>
    public static string ToPolicyString(IEnumerable<string> names)
    {
        BlobContainerSasPermissions flags = 0;
        foreach (string name in names)
        {
            if (!ByName.TryGetValue(name, out BlobContainerSasPermissions flag))
            {
                throw new ArgumentException($"Blob SAS permission '{name}' is unknown; expected one of {string.Join(", ", ByName.Keys)}.", nameof(names));
            }

            flags |= flag;
        }

        // The SDK orders the letters as the service expects.
        var builder = new BlobSasBuilder();
        builder.SetPermissions(flags);
        return builder.Permissions;
    }
}
