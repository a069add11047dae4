using DurableTask.Core;
using DurableTask.Core.Command;
using DurableTask.Core.Exceptions;
using DurableTask.Core.History;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Worker.Shims;
using Newtonsoft.Json.Linq;
using Nhi.Serverless.Orchestration.Remediation;
using Nhi.Serverless.Orchestration.Workflows;

namespace Nhi.Serverless.Tests.Replay;

/// <summary>The result of replaying a finished run's history through orchestrator code.</summary>
/// <param name="Completed">True when the replay ended the run as completed, with no new action.</param>
/// <param name="Output">The output the replay produced; null when it did not complete.</param>
/// <param name="Failure">Why the replay did not complete the same way, such as a non-determinism error.</param>
public sealed record ReplayOutcome(bool Completed, string? Output, string? Failure);

/// <summary>
/// Replays recorded orchestration histories through the current orchestrator code with the Durable Task runtime's
/// own executor, the way a worker replays a run after a restart. A change to the steps of a version shows up as a
/// non-determinism failure or a different output.
/// </summary>
public static class HistoryReplayer
{
    private static readonly Dictionary<EventType, Type> EventTypes = new()
    {
        [EventType.ExecutionStarted] = typeof(ExecutionStartedEvent),
        [EventType.ExecutionCompleted] = typeof(ExecutionCompletedEvent),
        [EventType.ExecutionTerminated] = typeof(ExecutionTerminatedEvent),
        [EventType.TaskScheduled] = typeof(TaskScheduledEvent),
        [EventType.TaskCompleted] = typeof(TaskCompletedEvent),
        [EventType.TaskFailed] = typeof(TaskFailedEvent),
        [EventType.SubOrchestrationInstanceCreated] = typeof(SubOrchestrationInstanceCreatedEvent),
        [EventType.SubOrchestrationInstanceCompleted] = typeof(SubOrchestrationInstanceCompletedEvent),
        [EventType.SubOrchestrationInstanceFailed] = typeof(SubOrchestrationInstanceFailedEvent),
        [EventType.TimerCreated] = typeof(TimerCreatedEvent),
        [EventType.TimerFired] = typeof(TimerFiredEvent),
        [EventType.OrchestratorStarted] = typeof(OrchestratorStartedEvent),
        [EventType.OrchestratorCompleted] = typeof(OrchestratorCompletedEvent),
        [EventType.EventSent] = typeof(EventSentEvent),
        [EventType.EventRaised] = typeof(EventRaisedEvent),
        [EventType.ContinueAsNew] = typeof(ContinueAsNewEvent),
        [EventType.GenericEvent] = typeof(GenericEvent),
        [EventType.HistoryState] = typeof(HistoryStateEvent),
        [EventType.ExecutionSuspended] = typeof(ExecutionSuspendedEvent),
        [EventType.ExecutionResumed] = typeof(ExecutionResumedEvent),
    };

    /// <summary>The orchestrator code of every registered version, by name.</summary>
    public static IReadOnlyDictionary<string, Func<ITaskOrchestrator>> Orchestrators { get; } = new Dictionary<string, Func<ITaskOrchestrator>>
    {
        [RemediateFindingOrchestrator.Name] = () => new RemediateFindingOrchestrator(),
        [RemediateFindingOrchestratorV2.Name] = () => new RemediateFindingOrchestratorV2(),
        [RemediateFindingOrchestratorV3.Name] = () => new RemediateFindingOrchestratorV3(),
        [RunWorkflowOrchestrator.Name] = () => new RunWorkflowOrchestrator(),
    };

    /// <summary>Reads a history as the Azure Storage backend returns it: a JSON array of events, each with its EventType.</summary>
    public static List<HistoryEvent> Parse(string json)
    {
        List<HistoryEvent> events = [];
        foreach (JObject item in JArray.Parse(json).Cast<JObject>())
        {
            JToken kind = item["EventType"] ?? throw new FormatException("A history event has no EventType.");
            EventType eventType = kind.Type == JTokenType.Integer ? (EventType)kind.Value<int>() : Enum.Parse<EventType>(kind.Value<string>()!);
            Type type = EventTypes.TryGetValue(eventType, out Type? known)
                ? known
                : throw new FormatException($"History event type {eventType} is not one the replayer reads.");
            events.Add((HistoryEvent)item.ToObject(type)!);
        }

        return events;
    }

    /// <summary>Returns the orchestrator name the history started.</summary>
    public static string OrchestratorName(IReadOnlyList<HistoryEvent> history) =>
        history.OfType<ExecutionStartedEvent>().Single().Name;

    /// <summary>Replays a finished run's history through the orchestrator registered under its name.</summary>
    public static ReplayOutcome Replay(IReadOnlyList<HistoryEvent> history) =>
        Replay(history, Orchestrators[OrchestratorName(history)]());

    /// <summary>Replays a finished run's history through <paramref name="orchestrator"/> and compares the output with the recorded one.</summary>
    public static ReplayOutcome Replay(IReadOnlyList<HistoryEvent> history, ITaskOrchestrator orchestrator)
    {
        ExecutionCompletedEvent recorded = history.OfType<ExecutionCompletedEvent>().SingleOrDefault()
            ?? throw new ArgumentException("The history has no ExecutionCompleted event; only finished runs can be replayed.", nameof(history));

        // Everything up to the completion is replayed; the replay must produce the completion again, and nothing else.
        List<HistoryEvent> past = history.Where(item => item is not ExecutionCompletedEvent).ToList();
        var state = new OrchestrationRuntimeState(past);
        TaskOrchestration shim = DurableTaskShimFactory.Default.CreateOrchestration(new TaskName(OrchestratorName(history)), orchestrator, parent: null);
        var executor = new TaskOrchestrationExecutor(state, shim, BehaviorOnContinueAsNew.Carryover, ErrorPropagationMode.SerializeExceptions);

        OrchestratorExecutionResult result;
        try
        {
            result = executor.Execute();
        }
        catch (NonDeterministicOrchestrationException nonDeterministic)
        {
            return new ReplayOutcome(false, null, nonDeterministic.Message);
        }

        OrchestratorAction[] actions = result.Actions.ToArray();
        if (actions is not [OrchestrationCompleteOrchestratorAction complete])
        {
            return new ReplayOutcome(false, null, $"the replay produced {actions.Length} actions: {string.Join(", ", actions.Select(action => action.OrchestratorActionType))}");
        }

        if (complete.OrchestrationStatus != OrchestrationStatus.Completed)
        {
            return new ReplayOutcome(false, null, $"the replay ended {complete.OrchestrationStatus}: {complete.FailureDetails?.ErrorMessage ?? complete.Details}");
        }

        return complete.Result == recorded.Result
            ? new ReplayOutcome(true, complete.Result, null)
            : new ReplayOutcome(false, complete.Result, "the replay completed with another output than the recorded run");
    }
}
