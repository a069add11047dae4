using Nhi.Serverless.Workflows.Claims;
using Nhi.Serverless.Workflows.Steps;

namespace Nhi.Serverless.Tests.Workflows.Claims;

/// <summary>The completeness and consistency checks of a claim's documents, without storage.</summary>
public sealed class ClaimDocumentChecksTests
{
    private static readonly DateOnly Today = new(2026, 11, 1);

    private const string ClaimForm = """
        {"claimId":"CLM-2001","memberId":"M-1001","policyNumber":"POL-77","incidentDate":"2026-10-14","amountClaimed":180.0,"currency":"USD",
         "provider":{"providerId":"PRV-301"},"documents":["claim.json","invoice.json","police-report.pdf"]}
        """;

    private const string MatchingInvoice = """
        {"invoiceNumber":"LFC-55120","claimId":"CLM-2001","issuedOn":"2026-10-14","currency":"USD","provider":{"providerId":"PRV-301"},
         "lines":[{"amount":100.0},{"amount":80.0}],"total":180.0}
        """;

    [Fact]
    public void Consistent_documents_have_no_problem()
    {
        ClaimDocuments documents = Check(["claim.json", "invoice.json", "police-report.pdf"], ClaimForm, MatchingInvoice);

        Assert.Empty(documents.Problems);
        Assert.Empty(documents.Missing);
        Assert.Equal(["claim.json", "invoice.json", "police-report.pdf"], documents.Required);
        Assert.Equal("POL-77", documents.Claim!.PolicyNumber);
        Assert.Equal(new DateOnly(2026, 10, 14), documents.Claim.IncidentDate);
        Assert.Equal(180.0m, documents.Invoice!.LinesTotal);
        Assert.Null(documents.PhotoCount);
    }

    [Fact]
    public void Document_listed_by_the_claim_form_must_exist()
    {
        ClaimDocuments documents = Check(["claim.json", "invoice.json"], ClaimForm, MatchingInvoice);

        Assert.Equal(["police-report.pdf"], documents.Missing);
    }

    [Fact]
    public void Absent_form_and_invoice_are_missing()
    {
        ClaimDocuments documents = ClaimDocumentChecks.Check("CLM-2001", null, ["photos.json"], null, null, null, Today);

        Assert.Equal(["claim.json", "invoice.json"], documents.Missing);
        Assert.Null(documents.Claim);
        Assert.Empty(documents.Problems);
    }

    [Fact]
    public void Each_mismatch_is_a_problem()
    {
        const string invoice = """
            {"invoiceNumber":"X-1","claimId":"CLM-2009","issuedOn":"2026-10-01","currency":"EUR","provider":{"providerId":"PRV-999"},
             "lines":[{"amount":100.0}],"total":190.0}
            """;

        ClaimDocuments documents = ClaimDocumentChecks.Check(
            "CLM-2001", "M-2002", ["claim.json", "invoice.json"], Parse("claim.json", ClaimForm), Parse("invoice.json", invoice), null, Today);

        Assert.Equal(
            [
                ClaimProblemCodes.MemberMismatch,
                ClaimProblemCodes.InvoiceClaimMismatch,
                ClaimProblemCodes.InvoiceTotalMismatch,
                ClaimProblemCodes.CurrencyMismatch,
                ClaimProblemCodes.ProviderMismatch,
                ClaimProblemCodes.InvoiceBeforeIncident,
                ClaimProblemCodes.InvoiceLinesMismatch,
            ],
            documents.Problems.Select(problem => problem.Code));
        Assert.Contains("the invoice total 190.00 does not equal the claimed amount 180.00", documents.Problems.Select(problem => problem.Detail));
    }

    [Fact]
    public void Future_incident_and_early_photo_are_problems()
    {
        string claim = ClaimForm.Replace("2026-10-14", "2026-12-24", StringComparison.Ordinal);
        const string photos = """{"photos":[{"name":"a.jpg","takenAt":"2026-12-01T08:00:00Z"},{"name":"b.jpg","takenAt":"2026-12-24T08:00:00Z"}]}""";

        ClaimDocuments documents = ClaimDocumentChecks.Check(
            "CLM-2001", null, ["claim.json", "invoice.json", "photos.json"], Parse("claim.json", claim), null, Parse("photos.json", photos), Today);

        Assert.Equal(2, documents.PhotoCount);
        Assert.Equal([ClaimProblemCodes.PhotoBeforeIncident, ClaimProblemCodes.IncidentInFuture], documents.Problems.Select(problem => problem.Code));
        Assert.Contains("photo 'a.jpg'", documents.Problems[0].Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json", "claim.json is not valid JSON")]
    [InlineData("[1]", "claim.json is not a JSON object")]
    [InlineData("""{"claimId":"CLM-2001","memberId":"M-1","amountClaimed":"180","incidentDate":"2026-10-14"}""", "claim.json: field 'amountClaimed' is not a number")]
    [InlineData("""{"claimId":"CLM-2001","amountClaimed":1,"serviceDate":"2026-10-14"}""", "claim.json: field 'memberId' is missing; expected a string")]
    [InlineData("""{"claimId":"CLM-2001","memberId":"M-1","amountClaimed":1}""", "claim.json: field 'incidentDate' (or 'serviceDate') is missing")]
    [InlineData("""{"claimId":"CLM-2001","memberId":"M-1","amountClaimed":1,"incidentDate":"14.10.2026"}""", "claim.json: field 'incidentDate' is not a date")]
    [InlineData("""{"claimId":"CLM-2001","memberId":"M-1","amountClaimed":1,"incidentDate":"2026-10-14","documents":["../x"]}""", "document name '../x' is not a plain file name")]
    public void Invalid_claim_form_is_an_invalid_document(string claim, string expected)
    {
        ClaimDocuments documents = ClaimDocumentChecks.Check("CLM-2001", null, ["claim.json"], Parse("claim.json", claim), null, null, Today);

        ClaimProblem problem = Assert.Single(documents.Problems, problem => problem.Code == ClaimProblemCodes.InvalidDocument);
        Assert.Contains(expected, problem.Detail, StringComparison.Ordinal);
    }

    private static ClaimDocuments Check(IReadOnlyList<string> found, string claim, string invoice) =>
        ClaimDocumentChecks.Check("CLM-2001", "M-1001", found, Parse("claim.json", claim), Parse("invoice.json", invoice), null, Today);

    private static JsonDocumentReader Parse(string name, string json) => JsonDocumentReader.Parse(name, BinaryData.FromString(json));
}
