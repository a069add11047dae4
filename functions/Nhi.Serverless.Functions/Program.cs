using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Nhi.Serverless.Functions;
using Nhi.Serverless.Hosting;

FunctionsApplicationBuilder builder = FunctionsApplication.CreateBuilder(args);
builder.ConfigureFunctionsWebApplication();
builder.Services.AddNhiServerless(builder.Configuration);
builder.Services.AddFunctionActivities();

builder.Build().Run();
