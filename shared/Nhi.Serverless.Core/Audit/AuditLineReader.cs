using System.Buffers;

namespace Nhi.Serverless.Audit;

/// <summary>Numbered JSON Lines that one scanning thread handles together.</summary>
/// <param name="Lines">The lines with their numbers.</param>
/// <param name="PooledBlock">The block the lines point into when it was rented from <see cref="ArrayPool{T}.Shared"/>; return it once the lines are no longer used.</param>
internal sealed record LineChunk(IReadOnlyList<(long Number, ReadOnlyMemory<byte> Line)> Lines, byte[]? PooledBlock = null)
{
    /// <summary>Returns the block to the pool; the lines must not be read after this.</summary>
    public void Release()
    {
        if (PooledBlock is not null)
        {
            ArrayPool<byte>.Shared.Return(PooledBlock);
        }
    }
}

/// <summary>Splits JSON Lines input into chunks of lines; blank lines are skipped but keep their numbers.</summary>
internal static class AuditLineReader
{
    /// <summary>The size of each block read from a stream; longer lines get a larger block.</summary>
    public const int BlockSize = 512 * 1024;

    /// <summary>How many lines of in-memory input go in one chunk.</summary>
    public const int LinesPerChunk = 1024;

    /// <summary>
    /// Reads a stream of UTF-8 JSON Lines. Each chunk owns a block rented from the shared pool, so it
    /// stays valid while later ones are read, until the caller releases it.
    /// </summary>
    public static IEnumerable<LineChunk> ReadChunks(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        byte[] carry = [];
        int carryLength = 0;
        long lineNumber = 0;
        bool endOfStream = false;
        while (!endOfStream)
        {
            byte[] block = ArrayPool<byte>.Shared.Rent(Math.Max(BlockSize, carryLength * 2));
            carry.AsSpan(0, carryLength).CopyTo(block);
            int filled = carryLength;
            while (filled < block.Length)
            {
                int read = stream.Read(block, filled, block.Length - filled);
                if (read == 0)
                {
                    endOfStream = true;
                    break;
                }

                filled += read;
            }

            var lines = new List<(long, ReadOnlyMemory<byte>)>();
            int start = 0;
            for (int newline = Array.IndexOf(block, (byte)'\n', 0, filled); newline >= 0; newline = Array.IndexOf(block, (byte)'\n', start, filled - start))
            {
                AddLine(lines, ++lineNumber, block.AsMemory(start, newline - start));
                start = newline + 1;
            }

            if (endOfStream)
            {
                if (start < filled)
                {
                    AddLine(lines, ++lineNumber, block.AsMemory(start, filled - start));
                }

                carryLength = 0;
            }
            else
            {
                // The rest of the block is the start of a line that continues in the next block.
                carryLength = filled - start;
                carry = new byte[carryLength];
                Array.Copy(block, start, carry, 0, carryLength);
            }

            if (lines.Count > 0)
            {
                yield return new LineChunk(lines, block);
            }
            else
            {
                ArrayPool<byte>.Shared.Return(block);
            }
        }
    }

    /// <summary>Groups in-memory lines into chunks.</summary>
    public static IEnumerable<LineChunk> Chunk(IEnumerable<byte[]> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var chunk = new List<(long, ReadOnlyMemory<byte>)>(LinesPerChunk);
        long lineNumber = 0;
        foreach (byte[] line in lines)
        {
            chunk.Add((++lineNumber, line));
            if (chunk.Count == LinesPerChunk)
            {
                yield return new LineChunk(chunk);
                chunk = new List<(long, ReadOnlyMemory<byte>)>(LinesPerChunk);
            }
        }

        if (chunk.Count > 0)
        {
            yield return new LineChunk(chunk);
        }
    }

    private static void AddLine(List<(long, ReadOnlyMemory<byte>)> lines, long number, ReadOnlyMemory<byte> line)
    {
        ReadOnlySpan<byte> span = line.Span;
        if (span.Length > 0 && span[^1] == (byte)'\r')
        {
            line = line[..^1];
            span = line.Span;
        }

        if (!span.Trim(" \t"u8).IsEmpty)
        {
            lines.Add((number, line));
        }
    }
}
