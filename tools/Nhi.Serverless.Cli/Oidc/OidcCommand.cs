using System.CommandLine;
using Nhi.Serverless.Hosting.Identity;

namespace Nhi.Serverless.Cli.Oidc;

/// <summary>`nhi oidc token`: mints a GitHub Actions style OIDC token with the local issuer, for the demo and tests.</summary>
public static class OidcCommand
{
    public const int MaxLifetimeSeconds = 3600;

    public static Command Create()
    {
        var repository = new Option<string>("--repository")
        {
            Description = "The repository claim, as owner/name, such as nhi-demo/app.",
            Required = true,
        };
        repository.Validators.Add(result =>
        {
            string[] parts = (result.GetValue(repository) ?? string.Empty).Split('/');
            if (parts.Length != 2 || parts.Any(part => part.Length == 0))
            {
                result.AddError("--repository must be owner/name, such as nhi-demo/app.");
            }
        });

        var gitRef = new Option<string>("--ref")
        {
            Description = "The ref claim: a full git ref such as refs/heads/main or refs/tags/v1.0.",
            Required = true,
        };
        gitRef.Validators.Add(result =>
        {
            if (result.GetValue(gitRef) is not { } value || !value.StartsWith("refs/", StringComparison.Ordinal))
            {
                result.AddError("--ref must be a full git ref that starts with refs/, such as refs/heads/main.");
            }
        });

        var environment = new Option<string?>("--environment") { Description = "The environment claim: the job's deployment environment." };
        var audience = new Option<string>("--audience")
        {
            Description = "The aud claim.",
            DefaultValueFactory = _ => LocalOidcIssuer.DefaultAudience,
        };
        var lifetime = new Option<int>("--lifetime")
        {
            Description = $"Seconds from now until the token expires, 1 to {MaxLifetimeSeconds}.",
            DefaultValueFactory = _ => 300,
        };
        lifetime.Validators.Add(result =>
        {
            if (result.GetValue(lifetime) is < 1 or > MaxLifetimeSeconds)
            {
                result.AddError($"--lifetime must be 1 to {MaxLifetimeSeconds} seconds.");
            }
        });

        var actor = new Option<string>("--actor")
        {
            Description = "The actor claim: the account that started the run.",
            DefaultValueFactory = _ => "nhi-local",
        };
        var issuerDirectory = new Option<DirectoryInfo>("--issuer-dir")
        {
            Description = "Folder of the issuer key and jwks.json; created on first use.",
            DefaultValueFactory = _ => new DirectoryInfo(LocalOidcIssuer.DefaultDirectory()),
        };

        var token = new Command("token", $"Print a signed RS256 JWT with GitHub Actions' claims, issued by {LocalOidcIssuer.IssuerName}.")
        {
            repository, gitRef, environment, audience, lifetime, actor, issuerDirectory,
        };
        token.SetAction(parse =>
        {
            using LocalOidcIssuer issuer = LocalOidcIssuer.LoadOrCreate(parse.GetValue(issuerDirectory)!.FullName);
            var request = new GitHubTokenRequest(parse.GetValue(repository)!, parse.GetValue(gitRef)!)
            {
                Environment = parse.GetValue(environment),
                Audience = parse.GetValue(audience)!,
                Lifetime = TimeSpan.FromSeconds(parse.GetValue(lifetime)),
                Actor = parse.GetValue(actor)!,
            };
            parse.InvocationConfiguration.Output.WriteLine(issuer.CreateToken(request));
            return 0;
        });

        return new Command("oidc", "The local OIDC issuer that stands in for GitHub Actions.") { token };
    }
}
