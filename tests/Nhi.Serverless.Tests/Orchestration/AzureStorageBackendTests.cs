using System.Net;
using System.Text.Json.Nodes;
using Azure.Data.Tables;
using Azure.Data.Tables.Models;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Orchestration;

/// <summary>
/// Runs on the Azure Storage backend (Azurite), where orchestration history is stored in plain tables
/// and blobs: the run completes, and no credential STS issued appears anywhere in that store.
/// </summary>
public sealed class AzureStorageBackendTests : IAsyncLifetime
{
    private readonly AwsTestStack _aws = new();
    private readonly string _taskHub = "NhiHist" + Guid.NewGuid().ToString("N")[..10];
    private NhiTestHost _host = null!;
    private string _bucket = null!;

    public async Task InitializeAsync()
    {
        _host = await NhiTestHost.StartAsync(backend: "AzureStorage", taskHub: _taskHub);
        _bucket = await _aws.CreateBucketAsync();
        await _aws.MakePublicAsync(_bucket, withPrivateStatement: true);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _aws.DeleteBucketAsync(_bucket);
        _aws.Dispose();
    }

    [Fact]
    public async Task HistoryHoldsNoCredential()
    {
        using HttpResponseMessage response = await _host.Http.PostAsync(
            "/api/alerts/securityhub", FindingSamples.Json(FindingSamples.SecurityHubFor(_bucket)));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        string runId = JsonNode.Parse(await response.Content.ReadAsStringAsync())!["runs"]![0]!["runId"]!.GetValue<string>();

        RunResult result = await _host.WaitForRunAsync(runId, TimeSpan.FromSeconds(120));
        Assert.Equal(RunOutcomes.Remediated, result.Outcome);

        List<string> stored = await ReadTaskHubAsync();
        Assert.Contains(stored, text => text.Contains(runId, StringComparison.Ordinal));
        Assert.NotEmpty(_host.IssuedCredentials);
        foreach (Amazon.SecurityToken.Model.Credentials credential in _host.IssuedCredentials)
        {
            Assert.DoesNotContain(stored, text => text.Contains(credential.AccessKeyId, StringComparison.Ordinal));
            Assert.DoesNotContain(stored, text => text.Contains(credential.SecretAccessKey, StringComparison.Ordinal));
            Assert.DoesNotContain(stored, text => text.Contains(credential.SessionToken, StringComparison.Ordinal));
        }
    }

    // Every string in the task hub's tables and blobs: history, instances, and large-message payloads.
    private async Task<List<string>> ReadTaskHubAsync()
    {
        string connectionString = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING");
        List<string> texts = [];

        var tables = new TableServiceClient(connectionString);
        await foreach (TableItem table in tables.QueryAsync(item => item.Name.CompareTo(_taskHub) >= 0))
        {
            if (!table.Name.StartsWith(_taskHub, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            await foreach (TableEntity entity in tables.GetTableClient(table.Name).QueryAsync<TableEntity>())
            {
                texts.AddRange(entity.Select(pair => pair.Value?.ToString() ?? string.Empty));
            }
        }

        var blobs = new BlobServiceClient(connectionString);
        await foreach (BlobContainerItem container in blobs.GetBlobContainersAsync(prefix: _taskHub.ToLowerInvariant()))
        {
            BlobContainerClient client = blobs.GetBlobContainerClient(container.Name);
            await foreach (BlobItem blob in client.GetBlobsAsync())
            {
                texts.Add((await client.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToString());
            }
        }

        Assert.NotEmpty(texts);
        return texts;
    }
}
