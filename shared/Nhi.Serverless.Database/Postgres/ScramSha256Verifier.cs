using System.Security.Cryptography;
using System.Text;

namespace Nhi.Serverless.Database.Postgres;

/// <summary>
/// Computes the SCRAM-SHA-256 verifier that PostgreSQL stores for a password (RFC 5802 with SHA-256 as in RFC 7677),
/// in the server's text form "SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey".
/// </summary>
/// <remarks>
/// Sending the verifier in CREATE ROLE ... PASSWORD keeps the password itself out of the statement, so a server that
/// logs statements never records it. The verifier cannot be used to log in.
/// </remarks>
public static class ScramSha256Verifier
{
    /// <summary>The iteration count PostgreSQL uses by default (scram_iterations, PostgreSQL 15).</summary>
    public const int DefaultIterations = 4096;

    private const int SaltLength = 16;

    /// <summary>Returns the verifier of <paramref name="password"/> with a random salt.</summary>
    /// <exception cref="ArgumentException">The password is not printable ASCII, the only input for which SASLprep (RFC 4013) changes nothing.</exception>
    public static string Create(string password, int iterations = DefaultIterations) =>
        Create(password, RandomNumberGenerator.GetBytes(SaltLength), iterations);

    /// <summary>Returns the verifier of <paramref name="password"/> with the given salt.</summary>
    public static string Create(string password, byte[] salt, int iterations)
    {
        ArgumentException.ThrowIfNullOrEmpty(password);
        ArgumentNullException.ThrowIfNull(salt);
        ArgumentOutOfRangeException.ThrowIfLessThan(iterations, 1);
        if (!password.All(c => c is >= '!' and <= '~'))
        {
            throw new ArgumentException("The password must consist of printable ASCII characters without spaces, so that SASLprep leaves it unchanged.", nameof(password));
        }

        byte[] saltedPassword = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, iterations, HashAlgorithmName.SHA256, 32);
        byte[] clientKey = HMACSHA256.HashData(saltedPassword, "Client Key"u8);
        byte[] storedKey = SHA256.HashData(clientKey);
        byte[] serverKey = HMACSHA256.HashData(saltedPassword, "Server Key"u8);

        return $"SCRAM-SHA-256${iterations}:{Convert.ToBase64String(salt)}${Convert.ToBase64String(storedKey)}:{Convert.ToBase64String(serverKey)}";
    }
}
