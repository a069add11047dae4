using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Nhi.Serverless.Tests.Audit;

/// <summary>The key states this endpoint models; AWS KMS has more.</summary>
internal enum KmsKeyState
{
    Enabled,
    Disabled,
    PendingDeletion,
}

/// <summary>One Sign or GetPublicKey request as the endpoint received it.</summary>
internal sealed record KmsRequest(string Operation, string Authorization, JsonObject Body);

/// <summary>
/// An AWS KMS endpoint on 127.0.0.1 with a free port, backed by real ECDsa keys. It serves
/// GetPublicKey and Sign over the AWS JSON 1.1 protocol (POST /, X-Amz-Target TrentService.*,
/// application/x-amz-json-1.1), with the error shape AWS documents: HTTP 400 and
/// <c>{"__type": ..., "message": ...}</c>. Per the KMS key-state table, a disabled key gets
/// DisabledException, a key pending deletion KMSInvalidStateException and an unknown key NotFoundException.
/// </summary>
/// <remarks>
/// It checks that a request carries a SigV4 Authorization header scoped to this region and the kms
/// service, but not the signature itself.
/// </remarks>
internal sealed class KmsEndpoint : IAsyncDisposable
{
    public const string Region = "us-east-1";
    public const string Account = "111122223333";

    private readonly ConcurrentDictionary<string, TestKey> _keys = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _aliases = new(StringComparer.Ordinal);

    private LoopbackServer? _server;

    public ConcurrentQueue<KmsRequest> Requests { get; } = new();

    /// <summary>The base URL, such as http://127.0.0.1:41234.</summary>
    public string Url => _server!.Url;

    public static async Task<KmsEndpoint> StartAsync()
    {
        var endpoint = new KmsEndpoint();
        endpoint._server = await LoopbackServer.StartAsync(endpoint.HandleAsync);
        return endpoint;
    }

    /// <summary>Adds a key and returns its key id; the endpoint owns and disposes the key.</summary>
    public string AddKey(ECDsa key, string keySpec = "ECC_NIST_P256", string signingAlgorithm = "ECDSA_SHA_256")
    {
        string id = Guid.NewGuid().ToString();
        _keys[id] = new TestKey(id, key, keySpec, signingAlgorithm) { State = KmsKeyState.Enabled };
        return id;
    }

    /// <summary>Points alias/<paramref name="name"/> at a key.</summary>
    public void AddAlias(string name, string keyId) => _aliases["alias/" + name] = keyId;

    public void SetState(string keyId, KmsKeyState state) => _keys[keyId].State = state;

    public static string ArnOf(string keyId) => $"arn:aws:kms:{Region}:{Account}:key/{keyId}";

    public async ValueTask DisposeAsync()
    {
        await _server!.DisposeAsync();
        foreach (TestKey key in _keys.Values)
        {
            key.Key.Dispose();
        }
    }

    private async Task HandleAsync(HttpContext context)
    {
        string target = context.Request.Headers["X-Amz-Target"].ToString();
        string authorization = context.Request.Headers.Authorization.ToString();
        JsonObject body;
        try
        {
            body = await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) as JsonObject ?? [];
        }
        catch (JsonException)
        {
            await ErrorAsync(context, "SerializationException", "The request body is not a JSON object.");
            return;
        }

        string operation = target.StartsWith("TrentService.", StringComparison.Ordinal) ? target["TrentService.".Length..] : target;
        Requests.Enqueue(new KmsRequest(operation, authorization, body));

        if (context.Request.Method != "POST" || context.Request.Path != "/" || context.Request.ContentType != "application/x-amz-json-1.1")
        {
            await ErrorAsync(context, "SerializationException", "Expected POST / with Content-Type application/x-amz-json-1.1.");
            return;
        }

        if (!authorization.StartsWith("AWS4-HMAC-SHA256 Credential=", StringComparison.Ordinal) || !authorization.Contains($"/{Region}/kms/aws4_request", StringComparison.Ordinal))
        {
            await ErrorAsync(context, "IncompleteSignatureException", $"The request must be signed with SigV4 for region {Region} and service kms.");
            return;
        }

        if (operation is not ("GetPublicKey" or "Sign"))
        {
            await ErrorAsync(context, "UnknownOperationException", $"Operation '{target}' is not supported here.");
            return;
        }

        string keyId = body["KeyId"]?.GetValue<string>() ?? "";
        if (Resolve(keyId) is not { } key)
        {
            await ErrorAsync(context, "NotFoundException", keyId.Contains("alias/", StringComparison.Ordinal)
                ? $"Alias {AliasArn(keyId)} is not found."
                : $"Key '{ArnOf(keyId.Split('/')[^1])}' does not exist");
            return;
        }

        switch (key.State)
        {
            case KmsKeyState.Disabled:
                await ErrorAsync(context, "DisabledException", $"{ArnOf(key.Id)} is disabled.");
                return;
            case KmsKeyState.PendingDeletion:
                await ErrorAsync(context, "KMSInvalidStateException", $"{ArnOf(key.Id)} is pending deletion.");
                return;
        }

        if (operation == "Sign" && CheckSignRequest(key, body) is { } invalid)
        {
            await ErrorAsync(context, "ValidationException", invalid);
            return;
        }

        JsonObject response = operation == "GetPublicKey" ? GetPublicKey(key) : Sign(key, body);

        context.Response.ContentType = "application/x-amz-json-1.1";
        context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        await context.Response.WriteAsync(response.ToJsonString(), context.RequestAborted);
    }

    private static JsonObject GetPublicKey(TestKey key) => new()
    {
        ["CustomerMasterKeySpec"] = key.KeySpec,
        ["KeyId"] = ArnOf(key.Id),
        ["KeySpec"] = key.KeySpec,
        ["KeyUsage"] = "SIGN_VERIFY",
        ["PublicKey"] = Convert.ToBase64String(key.Key.ExportSubjectPublicKeyInfo()),
        ["SigningAlgorithms"] = new JsonArray(key.SigningAlgorithm),
    };

    /// <summary>Returns why a Sign request is invalid for the key, or null when it is valid.</summary>
    private static string? CheckSignRequest(TestKey key, JsonObject body)
    {
        string? algorithm = body["SigningAlgorithm"]?.GetValue<string>();
        string? messageType = body["MessageType"]?.GetValue<string>();
        int length = Convert.FromBase64String(body["Message"]?.GetValue<string>() ?? "").Length;
        if (algorithm != key.SigningAlgorithm)
        {
            return $"Signing algorithm {algorithm} is not valid for key {ArnOf(key.Id)}.";
        }

        return messageType == "DIGEST" && length == 32
            ? null
            : $"This endpoint signs only a 32-byte DIGEST; the request has MessageType {messageType} and {length} bytes.";
    }

    /// <summary>Signs the request's digest and returns the signature in DER, as KMS does.</summary>
    private static JsonObject Sign(TestKey key, JsonObject body)
    {
        byte[] digest = Convert.FromBase64String(body["Message"]!.GetValue<string>());
        byte[] signature;
        lock (key)
        {
            signature = key.Key.SignHash(digest, DSASignatureFormat.Rfc3279DerSequence);
        }

        return new JsonObject
        {
            ["KeyId"] = ArnOf(key.Id),
            ["Signature"] = Convert.ToBase64String(signature),
            ["SigningAlgorithm"] = key.SigningAlgorithm,
        };
    }

    private TestKey? Resolve(string keyId)
    {
        // A key ARN ends in key/ID and an alias ARN in alias/NAME.
        string resource = keyId.StartsWith("arn:", StringComparison.Ordinal) ? keyId.Split(':', 6)[^1] : keyId;
        if (resource.StartsWith("alias/", StringComparison.Ordinal))
        {
            return _aliases.TryGetValue(resource, out string? target) ? _keys.GetValueOrDefault(target) : null;
        }

        return _keys.GetValueOrDefault(resource.StartsWith("key/", StringComparison.Ordinal) ? resource["key/".Length..] : resource);
    }

    private static string AliasArn(string keyId) =>
        keyId.StartsWith("arn:", StringComparison.Ordinal) ? keyId : $"arn:aws:kms:{Region}:{Account}:{keyId}";

    private static async Task ErrorAsync(HttpContext context, string type, string message)
    {
        context.Response.StatusCode = StatusCodes.Status400BadRequest;
        context.Response.ContentType = "application/x-amz-json-1.1";
        context.Response.Headers["x-amzn-RequestId"] = Guid.NewGuid().ToString();
        await context.Response.WriteAsync(new JsonObject { ["__type"] = type, ["message"] = message }.ToJsonString(), context.RequestAborted);
    }

    private sealed record TestKey(string Id, ECDsa Key, string KeySpec, string SigningAlgorithm)
    {
        public KmsKeyState State { get; set; }
    }
}
