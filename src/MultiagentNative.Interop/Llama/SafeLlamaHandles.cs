// SafeHandles over llama.cpp objects. A child keeps its parent alive: a context and an adapter each hold a
// DangerousAddRef on their model, released only when the child itself is freed (LLamaSharp SafeLLamaContextHandle).
using System.Runtime.InteropServices;

namespace MultiagentNative.Interop.Llama;

/// <summary>An owned llama_model*; freed with llama_model_free once no context or adapter references it.</summary>
public sealed unsafe class SafeLlamaModelHandle : SafeHandle
{
    public SafeLlamaModelHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    internal SafeLlamaModelHandle(void* model) : this() => SetHandle((IntPtr)model);

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        LlamaNative.llama_model_free((void*)handle);
        return true;
    }
}

/// <summary>An owned llama_context*; holds a reference on its model for its whole life.</summary>
public sealed unsafe class SafeLlamaContextHandle : SafeHandle
{
    SafeLlamaModelHandle? model;

    public SafeLlamaContextHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    internal static SafeLlamaContextHandle Create(SafeLlamaModelHandle model, llama_context_params parameters)
    {
        bool added = false;
        model.DangerousAddRef(ref added);
        void* ctx;
        using (var capture = LlamaBackend.CaptureErrors())
        {
            ctx = LlamaNative.llama_init_from_model((void*)model.DangerousGetHandle(), parameters);
            if (ctx is null)
            {
                model.DangerousRelease();
                throw new LlamaNativeException("llama_init_from_model", 0,
                    $"context creation failed (n_ctx={parameters.n_ctx}, n_seq_max={parameters.n_seq_max}, n_batch={parameters.n_batch}): {capture.Text}");
            }
        }
        var result = new SafeLlamaContextHandle { model = model };
        result.SetHandle((IntPtr)ctx);
        return result;
    }

    protected override bool ReleaseHandle()
    {
        LlamaNative.llama_free((void*)handle);
        model?.DangerousRelease();
        model = null;
        return true;
    }
}

/// <summary>An owned llama_adapter_lora*; holds a reference on the model it was loaded for.</summary>
public sealed unsafe class SafeLlamaAdapterHandle : SafeHandle
{
    SafeLlamaModelHandle? model;

    public SafeLlamaAdapterHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    public override bool IsInvalid => handle == IntPtr.Zero;

    internal static SafeLlamaAdapterHandle Load(SafeLlamaModelHandle model, string path)
    {
        bool added = false;
        model.DangerousAddRef(ref added);
        void* adapter;
        using (var capture = LlamaBackend.CaptureErrors())
        {
            adapter = LlamaNative.llama_adapter_lora_init((void*)model.DangerousGetHandle(), path);
            if (adapter is null)
            {
                model.DangerousRelease();
                throw new LlamaLoadException(path, $"llama.cpp refused the LoRA adapter: {capture.Text}");
            }
        }
        var result = new SafeLlamaAdapterHandle { model = model };
        result.SetHandle((IntPtr)adapter);
        return result;
    }

    protected override bool ReleaseHandle()
    {
        LlamaNative.llama_adapter_lora_free((void*)handle);
        model?.DangerousRelease();
        model = null;
        return true;
    }
}

/// <summary>An owned llama_sampler* (a chain; the chain owns the samplers added to it).</summary>
public sealed unsafe class SafeLlamaSamplerHandle : SafeHandle
{
    public SafeLlamaSamplerHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    internal SafeLlamaSamplerHandle(void* sampler) : this() => SetHandle((IntPtr)sampler);

    public override bool IsInvalid => handle == IntPtr.Zero;

    internal void* Pointer => (void*)handle;

    protected override bool ReleaseHandle()
    {
        LlamaNative.llama_sampler_free((void*)handle);
        return true;
    }
}

/// <summary>An owned llama_batch from llama_batch_init; the struct is kept here because llama_batch_free takes it by value.</summary>
public sealed unsafe class SafeLlamaBatchHandle : SafeHandle
{
    internal llama_batch Batch;

    public SafeLlamaBatchHandle() : base(IntPtr.Zero, ownsHandle: true) { }

    internal SafeLlamaBatchHandle(llama_batch batch) : this()
    {
        Batch = batch;
        SetHandle((IntPtr)batch.token);
    }

    public override bool IsInvalid => handle == IntPtr.Zero;

    protected override bool ReleaseHandle()
    {
        LlamaNative.llama_batch_free(Batch);
        Batch = default;
        return true;
    }
}
