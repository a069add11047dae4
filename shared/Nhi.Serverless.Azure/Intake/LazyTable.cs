using Azure.Data.Tables;

namespace Nhi.Serverless.Azure.Intake;

/// <summary>A table client that creates its table on first use, once per process.</summary>
internal sealed class LazyTable(TableClient table)
{
    private readonly SemaphoreSlim _createLock = new(1, 1);
    private volatile bool _exists;

    public async Task<TableClient> GetAsync(CancellationToken cancellationToken)
    {
        if (_exists)
        {
            return table;
        }

        await _createLock.WaitAsync(cancellationToken);
        try
        {
            await table.CreateIfNotExistsAsync(cancellationToken);
            _exists = true;
            return table;
        }
        finally
        {
            _createLock.Release();
        }
    }
}
