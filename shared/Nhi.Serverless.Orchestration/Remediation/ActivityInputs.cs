using Nhi.Serverless.Grants;
using Nhi.Serverless.Runs;

namespace Nhi.Serverless.Orchestration.Remediation;

/// <summary>Input of <see cref="ExecuteWithGrantActivity"/>: the plan and this attempt's grant request.</summary>
public sealed record ExecuteWithGrantInput(RemediationPlan Plan, GrantRequest Grant);

/// <summary>Input of <see cref="EnsureGrantRevokedActivity"/>.</summary>
public sealed record EnsureGrantRevokedInput(string Broker, GrantRequest Grant);

/// <summary>Input of <see cref="RecordRunActivity"/>.</summary>
public sealed record RecordRunInput(RemediationRequest Request, RunResult Result);

/// <summary>Input of <see cref="Guardrails.CheckGuardrailsActivity"/>: the run and the planner's plan.</summary>
public sealed record CheckGuardrailsInput(RemediationRequest Request, RemediationPlan Plan);
