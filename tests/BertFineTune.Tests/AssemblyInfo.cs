// TorchSharp's seeds, default dtype and thread settings are process-wide; run test classes one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
