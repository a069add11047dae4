using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Serializes JSON in the JSON Canonicalization Scheme (JCS, RFC 8785), so the same data always
/// produces the same bytes to hash and sign.
/// </summary>
/// <remarks>
/// The rules applied: no whitespace; object members sorted by the UTF-16 code units of their names;
/// strings with only the mandatory escapes (<c>\"</c>, <c>\\</c>, <c>\b \f \n \r \t</c>, and
/// lowercase <c>\u00xx</c> for other control characters) and everything else as UTF-8; numbers as
/// IEEE 754 doubles in the ECMAScript <c>Number.prototype.toString</c> form. Input that RFC 8785
/// (through I-JSON, RFC 7493) does not allow is rejected with <see cref="JsonCanonicalizationException"/>:
/// NaN and infinities, numbers outside the double range, lone surrogates and duplicate member names.
/// </remarks>
public static class JsonCanonicalizer
{
    /// <summary>The deepest nesting of objects and arrays accepted; deeper input is rejected.</summary>
    public const int MaxDepth = 128;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Canonicalizes a node tree; a null node is the JSON literal <c>null</c>.</summary>
    /// <exception cref="JsonCanonicalizationException">The tree contains a value that JCS does not allow.</exception>
    public static byte[] Canonicalize(JsonNode? node)
    {
        var writer = new CanonicalWriter();
        writer.WriteNode(node, depth: 0);
        return StrictUtf8.GetBytes(writer.ToString());
    }

    /// <summary>Canonicalizes a parsed JSON element.</summary>
    /// <exception cref="JsonCanonicalizationException">The element contains a value that JCS does not allow.</exception>
    public static byte[] Canonicalize(JsonElement element)
    {
        var writer = new CanonicalWriter();
        writer.WriteElement(element, depth: 0);
        return StrictUtf8.GetBytes(writer.ToString());
    }

    /// <summary>Canonicalizes a node tree and returns the canonical text.</summary>
    public static string CanonicalizeToString(JsonNode? node) => Encoding.UTF8.GetString(Canonicalize(node));

    /// <summary>Canonicalizes a parsed JSON element and returns the canonical text.</summary>
    public static string CanonicalizeToString(JsonElement element) => Encoding.UTF8.GetString(Canonicalize(element));

    /// <summary>
    /// Formats a double as ECMAScript's <c>Number.prototype.toString</c> does: the shortest digits that
    /// round-trip, plain notation for decimal exponents from -6 to 20, exponent notation such as
    /// <c>1e+21</c> or <c>1e-7</c> outside that range, and <c>0</c> for negative zero.
    /// </summary>
    /// <exception cref="JsonCanonicalizationException">The value is NaN or infinite.</exception>
    public static string FormatNumber(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new JsonCanonicalizationException("$", $"the number {value.ToString(CultureInfo.InvariantCulture)} has no JSON form");
        }

        if (value == 0)
        {
            return "0";
        }

        // .NET Core 3.0 and later format "R" as the shortest string that parses back to the same
        // double, which is the digit string ECMAScript's algorithm requires.
        string roundTrip = value.ToString("R", CultureInfo.InvariantCulture);
        (string digits, int exponent) = SplitDecimal(roundTrip);

        // ECMAScript names the digit count k and the position of the decimal point n, so that
        // value = 0.d1d2...dk × 10^n.
        int k = digits.Length;
        int n = exponent + k;
        var result = new StringBuilder(k + 8);
        if (value < 0)
        {
            result.Append('-');
        }

        if (k <= n && n <= 21)
        {
            result.Append(digits).Append('0', n - k);
        }
        else if (0 < n && n <= 21)
        {
            result.Append(digits, 0, n).Append('.').Append(digits, n, k - n);
        }
        else if (-6 < n && n <= 0)
        {
            result.Append("0.").Append('0', -n).Append(digits);
        }
        else
        {
            int shownExponent = n - 1;
            result.Append(digits[0]);
            if (k > 1)
            {
                result.Append('.').Append(digits, 1, k - 1);
            }

            result.Append('e').Append(shownExponent < 0 ? '-' : '+').Append(Math.Abs(shownExponent).ToString(CultureInfo.InvariantCulture));
        }

        return result.ToString();
    }

    /// <summary>
    /// Splits a .NET number string such as "-1.2345E-07" or "123.45" into its significant digits,
    /// without leading or trailing zeros, and the power of ten that the integer they form is scaled by.
    /// </summary>
    private static (string Digits, int Exponent) SplitDecimal(string text)
    {
        int start = text[0] == '-' ? 1 : 0;
        int exponentMark = text.IndexOfAny(['E', 'e']);
        string mantissa = exponentMark < 0 ? text[start..] : text[start..exponentMark];
        int exponent = exponentMark < 0 ? 0 : int.Parse(text.AsSpan(exponentMark + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);

        int point = mantissa.IndexOf('.', StringComparison.Ordinal);
        string digits = mantissa;
        if (point >= 0)
        {
            digits = string.Concat(mantissa.AsSpan(0, point), mantissa.AsSpan(point + 1));
            exponent -= mantissa.Length - point - 1;
        }

        digits = digits.TrimStart('0');
        int withTrailingZeros = digits.Length;
        digits = digits.TrimEnd('0');
        exponent += withTrailingZeros - digits.Length;
        return (digits, exponent);
    }

    /// <summary>Builds the canonical text, tracking the JSON path for error messages.</summary>
    private sealed class CanonicalWriter
    {
        private readonly StringBuilder _output = new();
        private readonly List<string> _path = [];

        public override string ToString() => _output.ToString();

        public void WriteNode(JsonNode? node, int depth)
        {
            switch (node)
            {
                case null:
                    _output.Append("null");
                    break;
                case JsonObject obj:
                    CheckDepth(depth);
                    WriteMembers(obj.Select(pair => (pair.Key, (object?)pair.Value)).ToList(), depth, checkDuplicates: false);
                    break;
                case JsonArray array:
                    CheckDepth(depth);
                    WriteItems(array.Select(item => (object?)item).ToList(), depth);
                    break;
                case JsonValue value:
                    WriteValue(value, depth);
                    break;
            }
        }

        public void WriteElement(JsonElement element, int depth)
        {
            switch (element.ValueKind)
            {
                case JsonValueKind.Object:
                    CheckDepth(depth);
                    WriteMembers(element.EnumerateObject().Select(property => (property.Name, (object?)property.Value)).ToList(), depth, checkDuplicates: true);
                    break;
                case JsonValueKind.Array:
                    CheckDepth(depth);
                    WriteItems(element.EnumerateArray().Select(item => (object?)item).ToList(), depth);
                    break;
                case JsonValueKind.String:
                    WriteString(ReadString(element));
                    break;
                case JsonValueKind.Number:
                    WriteNumber(ParseNumber(element.GetRawText()));
                    break;
                case JsonValueKind.True:
                    _output.Append("true");
                    break;
                case JsonValueKind.False:
                    _output.Append("false");
                    break;
                case JsonValueKind.Null:
                    _output.Append("null");
                    break;
                default:
                    throw Reject($"the element kind {element.ValueKind} is not a JSON value");
            }
        }

        private void WriteValue(JsonValue value, int depth)
        {
            if (value.TryGetValue(out JsonElement element))
            {
                WriteElement(element, depth);
                return;
            }

            if (value.TryGetValue(out double number))
            {
                WriteNumber(number);
                return;
            }

            if (value.TryGetValue(out float single))
            {
                WriteNumber(single);
                return;
            }

            if (value.TryGetValue(out string? text))
            {
                WriteString(text);
                return;
            }

            if (value.TryGetValue(out bool flag))
            {
                _output.Append(flag ? "true" : "false");
                return;
            }

            // Other CLR values (integers, decimals, dates, GUIDs) are read back from their JSON form.
            using JsonDocument document = JsonDocument.Parse(value.ToJsonString());
            WriteElement(document.RootElement, depth);
        }

        private void WriteMembers(List<(string Name, object? Value)> members, int depth, bool checkDuplicates)
        {
            // string.CompareOrdinal compares UTF-16 code units, the order RFC 8785 requires.
            members.Sort((left, right) => string.CompareOrdinal(left.Name, right.Name));
            _output.Append('{');
            for (int i = 0; i < members.Count; i++)
            {
                (string name, object? value) = members[i];
                if (checkDuplicates && i > 0 && string.Equals(members[i - 1].Name, name, StringComparison.Ordinal))
                {
                    _path.Add(FormatMemberSegment(name));
                    throw Reject("the member name appears more than once in its object");
                }

                if (i > 0)
                {
                    _output.Append(',');
                }

                _path.Add(FormatMemberSegment(name));
                WriteString(name);
                _output.Append(':');
                WriteChild(value, depth);
                _path.RemoveAt(_path.Count - 1);
            }

            _output.Append('}');
        }

        private void WriteItems(List<object?> items, int depth)
        {
            _output.Append('[');
            for (int i = 0; i < items.Count; i++)
            {
                if (i > 0)
                {
                    _output.Append(',');
                }

                _path.Add($"[{i.ToString(CultureInfo.InvariantCulture)}]");
                WriteChild(items[i], depth);
                _path.RemoveAt(_path.Count - 1);
            }

            _output.Append(']');
        }

        private void WriteChild(object? child, int depth)
        {
            if (child is JsonElement element)
            {
                WriteElement(element, depth + 1);
            }
            else
            {
                WriteNode((JsonNode?)child, depth + 1);
            }
        }

        private void WriteNumber(double value)
        {
            if (!double.IsFinite(value))
            {
                throw Reject($"the number {value.ToString(CultureInfo.InvariantCulture)} has no JSON form; I-JSON allows only finite doubles");
            }

            _output.Append(FormatNumber(value));
        }

        private double ParseNumber(string raw)
        {
            double value = double.Parse(raw, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (!double.IsFinite(value))
            {
                throw Reject($"the number {raw} is outside the range of an IEEE 754 double");
            }

            return value;
        }

        private string ReadString(JsonElement element)
        {
            try
            {
                return element.GetString()!;
            }
            catch (InvalidOperationException)
            {
                // System.Text.Json refuses escaped lone surrogates such as "\ud800" when unescaping.
                throw Reject("the string is not valid Unicode");
            }
        }

        private void WriteString(string text)
        {
            _output.Append('"');
            for (int i = 0; i < text.Length; i++)
            {
                char c = text[i];
                switch (c)
                {
                    case '"':
                        _output.Append("\\\"");
                        break;
                    case '\\':
                        _output.Append("\\\\");
                        break;
                    case '\b':
                        _output.Append("\\b");
                        break;
                    case '\f':
                        _output.Append("\\f");
                        break;
                    case '\n':
                        _output.Append("\\n");
                        break;
                    case '\r':
                        _output.Append("\\r");
                        break;
                    case '\t':
                        _output.Append("\\t");
                        break;
                    case < ' ':
                        _output.Append("\\u00").Append(((int)c).ToString("x2", CultureInfo.InvariantCulture));
                        break;
                    default:
                        if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                        {
                            _output.Append(c).Append(text[i + 1]);
                            i++;
                        }
                        else if (char.IsSurrogate(c))
                        {
                            throw Reject($"the string has a lone surrogate U+{(int)c:X4} at index {i}; I-JSON requires valid Unicode");
                        }
                        else
                        {
                            _output.Append(c);
                        }

                        break;
                }
            }

            _output.Append('"');
        }

        private void CheckDepth(int depth)
        {
            if (depth >= MaxDepth)
            {
                throw Reject($"objects and arrays are nested deeper than {MaxDepth} levels");
            }
        }

        private JsonCanonicalizationException Reject(string reason) => new(FormatPath(), reason);

        private string FormatPath() => "$" + string.Concat(_path);

        /// <summary>Formats a member name as a path segment, escaping quotes, backslashes, controls and surrogates.</summary>
        private static string FormatMemberSegment(string name)
        {
            var segment = new StringBuilder("[\"", name.Length + 4);
            foreach (char c in name)
            {
                if (c is '"' or '\\')
                {
                    segment.Append('\\').Append(c);
                }
                else if (c < ' ' || char.IsSurrogate(c))
                {
                    segment.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                }
                else
                {
                    segment.Append(c);
                }
            }

            return segment.Append("\"]").ToString();
        }
    }
}

/// <summary>Thrown when JSON contains a value that the JSON Canonicalization Scheme does not allow.</summary>
public sealed class JsonCanonicalizationException : Exception
{
    public JsonCanonicalizationException(string path, string reason)
        : base($"Cannot canonicalize the JSON value at {path}: {reason}.")
    {
        Path = path;
        Reason = reason;
    }

    /// <summary>The location of the rejected value, such as <c>$["nhi"]["checks"][0]</c>.</summary>
    public string Path { get; }

    /// <summary>Why the value was rejected.</summary>
    public string Reason { get; }
}
