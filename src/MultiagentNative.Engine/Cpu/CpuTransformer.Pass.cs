// What one forward/backward over a batch carries: the batch, each segment's adapter, saved activations, and
// the per-tensor lists of segment adapters and dropout seeds the LoRA op takes.
using System.Numerics;
using MultiagentNative.Engine.Model;
using MultiagentNative.Engine.Training;

namespace MultiagentNative.Engine.Cpu;

public sealed partial class CpuTransformer<T>
{
    sealed class Pass
    {
        readonly Dictionary<string, LoraPair<T>?[]?> adaptersByTensor = [];
        readonly List<T[]> rented = [];
        readonly ActivationPool<T> pool;
        readonly bool poison;
        T[] loraScratch = [];

        public TrainingBatch Batch { get; }
        public IReadOnlyList<AdapterSet<T>?> Adapters { get; }
        public ModelWeights<T>? FullGradients { get; }
        public int Rows => Batch.Rows;
        public T[] LossWeights { get; }
        public T[][] LayerInputs { get; }
        public LayerState?[] States { get; }
        public T[] FinalHidden { get; set; } = [];
        public T[] FinalRstd { get; set; } = [];
        public T[] FinalNorm { get; set; } = [];
        public T[] Logits { get; set; } = [];
        public T[] LossLse { get; set; } = [];
        public T[]? SegmentLosses { get; init; }
        public RopeTable<T> Rope { get; }
        public int Rank { get; }
        public T Scale { get; }
        public LoraDropout Dropout { get; }
        readonly ulong dropoutSeed;

        public Pass(CpuTransformer<T> model, TrainingBatch batch, IReadOnlyList<AdapterSet<T>?> adapters,
                    ModelWeights<T>? fullGradients, ulong dropoutSeed, bool training)
        {
            if (adapters.Count != batch.Segments)
                throw new ArgumentException($"segmentAdapters: the batch has {batch.Segments} segments but {adapters.Count} adapters were given");
            if (fullGradients is not null && !ReferenceEquals(fullGradients.Config, model.config) && fullGradients.Config != model.config)
                throw new ArgumentException("fullGradients: built for a different model config");
            CheckSizes(model, batch);
            pool = model.pool;
            poison = model.options.PoisonUninitialized;
            Rope = model.RopeFor(batch);
            Batch = batch;
            Adapters = adapters;
            FullGradients = fullGradients;
            this.dropoutSeed = dropoutSeed;
            LossWeights = new T[batch.Rows];
            Cpu.LossWeights.MeanPerSegment<T>(LossWeights, batch.LossMask, batch.SegStart);
            LayerInputs = new T[model.config.Layers][];
            States = new LayerState?[model.config.Layers];
            var first = adapters.FirstOrDefault(a => a is not null);
            if (first is null)
                return;
            foreach (var adapter in adapters)
            {
                if (adapter is not null && adapter.Lora != first.Lora)
                    throw new ArgumentException($"segmentAdapters: one batch needs one LoRA config, got {first.Lora} and {adapter.Lora}");
            }
            Rank = first.Lora.Rank;
            Scale = T.CreateChecked(first.Lora.Scale);
            Dropout = training ? new LoraDropout(first.Lora.Dropout) : LoraDropout.None;
        }

        /// <summary>Segment i's adapter pair on this tensor (null where it has none), or null when no segment has one.</summary>
        public LoraPair<T>?[]? AdaptersFor(string tensorName)
        {
            if (adaptersByTensor.TryGetValue(tensorName, out var cached))
                return cached;
            var pairs = Adapters.Select(a => a?.Find(tensorName)).ToArray();
            var result = pairs.Any(p => p is not null) ? pairs : null;
            adaptersByTensor[tensorName] = result;
            return result;
        }

        /// <summary>Per-segment dropout seeds for one tensor, from the step seed, the adapter's own seed and the name.</summary>
        public ulong[] SegmentSeeds(string tensorName)
        {
            ulong nameHash = 14695981039346656037UL;
            foreach (char c in tensorName)
                nameHash = (nameHash ^ c) * 1099511628211UL;
            return Adapters.Select(a => a is null ? 0UL : Mix(dropoutSeed, a.DropoutSeed, nameHash)).ToArray();
        }

        // For buffers every element of which is written before it is read; PoisonUninitialized fills them with NaN,
        // so a test proves none is read before written.
        public T[] Uninitialized(int length)
        {
            var array = pool.Rent(length);
            rented.Add(array);
            if (poison)
                Array.Fill(array, T.NaN);
            return array;
        }

        /// <summary>A zeroed buffer (accumulators).</summary>
        public T[] Zeroed(int length)
        {
            var array = pool.Rent(length);
            rented.Add(array);
            Array.Clear(array, 0, length);
            return array;
        }

        /// <summary>Gives every rented buffer back to the model's pool; nothing of this pass may be read afterwards.</summary>
        public void ReleaseBuffers()
        {
            pool.Return(rented);
            rented.Clear();
        }

        public Span<T> LoraScratch(int inDim)
        {
            int size = Lora.ScratchSize(Batch.SegStart, inDim, Rank);
            if (loraScratch.Length < size)
                loraScratch = new T[size];
            return loraScratch;
        }

        // every activation is one array: refuse a batch whose largest buffer would not fit, before allocating anything
        static void CheckSizes(CpuTransformer<T> model, TrainingBatch batch)
        {
            var c = model.config;
            int widest = Math.Max(c.Vocab, Math.Max(2 * c.FfnDim, c.QueryWidth + 2 * c.KvWidth));
            if ((long)batch.Rows * widest > Array.MaxLength)
                throw new ArgumentException($"batch: {batch.Rows} rows x width {widest} exceeds the largest array; split it into smaller batches");
            long probs = Attention.ProbsSize(batch.SeqStart, c.Heads);
            if (model.options.SaveAttentionProbs && probs > Array.MaxLength)
                throw new ArgumentException($"batch: saved attention probabilities need {probs} elements per layer; use shorter sequences or SaveAttentionProbs = false");
        }

        static ulong Mix(ulong a, ulong b, ulong c)
        {
            ulong z = a * 0x9E3779B97F4A7C15UL ^ b;
            z = (z ^ (z >> 31)) * 0xBF58476D1CE4E5B9UL ^ c;
            return (z ^ (z >> 29)) * 0x94D049BB133111EBUL;
        }
    }
}
