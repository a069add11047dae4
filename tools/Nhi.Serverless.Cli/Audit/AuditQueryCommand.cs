using System.CommandLine;
using Azure;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Cli.Audit;

/// <summary>
/// The "audit query" command: prints the records of a run, resource, finding, grant or time range as
/// JSON Lines on standard output, one page at a time. The token for the next page goes to standard error.
/// </summary>
public static class AuditQueryCommand
{
    public static Command Create()
    {
        var tables = new AuditTableOptions();
        var run = new Option<string?>("--run") { Description = "Records of this run id, in sequence order." };
        var resource = new Option<string?>("--resource") { Description = "Records about this resource, such as an ARN." };
        var finding = new Option<string?>("--finding") { Description = "Records about this finding id." };
        var grant = new Option<string?>("--grant") { Description = "Records of this grant id." };
        var from = new Option<string?>("--from") { Description = "Start of a time range (ISO 8601, UTC when no offset), inclusive." };
        var to = new Option<string?>("--to") { Description = "End of a time range (ISO 8601), exclusive." };
        var limit = new Option<int>("--limit") { Description = "Records per page, 1 to 1000.", DefaultValueFactory = _ => TableAuditStore.MaxPageSize };
        var continuation = new Option<string?>("--continuation") { Description = "The token printed after the previous page, to read the next one." };
        var all = new Option<bool>("--all") { Description = "Follow continuation tokens and print every page." };

        var command = new Command("query", "Print audit records as JSON Lines: give one of --run, --resource, --finding, --grant, or --from with --to.")
        {
            run, resource, finding, grant, from, to, limit, continuation, all,
        };
        tables.AddTo(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            TextWriter output = parse.InvocationConfiguration.Output;
            TextWriter error = parse.InvocationConfiguration.Error;
            (string Name, string? Value)[] selectors =
            [
                ("--run", parse.GetValue(run)), ("--resource", parse.GetValue(resource)),
                ("--finding", parse.GetValue(finding)), ("--grant", parse.GetValue(grant)),
            ];
            string? fromText = parse.GetValue(from);
            string? toText = parse.GetValue(to);
            int selectorCount = selectors.Count(selector => selector.Value is not null) + (fromText is not null || toText is not null ? 1 : 0);
            if (selectorCount != 1 || (fromText is null) != (toText is null))
            {
                await error.WriteLineAsync("error: give exactly one of --run, --resource, --finding and --grant, or --from together with --to.");
                return 2;
            }

            int pageSize = parse.GetValue(limit);
            if (pageSize is < 1 or > TableAuditStore.MaxPageSize)
            {
                await error.WriteLineAsync($"error: --limit is {pageSize}; expected 1 to {TableAuditStore.MaxPageSize}.");
                return 2;
            }

            try
            {
                (TableAuditStore store, _) = tables.Open(parse);
                await AuditTableOptions.RequireTablesAsync(store, needIndex: selectors.Any(item => item.Value is not null), cancellationToken);
                DateTimeOffset? start = AuditTableOptions.ParseTime(fromText);
                DateTimeOffset? end = AuditTableOptions.ParseTime(toText);
                (string Name, string? Value) selector = selectors.FirstOrDefault(item => item.Value is not null);
                string? token = parse.GetValue(continuation);
                do
                {
                    AuditRecordPage page = selector.Name switch
                    {
                        "--run" => await store.QueryByRunAsync(selector.Value!, token, pageSize, cancellationToken),
                        "--resource" => await store.QueryByResourceAsync(selector.Value!, token, pageSize, cancellationToken),
                        "--finding" => await store.QueryByFindingAsync(selector.Value!, token, pageSize, cancellationToken),
                        "--grant" => await store.QueryByGrantAsync(selector.Value!, token, pageSize, cancellationToken),
                        _ => await store.QueryByTimeAsync(start!.Value, end!.Value, token, pageSize, cancellationToken),
                    };
                    foreach (SignedAuditRecord record in page.Records)
                    {
                        await output.WriteLineAsync(record.Json);
                    }

                    token = page.ContinuationToken;
                }
                while (parse.GetValue(all) && token is not null);

                if (token is not null)
                {
                    await error.WriteLineAsync($"continuation: {token}");
                }

                return 0;
            }
            catch (Exception ex) when (ex is AuditConfigurationException or FormatException or ArgumentException or RequestFailedException)
            {
                await error.WriteLineAsync($"error: {ex.Message}");
                return 2;
            }
        });
        return command;
    }
}
