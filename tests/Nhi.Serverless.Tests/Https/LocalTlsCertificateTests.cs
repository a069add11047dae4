using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography.X509Certificates;
using Nhi.Serverless.Hosting.Https;
using Nhi.Serverless.Tests.Lambda;

namespace Nhi.Serverless.Tests.Https;

/// <summary>The local host's self-signed certificate: created owner-only, reused, and renewed before it expires.</summary>
[UnsupportedOSPlatform("windows")]
public sealed class LocalTlsCertificateTests : IDisposable
{
    private readonly string _directory = Path.Combine(Directory.CreateTempSubdirectory("nhi-tls-test-").FullName, "tls");

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(_directory)!, recursive: true);

    [Fact]
    public void CertificateIsCreated()
    {
        LocalTlsCertificate created = LocalTlsCertificate.LoadOrCreate(_directory, TimeProvider.System);

        X509Certificate2 certificate = created.Certificate;
        Assert.Equal("created", created.Outcome);
        Assert.True(certificate.HasPrivateKey);
        Assert.Equal("1.2.840.10045.2.1", certificate.PublicKey.Oid.Value);
        Assert.Equal(256, certificate.GetECDsaPublicKey()!.KeySize);
        X509SubjectAlternativeNameExtension names = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Contains("localhost", names.EnumerateDnsNames());
        Assert.Contains(IPAddress.Loopback, names.EnumerateIPAddresses());
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_directory, LocalTlsCertificate.KeyFileName)));
        Assert.Equal(certificate.Thumbprint, X509Certificate2.CreateFromPem(File.ReadAllText(created.CertificatePath)).Thumbprint);
        Assert.DoesNotContain("PRIVATE KEY", File.ReadAllText(created.CertificatePath), StringComparison.Ordinal);
    }

    [Fact]
    public void CertificateIsReused()
    {
        LocalTlsCertificate first = LocalTlsCertificate.LoadOrCreate(_directory, TimeProvider.System);

        LocalTlsCertificate second = LocalTlsCertificate.LoadOrCreate(_directory, TimeProvider.System);

        Assert.Equal("reused", second.Outcome);
        Assert.Equal(first.Certificate.Thumbprint, second.Certificate.Thumbprint);
        Assert.True(second.Certificate.HasPrivateKey);
    }

    [Fact]
    public void CertificateNearExpiryIsRenewed()
    {
        var past = new ManualTime(DateTimeOffset.UtcNow - LocalTlsCertificate.Validity + TimeSpan.FromDays(6));
        LocalTlsCertificate old = LocalTlsCertificate.LoadOrCreate(_directory, past);
        string oldKey = File.ReadAllText(Path.Combine(_directory, LocalTlsCertificate.KeyFileName));

        LocalTlsCertificate renewed = LocalTlsCertificate.LoadOrCreate(_directory, TimeProvider.System);

        Assert.StartsWith("renewed because the previous one expires at", renewed.Outcome, StringComparison.Ordinal);
        Assert.NotEqual(old.Certificate.Thumbprint, renewed.Certificate.Thumbprint);
        Assert.True(renewed.Certificate.NotAfter > DateTime.UtcNow.AddDays(300));
        Assert.NotEqual(oldKey, File.ReadAllText(Path.Combine(_directory, LocalTlsCertificate.KeyFileName)));
        Assert.Equal(renewed.Certificate.Thumbprint, X509Certificate2.CreateFromPem(File.ReadAllText(renewed.CertificatePath)).Thumbprint);
    }

    [Fact]
    public void CertificateWithEightDaysLeftIsReused()
    {
        var past = new ManualTime(DateTimeOffset.UtcNow - LocalTlsCertificate.Validity + TimeSpan.FromDays(8));
        LocalTlsCertificate old = LocalTlsCertificate.LoadOrCreate(_directory, past);

        LocalTlsCertificate later = LocalTlsCertificate.LoadOrCreate(_directory, TimeProvider.System);

        Assert.Equal("reused", later.Outcome);
        Assert.Equal(old.Certificate.Thumbprint, later.Certificate.Thumbprint);
    }

    [Fact]
    public void MismatchedCertificateIsRenewed()
    {
        LocalTlsCertificate first = LocalTlsCertificate.LoadOrCreate(_directory, TimeProvider.System);
        string otherDirectory = _directory + "-other";
        LocalTlsCertificate other = LocalTlsCertificate.LoadOrCreate(otherDirectory, TimeProvider.System);
        File.Copy(other.CertificatePath, first.CertificatePath, overwrite: true);

        LocalTlsCertificate renewed = LocalTlsCertificate.LoadOrCreate(_directory, TimeProvider.System);

        Assert.Equal("renewed because the certificate file did not match its key", renewed.Outcome);
        Assert.True(renewed.Certificate.HasPrivateKey);
    }

    [Fact]
    public void ReadableKeyIsRejected()
    {
        LocalTlsCertificate.LoadOrCreate(_directory, TimeProvider.System);
        File.SetUnixFileMode(Path.Combine(_directory, LocalTlsCertificate.KeyFileName), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);

        var failure = Assert.Throws<InvalidOperationException>(() => LocalTlsCertificate.LoadOrCreate(_directory, TimeProvider.System));

        Assert.Contains("local HTTPS key", failure.Message, StringComparison.Ordinal);
    }
}
