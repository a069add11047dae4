using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Nhi.Serverless.Hosting.Https;

/// <summary>Settings of the local host's HTTPS listener on 127.0.0.1.</summary>
/// <param name="Port">The port, where 0 picks a free one (tests use that).</param>
/// <param name="CertificateDirectory">The folder of the self-signed certificate and its key.</param>
public sealed record HttpsOptions(int Port, string CertificateDirectory)
{
    public const string SectionName = "Https";

    public const int DefaultPort = 7443;

    /// <exception cref="InvalidOperationException">Https:Port is not a port number.</exception>
    public static HttpsOptions Read(IConfiguration configuration)
    {
        IConfigurationSection section = configuration.GetSection(SectionName);
        int port = DefaultPort;
        if (section["Port"] is { } portText
            && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
        {
            throw new InvalidOperationException($"Invalid setting {section.Path}:Port '{portText}': expected a port number from 0 to 65535, where 0 picks a free port.");
        }

        string directory = section["CertificateDirectory"] is { Length: > 0 } configured
            ? configured
            : Path.Combine(
                Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create),
                "nhi-serverless", "tls");
        return new HttpsOptions(port, directory);
    }
}

/// <summary>The local host's HTTPS address, known once the server has bound its port, and the certificate to pin.</summary>
public sealed class HttpsEndpoint(string certificatePath)
{
    /// <summary>The base address, such as https://127.0.0.1:7443, or null until the host has started.</summary>
    public Uri? BaseAddress { get; private set; }

    /// <summary>The PEM file of the certificate the listener presents.</summary>
    public string CertificatePath => certificatePath;

    internal void Resolve(IServerAddressesFeature? addresses, int port)
    {
        string? https = addresses?.Addresses.FirstOrDefault(address =>
            address.StartsWith("https://", StringComparison.OrdinalIgnoreCase) && (port == 0 || new Uri(address).Port == port));
        BaseAddress = https is null ? null : new Uri(https);
    }
}

/// <summary>Adds the HTTPS listener to a host built on <see cref="WebApplication"/>, next to its HTTP URLs.</summary>
public static class HttpsListener
{
    /// <summary>Loads or creates the certificate and adds https://127.0.0.1:{port} to the host's URLs.</summary>
    public static LocalTlsCertificate AddLocalHttps(this WebApplicationBuilder builder, HttpsOptions options)
    {
        LocalTlsCertificate certificate = LocalTlsCertificate.LoadOrCreate(options.CertificateDirectory, TimeProvider.System);

        // Kestrel's default when no URL is configured, kept so the HTTP listener is where it would be without HTTPS.
        string configured = builder.Configuration[WebHostDefaults.ServerUrlsKey] is { Length: > 0 } urls ? urls : "http://localhost:5000";
        string https = $"https://127.0.0.1:{options.Port.ToString(CultureInfo.InvariantCulture)}";
        builder.WebHost.UseUrls([.. configured.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), https]);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(defaults => defaults.ServerCertificate = certificate.Certificate));
        builder.Services.AddSingleton(new HttpsEndpoint(certificate.CertificatePath));
        return certificate;
    }

    /// <summary>Records the bound HTTPS address once the host has started, and logs it with the certificate to pin.</summary>
    public static void LogHttpsEndpointOnStart(this WebApplication app, HttpsOptions options, LocalTlsCertificate certificate)
    {
        app.Lifetime.ApplicationStarted.Register(() =>
        {
            HttpsEndpoint endpoint = app.Services.GetRequiredService<HttpsEndpoint>();
            endpoint.Resolve(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>(), options.Port);
            app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(HttpsListener)).LogInformation(
                "HTTPS listener on {HttpsAddress} with certificate {CertificatePath} ({CertificateOutcome}, SHA-256 {Thumbprint}, valid until {NotAfter:u}); clients pin it with --ca-cert",
                endpoint.BaseAddress,
                certificate.CertificatePath,
                certificate.Outcome,
                certificate.Certificate.GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256),
                certificate.Certificate.NotAfter.ToUniversalTime());
        });
    }
}
