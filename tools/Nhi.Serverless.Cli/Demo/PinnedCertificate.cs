using System.Security.Cryptography.X509Certificates;

namespace Nhi.Serverless.Cli.Demo;

/// <summary>An HTTP handler that trusts one certificate, read from a PEM file, and nothing else; or the system's trust without a file.</summary>
public static class PinnedCertificate
{
    public static HttpClientHandler Handler(FileInfo? certificateFile)
    {
        var handler = new HttpClientHandler();
        if (certificateFile is null)
        {
            return handler;
        }

        using X509Certificate2 pinned = X509Certificate2.CreateFromPemFile(certificateFile.FullName);
        string thumbprint = pinned.Thumbprint;
        handler.ServerCertificateCustomValidationCallback = (_, certificate, _, _) =>
            certificate is not null && string.Equals(certificate.Thumbprint, thumbprint, StringComparison.OrdinalIgnoreCase);
        return handler;
    }
}
