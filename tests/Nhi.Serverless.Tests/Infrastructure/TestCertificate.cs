using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Nhi.Serverless.Tests.Infrastructure;

/// <summary>
/// A self-signed ECDSA P-256 certificate for 127.0.0.1, made once per test process, that test hosts serve HTTPS with;
/// test clients trust this certificate and no other.
/// </summary>
public static class TestCertificate
{
    private static readonly Lazy<(string Certificate, string Key, string Thumbprint)> Files = new(Create);

    public static string CertificatePath => Files.Value.Certificate;

    public static string KeyPath => Files.Value.Key;

    /// <summary>A handler that accepts the test certificate only.</summary>
    public static HttpClientHandler TrustingHandler() => new()
    {
        ServerCertificateCustomValidationCallback = (_, certificate, _, _) =>
            certificate is not null && string.Equals(certificate.Thumbprint, Files.Value.Thumbprint, StringComparison.OrdinalIgnoreCase),
    };

    private static (string, string, string) Create()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        string directory = Directory.CreateTempSubdirectory("nhi-test-tls-").FullName;
        string certificatePath = Path.Combine(directory, "cert.pem");
        string keyPath = Path.Combine(directory, "key.pem");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return (certificatePath, keyPath, certificate.Thumbprint);
    }
}
