using BertFineTune.Runtime;
using Microsoft.Extensions.Logging.Abstractions;

namespace BertFineTune.Tests.Runtime;

/// <summary>
/// The rule that keeps a training run's libtorch threads to the cores other processes leave free (CoreContention), and
/// its reading of /proc (formats from proc(5)). No timing: the inputs are samples written by hand.
/// </summary>
public class CoreContentionTests
{
    [Theory]
    // start threads, logical processors, cores the others use → threads
    [InlineData(2, 2, 0.0, 2)]
    [InlineData(2, 2, 0.3, 2)]     // less than half a core taken: keep both
    [InlineData(2, 2, 0.5, 1)]     // half a core or more counts as a core taken
    [InlineData(2, 2, 1.0, 1)]
    [InlineData(2, 2, 2.0, 1)]     // never below one thread
    [InlineData(4, 8, 3.0, 4)]     // never above the count the run started with
    [InlineData(8, 8, 3.0, 5)]
    [InlineData(8, 8, 2.6, 5)]
    [InlineData(8, 8, -1.0, 8)]    // a negative estimate (clock ticks read out of step) counts as none
    public void Threads_are_the_processors_other_processes_leave_free_within_one_and_the_starting_count(int start, int processors, double others, int expected) =>
        Assert.Equal(expected, CoreContention.ThreadsFor(start, processors, others));

    [Fact]
    public void The_machine_line_of_proc_stat_gives_busy_and_total_ticks()
    {
        // user nice system idle iowait irq softirq steal guest guest_nice: busy = all but idle and iowait.
        var parsed = CoreContention.CpuSample.ParseMachine("cpu  100 5 50 1000 20 3 2 7 11 0");
        Assert.Equal((100L + 5 + 50 + 3 + 2 + 7, 100L + 5 + 50 + 1000 + 20 + 3 + 2 + 7), parsed);
        Assert.Null(CoreContention.CpuSample.ParseMachine("cpu0 1 2 3 4 5 6 7 8"));
        Assert.Null(CoreContention.CpuSample.ParseMachine("cpu 1 2 3"));
    }

    [Fact]
    public void The_process_line_is_read_after_the_command_name_even_when_that_holds_spaces_and_parentheses()
    {
        // pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime …
        var stat = "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 500 0 0 0 1234 56 0 0 20 0 3 0";
        Assert.Equal(1234 + 56, CoreContention.CpuSample.ParseProcess(stat));
        Assert.Null(CoreContention.CpuSample.ParseProcess("4242 no parenthesis"));
    }

    [Fact]
    public void Other_processes_cores_are_the_machines_busy_ticks_less_this_process_over_all_ticks()
    {
        var before = new CoreContention.CpuSample(MachineBusyTicks: 1000, MachineTotalTicks: 4000, ProcessTicks: 300);
        // 200 ticks passed over all processors; the machine was busy for 150 of them, 50 of those ours: the others used
        // 100 / 200 of the machine, i.e. half the processors.
        var after = new CoreContention.CpuSample(MachineBusyTicks: 1150, MachineTotalTicks: 4200, ProcessTicks: 350);
        Assert.Equal(0.5 * Environment.ProcessorCount, CoreContention.CpuSample.OtherCores(before, after), 12);
        Assert.Equal(0, CoreContention.CpuSample.OtherCores(after, after));
    }

    [Fact]
    public void A_thread_count_set_explicitly_is_never_adapted()
    {
        TorchThreads.Set(TorchThreads.Count);
        Assert.Null(CoreContention.Start(NullLogger.Instance));
    }
}
