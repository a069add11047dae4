namespace Nhi.Serverless.Grants;

/// <summary>The permissions a grant carries, on exactly one resource.</summary>
/// <param name="Provider">"aws", "azure", "postgresql" or "oauth".</param>
/// <param name="Resource">The one resource, such as "arn:aws:s3:::my-bucket".</param>
/// <param name="Permissions">Provider action names, such as "s3:PutBucketPolicy"; sorted and distinct.</param>
public sealed record Scope(string Provider, string Resource, IReadOnlyList<string> Permissions)
{
    /// <summary>Creates a scope with its permissions sorted ordinally and de-duplicated.</summary>
    public static Scope Create(string provider, string resource, IEnumerable<string> permissions) =>
        new(provider, resource, permissions.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray());

    /// <summary>Creates a scope whose permissions apply to named objects inside the resource; both lists sorted and de-duplicated.</summary>
    public static Scope Create(string provider, string resource, IEnumerable<string> permissions, IEnumerable<string> objects) =>
        Create(provider, resource, permissions) with
        {
            Objects = objects.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray(),
        };

    /// <summary>
    /// The named objects inside <see cref="Resource"/> that the permissions apply to, such as the tables
    /// "table:erp.invoices" of a database; sorted and distinct. Empty when they apply to the resource itself.
    /// </summary>
    public IReadOnlyList<string> Objects { get; init; } = [];

    public bool Allows(string permission) => Permissions.Contains(permission, StringComparer.Ordinal);

    public bool Equals(Scope? other) =>
        other is not null
        && Provider == other.Provider
        && Resource == other.Resource
        && Permissions.SequenceEqual(other.Permissions, StringComparer.Ordinal)
        && Objects.SequenceEqual(other.Objects, StringComparer.Ordinal);

    public override int GetHashCode() => HashCode.Combine(Provider, Resource, Permissions.Count);
}
