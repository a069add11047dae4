namespace Nhi.Serverless.Aws.Audit;

/// <summary>Converts ECDSA signatures from the DER form that AWS KMS returns to the IEEE P1363 form that JWS uses.</summary>
public static class EcdsaSignatureFormat
{
    private const byte SequenceTag = 0x30;
    private const byte IntegerTag = 0x02;

    /// <summary>
    /// Converts a DER ECDSA-Sig-Value, a SEQUENCE of the INTEGERs r and s (RFC 3279 section 2.2.3), into
    /// r||s with each value left-padded with zeros to <paramref name="fieldSize"/> bytes, 32 for P-256.
    /// </summary>
    /// <exception cref="FormatException">The bytes are not a DER ECDSA signature whose r and s are positive and fit in <paramref name="fieldSize"/> bytes.</exception>
    public static byte[] DerToP1363(ReadOnlySpan<byte> der, int fieldSize = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(fieldSize, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(fieldSize, 66);
        if (der.Length < 2 || der[0] != SequenceTag)
        {
            throw new FormatException("The signature is not a DER SEQUENCE.");
        }

        // Two INTEGERs of at most 66 bytes (P-521) make at most 136 content bytes, so the length takes
        // the short form (one byte below 0x80) or the long form with one length byte (0x81).
        int headerLength = 2;
        int contentLength = der[1];
        if (contentLength == 0x81 && der.Length > 2 && der[2] >= 0x80)
        {
            headerLength = 3;
            contentLength = der[2];
        }
        else if (contentLength >= 0x80)
        {
            throw new FormatException("The DER SEQUENCE has a length form that DER does not allow for its size.");
        }

        if (contentLength != der.Length - headerLength)
        {
            throw new FormatException($"The DER SEQUENCE states {contentLength} content bytes but {der.Length - headerLength} follow.");
        }

        var signature = new byte[2 * fieldSize];
        ReadOnlySpan<byte> rest = der[headerLength..];
        rest = ReadInteger(rest, "r", signature.AsSpan(0, fieldSize));
        rest = ReadInteger(rest, "s", signature.AsSpan(fieldSize));
        if (!rest.IsEmpty)
        {
            throw new FormatException($"The DER signature has {rest.Length} bytes after s.");
        }

        return signature;
    }

    /// <summary>Reads one DER INTEGER into the right end of <paramref name="destination"/> and returns the bytes after it.</summary>
    private static ReadOnlySpan<byte> ReadInteger(ReadOnlySpan<byte> input, string name, Span<byte> destination)
    {
        if (input.Length < 2 || input[0] != IntegerTag)
        {
            throw new FormatException($"The DER signature has no INTEGER {name}.");
        }

        int length = input[1];
        if (length == 0 || length >= 0x80 || length > input.Length - 2)
        {
            throw new FormatException($"The DER INTEGER {name} has an invalid length.");
        }

        ReadOnlySpan<byte> value = input.Slice(2, length);
        if ((value[0] & 0x80) != 0)
        {
            throw new FormatException($"The DER INTEGER {name} is negative; ECDSA values are positive.");
        }

        // DER writes a 0x00 sign byte only before a value whose first bit is set.
        if (value[0] == 0 && value.Length > 1)
        {
            if ((value[1] & 0x80) == 0)
            {
                throw new FormatException($"The DER INTEGER {name} has a leading zero byte that DER does not allow.");
            }

            value = value[1..];
        }

        if (value.Length > destination.Length)
        {
            throw new FormatException($"The DER INTEGER {name} has {value.Length} bytes; the curve allows at most {destination.Length}.");
        }

        if (!value.ContainsAnyExcept((byte)0))
        {
            throw new FormatException($"The DER INTEGER {name} is zero, which no valid ECDSA signature has.");
        }

        value.CopyTo(destination[(destination.Length - value.Length)..]);
        return input[(2 + length)..];
    }
}
