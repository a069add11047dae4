using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>
/// A Debian rsyslogd of the test's own on 127.0.0.1: an imtcp listener with TLS (gtls driver, anonymous
/// client authentication) and a throwaway self-signed certificate, writing each received message as it
/// arrived (%rawmsg%) to one line of a file. Stopped by its process id.
/// </summary>
internal sealed class RsyslogServer : IAsyncDisposable
{
    private const string Rsyslogd = "/usr/sbin/rsyslogd";
    private const int SigTerm = 15;

    private readonly Process _process;
    private readonly TemporaryDirectory _directory;

    private RsyslogServer(Process process, TemporaryDirectory directory, int port, string thumbprint)
    {
        _process = process;
        _directory = directory;
        Port = port;
        CertificateSha256 = thumbprint;
        Certificate = (File.ReadAllText(directory.File("cert.pem")), File.ReadAllText(directory.File("key.pem")));
    }

    /// <summary>The server's certificate and key as PEM, to start another server with the same identity.</summary>
    public (string CertificatePem, string KeyPem) Certificate { get; }

    public int Port { get; }

    /// <summary>The SHA-256 fingerprint of the server certificate, as hex.</summary>
    public string CertificateSha256 { get; }

    /// <summary>The file the received messages are written to.</summary>
    public string OutputFile => _directory.File("received.log");

    /// <summary>Starts rsyslogd; a port of 0 picks a free one, and without a certificate a new one is made.</summary>
    public static async Task<RsyslogServer> StartAsync(int port = 0, (string CertificatePem, string KeyPem)? certificate = null)
    {
        bool gtls = Directory.Exists("/usr/lib")
            && Directory.GetDirectories("/usr/lib", "*-linux-gnu").Any(lib => File.Exists(Path.Combine(lib, "rsyslog", "lmnsd_gtls.so")));
        if (!File.Exists(Rsyslogd) || !gtls)
        {
            throw new InvalidOperationException(
                "rsyslogd with the gtls driver is not installed. Install it with `infra/local/stack.sh up` (it installs the Debian packages rsyslog and rsyslog-gnutls) or `apt-get install -y rsyslog rsyslog-gnutls`.");
        }

        var directory = new TemporaryDirectory();
        string thumbprint = certificate is { } reused ? WriteCertificate(directory, reused) : WriteCertificate(directory);
        port = port == 0 ? FreePort() : port;
        File.WriteAllText(directory.File("rsyslog.conf"), $$"""
            global(
              workDirectory="{{directory.Path}}"
              processInternalMessages="on"
              defaultNetstreamDriver="gtls"
              defaultNetstreamDriverCAFile="{{directory.File("cert.pem")}}"
              defaultNetstreamDriverCertFile="{{directory.File("cert.pem")}}"
              defaultNetstreamDriverKeyFile="{{directory.File("key.pem")}}"
            )
            module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
            template(name="raw" type="string" string="%rawmsg%\n")
            ruleset(name="tls") {
              action(type="omfile" file="{{directory.File("received.log")}}" template="raw")
            }
            input(type="imtcp" port="{{port}}" address="127.0.0.1" ruleset="tls")
            *.* action(type="omfile" file="{{directory.File("internal.log")}}")
            """);

        var process = Process.Start(new ProcessStartInfo(Rsyslogd, ["-n", "-f", directory.File("rsyslog.conf"), "-i", directory.File("rsyslogd.pid")])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        var server = new RsyslogServer(process, directory, port, thumbprint);
        await server.WaitUntilListeningAsync();
        return server;
    }

    /// <summary>Waits until the file has at least <paramref name="count"/> lines and returns them.</summary>
    public async Task<string[]> WaitForLinesAsync(int count, TimeSpan? timeout = null)
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            string[] lines = File.Exists(OutputFile) ? await File.ReadAllLinesAsync(OutputFile) : [];
            if (lines.Length >= count)
            {
                return lines;
            }

            if (stopwatch.Elapsed > (timeout ?? TimeSpan.FromSeconds(10)))
            {
                string internalLog = File.Exists(_directory.File("internal.log")) ? await File.ReadAllTextAsync(_directory.File("internal.log")) : "(none)";
                throw new TimeoutException($"rsyslogd wrote {lines.Length} of {count} lines to {OutputFile}. Its own messages: {internalLog}");
            }

            await Task.Delay(20);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _ = Kill(_process.Id, SigTerm);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                _process.Kill();
            }
        }

        _process.Dispose();
        _directory.Dispose();
    }

    private async Task WaitUntilListeningAsync()
    {
        var stopwatch = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                string error = await _process.StandardError.ReadToEndAsync();
                throw new InvalidOperationException($"rsyslogd exited with code {_process.ExitCode} before listening on 127.0.0.1:{Port}: {error}");
            }

            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException) when (stopwatch.Elapsed < TimeSpan.FromSeconds(10))
            {
                await Task.Delay(50);
            }
        }
    }

    /// <summary>Writes a self-signed RSA certificate for 127.0.0.1 as cert.pem and key.pem and returns its SHA-256 fingerprint.</summary>
    private static string WriteCertificate(TemporaryDirectory directory)
    {
        using RSA key = RSA.Create(2048);
        var request = new CertificateRequest("CN=nhi-test-syslog", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddIpAddress(IPAddress.Loopback);
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using X509Certificate2 certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        File.WriteAllText(directory.File("cert.pem"), certificate.ExportCertificatePem());
        File.WriteAllText(directory.File("key.pem"), key.ExportPkcs8PrivateKeyPem());
        return Convert.ToHexString(certificate.GetCertHash(HashAlgorithmName.SHA256));
    }

    private static string WriteCertificate(TemporaryDirectory directory, (string CertificatePem, string KeyPem) certificate)
    {
        File.WriteAllText(directory.File("cert.pem"), certificate.CertificatePem);
        File.WriteAllText(directory.File("key.pem"), certificate.KeyPem);
        using X509Certificate2 loaded = X509Certificate2.CreateFromPem(certificate.CertificatePem);
        return Convert.ToHexString(loaded.GetCertHash(HashAlgorithmName.SHA256));
    }

    private static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);
}
