using System.Net;

namespace Nhi.Serverless.Aws.Iam;

/// <summary>An error response from the IAM query API, such as NoSuchEntity or LimitExceeded.</summary>
/// <remarks>The message names the action, the HTTP status and the error code, never the request body or credentials.</remarks>
public sealed class IamServiceException : Exception
{
    public IamServiceException(string action, HttpStatusCode statusCode, string errorCode, string? serviceMessage, string? requestId)
        : base(FormatMessage(action, statusCode, errorCode, serviceMessage, requestId))
    {
        Action = action;
        StatusCode = statusCode;
        ErrorCode = errorCode;
        RequestId = requestId;
    }

    /// <summary>The IAM action that failed, such as "PutRolePolicy".</summary>
    public string Action { get; }

    public HttpStatusCode StatusCode { get; }

    /// <summary>The IAM error code, such as "NoSuchEntity"; "Unknown" when the body had none.</summary>
    public string ErrorCode { get; }

    public string? RequestId { get; }

    public bool IsNoSuchEntity => ErrorCode == "NoSuchEntity";

    private static string FormatMessage(string action, HttpStatusCode statusCode, string errorCode, string? serviceMessage, string? requestId)
    {
        // The service's own message is kept short; it describes the error and never contains the request.
        string detail = string.IsNullOrWhiteSpace(serviceMessage) ? "" : $": {Truncate(serviceMessage.Trim(), 200)}";
        string request = requestId is null ? "" : $" (request id {requestId})";
        return $"IAM {action} failed with HTTP {(int)statusCode} {errorCode}{detail}{request}.";
    }

    private static string Truncate(string value, int maxLength) => value.Length <= maxLength ? value : value[..maxLength] + "...";
}
