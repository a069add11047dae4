using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Azure.Blob;
using Nhi.Serverless.OAuth;
using Nhi.Serverless.Workflows;

namespace Nhi.Serverless.Tests.Workflows;

/// <summary>The workflow settings' validation, and which workflows the registration adds for which brokers.</summary>
public sealed class WorkflowOptionsTests
{
    [Fact]
    public void Defaults_are_valid()
    {
        Assert.Empty(new WorkflowOptions().Validate());
    }

    [Theory]
    [InlineData("ClaimsAutoApprovalLimit", "0", "Workflows:ClaimsAutoApprovalLimit is 0")]
    [InlineData("ScopeProbeContainer", "claims-documents", "Workflows:ScopeProbeContainer 'claims-documents' is not valid")]
    [InlineData("ScopeProbeContainer", "patient-records", "Workflows:ScopeProbeContainer 'patient-records' is not valid")]
    [InlineData("ScopeProbeContainer", " ", "Workflows:ScopeProbeContainer ' ' is not valid")]
    [InlineData("ScopeProbeBucket", "nhi-billing", "Workflows:ScopeProbeBucket 'nhi-billing' is not valid")]
    [InlineData("ScopeProbeBucket", "", "Workflows:ScopeProbeBucket '' is not valid")]
    public void Invalid_setting_is_named(string setting, string value, string expected)
    {
        var options = new WorkflowOptions();
        switch (setting)
        {
            case "ClaimsAutoApprovalLimit":
                options.ClaimsAutoApprovalLimit = decimal.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
                break;
            case "ScopeProbeContainer":
                options.ScopeProbeContainer = value;
                break;
            default:
                options.ScopeProbeBucket = value;
                break;
        }

        Assert.StartsWith(expected, Assert.Single(options.Validate()), StringComparison.Ordinal);
    }

    [Fact]
    public void Claims_and_healthcare_need_blob_and_oauth_brokers()
    {
        var blob = new BlobSasBrokerOptions { ConnectionString = "UseDevelopmentStorage=true" };
        var oauth = new OAuthClientCredentialsOptions { Issuer = "http://127.0.0.1:7490" };

        Assert.Equal(0, WorkflowCount(new WorkflowBrokerSettings(null, blob, null)));
        Assert.Equal(0, WorkflowCount(new WorkflowBrokerSettings(null, null, oauth)));
        Assert.Equal(2, WorkflowCount(new WorkflowBrokerSettings(null, blob, oauth)));
    }

    private static int WorkflowCount(WorkflowBrokerSettings brokers) =>
        new ServiceCollection().AddBusinessWorkflows(new WorkflowOptions(), brokers).Count(descriptor => descriptor.ServiceType == typeof(IWorkflow));
}
