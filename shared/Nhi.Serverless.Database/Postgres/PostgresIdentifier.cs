using System.Text;

namespace Nhi.Serverless.Database.Postgres;

/// <summary>Parses and quotes PostgreSQL identifiers, so hostile names reach the server as names and never as SQL.</summary>
public static class PostgresIdentifier
{
    /// <summary>The longest identifier PostgreSQL keeps, in bytes (NAMEDATALEN - 1 with the default build).</summary>
    /// <remarks>The server silently truncates longer names, which could make a grant name a different object.</remarks>
    public const int MaxLengthBytes = 63;

    /// <summary>Returns the name as a double-quoted identifier, with embedded double quotes doubled.</summary>
    /// <exception cref="ArgumentException">The name is empty, contains NUL, or is longer than 63 bytes in UTF-8.</exception>
    public static string Quote(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsValidName(name, out string? problem))
        {
            throw new ArgumentException($"Invalid PostgreSQL identifier: {problem}", nameof(name));
        }

        return "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>Returns "schema"."name" with both parts quoted.</summary>
    public static string Quote(string schema, string name) => Quote(schema) + "." + Quote(name);

    /// <summary>
    /// Parses identifiers separated by dots in SQL syntax: unquoted parts are folded to lowercase as the server folds them,
    /// and double-quoted parts keep their case and may contain dots, spaces and doubled double quotes.
    /// </summary>
    /// <param name="text">Such as erp.invoices or app."Odd ""name""".</param>
    /// <param name="parts">The names without quotes.</param>
    /// <param name="problem">Why the text was rejected; null on success.</param>
    public static bool TryParse(string text, out IReadOnlyList<string> parts, out string? problem)
    {
        var names = new List<string>();
        parts = names;
        int position = 0;

        while (true)
        {
            if (!TryReadPart(text, ref position, out string? name, out problem))
            {
                return false;
            }

            if (!IsValidName(name!, out problem))
            {
                return false;
            }

            names.Add(name!);
            if (position == text.Length)
            {
                return true;
            }

            if (text[position] != '.')
            {
                problem = $"unexpected '{text[position]}' at position {position} of '{text}'; expected '.' between names";
                return false;
            }

            position++;
        }
    }

    private static bool TryReadPart(string text, ref int position, out string? name, out string? problem)
    {
        name = null;
        problem = null;
        if (position >= text.Length)
        {
            problem = $"'{text}' ends where a name is expected";
            return false;
        }

        if (text[position] == '"')
        {
            var builder = new StringBuilder();
            position++;
            while (true)
            {
                if (position >= text.Length)
                {
                    problem = $"'{text}' has an unterminated quoted name";
                    return false;
                }

                char c = text[position];
                if (c == '"')
                {
                    if (position + 1 < text.Length && text[position + 1] == '"')
                    {
                        builder.Append('"');
                        position += 2;
                        continue;
                    }

                    position++;
                    name = builder.ToString();
                    return true;
                }

                builder.Append(c);
                position++;
            }
        }

        int start = position;
        while (position < text.Length && IsUnquotedChar(text[position], position == start))
        {
            position++;
        }

        if (position == start)
        {
            problem = $"'{text}' has '{text[position]}' at position {position}; an unquoted name starts with a letter or '_', so quote names with other characters";
            return false;
        }

        // The server folds unquoted names to lowercase; only ASCII letters are accepted unquoted, so folding is exact.
        name = text[start..position].ToLowerInvariant();
        return true;
    }

    private static bool IsUnquotedChar(char c, bool first) =>
        char.IsAsciiLetter(c) || c == '_' || (!first && (char.IsAsciiDigit(c) || c == '$'));

    private static bool IsValidName(string name, out string? problem)
    {
        if (name.Length == 0)
        {
            problem = "the name is empty";
            return false;
        }

        if (name.Contains('\0', StringComparison.Ordinal))
        {
            problem = "the name contains a NUL character";
            return false;
        }

        int bytes = Encoding.UTF8.GetByteCount(name);
        if (bytes > MaxLengthBytes)
        {
            problem = $"the name has {bytes} bytes in UTF-8; PostgreSQL truncates names longer than {MaxLengthBytes} bytes";
            return false;
        }

        problem = null;
        return true;
    }
}
