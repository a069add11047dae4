using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Hosting;

/// <summary>
/// Creates the audit signer when the host starts, so a missing key file, an unknown or disabled KMS
/// key, or a key of the wrong kind stops the start with the key named, instead of failing the first run.
/// </summary>
internal sealed partial class AuditSignerStartupCheck(IServiceProvider services, ILogger<AuditSignerStartupCheck> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var signer = (IAuditSigner)services.GetService(typeof(IAuditSigner))!;
        LogSigner(logger, signer.GetType().Name, signer.KeyId);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Information, Message = "Audit records are signed by {Signer} with key {KeyId}")]
    private static partial void LogSigner(ILogger logger, string signer, string keyId);
}
