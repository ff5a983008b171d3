"""
A GPT whose depth comes from recurrence: nanoGPT's model, with the stack of blocks replaced by
n_layer unique blocks, each applied n_iter times with the contractive update (SCORE, arXiv 2603.10544)

    h <- h + dt * g(h),   g(h) = F(h) - h,   i.e.  h <- (1 - dt) * h + dt * F(h)   (euler)

where F is the ordinary pre-LN block with its own residual adds. Higher-order integrators (heun, midpoint,
rk4) evaluate F several times per step. n_layer=L, n_iter=1, dt=1 is exactly nanoGPT; n_iter=1, dt=0.5 is
the paper's "skip05"; n_layer=1, n_iter=T is SCORE proper. One code path serves all three.
"""
import math
import os
import inspect
from dataclasses import dataclass, fields

import torch
import torch.nn as nn
from torch.nn import functional as F


class ConfigError(ValueError):
    """A user mistake in a model or training setting: entry points print it as one line and exit 2."""


# Butcher tableaux of the explicit integrators on g: stage i evaluates g at h + dt * sum_j a[i][j] * k_j,
# and the step is h + dt * sum_i b[i] * k_i.
TABLEAUX = {
    'euler':    ([[]], [1.0]),
    'midpoint': ([[], [0.5]], [0.0, 1.0]),
    'heun':     ([[], [1.0]], [0.5, 0.5]),
    'rk4':      ([[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], [1/6, 1/3, 1/3, 1/6]),
}


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2's 50257 padded up to a multiple of 64 for efficiency
    n_layer: int = 12        # number of UNIQUE blocks
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True        # bias in Linears and LayerNorms, like GPT-2; False is a bit better and faster
    n_iter: int = 1          # applications of each unique block; effective depth = n_layer * n_iter
    dt: float = 1.0          # step size of the update, in (0, 1]
    integrator: str = 'euler'
    gelu_approximate: str = 'none'  # 'tanh' for GPT-2's own weights, which were trained with the tanh GELU
    # recurrent depth as a feature (all off by default)
    learn_dt: bool = False   # one learned dt per application, sigmoid-parametrised in (0, 1), starting at dt
    iter_embd: bool = False  # a learned per-iteration vector added to h before each application
    backprop_iters: int = 0  # > 0: backprop only through the last k iterations of each block (see recur)
    checkpoint_blocks: bool = False  # recompute each application in backward instead of storing activations
    exit_tol: float = 0.0    # inference: a token stops iterating once ||h' - h|| / ||h|| < exit_tol (0: never)
    n_iter_table: int = 0    # entries of the per-iteration tables (learned dt, iteration embedding); 0: n_iter

    def __post_init__(self):
        # every model knob is checked here, once, so a bad value fails before any tensor is made
        if self.n_iter_table == 0:  # fixed at training time, so the weights still load at another test-time n_iter
            self.n_iter_table = self.n_iter
        for name in ('block_size', 'vocab_size', 'n_layer', 'n_head', 'n_embd', 'n_iter'):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {value!r}")
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}); "
                              f"try n_embd={self.n_embd // self.n_head * self.n_head or self.n_head}")
        if not 0.0 < self.dt <= 1.0:
            raise ConfigError(f"dt must be in (0, 1], got {self.dt!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.gelu_approximate not in ('none', 'tanh'):
            raise ConfigError(f"gelu_approximate must be 'none' or 'tanh', got {self.gelu_approximate!r}")
        if self.integrator not in TABLEAUX:
            raise ConfigError(f"unknown integrator {self.integrator!r}; choose one of {', '.join(TABLEAUX)}")
        if self.learn_dt and self.dt >= 1.0:
            raise ConfigError("learn_dt keeps dt inside (0, 1), so it cannot start at dt=1.0; set e.g. --dt=0.5")
        if not isinstance(self.backprop_iters, int) or self.backprop_iters < 0:
            raise ConfigError(f"backprop_iters must be an integer >= 0 (0: all iterations), got {self.backprop_iters!r}")
        if not self.exit_tol >= 0.0:
            raise ConfigError(f"exit_tol must be >= 0 (0: no early exit), got {self.exit_tol!r}")

    @property
    def n_stages(self):
        """F-evaluations per integrator step."""
        return len(TABLEAUX[self.integrator][1])

    @property
    def n_applications(self):
        """F-evaluations in one forward pass: n_layer x n_iter x stages."""
        return self.n_layer * self.n_iter * self.n_stages

    @classmethod
    def from_args(cls, model_args):
        """Build from a checkpoint's model_args; fields it lacks (an upstream nanoGPT checkpoint) take defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in model_args.items() if k in known})


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias (PyTorch's has no bias=False before 2.1)."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head

    def qkv(self, x, kv=None):
        """Queries, keys and values as (B, heads, T, head_dim); with a cache slot kv, the keys and values of the
        earlier positions are prepended and the slot is extended."""
        B, T, C = x.size()
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in self.c_attn(x).split(C, dim=2))
        if kv is not None:
            if kv:
                k, v = torch.cat((kv['k'], k), dim=2), torch.cat((kv['v'], v), dim=2)
            kv['k'], kv['v'] = k, v
        return q, k, v

    def forward(self, x, kv=None):
        B, T, C = x.size()
        q, k, v = self.qkv(x, kv)
        past = k.size(2) - T
        mask = None
        if past and T > 1:  # new queries see all cached positions and the causal part of their own
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=not past and T > 1,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU(approximate=config.gelu_approximate)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """F: the unmodified pre-LN nanoGPT block, residual adds included."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv=None):
        x = x + self.attn(self.ln_1(x), kv)
        x = x + self.mlp(self.ln_2(x))
        return x


class KVCache:
    """Keys and values for generation, one slot per APPLICATION (block, iteration, integrator stage): each
    application sees a different h, so each has keys and values of its own."""

    def __init__(self):
        self.slots = {}
        self.length = 0  # positions cached so far

    def slot(self, *application):
        return self.slots.setdefault(application, {})


class GPT(nn.Module):

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        if config.iter_embd:
            self.transformer.wie = nn.Embedding(config.n_iter_table, config.n_embd)
        if config.learn_dt:
            logit = math.log(config.dt / (1 - config.dt))
            self.dt_logit = nn.Parameter(torch.full((config.n_layer, config.n_iter_table), logit))

        self.apply(self._init_weights)
        # Residual projections write into the stream once per APPLICATION, so GPT-2's 1/sqrt(2 * depth) rule
        # counts applications: 2 writes (attn, mlp) x n_layer x n_iter x stages. The dt factor only shrinks the
        # writes further, so it needs no correction. With n_iter=1, euler this is nanoGPT's init exactly.
        std = 0.02 / math.sqrt(2 * config.n_applications)
        for name, p in self.named_parameters():
            if name.endswith('c_proj.weight'):
                torch.nn.init.normal_(p, mean=0.0, std=std)
        if config.iter_embd:  # zero: the model starts as the plain recurrence and learns to tell iterations apart
            torch.nn.init.zeros_(self.transformer.wie.weight)
        self.update_norms = None  # set to [] to record each iteration's mean relative update (diagnostics)

    def get_num_params(self, non_embedding=True):
        """Unique parameters: a shared block counts once however often it is applied (parameters() dedups).
        With non_embedding, the position embeddings are left out; token embeddings stay, being the tied head."""
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def step(self, block, h, dt, kv=None, frozen=None):
        """One integrator step of g(x) = block(x) - x with step size dt. kv: the cache slot of each stage.
        frozen: (B, T, 1) tokens that exited early; their stage inputs stay h, so their keys and values are h's."""
        a, b = TABLEAUX[self.config.integrator]
        ks = []
        for stage, a_i in enumerate(a):
            x = h
            for a_ij, k in zip(a_i, ks):
                if a_ij:
                    x = x + (dt * a_ij) * k
            if frozen is not None:
                x = torch.where(frozen, h, x)
            kv_s = kv[stage] if kv else None
            if self.config.checkpoint_blocks and self.training and torch.is_grad_enabled():
                y = torch.utils.checkpoint.checkpoint(block, x, kv_s, use_reentrant=False)
            else:
                y = block(x, kv_s)
            ks.append(y - x)
        for b_i, k in zip(b, ks):
            if b_i:
                h = h + (dt * b_i) * k
        return h

    def recur(self, h, cache=None):
        """The depth loop: each unique block applied n_iter times. Beyond the iterations it was trained with
        (test-time depth), learned dt and iteration embeddings reuse their last entry."""
        cfg = self.config
        stages = range(cfg.n_stages)
        exit_tol = 0.0 if self.training else cfg.exit_tol
        no_grad_iters = cfg.n_iter - cfg.backprop_iters if cfg.backprop_iters and self.training else 0
        self.iters_used = torch.zeros(h.shape[:2], device=h.device)
        for l, block in enumerate(self.transformer.h):
            frozen = torch.zeros(*h.shape[:2], 1, dtype=torch.bool, device=h.device) if exit_tol else None
            h_in = h
            for i in range(cfg.n_iter):
                if no_grad_iters and i == no_grad_iters:
                    # Truncated backprop: the first iterations ran without a graph. Their net change passes the
                    # gradient straight through (as if their Jacobian were the identity), so the embeddings and
                    # earlier blocks still learn; cutting the graph here would leave wpe with no gradient at all.
                    h = h_in + (h - h_in).detach()
                kv = [cache.slot(l, i, s) for s in stages] if cache is not None else None
                j = min(i, cfg.n_iter_table - 1)
                x = h + self.transformer.wie.weight[j] if cfg.iter_embd else h
                if frozen is not None and frozen.all():  # every token has exited this block
                    if self.update_norms is not None:
                        self.update_norms.append((l, i, h.new_zeros(())))  # nothing moves any more
                    if kv:  # later positions attend to these tokens at every application: give them the keys
                        for slot in kv:  # that the masked step below gives exited tokens (input x at each stage)
                            block.attn.qkv(block.ln_1(x), slot)
                    continue
                dt = torch.sigmoid(self.dt_logit[l, j]) if cfg.learn_dt else cfg.dt
                with torch.set_grad_enabled(torch.is_grad_enabled() and i >= no_grad_iters):
                    h_new = self.step(block, x, dt, kv, frozen)
                if frozen is not None or self.update_norms is not None:
                    rel = (h_new - h).norm(dim=-1) / h.norm(dim=-1).clamp_min(1e-12)
                    if self.update_norms is not None:
                        self.update_norms.append((l, i, rel.detach().mean()))
                if frozen is not None:
                    self.iters_used += ~frozen[..., 0]
                    h_new = torch.where(frozen, h, h_new)
                    frozen = frozen | (rel < exit_tol)[..., None]
                else:
                    self.iters_used += 1
                h = h_new
        return h

    def forward(self, idx, targets=None, cache=None):
        device = idx.device
        b, t = idx.size()
        past = cache.length if cache is not None else 0
        assert past + t <= self.config.block_size, f"Cannot forward sequence of length {past + t}, block size is only {self.config.block_size}"
        pos = torch.arange(past, past + t, dtype=torch.long, device=device)
        h = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        h = self.recur(h, cache)
        if cache is not None:
            cache.length += t
        h = self.transformer.ln_f(h)

        if targets is not None:
            logits = self.lm_head(h)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(h[:, [-1], :])  # inference: only the last position is needed
            loss = None
        return logits, loss

    @classmethod
    def from_pretrained(cls, name_or_path, override_args=None):
        """GPT-2 weights from Hugging Face: 'gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl' or a local directory
        saved by transformers. A stacked model (n_iter=1, dt=1); override_args may set dropout, n_iter, dt."""
        from transformers import GPT2LMHeadModel
        hf = GPT2LMHeadModel.from_pretrained(name_or_path)
        hc = hf.config
        config = GPTConfig(block_size=hc.n_positions, vocab_size=hc.vocab_size, n_layer=hc.n_layer, n_head=hc.n_head,
                           n_embd=hc.n_embd, bias=True, gelu_approximate='tanh', **(override_args or {}))
        model = cls(config)
        ours = model.state_dict()
        theirs = {k: v for k, v in hf.state_dict().items() if not k.endswith(('.attn.bias', '.attn.masked_bias'))}
        if set(theirs) != set(ours):
            raise ConfigError(f"{name_or_path} is not a GPT-2 checkpoint (weights {sorted(set(theirs) ^ set(ours))[:3]} differ)")
        # GPT-2 stores its Linear layers as Conv1D, i.e. transposed
        transposed = ('attn.c_attn.weight', 'attn.c_proj.weight', 'mlp.c_fc.weight', 'mlp.c_proj.weight')
        with torch.no_grad():
            for k, v in theirs.items():
                ours[k].copy_(v.t() if k.endswith(transposed) else v)
        return model

    def crop_block_size(self, block_size):
        """Shrink the context (e.g. a pretrained 1024 model used at 256)."""
        assert block_size <= self.config.block_size
        self.config.block_size = block_size
        self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size])

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        params = [p for p in self.parameters() if p.requires_grad]
        # matrices and embeddings decay; biases and norm gains do not
        groups = [
            {'params': [p for p in params if p.dim() >= 2], 'weight_decay': weight_decay},
            {'params': [p for p in params if p.dim() < 2], 'weight_decay': 0.0},
        ]
        use_fused = device_type == 'cuda' and 'fused' in inspect.signature(torch.optim.AdamW).parameters
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **({'fused': True} if use_fused else {}))

    def flops_per_token(self):
        """Training FLOPs per token, counted by applications: a shared block costs as often as it runs, so
        6N (which counts parameters once) would undercount SCORE by a factor n_iter x stages."""
        cfg = self.config
        block_params = sum(p.numel() for p in self.transformer.h.parameters()) // cfg.n_layer
        other_params = self.get_num_params() - block_params * cfg.n_layer
        per_application = 6 * block_params + 12 * cfg.n_embd * cfg.block_size  # matmuls + attention scores
        # with truncated backprop the first iterations only run forward: a third of the work
        grad_iters = min(cfg.backprop_iters or cfg.n_iter, cfg.n_iter)
        forward_only = cfg.n_layer * (cfg.n_iter - grad_iters) * cfg.n_stages
        return 6 * other_params + (cfg.n_applications - forward_only) * per_application + forward_only * per_application // 3

    def estimate_mfu(self, fwdbwd_per_iter, seconds_per_iter, peak_flops):
        """Model FLOPs utilisation: achieved FLOP/s over the device's peak (see device_peak_flops)."""
        flops_per_iter = self.flops_per_token() * self.config.block_size * fwdbwd_per_iter
        return flops_per_iter / seconds_per_iter / peak_flops

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, kv_cache=True):
        """Sample max_new_tokens continuations of idx (b, t), feeding each prediction back in.
        With kv_cache, each new token runs through the model alone against cached keys and values. When the
        cache reaches block_size (the position table ends there), it is rebuilt from the last block_size // 2
        tokens, so past block_size a token sees between half and all of block_size of context, where the
        uncached path always sees block_size. Up to block_size both give the same tokens."""
        bs = self.config.block_size
        cache = None
        for _ in range(max_new_tokens):
            if not kv_cache:
                logits, _ = self(idx[:, -bs:])
            elif cache is None or cache.length == bs:
                window = idx[:, -bs:] if cache is None else idx[:, -(bs // 2):]
                cache = KVCache()
                logits, _ = self(window, cache=cache)
            else:
                logits, _ = self(idx[:, -1:], cache=cache)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float('Inf')
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def compile_blocks(model, device_type):
    """torch.compile each unique block in place. The block is the unit that repeats, so compile time does not
    grow with n_iter and changing n_iter (test-time depth, randomised depth) reuses the same graph; compiling the
    whole model unrolls the depth loop into one graph and recompiles for every new n_iter. bench/throughput.py on
    a 2-core CPU (1 x 8, 128 wide): blocks 10.1 s to compile, 1.05x eager, 0.04 s at a new n_iter; whole model
    20.6 s, 1.08x eager, 9.2 s to recompile at a new n_iter. The small steady-state gain is not worth a
    recompile per depth draw, so the block it is.
    Falls back to eager, with one warning, where the compiler toolchain is missing."""
    import shutil
    if device_type == 'cuda':
        from torch.utils._triton import has_triton
        missing = None if has_triton() else 'Triton is not installed'
    else:
        missing = None if shutil.which(os.environ.get('CXX', 'g++')) or shutil.which('c++') else 'no C++ compiler found'
    if missing:
        print(f"warning: compile=True but {missing}; running eager")
        return False
    for block in model.transformer.h:
        block.compile()
    return True


# Dense bf16/fp16 tensor-core peaks (FLOP/s) from the vendors' data sheets, matched against the device name.
GPU_PEAK_FLOPS = [('H200', 989e12), ('H100', 989e12), ('A100', 312e12), ('L40S', 362e12), ('L4', 121e12),
                  ('A10', 125e12), ('V100', 125e12), ('4090', 165e12), ('3090', 71e12), ('T4', 65e12)]


def device_peak_flops(device_type, override=0.0):
    """Peak FLOP/s of the device in use: an explicit override, a known GPU by name, or a measured CPU matmul."""
    if override:
        return override
    if device_type == 'cuda':
        name = torch.cuda.get_device_name()
        for key, peak in GPU_PEAK_FLOPS:
            if key in name:
                return peak
        print(f"warning: peak FLOP/s of {name!r} unknown; MFU uses A100's 312e12 (set peak_flops to fix)")
        return 312e12
    # CPU (and mps): measure a large fp32 matmul, the best this machine does on the model's main kernel
    import time
    n = 1024
    gen = torch.Generator().manual_seed(0)  # a private generator: training's random streams stay untouched
    a, b = torch.randn(n, n, generator=gen), torch.randn(n, n, generator=gen)
    best = float('inf')
    for _ in range(6):  # the fastest of a few: other load on the machine only ever slows a trial down
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def save_checkpoint(path, checkpoint):
    """Write atomically: a temporary file in the same directory, flushed to disk, then renamed over the old one,
    so a crash at any moment leaves either the previous checkpoint or the new one, never a torn file."""
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, 'wb') as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_checkpoint(path):
    """Read a checkpoint (ours or upstream nanoGPT's) to CPU, or raise ConfigError saying what is wrong."""
    if not os.path.isfile(path):
        raise ConfigError(f"no checkpoint at {path}; train one first, or point --out_dir at a run that has ckpt.pt")
    try:
        checkpoint = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:
        raise ConfigError(f"{path} is not a readable checkpoint ({type(e).__name__}); it may be truncated: "
                          f"delete it and train again")
    if not isinstance(checkpoint, dict) or not {'model', 'model_args'} <= checkpoint.keys():
        raise ConfigError(f"{path} is not a training checkpoint (it lacks 'model' and 'model_args')")
    return checkpoint


def load_model(checkpoint, model_args=None):
    """The GPT stored in a checkpoint; model_args may override the depth settings (n_iter, dt, integrator)."""
    config = GPTConfig.from_args(model_args or checkpoint['model_args'])
    model = GPT(config)
    # torch.compile'd models prefix '_orig_mod.'; upstream nanoGPT may store its causal mask buffer 'attn.bias'
    state = {k.removeprefix('_orig_mod.'): v for k, v in checkpoint['model'].items()
             if not (k.endswith('.attn.bias') and v.dim() == 4)}
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        detail = str(e).splitlines()[1].strip() if len(str(e).splitlines()) > 1 else str(e)
        raise ConfigError(f"the checkpoint's weights do not fit its model_args ({detail})")
    return model
