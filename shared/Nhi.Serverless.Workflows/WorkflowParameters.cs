using System.Globalization;
using System.Text.RegularExpressions;

namespace Nhi.Serverless.Workflows;

/// <summary>
/// Checks a workflow request's parameters for <see cref="IWorkflow.Plan"/>. Each failure throws
/// <see cref="InvalidWorkflowRequestException"/> naming the field, such as "parameters.claimId", and what it accepts.
/// </summary>
public sealed class WorkflowParameters
{
    private readonly WorkflowRequest _request;

    /// <summary>Rejects a request that has a parameter outside <paramref name="known"/>, so a misspelt name is not ignored.</summary>
    public WorkflowParameters(WorkflowRequest request, params string[] known)
    {
        ArgumentNullException.ThrowIfNull(request);
        _request = request;

        string? unknown = request.Parameters.Keys.Where(name => !known.Contains(name, StringComparer.Ordinal)).Order(StringComparer.Ordinal).FirstOrDefault();
        if (unknown is not null)
        {
            throw new InvalidWorkflowRequestException($"parameters.{unknown}", $"no such parameter; workflow '{request.Workflow}' accepts {string.Join(", ", known)}");
        }
    }

    /// <summary>Returns the parameter; it must be present and match <paramref name="pattern"/>, described by <paramref name="expected"/>.</summary>
    public string Required(string name, Regex pattern, string expected) =>
        Optional(name, pattern, expected) ?? throw new InvalidWorkflowRequestException($"parameters.{name}", expected);

    /// <summary>Returns the parameter, or null when it is absent; a present value must match <paramref name="pattern"/>.</summary>
    public string? Optional(string name, Regex pattern, string expected)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        if (!_request.Parameters.TryGetValue(name, out string? value))
        {
            return null;
        }

        return pattern.IsMatch(value) ? value : throw new InvalidWorkflowRequestException($"parameters.{name}", expected);
    }

    /// <summary>Returns a required calendar date in the form yyyy-MM-dd.</summary>
    public DateOnly RequiredDate(string name)
    {
        const string Expected = "a calendar date in the form yyyy-MM-dd, such as 2026-11-18";
        string? value = _request.Parameters.GetValueOrDefault(name);
        return DateOnly.TryParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out DateOnly date)
            ? date
            : throw new InvalidWorkflowRequestException($"parameters.{name}", Expected);
    }
}
