namespace Nhi.Serverless.Audit;

/// <summary>Signs canonical audit record bytes with one key whose public half is published in a JWKS.</summary>
public interface IAuditSigner
{
    /// <summary>The key id: the base64url SHA-256 JWK thumbprint (RFC 7638) of the public key.</summary>
    string KeyId { get; }

    /// <summary>The JWS algorithm name, "ES256" for ECDSA on P-256 with SHA-256.</summary>
    string Algorithm { get; }

    /// <summary>The public key as a JWK, to publish in a JWKS for verifiers.</summary>
    JsonWebKey PublicJwk { get; }

    /// <summary>Signs the data and returns the signature in the form JWS uses: IEEE P1363 r||s, 64 bytes for ES256.</summary>
    /// <exception cref="AuditSigningException">A remote signer failed; the message names the key and the cause.</exception>
    byte[] Sign(ReadOnlySpan<byte> data);

    /// <summary>
    /// Signs the data like <see cref="Sign"/>. A signer that calls a remote service overrides it, so
    /// that no thread blocks on the call; the default signs synchronously.
    /// </summary>
    /// <exception cref="AuditSigningException">A remote signer failed; the message names the key and the cause.</exception>
    Task<byte[]> SignAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return Task.FromResult(Sign(data.Span));
    }
}

/// <summary>Thrown when a signer cannot sign. The message names the key and the cause, and never contains a credential.</summary>
public sealed class AuditSigningException(string message, Exception? innerException = null) : Exception(message, innerException);
