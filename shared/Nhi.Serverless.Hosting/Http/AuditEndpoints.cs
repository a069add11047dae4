using Microsoft.AspNetCore.Http;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Hosting.Http;

/// <summary>Read-only access to the audit trail: the public signing keys and the records of a run.</summary>
/// <remarks>
/// NOTE: these endpoints have no authentication of their own, so hosts bind them to loopback only. The
/// authenticated auditor API is in AuditorEndpoints.
/// </remarks>
public static class AuditEndpoints
{
    /// <summary>GET /.well-known/jwks.json: the public keys that verify record signatures.</summary>
    public static IResult GetJwks(Jwks jwks) => Results.Text(jwks.ToJson(), "application/jwk-set+json");

    /// <summary>GET /api/audit/runs/{runId}/records: every record of a run, in stream order, as JSON Lines.</summary>
    public static async Task RunRecordsAsync(HttpContext context, string runId, TableAuditStore store)
    {
        IReadOnlyList<SignedAuditRecord> records = await store.ReadRunAsync(runId, context.RequestAborted);
        if (records.Count == 0)
        {
            await Problems.WriteAsync(context, StatusCodes.Status404NotFound, "audit-records-not-found", "No audit records",
                "No audit records exist for this run id.", "runId", "the id of a run that has finished");
            return;
        }

        context.Response.ContentType = "application/x-ndjson";
        foreach (SignedAuditRecord record in records.OrderBy(record => record.Seq))
        {
            await context.Response.WriteAsync(record.Json + "\n", context.RequestAborted);
        }
    }
}
