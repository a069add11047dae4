using System.Globalization;
using System.Text.RegularExpressions;

namespace Nhi.Serverless.Workflows.Rpa;

/// <summary>Values of the "mode" parameter of the RPA workflow.</summary>
public static class RpaModes
{
    /// <summary>The default: the bot reads the batch with a brokered grant, then the product checks the batch.</summary>
    public const string Bot = "bot";

    /// <summary>Only the product's check of the batch, for unattended re-checks of a batch the bot already processed.</summary>
    public const string CheckOnly = "check-only";
}

/// <summary>The parameters of an RPA run, validated.</summary>
/// <param name="Batch">The batch name, such as "2026-11-B1".</param>
/// <param name="InvoiceIds">The invoice ids, each once, in the order given.</param>
/// <param name="Mode">One of <see cref="RpaModes"/>.</param>
public sealed partial record RpaRequest(string Batch, IReadOnlyList<int> InvoiceIds, string Mode)
{
    public const int MaxInvoices = 100;

    private const string BatchExpected = "a batch name of 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, such as \"2026-11-B1\"";

    private const string InvoicesExpected =
        "1 to 100 distinct invoice ids separated by commas, each of digits only and from 1 to 2147483647, such as \"1001,1002\"";

    /// <summary>Reads and checks the parameters "batch", "invoices" and the optional "mode".</summary>
    /// <exception cref="InvalidWorkflowRequestException">A parameter is missing or not acceptable.</exception>
    public static RpaRequest Parse(WorkflowRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);

        if (!request.Parameters.TryGetValue("batch", out string? batch) || !BatchName().IsMatch(batch))
        {
            throw new InvalidWorkflowRequestException("parameters.batch", BatchExpected);
        }

        if (!request.Parameters.TryGetValue("invoices", out string? invoices) || invoices.Trim().Length == 0)
        {
            throw new InvalidWorkflowRequestException("parameters.invoices", InvoicesExpected);
        }

        string mode = request.Parameters.GetValueOrDefault("mode") ?? RpaModes.Bot;
        if (mode is not (RpaModes.Bot or RpaModes.CheckOnly))
        {
            throw new InvalidWorkflowRequestException("parameters.mode", $"\"{RpaModes.Bot}\" (the default) or \"{RpaModes.CheckOnly}\"");
        }

        return new RpaRequest(batch, ParseInvoiceIds(invoices), mode);
    }

    private static int[] ParseInvoiceIds(string text)
    {
        string[] items = text.Split(',');
        if (items.Length > MaxInvoices)
        {
            throw new InvalidWorkflowRequestException("parameters.invoices", $"{InvoicesExpected}; the batch names {items.Length}");
        }

        var ids = new List<int>(items.Length);
        for (int position = 0; position < items.Length; position++)
        {
            string item = items[position].Trim();
            if (!Digits().IsMatch(item)
                || !int.TryParse(item, NumberStyles.None, CultureInfo.InvariantCulture, out int id)
                || id < 1)
            {
                throw new InvalidWorkflowRequestException("parameters.invoices", string.Create(CultureInfo.InvariantCulture, $"{InvoicesExpected}; item {position + 1} of the list is not"));
            }

            if (ids.Contains(id))
            {
                throw new InvalidWorkflowRequestException("parameters.invoices", $"{InvoicesExpected}; {id} appears more than once");
            }

            ids.Add(id);
        }

        return ids.ToArray();
    }

    // Echoes at most 40 characters of a rejected value, so a huge parameter does not flood the audit record.

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex BatchName();

    [GeneratedRegex("^[0-9]{1,10}$")]
    private static partial Regex Digits();
}
