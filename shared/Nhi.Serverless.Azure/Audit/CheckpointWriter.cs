using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Nhi.Serverless.Audit;

namespace Nhi.Serverless.Azure.Audit;

/// <summary>
/// Seals a checkpoint for every window that has ended, in order, continuing the chain from the latest
/// stored checkpoint. Safe to run from several hosts at once and to call again after a crash: each
/// window is written with a conditional insert, and a writer that loses the race continues from the
/// stored checkpoint.
/// </summary>
/// <remarks>
/// The local host runs it through <see cref="AuditCheckpointService"/>; a Functions app can call
/// <see cref="CloseEndedWindowsAsync(CancellationToken)"/> from a timer trigger.
/// </remarks>
public sealed partial class CheckpointWriter
{
    private readonly TableAuditStore _records;
    private readonly AuditCheckpointTable _checkpoints;
    private readonly IAuditSigner _signer;
    private readonly Jwks _trustedKeys;
    private readonly AuditCheckpointOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _timeProvider;
    private readonly SemaphoreSlim _passLock = new(1, 1);
    private bool _keyPublished;

    /// <summary>Creates the writer.</summary>
    /// <param name="records">The audit records.</param>
    /// <param name="checkpoints">The checkpoint table.</param>
    /// <param name="signer">Signs the checkpoints.</param>
    /// <param name="trustedKeys">The keys whose record signatures count as valid; records that fail are listed as rejected.</param>
    /// <param name="options">The window settings.</param>
    /// <param name="logger">The logger.</param>
    /// <param name="timeProvider">The clock; the system clock when null.</param>
    /// <exception cref="AuditConfigurationException">The options are invalid.</exception>
    public CheckpointWriter(
        TableAuditStore records,
        AuditCheckpointTable checkpoints,
        IAuditSigner signer,
        Jwks trustedKeys,
        AuditCheckpointOptions options,
        ILogger<CheckpointWriter>? logger = null,
        TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(records);
        ArgumentNullException.ThrowIfNull(checkpoints);
        ArgumentNullException.ThrowIfNull(signer);
        ArgumentNullException.ThrowIfNull(trustedKeys);
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        _records = records;
        _checkpoints = checkpoints;
        _signer = signer;
        _trustedKeys = trustedKeys;
        _options = options;
        _logger = logger ?? NullLogger<CheckpointWriter>.Instance;
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Seals every window that ended at least the close delay before now.</summary>
    /// <returns>The checkpoints this call stored, in window order.</returns>
    public Task<IReadOnlyList<SignedAuditCheckpoint>> CloseEndedWindowsAsync(CancellationToken cancellationToken) =>
        CloseEndedWindowsAsync(_timeProvider.GetUtcNow(), cancellationToken);

    /// <summary>Seals every window that ended at least the close delay before <paramref name="now"/>, at most <see cref="AuditCheckpointOptions.MaxWindowsPerPass"/> of them.</summary>
    /// <returns>The checkpoints this call stored, in window order.</returns>
    public async Task<IReadOnlyList<SignedAuditCheckpoint>> CloseEndedWindowsAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await _passLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await PublishKeyOnceAsync(cancellationToken).ConfigureAwait(false);
            SignedAuditCheckpoint? latest = await _checkpoints.GetLatestAsync(cancellationToken).ConfigureAwait(false);
            AuditCheckpointWindow window = latest is null
                ? await FirstWindowAsync(now, cancellationToken).ConfigureAwait(false)
                : AuditCheckpointWindow.StartingAt(latest.Window.End, _options.Window);

            var written = new List<SignedAuditCheckpoint>();
            while (written.Count < _options.MaxWindowsPerPass && window.End + _options.CloseDelay <= now)
            {
                latest = await SealWindowAsync(latest, window, now, written, cancellationToken).ConfigureAwait(false);
                window = AuditCheckpointWindow.StartingAt(latest.Window.End, _options.Window);
            }

            if (latest is not null && written.Count > 0)
            {
                await _checkpoints.SetLatestAsync(latest, cancellationToken).ConfigureAwait(false);
            }

            return written;
        }
        finally
        {
            _passLock.Release();
        }
    }

    private async Task<SignedAuditCheckpoint> SealWindowAsync(
        SignedAuditCheckpoint? previous,
        AuditCheckpointWindow window,
        DateTimeOffset now,
        List<SignedAuditCheckpoint> written,
        CancellationToken cancellationToken)
    {
        IReadOnlyList<SignedAuditRecord> records = await _records.ReadWindowAsync(window, cancellationToken).ConfigureAwait(false);
        SignedAuditCheckpoint checkpoint = await AuditCheckpoints.SealAsync(previous, window, records, _trustedKeys, _signer, now, cancellationToken).ConfigureAwait(false);
        (SignedAuditCheckpoint stored, bool inserted) = await _checkpoints.InsertAsync(checkpoint, cancellationToken).ConfigureAwait(false);
        if (!inserted)
        {
            LogSealedElsewhere(_logger, window.ToString(), stored.Id, stored.KeyId);
            return stored;
        }

        written.Add(stored);
        if (stored.RejectedRecordCount > 0)
        {
            LogRejected(_logger, stored.RejectedRecordCount, window.ToString(), stored.Id, string.Join(", ", stored.RejectedRecords.Take(5).Select(item => item.RecordId)));
        }

        LogSealed(_logger, window.ToString(), stored.RecordCount, stored.Id, stored.MerkleRoot);
        return stored;
    }

    private async Task<AuditCheckpointWindow> FirstWindowAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (_options.FirstWindowStart is { } configured)
        {
            return AuditCheckpointWindow.Containing(configured, _options.Window);
        }

        string? firstRecordId = await _records.GetFirstRecordIdAsync(cancellationToken).ConfigureAwait(false);
        DateTimeOffset start = firstRecordId is null ? now : AuditRecordIds.GetTime(firstRecordId);
        AuditCheckpointWindow window = AuditCheckpointWindow.Containing(start, _options.Window);
        LogStartingChain(_logger, window.ToString(), firstRecordId ?? "(none)");
        return window;
    }

    private async Task PublishKeyOnceAsync(CancellationToken cancellationToken)
    {
        if (_keyPublished)
        {
            return;
        }

        // The trusted keys include retired ones, which exports need for the records signed before a rotation.
        await _checkpoints.PublishKeyAsync(_signer.PublicJwk, cancellationToken).ConfigureAwait(false);
        foreach (JsonWebKey key in _trustedKeys.Keys.Where(key => key.Kid != _signer.KeyId))
        {
            await _checkpoints.PublishKeyAsync(key, cancellationToken).ConfigureAwait(false);
        }

        _keyPublished = true;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Sealed checkpoint {CheckpointId} of window {Window} over {RecordCount} audit records, Merkle root {MerkleRoot}")]
    private static partial void LogSealed(ILogger logger, string window, long recordCount, string checkpointId, string merkleRoot);

    [LoggerMessage(Level = LogLevel.Information, Message = "Window {Window} was sealed by another writer as checkpoint {CheckpointId} with key {KeyId}; continuing from it")]
    private static partial void LogSealedElsewhere(ILogger logger, string window, string checkpointId, string keyId);

    [LoggerMessage(Level = LogLevel.Error, Message = "{RejectedCount} audit records in window {Window} failed verification and are listed as rejected in checkpoint {CheckpointId}, such as {RecordIds}")]
    private static partial void LogRejected(ILogger logger, long rejectedCount, string window, string checkpointId, string recordIds);

    [LoggerMessage(Level = LogLevel.Information, Message = "No checkpoint is stored yet; starting the chain at window {Window} (first record {FirstRecordId})")]
    private static partial void LogStartingChain(ILogger logger, string window, string firstRecordId);
}
