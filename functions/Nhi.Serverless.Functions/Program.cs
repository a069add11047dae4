using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Nhi.Serverless.Functions;
using Nhi.Serverless.Hosting;
using Nhi.Serverless.Hosting.Sweeper;

FunctionsApplicationBuilder builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddNhiServerless(builder.Configuration);
builder.Services.AddFunctionActivities();
builder.Services.AddGuardedRemediationActivities();
builder.Services.AddWorkflowActivities();

// The SweepGrants timer trigger sweeps here, so the local host's in-process loop is left out.
builder.Services.RemoveGrantSweeperLoop();

builder.Build().Run();
