using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Hosting.Https;

/// <summary>
/// The local host's self-signed ECDSA P-256 certificate for 127.0.0.1, ::1 and localhost: <see cref="CertificateFileName"/>
/// (public, for clients to pin) and <see cref="KeyFileName"/> (owner-only) in one folder. It is created on first
/// use, reused later, and replaced with a new key when it expires within <see cref="RenewBefore"/>, does not cover
/// those names, or does not match its key.
/// </summary>
public sealed class LocalTlsCertificate
{
    public const string CertificateFileName = "localhost.crt.pem";

    public const string KeyFileName = "localhost.key.pem";

    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(7);

    public static readonly TimeSpan Validity = TimeSpan.FromDays(365);

    private static readonly IPAddress[] Addresses = [IPAddress.Loopback, IPAddress.IPv6Loopback];

    private const string HostName = "localhost";

    private LocalTlsCertificate(X509Certificate2 certificate, string certificatePath, string outcome)
    {
        Certificate = certificate;
        CertificatePath = certificatePath;
        Outcome = outcome;
    }

    /// <summary>The certificate with its private key, for Kestrel.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The PEM file of the certificate alone, which clients pass as --ca-cert.</summary>
    public string CertificatePath { get; }

    /// <summary>Whether the certificate was created, reused or renewed, and why, for the start log line.</summary>
    public string Outcome { get; }

    /// <exception cref="InvalidOperationException">The key file can be read by users other than its owner.</exception>
    public static LocalTlsCertificate LoadOrCreate(string directory, TimeProvider time)
    {
        string fullDirectory = Path.GetFullPath(directory);
        string certificatePath = Path.Combine(fullDirectory, CertificateFileName);
        string keyPath = Path.Combine(fullDirectory, KeyFileName);
        DateTimeOffset now = time.GetUtcNow();

        string keyPem = OwnerOnlyKeyFile.ReadOrCreate(keyPath, "local HTTPS key", CreateKeyPem, out bool createdKey);
        string outcome = "created";
        if (!createdKey && File.Exists(certificatePath))
        {
            (X509Certificate2? existing, string reason) = TryReuse(File.ReadAllText(certificatePath), keyPem, now);
            if (existing is not null)
            {
                return new LocalTlsCertificate(existing, certificatePath, reason);
            }

            outcome = reason;
            keyPem = CreateKeyPem();
            OwnerOnlyKeyFile.Replace(keyPath, keyPem);
        }

        X509Certificate2 created = CreateCertificate(keyPem, now);
        PublicFile.Replace(certificatePath, created.ExportCertificatePem());
        return new LocalTlsCertificate(ForKestrel(created), certificatePath, outcome);
    }

    private static (X509Certificate2? Certificate, string Reason) TryReuse(string certificatePem, string keyPem, DateTimeOffset now)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        }
        catch (Exception failure) when (failure is CryptographicException or ArgumentException)
        {
            // CreateFromPem throws ArgumentException when the certificate's public key is not the key file's.
            return (null, "renewed because the certificate file did not match its key");
        }

        if (certificate.NotAfter.ToUniversalTime() - now.UtcDateTime < RenewBefore)
        {
            string expiry = certificate.NotAfter.ToUniversalTime().ToString("u", System.Globalization.CultureInfo.InvariantCulture);
            certificate.Dispose();
            return (null, $"renewed because the previous one expires at {expiry}, within {RenewBefore.TotalDays:F0} days");
        }

        if (!CoversLocalNames(certificate))
        {
            certificate.Dispose();
            return (null, $"renewed because the previous one did not cover {HostName}, 127.0.0.1 and ::1");
        }

        return (ForKestrel(certificate), "reused");
    }

    private static bool CoversLocalNames(X509Certificate2 certificate)
    {
        X509SubjectAlternativeNameExtension? names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        return names is not null
            && names.EnumerateDnsNames().Contains(HostName, StringComparer.OrdinalIgnoreCase)
            && Addresses.All(address => names.EnumerateIPAddresses().Contains(address));
    }

    private static X509Certificate2 CreateCertificate(string keyPem, DateTimeOffset now)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(keyPem);

        var request = new CertificateRequest($"CN={HostName}, O=Nhi.Serverless local host", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(HostName);
        foreach (IPAddress address in Addresses)
        {
            names.AddIpAddress(address);
        }

        request.CertificateExtensions.Add(names.Build(critical: false));
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1", "Server Authentication")], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));

        // Backdated a few minutes, so a client whose clock is slightly behind accepts a certificate made just now.
        return request.CreateSelfSigned(now.AddMinutes(-5), now + Validity);
    }

    // SslStream on Windows cannot use a key that lives only in memory, so there the certificate goes through PKCS#12.
    private static X509Certificate2 ForKestrel(X509Certificate2 certificate)
    {
        if (!OperatingSystem.IsWindows())
        {
            return certificate;
        }

        using (certificate)
        {
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
        }
    }

    private static string CreateKeyPem()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return key.ExportPkcs8PrivateKeyPem();
    }
}
