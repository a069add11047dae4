using System.Security.Cryptography;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>Checks the RFC 6962 tree hash against published roots and against the RFC's recursive definition.</summary>
public sealed class MerkleTreeTests
{
    // The leaf inputs and roots of the Certificate Transparency reference tests for RFC 6962.
    private static readonly string[] ReferenceLeaves =
    [
        "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
    ];

    private static readonly string[] ReferenceRoots =
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    [Fact]
    public void EmptyTreeHashesNothing()
    {
        Assert.Equal(SHA256.HashData(ReadOnlySpan<byte>.Empty), new MerkleTree().ComputeRoot());
    }

    [Fact]
    public void ReferenceRootsMatch()
    {
        var tree = new MerkleTree();
        for (int i = 0; i < ReferenceLeaves.Length; i++)
        {
            tree.Add(Convert.FromHexString(ReferenceLeaves[i]));

            Assert.Equal(ReferenceRoots[i], Convert.ToHexStringLower(tree.ComputeRoot()));
        }
    }

    [Fact]
    public void MatchesRecursiveDefinition()
    {
        List<byte[]> leaves = Enumerable.Range(0, 70).Select(i => new byte[] { (byte)i, (byte)(i * 7) }).ToList();

        for (int count = 0; count <= leaves.Count; count++)
        {
            byte[] expected = RecursiveRoot(leaves.GetRange(0, count));

            Assert.Equal(Convert.ToHexStringLower(expected), Convert.ToHexStringLower(MerkleTree.ComputeRoot(leaves.Take(count))));
        }
    }

    [Fact]
    public void LeafOrderMatters()
    {
        byte[] first = [1];
        byte[] second = [2];

        Assert.NotEqual(MerkleTree.ComputeRoot([first, second]), MerkleTree.ComputeRoot([second, first]));
    }

    [Fact]
    public void LeafDiffersFromNode()
    {
        // The 0x00 and 0x01 prefixes keep a leaf from being read as an interior node (second preimage).
        byte[] left = MerkleTree.HashLeaf([1]);
        byte[] right = MerkleTree.HashLeaf([2]);
        byte[] concatenated = [.. left, .. right];

        Assert.NotEqual(MerkleTree.ComputeRoot([[1], [2]]), MerkleTree.ComputeRoot([concatenated]));
    }

    /// <summary>RFC 6962 section 2.1, written as the RFC states it.</summary>
    private static byte[] RecursiveRoot(List<byte[]> leaves)
    {
        if (leaves.Count == 0)
        {
            return SHA256.HashData(ReadOnlySpan<byte>.Empty);
        }

        if (leaves.Count == 1)
        {
            return SHA256.HashData([0x00, .. leaves[0]]);
        }

        int split = 1;
        while (split * 2 < leaves.Count)
        {
            split *= 2;
        }

        byte[] left = RecursiveRoot(leaves.GetRange(0, split));
        byte[] right = RecursiveRoot(leaves.GetRange(split, leaves.Count - split));
        return SHA256.HashData([0x01, .. left, .. right]);
    }
}
