using System.Security.Cryptography;

namespace Nhi.Serverless.Hosting;

/// <summary>Writes files that hold no secret, such as a JWKS or a certificate, so a reader sees the old or the new
/// text and never a part of it.</summary>
internal static class PublicFile
{
    public static void Replace(string path, string contents)
    {
        string fullPath = Path.GetFullPath(path);
        string temporaryPath = $"{fullPath}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8))}.tmp";
        try
        {
            File.WriteAllText(temporaryPath, contents);
            File.Move(temporaryPath, fullPath, overwrite: true);
        }
        finally
        {
            File.Delete(temporaryPath);
        }
    }
}
