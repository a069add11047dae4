using System.Text;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;

namespace Nhi.Serverless.Hosting.Identity;

/// <summary>The result of a key lookup: the key, or null with whether the JWKS could be read at all.</summary>
/// <param name="Unavailable">True when the JWKS could not be read, as opposed to a kid it does not contain.</param>
public sealed record JwksLookup(SecurityKey? Key, bool Unavailable);

/// <summary>
/// The issuer's RSA signing keys by kid, read from a JWKS URL or file and kept for
/// <see cref="GitHubOidcOptions.JwksCacheDuration"/>. A kid that is not in the cached set makes it read the JWKS once
/// more, so a rotated key is found. Reads start at most once per <see cref="GitHubOidcOptions.JwksMinimumRefreshInterval"/>.
/// </summary>
public sealed class JwksKeyCache(GitHubOidcOptions options, HttpClient http, TimeProvider time, ILogger<JwksKeyCache> logger)
{
    /// <summary>The largest JWKS document read. One RSA 2048 key takes about 460 bytes of it.</summary>
    public const int MaxDocumentBytes = 256 * 1024;

    private readonly SemaphoreSlim _refreshLock = new(1, 1);
    private KeySet? _keys;
    private DateTimeOffset _lastReadAttempt = DateTimeOffset.MinValue;

    public async Task<JwksLookup> FindAsync(string kid, CancellationToken cancellationToken)
    {
        KeySet? cached = Volatile.Read(ref _keys);
        if (cached is not null && !IsExpired(cached) && cached.Keys.TryGetValue(kid, out SecurityKey? key))
        {
            return new JwksLookup(key, Unavailable: false);
        }

        KeySet? current = await RefreshAsync(cached, cancellationToken);
        if (current is null)
        {
            return new JwksLookup(null, Unavailable: true);
        }

        return new JwksLookup(current.Keys.GetValueOrDefault(kid), Unavailable: false);
    }

    // Reads the JWKS unless another caller did since `seen` was taken, or the last read attempt was less than the
    // minimum refresh interval ago. A failed read keeps the previous keys, so a short outage of the issuer does not
    // reject tokens signed with keys the host already has.
    private async Task<KeySet?> RefreshAsync(KeySet? seen, CancellationToken cancellationToken)
    {
        await _refreshLock.WaitAsync(cancellationToken);
        try
        {
            KeySet? current = _keys;
            if (!ReferenceEquals(current, seen) && current is not null)
            {
                return current;
            }

            if (time.GetUtcNow() - _lastReadAttempt < options.JwksMinimumRefreshInterval)
            {
                return current;
            }

            _lastReadAttempt = time.GetUtcNow();
            KeySet? read = await ReadAsync(cancellationToken);
            if (read is null)
            {
                return current;
            }

            Volatile.Write(ref _keys, read);
            return read;
        }
        finally
        {
            _refreshLock.Release();
        }
    }

    private async Task<KeySet?> ReadAsync(CancellationToken cancellationToken)
    {
        string? document;
        try
        {
            document = options.JwksUrl is not null
                ? await DownloadAsync(options.JwksUrl, cancellationToken)
                : await ReadFileAsync(options.JwksFile!, cancellationToken);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("Reading the JWKS from {JwksLocation} timed out after {TimeoutSeconds} s", options.JwksLocation, options.JwksTimeout.TotalSeconds);
            return null;
        }
        catch (Exception failure) when (failure is HttpRequestException or IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(failure, "Reading the JWKS from {JwksLocation} failed", options.JwksLocation);
            return null;
        }

        if (document is null)
        {
            return null;
        }

        Dictionary<string, SecurityKey> keys;
        try
        {
            keys = ParseRsaKeys(document);
        }
        catch (Exception failure) when (failure is ArgumentException or JsonException)
        {
            logger.LogWarning("The JWKS at {JwksLocation} is not a valid JSON Web Key Set: {Error}", options.JwksLocation, failure.GetType().Name);
            return null;
        }

        logger.LogInformation("Read {KeyCount} signing keys from {JwksLocation}", keys.Count, options.JwksLocation);
        return new KeySet(keys, time.GetUtcNow());
    }

    private async Task<string?> DownloadAsync(Uri url, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.JwksTimeout);

        using HttpResponseMessage response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        if (!response.IsSuccessStatusCode)
        {
            logger.LogWarning("Reading the JWKS from {JwksLocation} returned HTTP {StatusCode}", url, (int)response.StatusCode);
            return null;
        }

        await using Stream body = await response.Content.ReadAsStreamAsync(timeout.Token);
        return await ReadLimitedAsync(body, url.ToString(), timeout.Token);
    }

    private async Task<string?> ReadFileAsync(string path, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            logger.LogWarning("The JWKS file {JwksLocation} does not exist. `nhi oidc token` creates it with the local issuer's key", path);
            return null;
        }

        await using FileStream file = File.OpenRead(path);
        return await ReadLimitedAsync(file, path, cancellationToken);
    }

    private async Task<string?> ReadLimitedAsync(Stream stream, string location, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        byte[] chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > MaxDocumentBytes)
            {
                logger.LogWarning("The JWKS at {JwksLocation} is larger than {MaxBytes} bytes and was not used", location, MaxDocumentBytes);
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    // Only RSA keys with a kid can verify RS256 tokens. Keys of other types or for other uses are skipped.
    private static Dictionary<string, SecurityKey> ParseRsaKeys(string document)
    {
        var set = new JsonWebKeySet(document);
        var keys = new Dictionary<string, SecurityKey>(StringComparer.Ordinal);
        foreach (JsonWebKey key in set.Keys)
        {
            bool signing = string.IsNullOrEmpty(key.Use) || key.Use == JsonWebKeyUseNames.Sig;
            if (signing && key.Kty == JsonWebAlgorithmsKeyTypes.RSA && !string.IsNullOrEmpty(key.Kid) && !string.IsNullOrEmpty(key.N) && !string.IsNullOrEmpty(key.E))
            {
                keys[key.Kid] = key;
            }
        }

        return keys;
    }

    private bool IsExpired(KeySet keys) => time.GetUtcNow() - keys.ReadAt >= options.JwksCacheDuration;

    private sealed record KeySet(IReadOnlyDictionary<string, SecurityKey> Keys, DateTimeOffset ReadAt);
}
