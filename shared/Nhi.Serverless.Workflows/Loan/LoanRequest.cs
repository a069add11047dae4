using System.Globalization;
using System.Text.RegularExpressions;

namespace Nhi.Serverless.Workflows.Loan;

/// <summary>The parameters of a loan run, validated.</summary>
/// <param name="ApplicationId">The caller's id of the loan application, such as "LA-2026-0042".</param>
/// <param name="ApplicantId">The id of the applicant in loans.applicants.</param>
/// <param name="Amount">The amount applied for, with at most two decimals.</param>
public sealed partial record LoanRequest(string ApplicationId, int ApplicantId, decimal Amount)
{
    /// <summary>The largest amount numeric(12, 2) holds, the type of loans.applicants.requested_amount.</summary>
    public const decimal MaxAmount = 9_999_999_999.99m;

    private const string ApplicationIdExpected = "an id of 1 to 64 letters, digits and hyphens, starting with a letter or digit, such as \"LA-2026-0042\"";

    private const string ApplicantIdExpected = "an applicant id of digits only, from 1 to 2147483647";

    private const string AmountExpected = "an amount greater than 0 and at most 9999999999.99, with '.' before at most two decimals, such as \"20000.00\"";

    /// <summary>Reads and checks the parameters "applicationId", "applicantId" and "amount".</summary>
    /// <exception cref="InvalidWorkflowRequestException">A parameter is missing or not acceptable.</exception>
    public static LoanRequest Parse(WorkflowRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);

        string? applicationId = request.Parameters.GetValueOrDefault("applicationId");
        if (applicationId is null || !ApplicationIdPattern().IsMatch(applicationId))
        {
            throw new InvalidWorkflowRequestException("parameters.applicationId", ApplicationIdExpected);
        }

        string? applicant = request.Parameters.GetValueOrDefault("applicantId");
        if (applicant is null
            || !DigitsPattern().IsMatch(applicant)
            || !int.TryParse(applicant, NumberStyles.None, CultureInfo.InvariantCulture, out int applicantId)
            || applicantId < 1)
        {
            throw new InvalidWorkflowRequestException("parameters.applicantId", ApplicantIdExpected);
        }

        string? amountText = request.Parameters.GetValueOrDefault("amount");
        if (amountText is null
            || !AmountPattern().IsMatch(amountText)
            || !decimal.TryParse(amountText, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal amount)
            || amount <= 0
            || amount > MaxAmount)
        {
            throw new InvalidWorkflowRequestException("parameters.amount", AmountExpected);
        }

        return new LoanRequest(applicationId, applicantId, amount);
    }

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")]
    private static partial Regex ApplicationIdPattern();

    [GeneratedRegex("^[0-9]{1,10}$")]
    private static partial Regex DigitsPattern();

    [GeneratedRegex(@"^[0-9]{1,10}(\.[0-9]{1,2})?$")]
    private static partial Regex AmountPattern();
}
