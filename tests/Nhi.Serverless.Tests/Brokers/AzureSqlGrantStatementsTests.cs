using System.Text.Json;
using Nhi.Serverless.Database.AzureSql;

namespace Nhi.Serverless.Tests.Brokers;

// The generated Azure SQL statements are checked as text; none of them is run against a server here.
public sealed class AzureSqlGrantStatementsTests
{
    private const string User = "nhi_g_0123456789abcdef0123456789abcdef";

    [Fact]
    public void Issue_CreatesContainedUserWithGrants()
    {
        AzureSqlGrantScript script = AzureSqlGrantStatements.ForIssue(User, "Pw-1", [new SqlTableName("erp", "invoices")], schema: null);

        Assert.Equal(
            [
                $"CREATE USER [{User}] WITH PASSWORD = N'Pw-1'",
                $"GRANT SELECT ON OBJECT::[erp].[invoices] TO [{User}]",
            ],
            script.Statements);
    }

    [Fact]
    public void Issue_SchemaChangeGrantsAlterSchema()
    {
        AzureSqlGrantScript script = AzureSqlGrantStatements.ForIssue(User, "Pw-1", [], "app");

        Assert.Contains($"GRANT CREATE TABLE TO [{User}]", script.Statements);
        Assert.Contains($"GRANT ALTER ON SCHEMA::[app] TO [{User}]", script.Statements);
    }

    [Fact]
    public void Issue_QuotesHostileNames()
    {
        AzureSqlGrantScript script = AzureSqlGrantStatements.ForIssue(
            "u]; DROP USER dbo; --", "it's", [new SqlTableName("erp]", "x]; DROP TABLE erp.vendors; --")], schema: null);

        Assert.Equal("CREATE USER [u]]; DROP USER dbo; --] WITH PASSWORD = N'it''s'", script.Statements[0]);
        Assert.Equal("GRANT SELECT ON OBJECT::[erp]]].[x]]; DROP TABLE erp.vendors; --] TO [u]]; DROP USER dbo; --]", script.Statements[1]);
    }

    [Fact]
    public void Issue_RejectsEmptyScope()
    {
        Assert.Throws<ArgumentException>(() => AzureSqlGrantStatements.ForIssue(User, "Pw-1", [], schema: null));
    }

    [Fact]
    public void Revoke_DeniesKillsAndDrops()
    {
        IReadOnlyList<string> statements = AzureSqlGrantStatements.ForRevoke(User);

        Assert.Equal($"IF DATABASE_PRINCIPAL_ID(N'{User}') IS NOT NULL DENY CONNECT TO [{User}]", statements[0]);
        Assert.Contains("FROM sys.dm_exec_sessions AS s", statements[1]);
        Assert.Contains("JOIN sys.database_principals AS p ON p.sid = s.security_id", statements[1]);
        Assert.Contains($"WHERE p.name = N'{User}' AND s.session_id <> @@SPID", statements[1]);
        Assert.Contains("N'KILL '", statements[1]);
        Assert.Equal($"DROP USER IF EXISTS [{User}]", statements[2]);
    }

    [Fact]
    public void Revoke_QuotesHostileUserName()
    {
        IReadOnlyList<string> statements = AzureSqlGrantStatements.ForRevoke("o'k]");

        Assert.Equal("IF DATABASE_PRINCIPAL_ID(N'o''k]') IS NOT NULL DENY CONNECT TO [o'k]]]", statements[0]);
        Assert.Contains("WHERE p.name = N'o''k]'", statements[1]);
        Assert.Equal("DROP USER IF EXISTS [o'k]]]", statements[2]);
    }

    [Fact]
    public void QuoteName_RejectsNamesSqlServerCannotHold()
    {
        Assert.Throws<ArgumentException>(() => AzureSqlGrantStatements.QuoteName(new string('a', 129)));
        Assert.Throws<ArgumentException>(() => AzureSqlGrantStatements.QuoteName("a\0b"));
        Assert.Throws<ArgumentException>(() => AzureSqlGrantStatements.QuoteName(""));
    }

    [Fact]
    public void Script_HidesPassword()
    {
        AzureSqlGrantScript script = AzureSqlGrantStatements.ForIssue(User, "Secret-Pw-1", [new SqlTableName("erp", "invoices")], schema: null);

        Assert.DoesNotContain("Secret-Pw-1", script.ToString());
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(script));
    }
}
