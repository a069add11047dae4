using System.CommandLine;
using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Nhi.Serverless.Cli;

/// <summary>
/// The HTTP client of commands that call a host, and their --ca-cert option. With --ca-cert, an https host must
/// present a certificate for its name that chains to that one certificate. The system's CA store is not used for
/// that client, and validation is unchanged for every other connection of the process.
/// </summary>
public static class HostClient
{
    public static Option<FileInfo?> CaCertOption()
    {
        var option = new Option<FileInfo?>("--ca-cert")
        {
            Description = "PEM certificate to trust for an https --host, such as the local host's .stack/tls/localhost.crt.pem.",
        };
        option.Validators.Add(result =>
        {
            if (result.GetValue(option) is { } file && ReadCertificate(file) is { Error: { } error })
            {
                result.AddError(error);
            }
        });
        return option;
    }

    /// <param name="caCert">The certificate to pin for https, or null for the system's CA store.</param>
    public static HttpClient Create(Uri host, FileInfo? caCert, TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler();
        if (caCert is not null)
        {
            X509Certificate2 trusted = ReadCertificate(caCert).Certificate
                ?? throw new InvalidOperationException($"--ca-cert '{caCert.FullName}' is not a PEM certificate.");
            handler.SslOptions.RemoteCertificateValidationCallback = (_, presented, _, errors) => IsTrusted(presented, errors, trusted);
        }

        return new HttpClient(handler) { BaseAddress = host, Timeout = timeout };
    }

    // A name mismatch or a missing certificate still fails. Only the chain is built again, against the pinned
    // certificate alone.
    private static bool IsTrusted(X509Certificate? presented, SslPolicyErrors errors, X509Certificate2 trusted)
    {
        if (presented is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false;
        }

        using X509Certificate2 certificate = X509CertificateLoader.LoadCertificate(presented.GetRawCertData());
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(trusted);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(certificate);
    }

    private static (X509Certificate2? Certificate, string? Error) ReadCertificate(FileInfo file)
    {
        if (!file.Exists)
        {
            return (null, $"--ca-cert '{file.FullName}' does not exist; the local host writes its certificate to tls/localhost.crt.pem in the stack folder.");
        }

        try
        {
            return (X509Certificate2.CreateFromPem(File.ReadAllText(file.FullName)), null);
        }
        catch (CryptographicException)
        {
            return (null, $"--ca-cert '{file.FullName}' is not a certificate in PEM form (-----BEGIN CERTIFICATE-----).");
        }
    }
}
