using System.Net;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Nhi.Serverless.Database.Postgres;

/// <summary>Settings of <see cref="PostgresRoleBroker"/>: the server, the broker's standing login, and the grant limits.</summary>
/// <remarks>Property names match the configuration keys under "Postgres", such as "Postgres:Host".</remarks>
public sealed class PostgresRoleBrokerOptions
{
    /// <summary>The configuration section these settings are read from.</summary>
    public const string SectionName = "Postgres";

    /// <summary>The server's host name or address; scope resources must name the same host.</summary>
    public string Host { get; set; } = "";

    /// <summary>The server's TCP port; scope resources must name the same port.</summary>
    public int Port { get; set; } = 5432;

    /// <summary>The broker's standing login role, such as nhi_broker. It needs CREATEROLE and grant options on what it hands out.</summary>
    public string Username { get; set; } = "";

    /// <summary>The password of <see cref="Username"/>; only the broker reads it.</summary>
    public string Password { get; set; } = "";

    /// <summary>
    /// The TLS mode for every connection, as Npgsql names it: Disable, Allow, Prefer, Require, VerifyCA or VerifyFull.
    /// Modes below Require are accepted only for a loopback host, because the broker's and the grants' passwords travel
    /// over the connection.
    /// </summary>
    public string SslMode { get; set; } = nameof(Npgsql.SslMode.VerifyFull);

    /// <summary>The role every ephemeral role becomes a direct member of; the ownership hand-over recognizes grants by it.</summary>
    public string EphemeralRoleGroup { get; set; } = "nhi_ephemeral";

    /// <summary>
    /// The SECURITY DEFINER function, taking a role name, that hands what an ephemeral role still owns to the application's
    /// owner role (REASSIGN OWNED). Revocation calls it before DROP OWNED, which would otherwise drop those objects.
    /// </summary>
    public string HandOverFunction { get; set; } = "nhi.reassign_owned";

    /// <summary>
    /// The event trigger that hands objects created by ephemeral roles to the owner role at once. A schema-change grant
    /// is rejected unless it exists and is enabled in the target database.
    /// </summary>
    public string HandOverEventTrigger { get; set; } = "nhi_hand_over_created_objects";

    /// <summary>The CONNECTION LIMIT of each ephemeral role.</summary>
    public int ConnectionLimit { get; set; } = 2;

    /// <summary>The role lifetime used when a grant request's lifetime is zero.</summary>
    public TimeSpan DefaultLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// The shortest lifetime issued. PostgreSQL accepts any VALID UNTIL; one minute keeps a grant usable for at least one
    /// login when this clock and the server's differ by a few seconds.
    /// </summary>
    public TimeSpan MinLifetime { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// The longest lifetime issued. PostgreSQL sets no maximum. VALID UNTIL only blocks new logins, so a session opened
    /// before the expiry lasts until revocation ends it; a short maximum limits how long a forgotten grant can log in.
    /// </summary>
    public TimeSpan MaxLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long pg_terminate_backend waits for each session of a revoked role to exit.</summary>
    public TimeSpan SessionTerminationTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a revocation proof keeps trying to log in before it reports the revocation as not proven.</summary>
    public TimeSpan RevocationProofTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The clock difference allowed between this service and the server when computing the latest possible expiry.</summary>
    public TimeSpan ClockSkewAllowance { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Returns one message per invalid setting, each naming the setting and the expected value; empty when all are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();

        if (string.IsNullOrWhiteSpace(Host))
        {
            errors.Add($"{SectionName}:Host is missing; expected the server's host name or address.");
        }

        if (Port is < 1 or > 65535)
        {
            errors.Add($"{SectionName}:Port {Port} is invalid; expected 1 to 65535.");
        }

        if (string.IsNullOrWhiteSpace(Username))
        {
            errors.Add($"{SectionName}:Username is missing; expected the broker's login role, such as nhi_broker.");
        }

        if (string.IsNullOrEmpty(Password))
        {
            errors.Add($"{SectionName}:Password is missing; expected the password of {SectionName}:Username.");
        }

        if (!Enum.TryParse(SslMode, ignoreCase: true, out SslMode mode) || !Enum.IsDefined(mode))
        {
            errors.Add($"{SectionName}:SslMode '{SslMode}' is invalid; expected Disable, Allow, Prefer, Require, VerifyCA or VerifyFull.");
        }
        else if (mode < Npgsql.SslMode.Require && !IsLoopback(Host))
        {
            errors.Add($"{SectionName}:SslMode '{SslMode}' allows an unencrypted connection to '{Host}'; expected Require, VerifyCA or VerifyFull for a host other than 127.0.0.1, ::1 or localhost.");
        }

        RequireName(errors, nameof(EphemeralRoleGroup), EphemeralRoleGroup);
        RequireName(errors, nameof(HandOverEventTrigger), HandOverEventTrigger);
        if (!PostgresIdentifier.TryParse(HandOverFunction, out IReadOnlyList<string> parts, out _) || parts.Count is < 1 or > 2)
        {
            errors.Add($"{SectionName}:HandOverFunction '{HandOverFunction}' is invalid; expected a function name such as nhi.reassign_owned.");
        }

        if (ConnectionLimit is < 1 or > 100)
        {
            errors.Add($"{SectionName}:ConnectionLimit {ConnectionLimit} is invalid; expected 1 to 100.");
        }

        if (MinLifetime <= TimeSpan.Zero || MinLifetime > MaxLifetime)
        {
            errors.Add($"{SectionName}:MinLifetime '{MinLifetime}' is invalid; expected more than 0 and at most {SectionName}:MaxLifetime ('{MaxLifetime}').");
        }

        if (MaxLifetime > TimeSpan.FromDays(1))
        {
            errors.Add($"{SectionName}:MaxLifetime '{MaxLifetime}' is invalid; expected at most 1.00:00:00, because a grant serves one workflow step.");
        }

        if (DefaultLifetime < MinLifetime || DefaultLifetime > MaxLifetime)
        {
            errors.Add($"{SectionName}:DefaultLifetime '{DefaultLifetime}' is invalid; expected {MinLifetime} to {MaxLifetime}.");
        }

        RequireRange(errors, nameof(SessionTerminationTimeout), SessionTerminationTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(1));
        RequireRange(errors, nameof(RevocationProofTimeout), RevocationProofTimeout, TimeSpan.FromMilliseconds(1), TimeSpan.FromMinutes(5));
        RequireRange(errors, nameof(ClockSkewAllowance), ClockSkewAllowance, TimeSpan.Zero, TimeSpan.FromHours(1));
        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every invalid setting.</summary>
    public void ThrowIfInvalid()
    {
        IReadOnlyList<string> errors = Validate();
        if (errors.Count > 0)
        {
            throw new OptionsValidationException(SectionName, typeof(PostgresRoleBrokerOptions), errors);
        }
    }

    /// <summary>Returns <see cref="SslMode"/> as Npgsql's enum; call only after validation.</summary>
    public SslMode ResolveSslMode() => Enum.Parse<SslMode>(SslMode, ignoreCase: true);

    private static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || (IPAddress.TryParse(host, out IPAddress? address) && IPAddress.IsLoopback(address));

    private static void RequireName(List<string> errors, string name, string value)
    {
        if (!PostgresIdentifier.TryParse(value, out IReadOnlyList<string> parts, out _) || parts.Count != 1)
        {
            errors.Add($"{SectionName}:{name} '{value}' is invalid; expected one PostgreSQL name.");
        }
    }

    private static void RequireRange(List<string> errors, string name, TimeSpan value, TimeSpan minimum, TimeSpan maximum)
    {
        if (value < minimum || value > maximum)
        {
            errors.Add($"{SectionName}:{name} '{value}' is invalid; expected {minimum} to {maximum}.");
        }
    }
}
