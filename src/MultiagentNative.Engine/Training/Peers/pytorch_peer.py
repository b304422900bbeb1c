# The PyTorch peer of `mafn bench train`: a small llama-style trainer (embedding, RMSNorm, RoPE, causal attention,
# SwiGLU, untied head, AdamW) on the engine's shape; prints one JSON line. Run by PyTorchPeer.cs in its own process.
# argv: d_model layers heads ffn vocab seq_len sequences steps threads
import ctypes, json, sys, time
try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print(json.dumps({"status": "not installed"})); sys.exit(0)

def openblas_core():
    # the core type OpenBLAS picked in this process (torch's BLAS on Debian is the system OpenBLAS)
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        lib.openblas_get_corename.restype = ctypes.c_char_p
        return lib.openblas_get_corename().decode()
    except (OSError, AttributeError):
        return None

d, layers, heads, ffn, vocab, seq, batch, steps, threads = map(int, sys.argv[1:10])
torch.set_num_threads(threads)
torch.manual_seed(0)
hd = d // heads

def param(*shape):
    return torch.nn.Parameter(torch.randn(*shape) * 0.02)

class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.n1, self.n2 = torch.nn.Parameter(torch.ones(d)), torch.nn.Parameter(torch.ones(d))
        self.wqkv, self.wo = param(3 * d, d), param(d, d)
        self.wgu, self.wdown = param(2 * ffn, d), param(d, ffn)

def rms(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

def rope(x, cos, sin):
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), -1).flatten(-2)

class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = param(vocab, d)
        self.blocks = torch.nn.ModuleList(Block() for _ in range(layers))
        self.norm, self.head = torch.nn.Parameter(torch.ones(d)), param(vocab, d)
        inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2).float() / hd))
        angles = torch.outer(torch.arange(seq).float(), inv)
        self.cos, self.sin = angles.cos(), angles.sin()

    def forward(self, tokens):
        b, t = tokens.shape
        x = self.emb[tokens]
        for blk in self.blocks:
            q, k, v = F.linear(rms(x, blk.n1), blk.wqkv).view(b, t, 3, heads, hd).unbind(2)
            q, k = rope(q, self.cos[:t, None], self.sin[:t, None]), rope(k, self.cos[:t, None], self.sin[:t, None])
            q, k, v = (z.transpose(1, 2) for z in (q, k, v))
            scores = (q @ k.transpose(-1, -2)) / hd ** 0.5
            mask = torch.ones(t, t, dtype=torch.bool).triu(1)
            att = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
            x = x + F.linear(att.transpose(1, 2).reshape(b, t, d), blk.wo)
            gate, up = F.linear(rms(x, blk.n2), blk.wgu).chunk(2, -1)
            x = x + F.linear(F.silu(gate) * up, blk.wdown)
        return F.linear(rms(x, self.norm), self.head)

model = Model()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
data = torch.randint(0, vocab, (steps + 1, batch, seq + 1))
def step(i):
    logits = model(data[i, :, :-1])
    loss = F.cross_entropy(logits.reshape(-1, vocab), data[i, :, 1:].reshape(-1))
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
    return loss.item()
step(0)
start = time.perf_counter()
for i in range(1, steps + 1):
    loss = step(i)
elapsed = time.perf_counter() - start
print(json.dumps({"status": "ok", "torch": torch.__version__, "tokens_per_second": steps * batch * seq / elapsed, "loss": loss,
                  "blas_core": openblas_core()}))
