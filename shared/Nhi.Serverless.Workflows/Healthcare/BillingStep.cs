using System.Globalization;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Aws.S3;
using Nhi.Serverless.Runs;
using Nhi.Serverless.Workflows.Steps;

namespace Nhi.Serverless.Workflows.Healthcare;

/// <summary>
/// Reads the patient's billing record "patients/{patientId}.json" from the billing bucket through the S3 API with the
/// "billing" grant's session, and proves that the session is denied on another bucket.
/// </summary>
/// <remarks>
/// The record: {"patientId", "currency", "balance", "overdue", "statements": [{"statementId", "amount", "paidOn"}]}.
/// A patient without a record owes nothing.
/// </remarks>
public sealed class BillingStep(WorkflowOptions options, S3ClientFactory clients, AwsOptions aws) : IWorkflowStep
{
    public string Workflow => HealthcareWorkflow.WorkflowName;

    public string Step => HealthcareWorkflow.BillingStep;

    /// <exception cref="WorkflowStepException">The record is invalid, a call failed, or the scope probe was not denied.</exception>
    public async Task<StepOutcome> RunAsync(WorkflowStepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        string patientId = context.Parameter(HealthcareWorkflow.PatientIdParameter);
        using var reader = new S3StepReader(context, HealthcareWorkflow.BillingGrant, clients, aws);

        // Listing first distinguishes a missing record (nothing owed) from a denied read. S3 returns 403 for both to a
        // session without s3:ListBucket.
        string key = $"patients/{patientId}.json";
        BinaryData? content = await reader.ExistsAsync(key, cancellationToken) ? await reader.ReadAsync(key, cancellationToken) : null;
        BillingAccount account = content is null ? new BillingAccount(false, null, 0m, 0m, []) : Read(patientId, key, content);

        if (!await reader.ProbeBucketAsync(options.ScopeProbeBucket, cancellationToken))
        {
            throw new WorkflowStepException(Step, $"the session of grant '{HealthcareWorkflow.BillingGrant}' was not denied on bucket {options.ScopeProbeBucket}");
        }

        var checks = new List<string>
        {
            account.RecordFound ? $"read {key} from bucket {reader.Bucket}" : $"bucket {reader.Bucket} has no {key}; nothing is owed",
            $"grant '{HealthcareWorkflow.BillingGrant}' denied on bucket {options.ScopeProbeBucket}",
        };
        return new StepOutcome(StepOutput.From(account), new Verification(true, checks));
    }

    private BillingAccount Read(string patientId, string key, BinaryData content)
    {
        JsonDocumentReader document = JsonDocumentReader.Parse(key, content);
        string? recordPatientId = document.String("patientId");
        string? currency = document.String("currency", required: false);
        decimal? balance = document.Amount("balance");
        decimal overdue = document.Amount("overdue", required: false) ?? 0m;
        string[] open = document.Objects("statements", required: false)
            .Select(statement => (Id: statement.String("statementId"), Paid: statement.Has("paidOn")))
            .Where(statement => !statement.Paid && statement.Id is not null)
            .Select(statement => statement.Id!)
            .ToArray();

        if (document.Errors.Count > 0 || recordPatientId is null || balance is null)
        {
            throw new WorkflowStepException(Step, "the billing record is invalid: " + string.Join("; ", document.Errors));
        }

        if (recordPatientId != patientId)
        {
            throw new WorkflowStepException(Step, $"{key} is the billing record of patient {recordPatientId}, not {patientId}");
        }

        if (balance < 0 || overdue < 0 || overdue > balance)
        {
            throw new WorkflowStepException(Step, string.Create(
                CultureInfo.InvariantCulture, $"the billing record of patient {patientId} has balance {balance} and overdue {overdue}; expected 0 <= overdue <= balance"));
        }

        return new BillingAccount(true, currency, balance.Value, overdue, open);
    }
}
