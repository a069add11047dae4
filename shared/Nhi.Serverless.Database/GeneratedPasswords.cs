using System.Security.Cryptography;

namespace Nhi.Serverless.Database;

/// <summary>Generates database passwords from the operating system's cryptographic random number generator.</summary>
public static class GeneratedPasswords
{
    private const string Lower = "abcdefghijklmnopqrstuvwxyz";
    private const string Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    private const string Digits = "0123456789";

    // No quote, backslash, semicolon or space, so the password needs no escaping in a connection string or a SQL literal.
    private const string Symbols = "-_.~!*+";

    /// <summary>
    /// Returns a password of <paramref name="length"/> characters drawn uniformly from letters, digits and -_.~!*+, with at
    /// least one of each kind, which satisfies complexity policies such as Azure SQL's. 32 characters carry about 190 bits.
    /// </summary>
    public static string Create(int length = 32)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 8);
        const string all = Lower + Upper + Digits + Symbols;

        while (true)
        {
            string candidate = RandomNumberGenerator.GetString(all, length);
            if (candidate.Any(Lower.Contains) && candidate.Any(Upper.Contains) && candidate.Any(Digits.Contains) && candidate.Any(Symbols.Contains))
            {
                return candidate;
            }
        }
    }
}
