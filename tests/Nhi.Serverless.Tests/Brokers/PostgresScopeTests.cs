using System.Text;
using Nhi.Serverless.Database;
using Nhi.Serverless.Database.Postgres;
using Nhi.Serverless.Grants;

namespace Nhi.Serverless.Tests.Brokers;

// Parsing, quoting and statement generation only; nothing here contacts a server.
public sealed class PostgresScopeTests
{
    private const string Resource = "postgresql://127.0.0.1:55432/erp";

    [Theory]
    [InlineData("erp.invoices", "erp", "invoices")]
    [InlineData("ERP.Invoices", "erp", "invoices")]
    [InlineData("app.\"Odd.Name\"", "app", "Odd.Name")]
    [InlineData("app.\"x\"\"; DROP TABLE erp.vendors; --\"", "app", "x\"; DROP TABLE erp.vendors; --")]
    public void Identifier_ParsesSqlSyntax(string text, string schema, string name)
    {
        Assert.True(PostgresIdentifier.TryParse(text, out IReadOnlyList<string> parts, out string? problem), problem);
        Assert.Equal([schema, name], parts);
    }

    [Theory]
    [InlineData("erp.invoices; DROP TABLE erp.vendors")]
    [InlineData("erp.invoices--")]
    [InlineData("erp.\"unterminated")]
    [InlineData("erp.")]
    [InlineData("erp..invoices")]
    [InlineData("erp.\"\"")]
    [InlineData("erp.1invoices")]
    public void Identifier_RejectsMalformedText(string text)
    {
        Assert.False(PostgresIdentifier.TryParse(text, out _, out string? problem));
        Assert.NotNull(problem);
    }

    [Fact]
    public void Identifier_RejectsNamesPostgresWouldTruncate()
    {
        string name = new('a', 64);

        Assert.False(PostgresIdentifier.TryParse($"\"{name}\"", out _, out string? problem));
        Assert.Contains("63 bytes", problem);
        Assert.Throws<ArgumentException>(() => PostgresIdentifier.Quote(name));
    }

    [Fact]
    public void Quote_DoublesEmbeddedQuotes()
    {
        Assert.Equal("\"a\"\"b\"", PostgresIdentifier.Quote("a\"b"));
        Assert.Equal("\"app\".\"x\"\"; DROP TABLE t; --\"", PostgresIdentifier.Quote("app", "x\"; DROP TABLE t; --"));
    }

    [Fact]
    public void Statements_QuoteEveryIdentifier()
    {
        var scope = new PostgresGrantScope(
            "127.0.0.1", 55432, "erp\"db", [new PostgresTableName("app", "x\"; DROP TABLE erp.vendors; --")], "app\"s", CreateInSchema: true);

        IReadOnlyList<string> statements = PostgresRoleStatements.Create(
            "nhi_g_0123", ScramSha256Verifier.Create("Password-1"), DateTimeOffset.UnixEpoch, 2, "nhi_ephemeral", scope);

        Assert.Contains("GRANT CONNECT ON DATABASE \"erp\"\"db\" TO \"nhi_g_0123\"", statements);
        Assert.Contains("GRANT SELECT ON TABLE \"app\".\"x\"\"; DROP TABLE erp.vendors; --\" TO \"nhi_g_0123\"", statements);
        Assert.Contains("GRANT USAGE ON SCHEMA \"app\" TO \"nhi_g_0123\"", statements);
        Assert.Contains("GRANT USAGE, CREATE ON SCHEMA \"app\"\"s\" TO \"nhi_g_0123\"", statements);
        Assert.Contains(statements, statement => statement.StartsWith("CREATE ROLE \"nhi_g_0123\" WITH LOGIN", StringComparison.Ordinal));
        Assert.Contains(statements, statement => statement.Contains("VALID UNTIL '1970-01-01 00:00:00+00'", StringComparison.Ordinal));
        Assert.DoesNotContain(statements, statement => statement.Contains("Password-1", StringComparison.Ordinal));
    }

    [Fact]
    public void Scope_ParsesTablesAndSchema()
    {
        Scope scope = Scope.Create("postgresql", Resource, ["CREATE", "SELECT", "USAGE"], ["schema:app", "table:erp.invoices", "table:loans.\"Credit History\""]);

        Assert.True(PostgresGrantScope.TryParse(scope, out PostgresGrantScope? parsed, out string? reason), reason);
        Assert.Equal("erp", parsed!.Database);
        Assert.Equal(55432, parsed.Port);
        Assert.Equal([new PostgresTableName("erp", "invoices"), new PostgresTableName("loans", "Credit History")], parsed.Tables);
        Assert.Equal("app", parsed.Schema);
        Assert.True(parsed.CreateInSchema);
    }

    [Theory]
    [InlineData("postgresql://127.0.0.1/erp", "SELECT", "table:erp.invoices")]
    [InlineData("postgresql://127.0.0.1:55432/", "SELECT", "table:erp.invoices")]
    [InlineData("postgresql://u:p@127.0.0.1:55432/erp", "SELECT", "table:erp.invoices")]
    [InlineData("https://127.0.0.1:55432/erp", "SELECT", "table:erp.invoices")]
    [InlineData(Resource, "SELECT", "table:invoices")]
    [InlineData(Resource, "SELECT", "table:erp.invoices.extra")]
    [InlineData(Resource, "SELECT", "view:erp.invoices")]
    [InlineData(Resource, "SELECT", "schema:app")]
    [InlineData(Resource, "DELETE", "table:erp.invoices")]
    [InlineData(Resource, "USAGE", "table:erp.invoices")]
    [InlineData(Resource, "CREATE", "schema:app")]
    [InlineData(Resource, "SELECT", "")]
    public void Scope_RejectsWhatTheBrokerCannotExpress(string resource, string permission, string item)
    {
        Scope scope = Scope.Create("postgresql", resource, [permission], item.Length == 0 ? [] : [item]);

        Assert.False(PostgresGrantScope.TryParse(scope, out _, out string? reason));
        Assert.NotNull(reason);
    }

    [Fact]
    public void Scope_RejectsTwoSchemas()
    {
        Scope scope = Scope.Create("postgresql", Resource, ["USAGE", "CREATE"], ["schema:app", "schema:erp"]);

        Assert.False(PostgresGrantScope.TryParse(scope, out _, out string? reason));
        Assert.Contains("more than one schema", reason);
    }

    [Fact]
    public void ScramVerifier_MatchesKnownVector()
    {
        // Computed independently with Python's hashlib (pbkdf2_hmac, hmac, sha256) for password "pencil", salt "salt-0123456789ab", 4096 iterations.
        string verifier = ScramSha256Verifier.Create("pencil", Encoding.ASCII.GetBytes("salt-0123456789ab"), 4096);

        Assert.Equal(ExpectedPencilVerifier, verifier);
    }

    [Fact]
    public void GeneratedPassword_HasEveryCharacterKind()
    {
        string password = GeneratedPasswords.Create();

        Assert.Equal(32, password.Length);
        Assert.Contains(password, char.IsAsciiLetterLower);
        Assert.Contains(password, char.IsAsciiLetterUpper);
        Assert.Contains(password, char.IsAsciiDigit);
        Assert.Contains(password, c => "-_.~!*+".Contains(c, StringComparison.Ordinal));
        Assert.NotEqual(password, GeneratedPasswords.Create());
    }

    private const string ExpectedPencilVerifier =
        "SCRAM-SHA-256$4096:c2FsdC0wMTIzNDU2Nzg5YWI=$YedrZp/mWGq1e8x0JrxsmQTtULXEtBwJ3A2NjFMiI08=:gUHPg3X1Pkl9snyQj2BQBPx9qxBOyTK9ws0AybfWly4=";
}
