using System.Text.Json.Nodes;

namespace Nhi.Serverless.Tests.Orchestration;

/// <summary>
/// The Functions app's SweepGrants timer takes its NCRONTAB schedule from the app setting NHI_SWEEP_SCHEDULE. The
/// Functions host reads the trigger from functions.metadata, which the worker SDK generates at build time. A local
/// host reads the setting from local.settings.json. The build copies both files next to the tests.
/// </summary>
public sealed class SweepScheduleTests
{
    [Fact]
    public void TimerReadsScheduleSetting()
    {
        JsonArray functions = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "functions.metadata")))!.AsArray();

        JsonNode sweep = Assert.Single(functions, function => function!["name"]!.GetValue<string>() == "SweepGrants")!;
        JsonNode trigger = Assert.Single(sweep["bindings"]!.AsArray(), binding => binding!["type"]!.GetValue<string>() == "timerTrigger")!;
        Assert.Equal("%NHI_SWEEP_SCHEDULE%", trigger["schedule"]!.GetValue<string>());
    }

    [Fact]
    public void LocalScheduleDefaultsToEveryMinute()
    {
        JsonNode settings = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "local.settings.json")))!;

        Assert.Equal("0 * * * * *", settings["Values"]!["NHI_SWEEP_SCHEDULE"]!.GetValue<string>());
    }
}
