namespace Nhi.Serverless.Lambdas.Container;

/// <summary>
/// A value built once per Lambda container (execution environment) and reused by every later invocation.
/// A build that failed is attempted again by the next invocation instead of failing every one after it.
/// </summary>
internal sealed class OncePerContainer<T>(Func<Task<T>> build)
{
    private readonly object _gate = new();
    private Task<T>? _value;

    public Task<T> GetAsync()
    {
        lock (_gate)
        {
            if (_value is null || _value.IsFaulted || _value.IsCanceled)
            {
                _value = build();
            }

            return _value;
        }
    }
}
