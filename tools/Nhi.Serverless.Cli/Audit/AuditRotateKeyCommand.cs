using System.CommandLine;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Cli.Audit;

/// <summary>The "audit rotate-key" command: replaces the local signing key and keeps the old public key in the retired keys' JWKS.</summary>
public static class AuditRotateKeyCommand
{
    public static Command Create()
    {
        var keyFile = new Option<FileInfo?>("--key-file") { Description = $"The PKCS#8 PEM signing key file; {AuditSigningOptions.KeyFilePathVariable} when omitted." };
        var retiredKeys = new Option<FileInfo?>("--retired-keys")
        {
            Description = $"The JWKS file of retired public keys; {AuditSigningOptions.RetiredKeysFilePathVariable}, or '{AuditSigningOptions.DefaultRetiredKeysFileName}' next to the key file, when omitted.",
        };

        var command = new Command("rotate-key", "Replace the local audit signing key with a new P-256 key, keeping the old public key in the retired keys' JWKS so earlier records still verify.")
        {
            keyFile, retiredKeys,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            TextWriter error = parse.InvocationConfiguration.Error;
            AuditSigningOptions options = AuditSigningOptions.FromEnvironment();
            options.Signer = AuditSigningOptions.LocalSigner;
            options.KeyFilePath = parse.GetValue(keyFile)?.FullName ?? options.KeyFilePath;
            options.RetiredKeysFilePath = parse.GetValue(retiredKeys)?.FullName ?? options.RetiredKeysFilePath;
            try
            {
                string oldKid;
                using (LocalKeyFileSigner current = LocalKeyFileSigner.Load(options.KeyFilePath))
                {
                    oldKid = current.KeyId;
                }

                using LocalKeyFileSigner rotated = LocalKeyFileSigner.Rotate(options);
                output.WriteLine($"retired key {oldKid}: its public key is in {options.ResolveRetiredKeysFilePath()}");
                output.WriteLine($"new key {rotated.KeyId} in {rotated.KeyFilePath}");
                output.WriteLine("restart the hosts that use this key file, so they sign with the new key and publish both");
                return Task.FromResult(0);
            }
            catch (Exception ex) when (ex is AuditConfigurationException or InvalidOperationException or FormatException or IOException or UnauthorizedAccessException)
            {
                error.WriteLine($"error: {ex.Message}");
                return Task.FromResult(2);
            }
        });
        return command;
    }
}
