using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Partition and row keys of the audit tables. Records: PartitionKey is the UTC date "yyyy-MM-dd" of the
/// record id's time, RowKey is the record id. Index entities: PartitionKey is "{kind}|{value}", such as
/// "run|{runId}" or "resource|{resource}", and RowKey is the first record id the entity lists (see
/// <see cref="AuditIndexEntities"/>).
/// </summary>
public static class AuditTableKeys
{
    public const string RunKind = "run";
    public const string ResourceKind = "resource";
    public const string FindingKind = "finding";
    public const string GrantKind = "grant";

    /// <summary>The longest escaped value kept readable in an index key; longer values are replaced by their SHA-256.</summary>
    /// <remarks>Azure limits a key to 1 KiB, which is 512 UTF-16 characters.</remarks>
    public const int MaxReadableValueLength = 400;

    /// <summary>The prefix of a hashed index value, which no escaped value can contain because escaping writes '~' only before two hex digits.</summary>
    /// <remarks>
    /// NOTE: stores before this prefix wrote "sha256:" instead, which a readable value could also produce. Index entities
    /// of values longer than <see cref="MaxReadableValueLength"/> written under that form are no longer found by queries.
    /// </remarks>
    public const string HashedValuePrefix = "~sha256~";

    /// <summary>Returns the records-table partition key of a record id: the UTC date of its time.</summary>
    public static string RecordPartition(string recordId) => DatePartition(AuditRecordIds.GetTime(recordId));

    /// <summary>Returns the records-table partition key of a time.</summary>
    public static string DatePartition(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture);

    /// <summary>
    /// Returns an index partition key. Characters that table keys forbid ('/', '\', '#', '?' and control
    /// characters), and '~' and '%' as well, become "~" plus two hex digits, so Azure resource ids such as
    /// "/subscriptions/..." fit; a value longer than <see cref="MaxReadableValueLength"/> after escaping
    /// becomes <see cref="HashedValuePrefix"/> plus its hex hash, so it never shares a partition with a readable value.
    /// </summary>
    public static string IndexPartition(string kind, string value)
    {
        ArgumentException.ThrowIfNullOrEmpty(kind);
        ArgumentNullException.ThrowIfNull(value);
        string escaped = Escape(value);
        if (escaped.Length > MaxReadableValueLength)
        {
            escaped = HashedValuePrefix + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)));
        }

        return kind + "|" + escaped;
    }

    private static string Escape(string value)
    {
        var escaped = new StringBuilder(value.Length);
        foreach (char c in value)
        {
            if (c is '/' or '\\' or '#' or '?' or '~' or '%' || char.IsControl(c))
            {
                escaped.Append('~').Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
            }
            else
            {
                escaped.Append(c);
            }
        }

        return escaped.ToString();
    }
}
