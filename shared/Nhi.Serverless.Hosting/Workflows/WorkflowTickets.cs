using System.Security.Cryptography;
using System.Text;

namespace Nhi.Serverless.Hosting.Workflows;

/// <summary>
/// The ticket a caller receives when it starts a run with brokered steps: 256 random bits, shown once in the start
/// response. Only its SHA-256 is kept, in the run's input; presenting the ticket proves the caller started the run.
/// </summary>
public static class WorkflowTickets
{
    /// <summary>The request header that carries the ticket.</summary>
    public const string Header = "Nhi-Run-Ticket";

    /// <summary>Returns a new ticket and its hash.</summary>
    public static (string Ticket, string Hash) Create()
    {
        string ticket = Base64UrlEncode(RandomNumberGenerator.GetBytes(32));
        return (ticket, Hash(ticket));
    }

    public static string Hash(string ticket) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ticket)));

    /// <summary>Compares a presented ticket with the stored hash in constant time.</summary>
    public static bool Matches(string? presented, string? storedHash)
    {
        if (string.IsNullOrEmpty(presented) || string.IsNullOrEmpty(storedHash) || presented.Length > 128)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(presented)), Encoding.ASCII.GetBytes(storedHash));
    }

    private static string Base64UrlEncode(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
