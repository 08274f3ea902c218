using BertFineTune.Checkpoints.Hub;

namespace BertFineTune.Tests.Hub;

/// <summary>
/// Hub ids follow huggingface_hub's <c>validate_repo_id</c> (utils/_validators.py). The expected rule of each case was
/// printed by that function's checks run in Python 3.11 (its REPO_ID_REGEX and tests, in its order): "form" = more than one
/// '/', "chars" = REPO_ID_REGEX fails, "dashdot" = "--" or "..", "git" = ends with ".git", "ok" = valid.
/// </summary>
public sealed class RepoIdRuleTests
{
    [Theory]
    [InlineData("../../etc", "form")]
    [InlineData("..", "chars")]
    [InlineData(".repo", "chars")]
    [InlineData("foo--bar", "dashdot")]
    [InlineData("foo.git", "git")]
    [InlineData("-x", "chars")]
    [InlineData("x-", "chars")]
    [InlineData("foo/bar", "ok")]
    [InlineData("datasets/foo/bar", "form")]
    [InlineData("", "chars")]
    [InlineData("org/name/", "form")]
    [InlineData("/etc", "chars")]
    [InlineData("../etc", "chars")]
    [InlineData("org/.hidden", "chars")]
    [InlineData("Foo-BAR_foo.bar123", "ok")]
    [InlineData("bert-base-uncased", "ok")]
    [InlineData("a b", "chars")]
    public void Repo_ids_are_checked_as_validate_repo_id_checks_them(string reference, string rule)
    {
        Assert.Equal(rule, RuleOf(reference));
    }

    [Fact]
    public void The_96_character_limit_is_on_the_name_not_the_namespace()
    {
        // Python: "a"*96 ok, "a"*97 chars, "ns/" + "a"*96 ok, "n"*100 + "/b" ok.
        Assert.Equal("ok", RuleOf(new string('a', 96)));
        Assert.Equal("chars", RuleOf(new string('a', 97)));
        Assert.Equal("ok", RuleOf("ns/" + new string('a', 96)));
        Assert.Equal("ok", RuleOf(new string('n', 100) + "/b"));
    }

    [Fact]
    public void Download_refuses_a_path_even_when_the_folder_exists_and_says_which_rule()
    {
        using var temp = new TempFolder();
        using var resolver = new HubModelResolver(new HubOptions { Endpoint = "http://127.0.0.1:1", CacheDirectory = temp.File("cache"), Offline = true });

        var thrown = Assert.Throws<ArgumentException>(() => resolver.Download("../../etc"));

        Assert.StartsWith("'../../etc' is not a Hugging Face Hub id: Repo id must be in the form 'repo_name' or 'namespace/repo_name': '../../etc'.", thrown.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(temp.File("cache")));
    }

    private static string RuleOf(string reference) =>
        HubCache.RepoIdProblem(reference) switch
        {
            null => "ok",
            { } m when m.StartsWith("Repo id must be in the form", StringComparison.Ordinal) => "form",
            { } m when m.StartsWith("Repo id must use alphanumeric", StringComparison.Ordinal) => "chars",
            { } m when m.StartsWith("Cannot have -- or ..", StringComparison.Ordinal) => "dashdot",
            { } m when m.StartsWith("Repo_id cannot end by '.git'", StringComparison.Ordinal) => "git",
            { } m => m,
        };
}
