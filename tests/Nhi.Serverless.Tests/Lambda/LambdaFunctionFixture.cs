using System.Reflection;
using System.Text;
using Amazon.SecurityToken;
using Amazon.SecurityToken.Model;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Nhi.Serverless.Aws;
using Nhi.Serverless.Lambdas.Container;
using Nhi.Serverless.Tests.Aws;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Lambda;

/// <summary>The tests that invoke the Lambda handlers share one process-wide container, so they run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class LambdaFunctionCollection : ICollectionFixture<LambdaFunctionFixture>
{
    public const string Name = "Lambda functions";
}

/// <summary>
/// Configures the functions through environment variables, as a deployment does. Invokes handlers as the Lambda
/// .NET runtime does: it loads the assembly, type and method that the handler string names, creates one instance
/// of the type per container, and passes the event as a Stream and reads a Stream back.
/// </summary>
/// <remarks>
/// The variables are set only while the two containers are built, as in a function's init phase, and removed
/// again, because the containers read their configuration once. Test classes that run at the same time see
/// them for about a second, with the values that the local stack's environment file gives anyway.
/// </remarks>
public sealed class LambdaFunctionFixture : IAsyncLifetime
{
    public const string SqsHandler = "Nhi.Serverless.Lambdas::Nhi.Serverless.Lambdas.Sqs.SqsFindingHandler::HandleAsync";
    public const string SweeperHandler = "Nhi.Serverless.Lambdas::Nhi.Serverless.Lambdas.Sweeper.GrantSweeperHandler::HandleAsync";

    private readonly Dictionary<string, (object Instance, MethodInfo Method)> _handlers = [];
    private readonly string _runSlotsTable = "NhiLambdaSlots" + Guid.NewGuid().ToString("N")[..12];
    private string _keyDirectory = null!;

    public AwsTestStack Aws { get; private set; } = null!;

    public DynaliteTables Tables { get; private set; } = null!;

    public CapturingLoggerProvider Logs { get; } = new();

    /// <summary>Every credential STS issued to the functions.</summary>
    public List<Credentials> IssuedCredentials { get; } = [];

    /// <summary>Every payload the handlers returned.</summary>
    public List<string> Outputs { get; } = [];

    public async Task InitializeAsync()
    {
        Aws = new AwsTestStack();
        Tables = await DynaliteTables.CreateAsync();
        _keyDirectory = Directory.CreateTempSubdirectory("nhi-lambda-keys-").FullName;
        AwsOptions aws = Aws.Options;

        Dictionary<string, string> variables = new()
        {
            ["Aws__Region"] = aws.Region,
            ["Aws__Partition"] = aws.Partition,
            ["Aws__S3Endpoint"] = aws.S3Endpoint!,
            ["Aws__StsEndpoint"] = aws.StsEndpoint!,
            ["Aws__IamEndpoint"] = aws.IamEndpoint!,
            ["Aws__ForcePathStyle"] = "true",
            ["Aws__RoleName"] = aws.RoleName,
            ["Aws__RoleArn"] = aws.RoleArn,
            ["Aws__RoleId"] = aws.RoleId!,
            ["Aws__AccessKeyId"] = aws.AccessKeyId!,
            ["Aws__SecretAccessKey"] = aws.SecretAccessKey!,
            ["Audit__Signing__KeyFilePath"] = Path.Combine(_keyDirectory, "signing-key.pem"),
            ["Audit__Table__ConnectionString"] = LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING"),
            ["Planner__OutOfScopeProbe"] = LocalStack.Get("NHI_BYSTANDER_BUCKET"),
            // Concurrency slots of its own, so runs of other test classes in the same account never hold up these.
            ["Grants__RunSlotsTableName"] = _runSlotsTable,
            ["DynamoDb__Endpoint"] = Tables.Options.Endpoint!,
            ["DynamoDb__Region"] = Tables.Options.Region,
            ["DynamoDb__RunsTableName"] = Tables.Options.RunsTableName,
            ["DynamoDb__GrantsTableName"] = Tables.Options.GrantsTableName,
            ["DynamoDb__ParkedRecordsTableName"] = Tables.Options.ParkedRecordsTableName,
            ["DynamoDb__CreateTables"] = "true",
            ["Lambda__RunTimeoutSeconds"] = "120",
            ["Lambda__LeaseSeconds"] = "180",
        };
        LambdaTestHooks.ConfigureServices = services =>
        {
            services.AddSingleton<ILoggerProvider>(Logs);
            services.AddSingleton<IAmazonSecurityTokenService>(_ => new RecordingStsClient(aws, IssuedCredentials));
        };

        foreach ((string name, string value) in variables)
        {
            Environment.SetEnvironmentVariable(name, value);
        }

        try
        {
            await RunContainer.GetAsync();
            await SweeperContainer.GetAsync();
        }
        finally
        {
            foreach (string name in variables.Keys)
            {
                Environment.SetEnvironmentVariable(name, null);
            }
        }
    }

    /// <summary>Invokes the handler named by <paramref name="handler"/> with the payload and returns its output.</summary>
    public async Task<string> InvokeAsync(string handler, string payload)
    {
        (object instance, MethodInfo method) = Resolve(handler);
        using var input = new MemoryStream(Encoding.UTF8.GetBytes(payload));

        var invocation = (Task<Stream>)method.Invoke(instance, [input])!;
        await using Stream output = await invocation;
        using var reader = new StreamReader(output, Encoding.UTF8);
        string text = await reader.ReadToEndAsync();

        lock (Outputs)
        {
            Outputs.Add(text);
        }

        return text;
    }

    /// <summary>The SQS function's container, for reading run results from its Durable Task client.</summary>
    internal static Task<RunContainer> RunContainerAsync() => RunContainer.GetAsync();

    public async Task DisposeAsync()
    {
        await new global::Azure.Data.Tables.TableServiceClient(LocalStack.Get("NHI_AZURE_STORAGE_CONNECTION_STRING")).DeleteTableAsync(_runSlotsTable);
        await Tables.DisposeAsync();
        Aws.Dispose();
        Directory.Delete(_keyDirectory, recursive: true);
    }

    // Resolves "Assembly::Namespace.Type::Method" as the runtime does, once per handler string.
    private (object Instance, MethodInfo Method) Resolve(string handler)
    {
        lock (_handlers)
        {
            if (_handlers.TryGetValue(handler, out var resolved))
            {
                return resolved;
            }

            string[] parts = handler.Split("::");
            Assert.True(parts.Length == 3, $"Handler string '{handler}' must have the form Assembly::Namespace.Type::Method.");
            Assembly assembly = Assembly.Load(new AssemblyName(parts[0]));
            Type type = assembly.GetType(parts[1], throwOnError: true)!;
            MethodInfo method = type.GetMethod(parts[2], [typeof(Stream)])
                ?? throw new MissingMethodException(parts[1], parts[2]);
            Assert.Equal(typeof(Task<Stream>), method.ReturnType);

            resolved = (Activator.CreateInstance(type)!, method);
            _handlers[handler] = resolved;
            return resolved;
        }
    }
}
