using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Orchestration.Workflows;
using Nhi.Serverless.Tests.Infrastructure;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Tests.Workflows;

/// <summary>
/// A test host with every workflow broker configured from the local stack (PostgreSQL, Azurite, the OAuth server), which
/// records each secret a broker hands out, so tests can check that none leaks into logs, history or audit records.
/// </summary>
public sealed class WorkflowTestHost : IAsyncDisposable
{
    private readonly ConcurrentBag<string> _secrets;

    private WorkflowTestHost(NhiTestHost host, ConcurrentBag<string> secrets)
    {
        Host = host;
        _secrets = secrets;
    }

    public NhiTestHost Host { get; }

    public DurableTaskClient Client => Host.Client;

    /// <summary>Every secret value the brokers issued during the test: passwords, tokens, SAS signatures, secret keys.</summary>
    public IReadOnlyCollection<string> IssuedSecrets => _secrets.ToArray();

    /// <summary>The broker settings from the local stack; <paramref name="settings"/> are applied last.</summary>
    public static async Task<WorkflowTestHost> StartAsync(
        IReadOnlyDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configureServices = null,
        string backend = "InMemory")
    {
        var configuration = new Dictionary<string, string?>
        {
            ["Postgres:Host"] = LocalStack.Get("NHI_POSTGRES_HOST"),
            ["Postgres:Port"] = LocalStack.Get("NHI_POSTGRES_PORT"),
            ["Postgres:Username"] = LocalStack.Get("NHI_POSTGRES_USERNAME"),
            ["Postgres:Password"] = LocalStack.Get("NHI_POSTGRES_PASSWORD"),
            ["Postgres:SslMode"] = "Disable",
            ["Postgres:RevocationProofTimeout"] = "00:00:05",
            ["AzureBlobSas:ConnectionString"] = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING"),
            ["AzureBlobSas:PropagationTimeout"] = "00:00:05",
            ["OAuth:Issuer"] = LocalStack.Get("NHI_OAUTH_ISSUER"),
            ["OAuth:ClientId"] = LocalStack.Get("NHI_OAUTH_CLIENT_ID"),
            ["OAuth:ClientSecret"] = LocalStack.Get("NHI_OAUTH_CLIENT_SECRET"),
            ["OAuth:AllowedAudiences:0"] = "urn:nhi:partner:credit-bureau",
            ["OAuth:AllowedAudiences:1"] = "urn:nhi:partner:fraud-screening",
            ["OAuth:AllowedAudiences:2"] = "urn:nhi:partner:insurer",
            ["OAuth:RevocationProofTimeout"] = "00:00:05",
            ["Workflows:Database"] = LocalStack.Get("NHI_POSTGRES_DATABASE"),
        };
        if (TryGet("NHI_PARTNER_BASE_URL") is { } partners)
        {
            configuration["Workflows:PartnerBaseUrl"] = partners;
        }

        foreach ((string key, string? value) in settings ?? new Dictionary<string, string?>())
        {
            configuration[key] = value;
        }

        var secrets = new ConcurrentBag<string>();
        NhiTestHost host = await NhiTestHost.StartAsync(backend, settings: configuration, configureServices: services =>
        {
            services.Replace(ServiceDescriptor.Singleton(provider => new GrantBrokers(
                provider.GetServices<IGrantBroker>().Select(broker => (IGrantBroker)new RecordingGrantBroker(broker, secrets)))));
            configureServices?.Invoke(services);
        });
        return new WorkflowTestHost(host, secrets);
    }

    /// <summary>Schedules a workflow run and returns its id.</summary>
    /// <param name="receivedAt">When the trigger accepted the request, which rules that depend on the run's date use; now when null.</param>
    public async Task<string> StartRunAsync(
        string workflow, IReadOnlyDictionary<string, string> parameters, string? runId = null, DateTimeOffset? receivedAt = null)
    {
        var request = new WorkflowRequest(
            runId ?? $"wf-{workflow}-{Guid.NewGuid():N}",
            workflow,
            "test",
            "test-caller",
            parameters,
            receivedAt ?? DateTimeOffset.UtcNow);
        return await Client.ScheduleNewOrchestrationInstanceAsync(
            RunWorkflowOrchestrator.Name, request, new StartOrchestrationOptions(request.RunId));
    }

    /// <summary>Waits until the run completes and returns its result; fails the test when it fails or times out.</summary>
    public async Task<WorkflowResult> WaitAsync(string runId, TimeSpan? timeout = null)
    {
        using var cancellation = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            OrchestrationMetadata? metadata = await Client.GetInstanceAsync(runId, getInputsAndOutputs: true, cancellation.Token);
            if (metadata is { IsCompleted: true })
            {
                Assert.True(
                    metadata.RuntimeStatus == OrchestrationRuntimeStatus.Completed,
                    $"Run {runId} ended {metadata.RuntimeStatus}: {metadata.FailureDetails?.ErrorMessage}");
                return metadata.ReadOutputAs<WorkflowResult>()!;
            }

            await Task.Delay(100, cancellation.Token);
        }
    }

    /// <summary>Returns the stored audit records of a run, in order.</summary>
    public async Task<IReadOnlyList<SignedAuditRecord>> AuditRecordsAsync(string runId)
    {
        TableAuditStore store = Host.Services.GetRequiredService<TableAuditStore>();
        return await store.ReadRunAsync(runId, CancellationToken.None);
    }

    /// <summary>
    /// Fails when any issued secret appears in the captured logs, the run's orchestration input, output and custom
    /// status, or its audit records.
    /// </summary>
    public async Task AssertNoSecretLeakedAsync(string runId)
    {
        Assert.NotEmpty(_secrets);
        OrchestrationMetadata? metadata = await Client.GetInstanceAsync(runId, getInputsAndOutputs: true);
        var places = new Dictionary<string, string>
        {
            ["logs"] = string.Join('\n', Host.Logs.Lines),
            ["orchestration input"] = metadata?.SerializedInput ?? "",
            ["orchestration output"] = metadata?.SerializedOutput ?? "",
            ["orchestration status"] = metadata?.SerializedCustomStatus ?? "",
            ["audit records"] = string.Join('\n', (await AuditRecordsAsync(runId)).Select(record => record.Json)),
        };

        foreach (string secret in _secrets)
        {
            foreach ((string place, string text) in places)
            {
                Assert.False(text.Contains(secret, StringComparison.Ordinal), $"A secret issued during the run appears in the {place}.");
            }
        }
    }

    /// <summary>Returns the "nhi.event" of each audit record of the run, in order.</summary>
    public async Task<string[]> AuditEventsAsync(string runId) =>
        (await AuditRecordsAsync(runId)).Select(record => JsonNode.Parse(record.Json)!["nhi"]!["event"]!.GetValue<string>()).ToArray();

    /// <summary>
    /// Fails unless every step's grants were denied outside their scope, every grant was revoked with a proof, and no
    /// issued secret leaked into the logs, history or audit records.
    /// </summary>
    public async Task AssertGrantsContainedAsync(WorkflowResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        Assert.All(result.Steps, WorkflowRunAssertions.AssertEveryGrantDeniedOutsideScope);
        await WorkflowRunAssertions.AssertEveryGrantRevokedWithProofAsync(this, result);
        await AssertNoSecretLeakedAsync(result.RunId);
    }

    private static string? TryGet(string key)
    {
        try
        {
            return LocalStack.Get(key);
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    public ValueTask DisposeAsync() => Host.DisposeAsync();

    /// <summary>Records the secret values of each lease its broker issues.</summary>
    private sealed class RecordingGrantBroker(IGrantBroker inner, ConcurrentBag<string> secrets) : IGrantBroker
    {
        private static readonly string[] SecretFields = ["secretAccessKey", "sessionToken", "password", "connectionString", "sasToken", "accessToken"];

        public string Name => inner.Name;

        public GrantLifetimeBounds Lifetime => inner.Lifetime;

        public void ValidateScope(Scope scope) => inner.ValidateScope(scope);

        public async Task<GrantLease> IssueAsync(GrantRequest request, CancellationToken cancellationToken)
        {
            GrantLease lease = await inner.IssueAsync(request, cancellationToken);
            if (lease.Handoff?.ToHandoff() is JsonObject handoff)
            {
                foreach (string field in SecretFields)
                {
                    if (handoff[field]?.GetValueKind() == JsonValueKind.String)
                    {
                        secrets.Add(handoff[field]!.GetValue<string>());
                    }
                }
            }

            return lease;
        }

        public Task<RevocationOutcome> RevokeAsync(GrantRequest request, CancellationToken cancellationToken) => inner.RevokeAsync(request, cancellationToken);

        public Task<RevocationOutcome> ProveRevokedAsync(GrantLease lease, RevocationOutcome revocation, CancellationToken cancellationToken) =>
            inner.ProveRevokedAsync(lease, revocation, cancellationToken);
    }
}
