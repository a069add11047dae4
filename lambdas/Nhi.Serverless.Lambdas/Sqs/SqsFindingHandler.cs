using Microsoft.Extensions.DependencyInjection;
using Nhi.Serverless.Lambdas.Container;

namespace Nhi.Serverless.Lambdas.Sqs;

/// <summary>
/// The SQS-triggered Lambda function. Handler string:
/// <c>Nhi.Serverless.Lambdas::Nhi.Serverless.Lambdas.Sqs.SqsFindingHandler::HandleAsync</c>.
/// </summary>
/// <remarks>
/// Input is the SQS event; output is the partial batch response, which the event source mapping honours only
/// with FunctionResponseTypes=ReportBatchItemFailures. A payload that is not an SQS event throws, so Lambda
/// retries the whole batch.
/// </remarks>
public sealed class SqsFindingHandler
{
    public async Task<Stream> HandleAsync(Stream input)
    {
        RunContainer container = await RunContainer.GetAsync();
        var options = container.Services.GetRequiredService<LambdaOptions>();
        DateTimeOffset deadline = container.Services.GetRequiredService<TimeProvider>().GetUtcNow() + options.InvocationTimeout;

        SqsEvent batch = SqsEvent.Read(input);
        IReadOnlyList<string> failed = await container.Services.GetRequiredService<SqsBatchProcessor>()
            .ProcessAsync(batch, deadline, CancellationToken.None);

        return BatchResponse.Write(failed);
    }
}
