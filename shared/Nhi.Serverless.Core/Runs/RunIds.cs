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

    /// <summary>
    /// Returns a grant id for one attempt of a run: 16 hex characters that identify the run, a hyphen, and the
    /// attempt's 32 hex characters. Brokers derive session and principal names from it, so a platform's own
    /// logs (such as CloudTrail's role session name) show which run a credential served.
    /// </summary>
    public static string GrantIdFor(string runId, Guid attempt)
    {
        string runHex = runId.StartsWith("run-", StringComparison.Ordinal) && runId.Length >= 20 && runId[4..20].All(char.IsAsciiHexDigitLower)
            ? runId[4..20]
            : Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(runId)).AsSpan(0, 8));
        return runHex + "-" + attempt.ToString("N");
    }
}
