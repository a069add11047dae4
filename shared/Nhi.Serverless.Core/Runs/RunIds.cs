using System.Security.Cryptography;
using System.Text;
using Nhi.Serverless.Findings;

namespace Nhi.Serverless.Runs;

/// <summary>Derives run ids, which double as orchestration instance ids.</summary>
public static class RunIds
{
    /// <summary>
    /// Returns "run-" and 32 hex characters of SHA-256 over the finding id and its update time, so a
    /// redelivery of the same finding version maps to the same run, whichever account or source sent it,
    /// and a later update of the finding starts a new run.
    /// </summary>
    public static string ForFinding(Finding finding)
    {
        string key = finding.Id + "\n" + finding.UpdatedAt.UtcDateTime.ToString("O", System.Globalization.CultureInfo.InvariantCulture);
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        return "run-" + Convert.ToHexStringLower(hash.AsSpan(0, 16));
    }
}
