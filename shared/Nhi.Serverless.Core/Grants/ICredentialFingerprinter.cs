namespace Nhi.Serverless.Grants;

/// <summary>
/// Turns a credential's public identifier (an access key id, a SAS policy id) into a keyed HMAC, so
/// audit records can name a credential for matching without revealing it.
/// </summary>
public interface ICredentialFingerprinter
{
    /// <summary>Returns "hmac-sha256:" followed by the lowercase hex HMAC of the identifier.</summary>
    string Fingerprint(string credentialIdentifier);
}
