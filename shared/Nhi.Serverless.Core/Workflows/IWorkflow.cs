using System.Text.Json;
using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Workflows;

/// <summary>
/// A business workflow: which steps it runs under which scoped grants, and how it decides from what the steps
/// returned. Planning and deciding see no credential; only the steps do.
/// </summary>
public interface IWorkflow
{
    /// <summary>The workflow name that triggers use, such as "claims".</summary>
    string Name { get; }

    /// <summary>
    /// True when the caller must prove a workload identity (such as a CI job's OIDC token) to start a run and to claim
    /// its credentials, instead of the trigger's shared secret.
    /// </summary>
    bool RequiresWorkloadIdentity => false;

    /// <summary>Checks the request's parameters and returns the steps and scopes for it.</summary>
    /// <exception cref="InvalidWorkflowRequestException">A parameter is missing or has a value the workflow does not accept.</exception>
    WorkflowPlan Plan(WorkflowRequest request);

    /// <summary>Makes the business decision from the steps' reports, with the workflow's documented rules.</summary>
    WorkflowDecision Decide(WorkflowRequest request, WorkflowPlan plan, IReadOnlyList<StepReport> reports);
}

/// <summary>The code of one managed step. It runs inside one activity, with the step's leases.</summary>
public interface IWorkflowStep
{
    /// <summary>The workflow the step belongs to.</summary>
    string Workflow { get; }

    /// <summary>The step name, as in <see cref="WorkflowStepPlan.Name"/>.</summary>
    string Step { get; }

    /// <summary>Does the step's work with the leases in <paramref name="context"/> and returns its output.</summary>
    /// <exception cref="WorkflowStepException">The step failed; the message names what failed, without secrets.</exception>
    Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken);
}

/// <summary>What a managed step returns: its business output and what it checked.</summary>
public sealed record StepOutcome(JsonElement? Output, Verification Verification);

/// <summary>The leases and the call log of one managed step execution.</summary>
public sealed class WorkflowStepContext
{
    private readonly IReadOnlyDictionary<string, GrantLease> _leases;
    private readonly List<GrantCall> _calls = [];
    private readonly List<GrantScopeProbe> _probes = [];
    private readonly object _gate = new();

    /// <summary>Creates the context; <paramref name="leases"/> maps each grant name of the step to its lease.</summary>
    public WorkflowStepContext(
        WorkflowRequest request,
        WorkflowStepPlan step,
        IReadOnlyDictionary<string, GrantLease> leases,
        IReadOnlyDictionary<string, JsonElement> earlierOutputs,
        TimeProvider time)
    {
        Request = request;
        Step = step;
        _leases = leases;
        EarlierOutputs = earlierOutputs;
        Time = time;
    }

    public WorkflowRequest Request { get; }

    public WorkflowStepPlan Step { get; }

    /// <summary>The outputs of the steps of earlier stages, by step name.</summary>
    public IReadOnlyDictionary<string, JsonElement> EarlierOutputs { get; }

    public TimeProvider Time { get; }

    /// <summary>Calls made so far, in the order they were recorded.</summary>
    public IReadOnlyList<GrantCall> Calls
    {
        get
        {
            lock (_gate)
            {
                return _calls.ToArray();
            }
        }
    }

    /// <summary>Scope probes made so far.</summary>
    public IReadOnlyList<GrantScopeProbe> ScopeProbes
    {
        get
        {
            lock (_gate)
            {
                return _probes.ToArray();
            }
        }
    }

    /// <summary>Returns a required parameter of the request.</summary>
    public string Parameter(string name) =>
        Request.Parameters.TryGetValue(name, out string? value) ? value
            : throw new WorkflowStepException(Step.Name, $"parameter '{name}' is missing");

    /// <summary>Returns the lease of the step's grant named <paramref name="grantName"/>.</summary>
    /// <exception cref="InvalidOperationException">The step has no such grant, or its credential is of another type.</exception>
    public Lease<TCredential> Lease<TCredential>(string grantName)
        where TCredential : class
    {
        if (!_leases.TryGetValue(grantName, out GrantLease? held))
        {
            throw new InvalidOperationException($"Step '{Step.Name}' has no grant named '{grantName}'.");
        }

        return held.Lease as Lease<TCredential>
            ?? throw new InvalidOperationException($"Grant '{grantName}' of step '{Step.Name}' does not hold a {typeof(TCredential).Name}.");
    }

    /// <summary>Records a call made with the credential of the grant named <paramref name="grantName"/>.</summary>
    public void Record(string grantName, ApiCall call)
    {
        var entry = new GrantCall(GrantIdOf(grantName), call);
        lock (_gate)
        {
            _calls.Add(entry);
        }
    }

    /// <summary>Records a call outside the scope of the grant named <paramref name="grantName"/>, which had to be denied.</summary>
    public void Record(string grantName, ScopeProbe probe)
    {
        var entry = new GrantScopeProbe(GrantIdOf(grantName), probe);
        lock (_gate)
        {
            _probes.Add(entry);
        }
    }

    private string GrantIdOf(string grantName) =>
        _leases.TryGetValue(grantName, out GrantLease? held) ? held.Grant.GrantId
            : throw new InvalidOperationException($"Step '{Step.Name}' has no grant named '{grantName}'.");
}

/// <summary>Thrown by <see cref="IWorkflow.Plan"/> when a parameter is missing or not acceptable.</summary>
/// <param name="field">The parameter, such as "parameters.applicantId".</param>
/// <param name="expected">What the workflow accepts there.</param>
public sealed class InvalidWorkflowRequestException(string field, string expected)
    : Exception($"Field '{field}' is not valid: expected {expected}.")
{
    public string Field { get; } = field;

    public string Expected { get; } = expected;
}

/// <summary>Thrown by a managed step that could not do its work. The message names what failed and contains no secret.</summary>
public sealed class WorkflowStepException(string step, string reason, Exception? inner = null)
    : Exception($"Step '{step}' failed: {reason}", inner)
{
    public string Step { get; } = step;
}
