using System.Security.Cryptography;

namespace Nhi.Serverless.Audit;

/// <summary>
/// Computes the Merkle tree hash of RFC 6962 section 2.1 with SHA-256: a leaf is
/// SHA-256(0x00 || data), an interior node is SHA-256(0x01 || left || right), a tree of n leaves
/// splits at the largest power of two below n, and the empty tree's hash is SHA-256 of no bytes.
/// </summary>
/// <remarks>
/// Leaves are added one at a time and only the roots of the complete subtrees seen so far are kept,
/// so a window of a million leaves needs about 20 hashes of memory. Instances are not thread-safe.
/// </remarks>
public sealed class MerkleTree
{
    /// <summary>The hash size in bytes.</summary>
    public const int HashSize = 32;

    private const byte LeafPrefix = 0x00;
    private const byte NodePrefix = 0x01;

    // Roots of complete subtrees from left to right, with strictly decreasing sizes: the binary
    // representation of the leaf count. Sizes are kept as the subtree height.
    private readonly List<(int Height, byte[] Hash)> _subtrees = [];

    /// <summary>How many leaves were added.</summary>
    public long Count { get; private set; }

    /// <summary>Returns the tree hash of the leaves in order.</summary>
    public static byte[] ComputeRoot(IEnumerable<byte[]> leaves)
    {
        ArgumentNullException.ThrowIfNull(leaves);
        var tree = new MerkleTree();
        foreach (byte[] leaf in leaves)
        {
            tree.Add(leaf);
        }

        return tree.ComputeRoot();
    }

    /// <summary>Returns SHA-256(0x00 || data), the hash of one leaf.</summary>
    public static byte[] HashLeaf(ReadOnlySpan<byte> data)
    {
        byte[] hash = new byte[HashSize];
        HashLeaf(data, hash);
        return hash;
    }

    /// <summary>Returns SHA-256(0x01 || left || right), the hash of an interior node.</summary>
    public static byte[] HashNode(ReadOnlySpan<byte> left, ReadOnlySpan<byte> right)
    {
        Span<byte> input = stackalloc byte[1 + (2 * HashSize)];
        input[0] = NodePrefix;
        left.CopyTo(input[1..]);
        right.CopyTo(input[(1 + HashSize)..]);
        return SHA256.HashData(input);
    }

    /// <summary>Adds the next leaf.</summary>
    public void Add(ReadOnlySpan<byte> data)
    {
        byte[] hash = new byte[HashSize];
        HashLeaf(data, hash);
        int height = 0;

        // Two complete subtrees of the same height merge into one of the next height, like a carry
        // in binary addition.
        while (_subtrees.Count > 0 && _subtrees[^1].Height == height)
        {
            hash = HashNode(_subtrees[^1].Hash, hash);
            _subtrees.RemoveAt(_subtrees.Count - 1);
            height++;
        }

        _subtrees.Add((height, hash));
        Count++;
    }

    /// <summary>Returns the tree hash of the leaves added so far; more leaves can be added after.</summary>
    public byte[] ComputeRoot()
    {
        if (_subtrees.Count == 0)
        {
            return SHA256.HashData(ReadOnlySpan<byte>.Empty);
        }

        // RFC 6962 puts the largest complete subtree on the left at every level, so folding the
        // subtree roots from the right reproduces its recursive definition.
        byte[] root = _subtrees[^1].Hash;
        for (int i = _subtrees.Count - 2; i >= 0; i--)
        {
            root = HashNode(_subtrees[i].Hash, root);
        }

        return root;
    }

    private static void HashLeaf(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        // Leaves are usually 32-byte record hashes, so the prefixed copy fits on the stack.
        if (data.Length <= 256)
        {
            Span<byte> input = stackalloc byte[1 + data.Length];
            input[0] = LeafPrefix;
            data.CopyTo(input[1..]);
            SHA256.HashData(input, destination);
            return;
        }

        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData([LeafPrefix]);
        hash.AppendData(data);
        hash.GetHashAndReset(destination);
    }
}
