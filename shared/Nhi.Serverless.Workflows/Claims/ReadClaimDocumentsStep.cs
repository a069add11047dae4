using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows.Steps;

namespace Nhi.Serverless.Workflows.Claims;

/// <summary>
/// Lists and reads a claim's documents under "{claimId}/" in the claims container with the "documents" grant, checks
/// them with <see cref="ClaimDocumentChecks"/>, and proves that the grant is denied on another container.
/// </summary>
public sealed class ReadClaimDocumentsStep(WorkflowOptions options) : IWorkflowStep
{
    public string Workflow => ClaimsWorkflow.WorkflowName;

    public string Step => ClaimsWorkflow.ReadDocumentsStep;

    /// <exception cref="WorkflowStepException">The claim has no documents at all, a read failed, or the scope probe was not denied.</exception>
    public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        string claimId = context.Parameter(ClaimsWorkflow.ClaimIdParameter);
        string? memberId = context.Request.Parameters.GetValueOrDefault(ClaimsWorkflow.MemberIdParameter);
        var reader = new BlobStepReader(context, ClaimsWorkflow.DocumentsGrant);

        string prefix = claimId + "/";
        List<string> found = (await reader.ListAsync(prefix, cancellationToken)).Select(name => name[prefix.Length..]).ToList();
        if (found.Count == 0)
        {
            throw new WorkflowStepException(Step, $"the claims container has no documents under '{prefix}'; check the claim id");
        }

        JsonDocumentReader? claim = await ReadIfFoundAsync(reader, prefix, found, ClaimDocumentChecks.ClaimFormName, cancellationToken);
        JsonDocumentReader? invoice = await ReadIfFoundAsync(reader, prefix, found, ClaimDocumentChecks.InvoiceName, cancellationToken);
        JsonDocumentReader? photos = await ReadIfFoundAsync(reader, prefix, found, ClaimDocumentChecks.PhotosName, cancellationToken);
        DateOnly today = DateOnly.FromDateTime(context.Time.GetUtcNow().UtcDateTime);
        ClaimDocuments documents = ClaimDocumentChecks.Check(claimId, memberId, found, claim, invoice, photos, today);

        if (!await reader.ProbeContainerAsync(options.ScopeProbeContainer, cancellationToken))
        {
            throw new WorkflowStepException(Step, $"the SAS of grant '{ClaimsWorkflow.DocumentsGrant}' was not denied on container {options.ScopeProbeContainer}");
        }

        var checks = new List<string>
        {
            $"listed {found.Count} document(s) under {prefix}",
            documents.Missing.Count == 0 ? "every required document is present" : $"missing: {string.Join(", ", documents.Missing)}",
            $"{documents.Problems.Count} problem(s) in the documents",
            $"grant '{ClaimsWorkflow.DocumentsGrant}' denied on container {options.ScopeProbeContainer}",
        };
        return new StepOutcome(StepOutput.From(documents), new Verification(true, checks));
    }

    private static async Task<JsonDocumentReader?> ReadIfFoundAsync(
        BlobStepReader reader, string prefix, List<string> found, string name, CancellationToken cancellationToken)
    {
        if (!found.Contains(name, StringComparer.Ordinal))
        {
            return null;
        }

        // A document deleted between the listing and the read counts as missing.
        BinaryData? content = await reader.ReadAsync(prefix + name, cancellationToken);
        if (content is null)
        {
            found.Remove(name);
            return null;
        }

        return JsonDocumentReader.Parse(name, content);
    }
}
