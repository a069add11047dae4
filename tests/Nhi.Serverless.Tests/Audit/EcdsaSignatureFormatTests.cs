using System.Security.Cryptography;
using Nhi.Serverless.Aws.Audit;

namespace Nhi.Serverless.Tests.Audit;

public sealed class EcdsaSignatureFormatTests
{
    [Fact]
    public void ConvertedDerSignaturesVerify()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var lengths = new HashSet<int>();
        for (int i = 0; i < 300; i++)
        {
            byte[] data = BitConverter.GetBytes(i);
            byte[] der = key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
            lengths.Add(der[3]);

            byte[] p1363 = EcdsaSignatureFormat.DerToP1363(der);

            Assert.Equal(64, p1363.Length);
            Assert.True(key.VerifyData(data, p1363, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation), $"signature {i} does not verify");
        }

        // About half of all r values have their first bit set and get a 0x00 sign byte in DER.
        Assert.Contains(33, lengths);
        Assert.Contains(32, lengths);
    }

    [Fact]
    public void ShortValuesArePadded()
    {
        byte[] r = [.. Enumerable.Repeat((byte)0x11, 31)];
        byte[] s = [0x80, .. Enumerable.Repeat((byte)0x22, 31)];
        byte[] der = [0x30, 2 + 31 + 2 + 33, 0x02, 31, .. r, 0x02, 33, 0x00, .. s];

        byte[] p1363 = EcdsaSignatureFormat.DerToP1363(der);

        Assert.Equal([0x00, .. r, .. s], p1363);
    }

    [Theory]
    [InlineData("31 06 02 01 01 02 01 01", "not a DER SEQUENCE")]
    [InlineData("30 07 02 01 01 02 01 01", "states 7 content bytes but 6 follow")]
    [InlineData("30 08 02 01 01 02 01 01 00 00", "bytes after s")]
    [InlineData("30 06 02 01 81 02 01 01", "INTEGER r is negative")]
    [InlineData("30 07 02 02 00 01 02 01 01", "leading zero byte")]
    [InlineData("30 06 02 01 00 02 01 01", "INTEGER r is zero")]
    [InlineData("30 06 02 01 01 04 01 01", "no INTEGER s")]
    [InlineData("30 03 02 01 01", "no INTEGER s")]
    public void MalformedDerRejected(string hex, string reason)
    {
        byte[] der = Convert.FromHexString(hex.Replace(" ", "", StringComparison.Ordinal));

        var error = Assert.Throws<FormatException>(() => EcdsaSignatureFormat.DerToP1363(der));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ValueLongerThanFieldRejected()
    {
        byte[] r = [0x01, .. new byte[32]];
        byte[] der = [0x30, 2 + 33 + 3, 0x02, 33, .. r, 0x02, 1, 0x01];

        var error = Assert.Throws<FormatException>(() => EcdsaSignatureFormat.DerToP1363(der));

        Assert.Contains("has 33 bytes; the curve allows at most 32", error.Message, StringComparison.Ordinal);
    }
}
