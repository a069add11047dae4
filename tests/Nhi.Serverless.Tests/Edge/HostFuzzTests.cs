using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Nhi.Serverless.Playbooks;
using Nhi.Serverless.Tests.Findings;
using Nhi.Serverless.Tests.Infrastructure;

namespace Nhi.Serverless.Tests.Edge;

/// <summary>Seeded, damaged bodies for every route at the real host: each answer comes within the deadline and is
/// 2xx or 4xx, never 5xx.</summary>
/// <remarks>The host runs without playbooks, so a damaged body that still parses starts a run that the planner skips,
/// and no bucket is touched.</remarks>
public sealed class HostFuzzTests : IAsyncLifetime
{
    private const int BodiesPerTarget = 40;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    private NhiTestHost _host = null!;

    public static TheoryData<string, string, string, int> Targets => new()
    {
        { "/api/alerts/securityhub", SampleFiles.AsffMultiple, "application/json", 21 },
        { "/api/alerts/ocsf", SampleFiles.ProwlerArray, "application/json", 22 },
        { "/api/alerts/ocsf", SampleFiles.ProwlerJsonLines, "application/x-ndjson", 23 },
        { "/api/alerts/wiz", SampleFiles.WizIssue, "application/json", 24 },
        { "/api/alerts/prismacloud", SampleFiles.PrismaAlerts, "application/json", 25 },
        { "/api/alerts/crowdstrike", SampleFiles.CrowdStrikeIom, "application/json", 26 },
        { "/api/alerts/defender", SampleFiles.DefenderRecommendations, "application/json", 27 },
        { "/api/eventgrid/securityhub", "eventgrid/eventgrid-securityhub.json", "application/json", 28 },
        { "/api/eventgrid/wiz", "eventgrid/cloudevents-wiz-batch.json", "application/cloudevents-batch+json", 29 },
        { "/api/soar/runs", SampleFiles.RunRequest, "application/json", 30 },
        { "/api/logicapps/subscriptions", "logicapps/subscribe.json", "application/json", 31 },
    };

    public async Task InitializeAsync() => _host = await NhiTestHost.StartAsync(configureServices: services => services.RemoveAll<Playbook>());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Theory]
    [MemberData(nameof(Targets))]
    public async Task FuzzedBodiesNeverGet5xx(string path, string sample, string mediaType, int seed)
    {
        string text = SampleFiles.Read(sample);
        var random = new Random(seed);

        for (int attempt = 0; attempt < BodiesPerTarget; attempt++)
        {
            string body = mediaType == "application/x-ndjson" ? MutateLine(text, random) : SampleMutator.Mutate(text, random);
            using var content = new StringContent(body, Encoding.UTF8);
            content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
            using var deadline = new CancellationTokenSource(Deadline);
            var stopwatch = Stopwatch.StartNew();

            using HttpResponseMessage response = await _host.Http.PostAsync(path, content, deadline.Token);

            int status = (int)response.StatusCode;
            Assert.True(status is >= 200 and < 500, $"Body {attempt} to {path} got {status} after {stopwatch.ElapsedMilliseconds} ms: {await response.Content.ReadAsStringAsync()}\nBody: {body}");
        }
    }

    [Fact]
    public async Task StalledBodyTimesOut()
    {
        NhiTestHost host = await NhiTestHost.StartAsync(settings: new Dictionary<string, string?> { ["Edge:BodyReadTimeoutSeconds"] = "1" });
        await using (host)
        {
            // A raw connection announces 100 bytes and sends one, as a slow or hostile sender would.
            Uri address = host.Http.BaseAddress!;
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(address.Host, address.Port);
            await using System.Net.Sockets.NetworkStream stream = tcp.GetStream();
            byte[] head = Encoding.ASCII.GetBytes(
                $"POST /api/alerts/wiz HTTP/1.1\r\nHost: {address.Authority}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[");
            await stream.WriteAsync(head);
            var stopwatch = Stopwatch.StartNew();

            using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            byte[] buffer = new byte[64];
            int read = await stream.ReadAsync(buffer, deadline.Token);

            Assert.StartsWith("HTTP/1.1 408", Encoding.ASCII.GetString(buffer, 0, read), StringComparison.Ordinal);
            Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(10), $"The stalled request took {stopwatch.Elapsed}.");
        }
    }

    private static string MutateLine(string text, Random random)
    {
        string[] lines = text.Split('\n');
        int index = random.Next(lines.Length);
        if (lines[index].Trim().Length > 0)
        {
            lines[index] = SampleMutator.Mutate(lines[index], random);
        }

        return string.Join('\n', lines);
    }
}
