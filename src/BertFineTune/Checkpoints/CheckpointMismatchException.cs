namespace BertFineTune.Checkpoints;

/// <summary>A checkpoint does not fit the model (strict loading, or a shape mismatch).</summary>
public sealed class CheckpointMismatchException : InvalidOperationException
{
    /// <summary>Creates the exception with the load <paramref name="report"/>.</summary>
    public CheckpointMismatchException(string message, LoadReport report) : base(message) => Report = report;

    /// <summary>What matched and what did not.</summary>
    public LoadReport Report { get; }
}
