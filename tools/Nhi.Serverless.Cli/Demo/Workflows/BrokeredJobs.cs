using System.Net;
using System.Text.Json.Nodes;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Npgsql;

namespace Nhi.Serverless.Cli.Demo.Workflows;

/// <summary>What the demo did as the caller of a brokered step: its checks, its output, and its scope probes by grant name.</summary>
public sealed record JobReport(bool Succeeded, IReadOnlyList<string> Checks, JsonObject Output, IReadOnlyDictionary<string, (bool Denied, string Evidence)> ScopeChecks);

/// <summary>
/// The demo's stand-ins for the callers of brokered steps: the CI/CD job that applies a schema change and reads its logs,
/// and the RPA bot that reads an invoice batch. Each uses the credentials it received, and tries one call outside each
/// grant's scope, which must be denied.
/// </summary>
public static class BrokeredJobs
{
    /// <summary>Runs the caller's work for a step, or returns null when the demo has no caller for it.</summary>
    public static Task<JobReport>? Run(string workflow, string step, JsonObject credentials, IReadOnlyDictionary<string, string> parameters, CancellationToken cancellationToken) =>
        (workflow, step) switch
        {
            ("cicd", "deploy") => DeployAsync(credentials, parameters, cancellationToken),
            ("rpa", "bot-read") => ReadInvoiceBatchAsync(credentials, parameters, cancellationToken),
            _ => null,
        };

    private static async Task<JobReport> DeployAsync(JsonObject credentials, IReadOnlyDictionary<string, string> parameters, CancellationToken cancellationToken)
    {
        var checks = new List<string>();
        var scope = new Dictionary<string, (bool, string)>(StringComparer.Ordinal);
        string commit = parameters.GetValueOrDefault("commit", "unknown");
        string table = $"deploy_{commit[..Math.Min(8, commit.Length)]}_{Guid.NewGuid().ToString("N")[..6]}";

        await using (var connection = new NpgsqlConnection(credentials["schema"]!["connectionString"]!.GetValue<string>()))
        {
            await connection.OpenAsync(cancellationToken);
            await ExecuteAsync(connection, $"CREATE TABLE app.{table} (id integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())", cancellationToken);
            checks.Add($"migration applied: created table app.{table}");
            scope["schema"] = await DeniedSqlAsync(connection, "SELECT count(*) FROM erp.vendors", cancellationToken);
        }

        JsonObject logs = credentials["logs"]!.AsObject();
        string bucket = logs["resource"]!.GetValue<string>().Split(":::")[1];
        using AmazonS3Client s3 = S3Client(logs);
        ListObjectsV2Response listed = await s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket }, cancellationToken);
        checks.Add($"logs read: {listed.S3Objects?.Count ?? 0} objects in {bucket}");
        string bystander = Environment.GetEnvironmentVariable("NHI_BYSTANDER_BUCKET") ?? "nhi-demo-bystander";
        scope["logs"] = await DeniedS3Async(() => s3.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bystander }, cancellationToken), $"ListObjectsV2 on {bystander}");

        return new JobReport(true, checks, new JsonObject { ["table"] = $"app.{table}", ["logObjects"] = listed.S3Objects?.Count ?? 0 }, scope);
    }

    private static async Task<JobReport> ReadInvoiceBatchAsync(JsonObject credentials, IReadOnlyDictionary<string, string> parameters, CancellationToken cancellationToken)
    {
        long[] ids = parameters.GetValueOrDefault("invoices", "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(id => long.Parse(id, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        await using var connection = new NpgsqlConnection(credentials["erp-read"]!["connectionString"]!.GetValue<string>());
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            "SELECT count(*), coalesce(sum(amount), 0) FROM erp.invoices WHERE id = ANY(@ids)", connection);
        command.Parameters.AddWithValue("ids", ids);
        await using NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        long count = reader.GetInt64(0);
        decimal total = reader.GetDecimal(1);
        await reader.CloseAsync();

        var scope = new Dictionary<string, (bool, string)>(StringComparer.Ordinal)
        {
            ["erp-read"] = await DeniedSqlAsync(connection, "SELECT count(*) FROM erp.vendors", cancellationToken),
        };
        return new JobReport(
            true,
            [$"read {count} invoices of batch {parameters.GetValueOrDefault("batch", "?")}, total {total.ToString(System.Globalization.CultureInfo.InvariantCulture)}"],
            new JsonObject { ["invoicesRead"] = count },
            scope);
    }

    private static async Task<(bool, string)> DeniedSqlAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        try
        {
            await ExecuteAsync(connection, sql, cancellationToken);
            return (false, $"{sql}: allowed");
        }
        catch (PostgresException denied) when (denied.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            return (true, $"{sql}: {denied.SqlState} {denied.MessageText}");
        }
    }

    private static async Task<(bool, string)> DeniedS3Async(Func<Task> call, string what)
    {
        try
        {
            await call();
            return (false, $"{what}: allowed");
        }
        catch (AmazonS3Exception denied) when (denied.StatusCode == HttpStatusCode.Forbidden)
        {
            return (true, $"{what}: 403 {denied.ErrorCode}");
        }
    }

    private static AmazonS3Client S3Client(JsonObject credential)
    {
        var config = new AmazonS3Config
        {
            ServiceURL = Environment.GetEnvironmentVariable("NHI_S3_ENDPOINT") ?? "http://127.0.0.1:7480",
            ForcePathStyle = true,
            AuthenticationRegion = Environment.GetEnvironmentVariable("NHI_AWS_REGION") ?? RegionEndpoint.USEast1.SystemName,
        };
        return new AmazonS3Client(
            new SessionAWSCredentials(
                credential["accessKeyId"]!.GetValue<string>(), credential["secretAccessKey"]!.GetValue<string>(), credential["sessionToken"]!.GetValue<string>()),
            config);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
