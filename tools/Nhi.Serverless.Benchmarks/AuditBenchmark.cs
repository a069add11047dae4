using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Azure.Data.Tables;
using Nhi.Serverless.Audit;
using Nhi.Serverless.Azure.Audit;

namespace Nhi.Serverless.Benchmarks;

/// <summary>
/// Measures how fast records are appended to the audit table on Azurite, one at a time and in batches.
/// Then measures how fast an export of synthetic signed records with hourly checkpoints verifies
/// offline, through the same code as "nhi audit verify".
/// </summary>
/// <remarks>
/// Appends go to an Azurite that the benchmark starts empty (<see cref="LocalAzurite"/>) unless
/// <c>--shared-azurite</c> selects the one in NHI_AZURE_STORAGE_CONNECTION_STRING, whose stored data
/// slows it down.
/// </remarks>
public sealed class AuditBenchmark(
    int recordCount, int appendRuns, bool skipAppend, bool allSignatures, bool reuseExport, DirectoryInfo workDirectory, FileInfo output, AzuriteChoice azurite)
{
    private static readonly DateTimeOffset SyntheticStart = new(2031, 1, 1, 0, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Window = TimeSpan.FromHours(1);
    private static readonly TimeSpan RunSpacing = TimeSpan.FromMilliseconds(400);

    public static Command CreateCommand()
    {
        var records = new Option<int>("--records") { Description = "Synthetic records in the export to verify.", DefaultValueFactory = _ => 1_000_000 };
        var appendRuns = new Option<int>("--append-runs") { Description = "Runs (12 records each) appended per append mode.", DefaultValueFactory = _ => 200 };
        var skipAppend = new Option<bool>("--skip-append") { Description = "Measure verification only, without Azurite." };
        var allSignatures = new Option<bool>("--all-signatures") { Description = "Also time a verification that checks every record signature." };
        var reuseExport = new Option<bool>("--reuse-export") { Description = "Keep the export in --work-dir when a previous run wrote one with the same record count, instead of generating it again." };
        var workDirectory = new Option<DirectoryInfo>("--work-dir") { Description = "Folder for the generated export; replaced on each run.", DefaultValueFactory = _ => new DirectoryInfo(Path.Combine(Path.GetTempPath(), "nhi-audit-bench")) };
        var output = new Option<FileInfo>("--output") { Description = "Markdown results page to write.", DefaultValueFactory = _ => new FileInfo("docs/benchmarks/audit.md") };
        var verifyOnly = new Option<DirectoryInfo?>("--verify-only") { Description = "Internal: verify this export folder, print seconds and peak memory, and exit.", Hidden = true };
        var verifyAll = new Option<bool>("--verify-all-signatures") { Description = "Internal: with --verify-only, check every signature.", Hidden = true };
        var azuriteBinary = new Option<string?>("--azurite") { Description = $"The Azurite binary to start for the appends; by default {LocalAzurite.RelativeBinaryPath} below the current folder or a parent." };
        var sharedAzurite = new Option<bool>("--shared-azurite") { Description = "Append to the Azurite in NHI_AZURE_STORAGE_CONNECTION_STRING instead of starting an empty one." };
        var azuriteInMemory = new Option<bool>("--azurite-in-memory") { Description = "Start the empty Azurite with its data in memory only (--inMemoryPersistence)." };

        var command = new Command("audit", "Audit table append rate on Azurite and offline verification rate of a checkpointed export.")
        {
            records, appendRuns, skipAppend, allSignatures, reuseExport, workDirectory, output, verifyOnly, verifyAll, azuriteBinary, sharedAzurite, azuriteInMemory,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(verifyOnly) is { } folder)
            {
                return VerifyInThisProcess(folder, parse.GetValue(verifyAll));
            }

            var benchmark = new AuditBenchmark(
                parse.GetValue(records), parse.GetValue(appendRuns), parse.GetValue(skipAppend), parse.GetValue(allSignatures), parse.GetValue(reuseExport), parse.GetValue(workDirectory)!, parse.GetValue(output)!,
                new AzuriteChoice(parse.GetValue(sharedAzurite), parse.GetValue(azuriteBinary), parse.GetValue(azuriteInMemory)));
            return await benchmark.RunAsync(cancellationToken);
        });
        return command;
    }

    public async Task<int> RunAsync(CancellationToken cancellationToken)
    {
        string keyDirectory = Path.Combine(Path.GetTempPath(), "nhi-audit-bench-keys-" + Guid.NewGuid().ToString("N")[..8]);
        using LocalKeyFileSigner signer = LocalKeyFileSigner.LoadOrCreate(Path.Combine(keyDirectory, "signing.pem"));
        try
        {
            AppendMeasurement? appends = skipAppend ? null : await MeasureAppendsAsync(signer, cancellationToken);
            GenerationResult generation = GenerateExport(signer, cancellationToken);
            VerifyResult verify = VerifyInChildProcess(allSignatures: false);
            VerifyResult? verifyAll = allSignatures ? VerifyInChildProcess(allSignatures: true) : null;

            await WriteReportAsync(appends, generation, verify, verifyAll, cancellationToken);
            Console.WriteLine($"results written to {output.FullName}");
            return verify.Valid && (verifyAll?.Valid ?? true) ? 0 : 1;
        }
        finally
        {
            Directory.Delete(keyDirectory, recursive: true);
        }
    }

    /// <summary>Times each append mode on the Azurite that <see cref="AzuriteChoice"/> selects.</summary>
    private async Task<AppendMeasurement> MeasureAppendsAsync(IAuditSigner signer, CancellationToken cancellationToken)
    {
        if (azurite.Shared)
        {
            Console.WriteLine("azurite: using the shared Azurite in NHI_AZURE_STORAGE_CONNECTION_STRING");
            List<AppendResult> shared = await MeasureAppendsAsync(StackSettings.Get("NHI_AZURE_STORAGE_CONNECTION_STRING"), signer, cancellationToken);
            return new AppendMeasurement("the shared Azurite in `NHI_AZURE_STORAGE_CONNECTION_STRING`, with whatever data it had stored before", shared);
        }

        string binary = azurite.Binary ?? LocalAzurite.FindBinary()
            ?? throw new InvalidOperationException(
                $"No Azurite found at {LocalAzurite.RelativeBinaryPath} below {Environment.CurrentDirectory} or its parents. Run `infra/local/stack.sh install`, pass --azurite PATH, or pass --shared-azurite.");
        Console.WriteLine($"azurite: starting {binary} with an empty data folder");
        await using LocalAzurite local = await LocalAzurite.StartAsync(binary, cancellationToken, azurite.InMemory);
        Console.WriteLine($"azurite: {local.Version} ready, Table service on 127.0.0.1:{local.TablePort}");
        List<AppendResult> results = await MeasureAppendsAsync(local.ConnectionString, signer, cancellationToken);
        string persistence = azurite.InMemory
            ? "with its data in memory only (`--inMemoryPersistence`)"
            : "with an empty data folder (`--location` in a new temporary folder)";
        return new AppendMeasurement($"an Azurite {local.Version} process that the benchmark started {persistence} and stopped afterwards", results);
    }

    private async Task<List<AppendResult>> MeasureAppendsAsync(string connectionString, IAuditSigner signer, CancellationToken cancellationToken)
    {
        var tables = new TableServiceClient(connectionString);
        string suffix = Guid.NewGuid().ToString("N")[..10];
        var options = new TableAuditStoreOptions { RecordsTableName = "AuditRecBench" + suffix, IndexTableName = "AuditIdxBench" + suffix };
        var store = new TableAuditStore(tables, options);
        var counter = new EntityCounter(tables.GetTableClient(options.RecordsTableName), tables.GetTableClient(options.IndexTableName));
        int runNumber = 0;
        List<IReadOnlyList<SignedAuditRecord>> NextRuns(int count) =>
            Enumerable.Range(0, count).Select(_ => AuditSyntheticRuns.Seal(runNumber++, DateTimeOffset.UtcNow.AddMinutes(-5).AddMilliseconds(runNumber * 3), signer)).ToList();
        IEnumerable<IReadOnlyList<SignedAuditRecord>> OneRecordPerCall() =>
            NextRuns(appendRuns).SelectMany(run => run).Select(record => (IReadOnlyList<SignedAuditRecord>)[record]);
        IEnumerable<IReadOnlyList<SignedAuditRecord>> TenRunsPerCall() =>
            NextRuns(appendRuns).Chunk(10).Select(chunk => (IReadOnlyList<SignedAuditRecord>)chunk.SelectMany(run => run).ToList());

        try
        {
            Console.WriteLine("append: warming up");
            await store.AppendAsync(NextRuns(1)[0], cancellationToken);
            await counter.CountNewAsync(cancellationToken);

            return
            [
                await TimeAppendsAsync("one record per call", 1, OneRecordPerCall(), store, counter, cancellationToken),
                await TimeAppendsAsync("one record per call", 8, OneRecordPerCall(), store, counter, cancellationToken),
                await TimeAppendsAsync("one run (12 records) per call", 1, NextRuns(appendRuns), store, counter, cancellationToken),
                await TimeAppendsAsync("one run (12 records) per call", 8, NextRuns(appendRuns), store, counter, cancellationToken),
                await TimeAppendsAsync("one run (12 records) per call", 16, NextRuns(appendRuns), store, counter, cancellationToken),
                await TimeAppendsAsync("10 runs (120 records) per call", 4, TenRunsPerCall(), store, counter, cancellationToken),
            ];
        }
        finally
        {
            await tables.DeleteTableAsync(options.RecordsTableName, cancellationToken);
            await tables.DeleteTableAsync(options.IndexTableName, cancellationToken);
        }
    }

    private static async Task<AppendResult> TimeAppendsAsync(
        string mode, int inFlight, IEnumerable<IReadOnlyList<SignedAuditRecord>> calls, TableAuditStore store, EntityCounter counter, CancellationToken cancellationToken)
    {
        List<IReadOnlyList<SignedAuditRecord>> batches = calls.ToList();
        int records = batches.Sum(batch => batch.Count);
        Console.WriteLine($"append: {mode}, {inFlight} in flight: {batches.Count} calls, {records} records");
        double loadBefore = LoadAverage();
        int completed = 0;
        var stopwatch = Stopwatch.StartNew();
        using (var progress = new ProgressPrinter(() => $"append: {mode}, {inFlight} in flight: {Volatile.Read(ref completed)} of {batches.Count} calls after {stopwatch.Elapsed.TotalSeconds:F0} s"))
        {
            await Parallel.ForEachAsync(batches, new ParallelOptions { MaxDegreeOfParallelism = inFlight, CancellationToken = cancellationToken },
                async (batch, token) =>
                {
                    await store.AppendAsync(batch, token);
                    Interlocked.Increment(ref completed);
                });
            stopwatch.Stop();
        }

        double loadAverage = Math.Max(loadBefore, LoadAverage());
        long entities = await counter.CountNewAsync(cancellationToken);
        var result = new AppendResult(mode, inFlight, records, batches.Count, stopwatch.Elapsed, loadAverage, (double)entities / records);
        Console.WriteLine($"append: {mode}, {inFlight} in flight: {records} records in {result.Elapsed.TotalSeconds:F1} s = {result.RecordsPerSecond:F0} records/s, {result.EntitiesPerRecord:F2} entities per record");
        return result;
    }

    /// <summary>Writes the export: runs 400 ms apart, none crossing a window boundary, sealed window by window with a checkpoint each, and one empty window at the end.</summary>
    private GenerationResult GenerateExport(LocalKeyFileSigner signer, CancellationToken cancellationToken)
    {
        if (reuseExport && ReadReusableExport() is { } reused)
        {
            Console.WriteLine($"generate: reusing the export of {reused.Records} records in {workDirectory.FullName}");
            return reused;
        }

        if (workDirectory.Exists)
        {
            workDirectory.Delete(recursive: true);
        }

        workDirectory.Create();
        string directory = workDirectory.FullName;
        var utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);
        var jwks = Jwks.FromSigners(signer);
        var stopwatch = Stopwatch.StartNew();
        int runsNeeded = (recordCount + AuditSyntheticRuns.RecordsPerRun - 1) / AuditSyntheticRuns.RecordsPerRun;
        int runsPerWindow = (int)((Window - TimeSpan.FromSeconds(2)) / RunSpacing);
        long written = 0;
        int runNumber = 0;
        var checkpoints = new List<SignedAuditCheckpoint>();
        SignedAuditCheckpoint? previous = null;
        AuditCheckpointWindow window = AuditCheckpointWindow.Containing(SyntheticStart, Window);

        using (var records = new StreamWriter(Path.Combine(directory, AuditExportFolder.RecordsFile), append: false, utf8, bufferSize: 1 << 20) { NewLine = "\n" })
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int runs = Math.Min(runsPerWindow, runsNeeded - runNumber);
                var sealedRuns = new IReadOnlyList<SignedAuditRecord>[runs];
                int firstRun = runNumber;
                AuditCheckpointWindow current = window;
                Parallel.For(0, runs, i => sealedRuns[i] = AuditSyntheticRuns.Seal(firstRun + i, current.Start + (RunSpacing * i), signer));
                runNumber += runs;

                List<SignedAuditRecord> inWindow = sealedRuns.SelectMany(run => run).ToList();
                inWindow.Sort((left, right) => string.CompareOrdinal(left.Id, right.Id));
                if (written + inWindow.Count > recordCount)
                {
                    inWindow.RemoveRange((int)(recordCount - written), (int)(written + inWindow.Count - recordCount));
                }

                foreach (SignedAuditRecord record in inWindow)
                {
                    records.WriteLine(record.Json);
                }

                written += inWindow.Count;
                previous = AuditCheckpoints.Seal(previous, current, inWindow, jwks, signer, current.End);
                checkpoints.Add(previous);
                Console.WriteLine($"generate: window {current} with {inWindow.Count} records ({written} of {recordCount}, {stopwatch.Elapsed.TotalSeconds:F0} s)");
                window = AuditCheckpointWindow.StartingAt(current.End, Window);
                if (written >= recordCount)
                {
                    break;
                }
            }
        }

        // An empty window after the records, as the writer seals when nothing was appended.
        checkpoints.Add(AuditCheckpoints.Seal(previous, window, [], jwks, signer, window.End));
        File.WriteAllLines(Path.Combine(directory, AuditExportFolder.CheckpointsFile), checkpoints.Select(checkpoint => checkpoint.Json), utf8);
        var manifest = new AuditExportManifest(
            SyntheticStart, window.End, checkpoints[0].Window.Start, window.End, written, checkpoints.Count, window.End, DateTimeOffset.UtcNow, [signer.KeyId]);
        AuditExportFolder.WriteManifestAsync(directory, manifest, jwks, signer, cancellationToken).GetAwaiter().GetResult();

        long bytes = new FileInfo(Path.Combine(directory, AuditExportFolder.RecordsFile)).Length;
        Console.WriteLine($"generate: {written} records, {checkpoints.Count} checkpoints, {bytes / 1048576.0:F0} MiB in {stopwatch.Elapsed.TotalSeconds:F0} s");
        return new GenerationResult(written, checkpoints.Count, bytes, stopwatch.Elapsed);
    }

    /// <summary>Returns the export a previous run left in the work folder when it has the requested record count, or null.</summary>
    private GenerationResult? ReadReusableExport()
    {
        string records = Path.Combine(workDirectory.FullName, AuditExportFolder.RecordsFile);
        if (!File.Exists(Path.Combine(workDirectory.FullName, AuditExportFolder.ManifestFile)) || !File.Exists(records))
        {
            return null;
        }

        AuditExportManifest manifest = AuditExportFolder.ReadManifest(workDirectory.FullName);
        return manifest.RecordCount == recordCount
            ? new GenerationResult(manifest.RecordCount, manifest.CheckpointCount, new FileInfo(records).Length, null)
            : null;
    }

    /// <summary>Runs the verification in a fresh process, so its time and peak memory are its own.</summary>
    private VerifyResult VerifyInChildProcess(bool allSignatures)
    {
        string self = typeof(AuditBenchmark).Assembly.Location;
        var start = new ProcessStartInfo("dotnet", ["exec", self, "audit", "--verify-only", workDirectory.FullName, .. allSignatures ? new[] { "--verify-all-signatures" } : []])
        {
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        using Process child = Process.Start(start)!;
        string text = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        Console.Write(text);

        Dictionary<string, string> values = text.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split('=', 2))
            .Where(parts => parts.Length == 2)
            .ToDictionary(parts => parts[0].Trim(), parts => parts[1].Trim());
        return new VerifyResult(
            child.ExitCode == 0,
            allSignatures,
            TimeSpan.FromSeconds(double.Parse(values["seconds"], CultureInfo.InvariantCulture)),
            long.Parse(values["records"], CultureInfo.InvariantCulture),
            long.Parse(values["signatures"], CultureInfo.InvariantCulture),
            long.Parse(values["peak_kib"], CultureInfo.InvariantCulture),
            values.GetValueOrDefault("problems", "0"),
            double.Parse(values["load"], CultureInfo.InvariantCulture));
    }

    private static int VerifyInThisProcess(DirectoryInfo folder, bool allSignatures)
    {
        double loadBefore = LoadAverage();
        var stopwatch = Stopwatch.StartNew();
        AuditExportReport report = AuditExportFolder.Verify(folder.FullName, verifyAllSignatures: allSignatures);
        stopwatch.Stop();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"seconds={stopwatch.Elapsed.TotalSeconds:F2}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"records={report.Trail.RecordCount}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"signatures={report.Trail.SignaturesVerified}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"problems={report.Trail.ProblemCount + report.FolderProblems.Count}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak_kib={PeakResidentKiB()}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"load={Math.Max(loadBefore, LoadAverage()):F1}"));
        return report.Valid ? 0 : 1;
    }

    /// <summary>Returns the 1-minute load average from /proc/loadavg, or -1 where there is none.</summary>
    private static double LoadAverage() =>
        File.Exists("/proc/loadavg") ? double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture) : -1;

    private static long PeakResidentKiB()
    {
        string? line = File.Exists("/proc/self/status") ? File.ReadLines("/proc/self/status").FirstOrDefault(text => text.StartsWith("VmHWM:", StringComparison.Ordinal)) : null;
        return line is null ? Process.GetCurrentProcess().PeakWorkingSet64 / 1024 : long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
    }

    private async Task WriteReportAsync(AppendMeasurement? appends, GenerationResult generation, VerifyResult verify, VerifyResult? verifyAll, CancellationToken cancellationToken)
    {
        var page = new StringBuilder();
        page.AppendLine("# Audit trail benchmark");
        page.AppendLine();
        page.AppendLine(CultureInfo.InvariantCulture, $"Measured {DateTimeOffset.UtcNow:yyyy-MM-dd} on {Machine()}.");
        page.AppendLine();
        page.AppendLine(CultureInfo.InvariantCulture, $"Command: `tools/Nhi.Serverless.Benchmarks/run.sh audit{Arguments()}` (no local stack or host is needed).");
        page.AppendLine("The same numbers come from `dotnet <benchmarks dll> audit --output docs/benchmarks/audit.md` run from the repository root.");
        page.AppendLine();

        page.AppendLine("## Appending to the audit table (Azurite)");
        page.AppendLine();
        WriteAppendSection(page, appends);
        page.AppendLine();
        page.AppendLine("## Verifying an export offline");
        page.AppendLine();
        page.AppendLine(CultureInfo.InvariantCulture, $"The export has {generation.Records:N0} synthetic signed records ({generation.Bytes / 1048576.0:F0} MiB of JSON Lines) in one-hour windows with {generation.Checkpoints} checkpoints, the last for an empty window. {(generation.Elapsed is { } generated ? $"Generating and sealing it took {generated.TotalSeconds:F0} s" : "It was generated by an earlier run (`--reuse-export`)")} and is not part of the measurement. Verification runs in a separate process through `AuditExportFolder.Verify`, the code behind `nhi audit verify`, on {Environment.ProcessorCount} threads. Goal: under 10 s for 1,000,000 records.");
        page.AppendLine();
        page.AppendLine("| Mode | Records | Signatures checked | Seconds | Records/s | Peak memory | Load average | Result |");
        page.AppendLine("|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (VerifyResult result in new[] { verify, verifyAll }.OfType<VerifyResult>())
        {
            string mode = result.AllSignatures ? "`--all-signatures`" : "default (records through checkpoints)";
            page.AppendLine(CultureInfo.InvariantCulture,
                $"| {mode} | {result.Records:N0} | {result.Signatures:N0} | {result.Elapsed.TotalSeconds:F1} | {result.Records / result.Elapsed.TotalSeconds:N0} | {result.PeakKiB / 1024.0:F0} MiB | {result.LoadAverage:F1} | {(result.Valid ? "valid" : $"{result.Problems} problems")} |");
        }

        page.AppendLine();
        page.AppendLine(verify.Elapsed < TimeSpan.FromSeconds(10) && verify.Records >= 1_000_000
            ? $"The goal is met: {verify.Records:N0} records verified in {verify.Elapsed.TotalSeconds:F1} s."
            : $"The goal is not met in this run: {verify.Records:N0} records took {verify.Elapsed.TotalSeconds:F1} s.");
        page.AppendLine();
        page.AppendLine("The load average is the 1-minute figure from /proc/loadavg, the higher of its values before and after each measurement. Other processes on the machine count in it, so a value above the core count means the numbers above are slower than an idle machine would give.");
        page.AppendLine();
        page.AppendLine("By default a record in a checkpointed window is verified by recomputing its hash and the window's RFC 6962 Merkle root, which the checkpoint's ES256 signature covers. One ES256 verification took about 70 microseconds on this machine when idle, so checking every record signature (`--all-signatures`) is the slower mode.");

        output.Directory?.Create();
        await File.WriteAllTextAsync(output.FullName, page.ToString(), cancellationToken);
    }

    private static void WriteAppendSection(StringBuilder page, AppendMeasurement? appends)
    {
        if (appends is null)
        {
            page.AppendLine("Not measured in this run (`--skip-append`).");
            return;
        }

        page.AppendLine(CultureInfo.InvariantCulture, $"The appends went to {appends.Azurite}.");
        page.AppendLine("Each record is one entity in the records table. Each call adds one index entity per run, resource, finding and grant of its records, listing their ids, so a run of 12 records appended in one call costs 4 index entities. Records go in with conditional inserts in entity group transactions of up to 100 entities per partition, and a lone index entity goes in with a plain insert. The entities per record column counts what the tables gained in each mode. Records are run records of about 1.7 KB built by `AuditRecordFactory` and signed ES256. Goal: at least 2,000 records/s.");
        page.AppendLine();
        page.AppendLine("| Mode | Calls in flight | Records | Calls | Seconds | Records/s | Entities per record | Load average |");
        page.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|");
        foreach (AppendResult append in appends.Results)
        {
            page.AppendLine(CultureInfo.InvariantCulture, $"| {append.Mode} | {append.InFlight} | {append.Records} | {append.Calls} | {append.Elapsed.TotalSeconds:F1} | {append.RecordsPerSecond:F0} | {append.EntitiesPerRecord:F2} | {append.LoadAverage:F1} |");
        }

        AppendResult best = appends.Results.MaxBy(append => append.RecordsPerSecond)!;
        page.AppendLine();
        page.AppendLine(best.RecordsPerSecond >= 2000
            ? $"The goal is met by {best.Mode} with {best.InFlight} in flight ({best.RecordsPerSecond:F0} records/s)."
            : $"The goal is not met: the fastest mode, {best.Mode} with {best.InFlight} in flight, reached {best.RecordsPerSecond:F0} records/s. Azurite is one Node.js process, and its cost is mostly per entity.");
    }

    /// <summary>The options this run was given, as they would be written after "run.sh audit".</summary>
    private string Arguments()
    {
        var arguments = new StringBuilder();
        if (recordCount != 1_000_000)
        {
            arguments.Append(CultureInfo.InvariantCulture, $" --records {recordCount}");
        }

        if (appendRuns != 200)
        {
            arguments.Append(CultureInfo.InvariantCulture, $" --append-runs {appendRuns}");
        }

        arguments.Append(skipAppend ? " --skip-append" : "").Append(allSignatures ? " --all-signatures" : "").Append(reuseExport ? " --reuse-export" : "")
            .Append(azurite.Shared ? " --shared-azurite" : "");
        return arguments.ToString();
    }

    private static string Machine()
    {
        string cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU"
            : "unknown CPU";
        string memory = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").FirstOrDefault(line => line.StartsWith("MemTotal:", StringComparison.Ordinal)) is { } total
                ? $"{long.Parse(total.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1048576.0:F0} GiB RAM"
                : "unknown RAM"
            : "unknown RAM";
        return $"{Environment.ProcessorCount} cores ({cpu}), {memory}, {Environment.OSVersion}, .NET {Environment.Version}";
    }

    /// <summary>Counts the entities that the records and index tables gained since the last count.</summary>
    private sealed class EntityCounter(TableClient records, TableClient index)
    {
        private long _counted;

        public async Task<long> CountNewAsync(CancellationToken cancellationToken)
        {
            long total = await CountAsync(records, cancellationToken) + await CountAsync(index, cancellationToken);
            long added = total - _counted;
            _counted = total;
            return added;
        }

        private static async Task<long> CountAsync(TableClient table, CancellationToken cancellationToken)
        {
            long count = 0;
            await foreach (TableEntity _ in table.QueryAsync<TableEntity>(filter: (string?)null, maxPerPage: 1000, select: ["PartitionKey"], cancellationToken: cancellationToken))
            {
                count++;
            }

            return count;
        }
    }

    /// <summary>The append modes' results and a description of the Azurite they ran on.</summary>
    private sealed record AppendMeasurement(string Azurite, List<AppendResult> Results);

    private sealed record AppendResult(string Mode, int InFlight, int Records, int Calls, TimeSpan Elapsed, double LoadAverage, double EntitiesPerRecord)
    {
        public double RecordsPerSecond => Records / Elapsed.TotalSeconds;
    }

    /// <summary>The export used; <see cref="Elapsed"/> is null when a previous run's export was reused.</summary>
    private sealed record GenerationResult(long Records, int Checkpoints, long Bytes, TimeSpan? Elapsed);

    private sealed record VerifyResult(bool Valid, bool AllSignatures, TimeSpan Elapsed, long Records, long Signatures, long PeakKiB, string Problems, double LoadAverage);
}

/// <summary>Which Azurite the appends use: the shared one in NHI_AZURE_STORAGE_CONNECTION_STRING, or one the benchmark starts from <paramref name="Binary"/> (found below the current folder when null).</summary>
public sealed record AzuriteChoice(bool Shared, string? Binary, bool InMemory);
