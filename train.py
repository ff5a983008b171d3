"""
Train a recurrent-depth GPT. Runs on one CPU, one GPU, or many under torchrun (DDP):

    python train.py config/score_shakespeare.py --batch_size=32
    torchrun --standalone --nproc_per_node=8 train.py config/score_gpt2.py

Settings are the globals-style dict below; a config file or --key=value changes them (configurator.py).
"""
import gc
import math
import os
import pickle
import random
import signal
import sys
import time
import json
from contextlib import nullcontext
from dataclasses import fields

import numpy as np
import torch

from configurator import cli, configure
from model import GPT, GPTConfig, ConfigError, compile_blocks, device_peak_flops, save_checkpoint, load_checkpoint, load_model

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULTS = dict(
    # I/O
    out_dir='out',
    eval_interval=2000,
    log_interval=1,
    eval_iters=200,            # batches per split in each evaluation; the same seeded batches every time
    eval_only=False,           # evaluate once and exit (with init_from='resume': the checkpoint, n_iter may be changed)
    always_save_checkpoint=True,
    init_from='scratch',       # 'scratch' or 'resume' (from out_dir/ckpt.pt)
    # wandb
    wandb_log=False,
    wandb_project='score',
    wandb_run_name='run',
    wandb_mode='online',       # 'offline' or 'disabled' run without an account
    # data
    dataset='openwebtext',
    data_dir='',               # default: data/<dataset> beside this file
    gradient_accumulation_steps=5 * 8,  # global: divided among DDP ranks
    batch_size=12,             # micro-batch size per rank
    block_size=1024,
    # model: see GPTConfig
    n_layer=12,
    n_head=12,
    n_embd=768,
    dropout=0.0,
    bias=False,
    n_iter=1,
    dt=1.0,
    integrator='euler',
    learn_dt=False,            # see GPTConfig for these five
    iter_embd=False,
    backprop_iters=0,
    checkpoint_blocks=False,
    exit_tol=0.0,
    # randomised depth: draw each iteration's n_iter ('uniform' over [n_iter_min, n_iter_max], or Huginn's
    # 'poisson_lognormal' around n_iter); evaluation always runs at n_iter
    depth_sampler='fixed',
    n_iter_min=1,
    n_iter_max=0,              # 0: 2 x n_iter
    depth_sigma=0.5,           # spread of the log-normal rate
    # AdamW
    learning_rate=6e-4,
    max_iters=600000,
    weight_decay=1e-1,
    beta1=0.9,
    beta2=0.95,
    grad_clip=1.0,             # 0 disables clipping
    # learning rate: linear warmup then cosine decay to min_lr
    decay_lr=True,
    warmup_iters=2000,
    lr_decay_iters=600000,
    min_lr=6e-5,
    # system
    device='auto',             # 'auto', 'cpu', 'cuda', 'cuda:1', 'mps'
    dtype='auto',              # 'auto' (bfloat16 where supported, else float16 on cuda, float32 on cpu), or explicit
    compile=False,
    seed=1337,
    peak_flops=0.0,            # device peak FLOP/s for MFU; 0 = known GPU table or a measured CPU matmul
    max_bad_steps=10,          # stop after this many non-finite losses/gradients in a row
)
# fixed by a checkpoint's weights
ARCH_KEYS = ('n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'vocab_size', 'learn_dt', 'iter_embd')
# the rest may change on resume (test-time depth, other integrator, memory settings)
FREE_KEYS = ('dropout', 'n_iter', 'dt', 'integrator', 'backprop_iters', 'checkpoint_blocks', 'exit_tol')
MODEL_KEYS = ARCH_KEYS + FREE_KEYS
EVAL_SEED = 1234  # eval batches depend on this alone, so val losses compare across runs, seeds and resumes


def check_config(c):
    """Every training setting is checked here, once; model settings are checked by GPTConfig."""
    for key in ('eval_interval', 'log_interval', 'eval_iters', 'gradient_accumulation_steps', 'batch_size',
                'max_bad_steps'):
        if c[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {c[key]}")
    for key in ('max_iters', 'warmup_iters', 'lr_decay_iters', 'learning_rate', 'min_lr', 'weight_decay', 'grad_clip'):
        if c[key] < 0:
            raise ConfigError(f"{key} must be >= 0, got {c[key]}")
    if c['depth_sampler'] not in ('fixed', 'uniform', 'poisson_lognormal'):
        raise ConfigError(f"depth_sampler must be fixed, uniform or poisson_lognormal, got {c['depth_sampler']!r}")
    if c['depth_sampler'] != 'fixed':
        hi = c['n_iter_max'] or 2 * c['n_iter']
        if not 1 <= c['n_iter_min'] <= c['n_iter'] <= hi:
            raise ConfigError(f"randomised depth needs 1 <= n_iter_min <= n_iter <= n_iter_max, got "
                              f"{c['n_iter_min']}, {c['n_iter']}, {hi}")
        if c['depth_sigma'] <= 0:
            raise ConfigError(f"depth_sigma must be > 0, got {c['depth_sigma']}")
    if c['init_from'] not in ('scratch', 'resume') and not is_pretrained(c['init_from']):
        raise ConfigError(f"init_from must be 'scratch', 'resume', a GPT-2 name (gpt2, gpt2-medium, gpt2-large, "
                          f"gpt2-xl) or a transformers directory, got {c['init_from']!r}")
    if c['wandb_mode'] not in ('online', 'offline', 'disabled'):
        raise ConfigError(f"wandb_mode must be online, offline or disabled, got {c['wandb_mode']!r}")
    if c['dtype'] not in ('auto', 'float32', 'bfloat16', 'float16'):
        raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {c['dtype']!r}")


def is_pretrained(init_from):
    return init_from in ('gpt2', 'gpt2-medium', 'gpt2-large', 'gpt2-xl') or os.path.isdir(init_from)


def pick_device(name):
    if name == 'auto':
        return 'cuda' if torch.cuda.is_available() else 'mps' if torch.backends.mps.is_available() else 'cpu'
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available here; use --device=cpu")
    if name == 'mps' and not torch.backends.mps.is_available():
        raise ConfigError("device 'mps' requested but MPS is not available here; use --device=cpu")
    if name.split(':')[0] not in ('cpu', 'cuda', 'mps'):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
    return name


def pick_precision(name, device_type):
    """The dtype to train/sample in and its autocast context (none for float32)."""
    if name == 'auto':
        name = 'float32' if device_type != 'cuda' else 'bfloat16' if torch.cuda.is_bf16_supported() else 'float16'
    if name == 'float16' and device_type != 'cuda':
        raise ConfigError("dtype float16 needs cuda (its GradScaler); use float32 or bfloat16 on cpu")
    ptdtype = {'float32': torch.float32, 'bfloat16': torch.bfloat16, 'float16': torch.float16}[name]
    return name, nullcontext() if name == 'float32' else torch.autocast(device_type=device_type, dtype=ptdtype)


def read_meta(data_dir):
    """The data's metadata (vocab_size, token dtype, char tables), {} if it has none (GPT-2 BPE defaults)."""
    path = os.path.join(data_dir, 'meta.pkl')
    if not os.path.exists(path):
        return {}
    try:
        with open(path, 'rb') as f:
            return pickle.load(f)
    except Exception as e:
        raise ConfigError(f"{path} is unreadable ({type(e).__name__}); run the dataset's prepare.py again")


def open_data(data_dir, meta, block_size):
    """The memmapped train and val token files."""
    dtype = np.dtype(meta.get('dtype', 'uint16'))
    data = {}
    for split in ('train', 'val'):
        path = os.path.join(data_dir, f'{split}.bin')
        if not os.path.exists(path):
            prepare = os.path.relpath(os.path.join(data_dir, 'prepare.py'))
            raise ConfigError(f"{path} not found; prepare the data first: python {prepare}")
        data[split] = np.memmap(path, dtype=dtype, mode='r')
        if len(data[split]) <= block_size:
            raise ConfigError(f"{path} holds {len(data[split])} tokens, too few for block_size={block_size}; "
                              f"lower block_size or use more data")
    return data


def init_distributed(backend, rank, world_size):
    """Join the process group; returns the store it was given, if any, to be released after the group."""
    restart = int(os.environ.get('TORCHELASTIC_RESTART_COUNT', 0))
    if restart == 0 or os.environ.get('TORCHELASTIC_USE_AGENT_STORE') != 'True':
        torch.distributed.init_process_group(backend=backend)
        return None
    # After an elastic restart, torchrun's store still holds the dead group's addresses under the same keys, and
    # the new processes may read those and fail to connect: give each attempt its own key space.
    from datetime import timedelta
    store = torch.distributed.TCPStore(os.environ['MASTER_ADDR'], int(os.environ['MASTER_PORT']), world_size,
                                       is_master=False, timeout=timedelta(minutes=10))
    torch.distributed.init_process_group(backend=backend, store=torch.distributed.PrefixStore(f'attempt{restart}', store),
                                         rank=rank, world_size=world_size)
    return store


def draw_n_iter(c, it):
    """The training depth of iteration it: a pure function of (seed, it), so every DDP rank draws the same and a
    resumed run continues the same sequence. Per-block compilation means no recompile for a new draw."""
    if c['depth_sampler'] == 'fixed':
        return c['n_iter']
    rng = np.random.default_rng([c['seed'], it])
    hi = c['n_iter_max'] or 2 * c['n_iter']
    if c['depth_sampler'] == 'uniform':
        n = rng.integers(c['n_iter_min'], hi + 1)
    else:  # Poisson with a log-normal rate whose mean is n_iter (Geiping et al. 2025, "Huginn")
        rate = math.exp(rng.normal(math.log(c['n_iter']) - c['depth_sigma'] ** 2 / 2, c['depth_sigma']))
        n = rng.poisson(rate)
    return int(min(max(n, c['n_iter_min']), hi))


def lr_at(it, c):
    """Linear warmup, cosine decay to min_lr at lr_decay_iters, then min_lr."""
    if not c['decay_lr']:
        return c['learning_rate']
    if it < c['warmup_iters']:
        return c['learning_rate'] * (it + 1) / (c['warmup_iters'] + 1)
    if it > c['lr_decay_iters']:
        return c['min_lr']
    ratio = (it - c['warmup_iters']) / max(1, c['lr_decay_iters'] - c['warmup_iters'])
    return c['min_lr'] + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (c['learning_rate'] - c['min_lr'])


def main(argv):
    c = configure(DEFAULTS, argv)
    check_config(c)

    # ---- setup: processes, device, precision ----
    ddp = int(os.environ.get('RANK', -1)) != -1
    device = pick_device(c['device'])
    rank, local_rank, world_size = 0, 0, 1
    if ddp:
        rank, local_rank = int(os.environ['RANK']), int(os.environ['LOCAL_RANK'])
        world_size = int(os.environ['WORLD_SIZE'])
        if device.startswith('cuda'):
            device = f'cuda:{local_rank}'
            torch.cuda.set_device(device)
        store = init_distributed('nccl' if device.startswith('cuda') else 'gloo', rank, world_size)
        if c['gradient_accumulation_steps'] % world_size:
            raise ConfigError(f"gradient_accumulation_steps ({c['gradient_accumulation_steps']}) must be divisible "
                              f"by the number of processes ({world_size})")
    master = rank == 0
    accum = c['gradient_accumulation_steps'] // world_size
    device_type = device.split(':')[0]
    dtype, autocast = pick_precision(c['dtype'], device_type)
    if device_type == 'cuda':
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out_dir = c['out_dir']
    if master:
        try:
            os.makedirs(out_dir, exist_ok=True)
            with open(os.path.join(out_dir, '.write_test'), 'w'):
                pass
            os.remove(os.path.join(out_dir, '.write_test'))
        except OSError as e:
            raise ConfigError(f"out_dir {out_dir} is not writable ({e.strerror}); choose another --out_dir")
    # ---- model ----
    data_dir = c['data_dir'] or os.path.join(HERE, 'data', c['dataset'])
    meta = read_meta(data_dir)
    ckpt_path = os.path.join(out_dir, 'ckpt.pt')
    if int(os.environ.get('TORCHELASTIC_RESTART_COUNT', 0)) > 0 and os.path.exists(ckpt_path):
        c['init_from'] = 'resume'  # torchrun restarted the group after a worker died: continue, don't start over
    iter_num, best_val_loss, checkpoint = 0, 1e9, None
    model_args = {k: c[k] for k in MODEL_KEYS if k != 'vocab_size'}
    model_args['vocab_size'] = meta.get('vocab_size', 50304)
    torch.manual_seed(c['seed'])  # identical init on every rank
    if c['init_from'] == 'scratch':
        if master:
            print("initializing a new model from scratch" + ("" if 'vocab_size' in meta else
                  " (no meta.pkl: vocab_size 50304, GPT-2's padded)"))
        model = GPT(GPTConfig(**model_args))
    elif is_pretrained(c['init_from']):
        if master:
            print(f"initializing from GPT-2 weights: {c['init_from']}")
        model = GPT.from_pretrained(c['init_from'], {k: c[k] for k in FREE_KEYS})
        if c['block_size'] < model.config.block_size:
            model.crop_block_size(c['block_size'])
    else:
        checkpoint = load_checkpoint(ckpt_path)
        saved = checkpoint['model_args']
        explicit = {k for k in MODEL_KEYS if k in c and c[k] != DEFAULTS[k]}
        if 'block_size' in explicit and c['block_size'] > saved['block_size']:
            raise ConfigError(f"block_size {c['block_size']} is larger than the checkpoint's {saved['block_size']}; "
                              f"use --block_size={saved['block_size']} or less")
        for k in ARCH_KEYS:
            if k in explicit and k != 'block_size' and c[k] != saved.get(k):
                raise ConfigError(f"the checkpoint has {k}={saved.get(k)!r} but the config asks for {c[k]!r}; "
                                  f"drop that setting or train from scratch in another out_dir")
        if model_args['vocab_size'] > saved['vocab_size']:
            raise ConfigError(f"the data's vocabulary ({model_args['vocab_size']}) is larger than the model's "
                              f"vocab_size ({saved['vocab_size']}); prepare matching data")
        model = load_model(checkpoint, {**saved, **{k: c[k] for k in FREE_KEYS}})
        if 'block_size' in explicit and c['block_size'] < saved['block_size']:
            model.crop_block_size(c['block_size'])
        iter_num, best_val_loss = checkpoint['iter_num'], checkpoint['best_val_loss']
        if master:
            print(f"resuming from {ckpt_path} at iter {iter_num}")
    c['block_size'] = model.config.block_size  # a resumed model keeps its context unless cropped
    model_args = {f.name: getattr(model.config, f.name) for f in fields(model.config)}  # what the checkpoint stores
    model.to(device)
    if master:
        n_unique = model.get_num_params()
        print(f"model: {model.config.n_layer} unique block(s) x {model.config.n_iter} iterations "
              f"({model.config.integrator}, dt={model.config.dt}), {n_unique / 1e6:.2f}M unique parameters")

    tokens_per_iter = c['gradient_accumulation_steps'] * c['batch_size'] * c['block_size']
    if master:
        print(f"tokens per iteration: {tokens_per_iter:,} ({world_size} process(es) x {accum} micro-steps x "
              f"{c['batch_size']} x {c['block_size']}), device {device}, dtype {dtype}")

    # ---- data ----
    data = open_data(data_dir, meta, c['block_size'])

    def get_batch(split, ix):
        d = data[split]
        x = torch.from_numpy(np.stack([d[i:i + c['block_size']].astype(np.int64) for i in ix]))
        y = torch.from_numpy(np.stack([d[i + 1:i + 1 + c['block_size']].astype(np.int64) for i in ix]))
        if device_type == 'cuda':
            return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
        return x.to(device), y.to(device)

    # Every rank draws the same global batch of offsets, one row per global micro-step, and takes its own rows:
    # ranks see different data, and N ranks x A micro-steps train on exactly the batch of 1 rank x N*A.
    data_rng = np.random.default_rng(c['seed'])

    def draw_offsets():
        ix = data_rng.integers(len(data['train']) - c['block_size'], size=(c['gradient_accumulation_steps'], c['batch_size']))
        return ix[rank * accum:(rank + 1) * accum]

    scaler = torch.amp.GradScaler(device_type, enabled=(dtype == 'float16'))
    optimizer = model.configure_optimizers(c['weight_decay'], c['learning_rate'], (c['beta1'], c['beta2']), device_type)
    if checkpoint is not None:
        optimizer.load_state_dict(checkpoint['optimizer'])
        if 'scaler' in checkpoint:
            scaler.load_state_dict(checkpoint['scaler'])
        if 'rng' in checkpoint:
            restore_rng(checkpoint['rng'], data_rng)
        checkpoint = None  # free memory

    raw_model = model
    if c['compile']:
        compile_blocks(raw_model, device_type)
    if ddp:
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if device_type == 'cuda' else None)
        torch.manual_seed(c['seed'] + rank)  # dropout differs per rank (init above was identical)

    @torch.no_grad()
    def estimate_loss():
        """Mean loss on the fixed eval batches at the configured depth; on val also each iteration's mean relative
        update ||h' - h|| / ||h|| (the convergence diagnostics) and, with exit_tol, the iterations used."""
        out = {}
        model.eval()
        raw_model.config.n_iter = c['n_iter']
        for split in ('train', 'val'):
            raw_model.update_norms = [] if split == 'val' else None
            iters = 0.0
            rng = np.random.default_rng([EVAL_SEED, split == 'val'])
            losses = torch.zeros(c['eval_iters'])
            for k in range(c['eval_iters']):
                X, Y = get_batch(split, rng.integers(len(data[split]) - c['block_size'], size=c['batch_size']))
                with autocast:
                    _, loss = model(X, Y)
                losses[k] = loss.item()
                iters += raw_model.iters_used.mean().item() / raw_model.config.n_layer / c['eval_iters']
            out[split] = losses.mean().item()
        norms = torch.stack([r for _, _, r in raw_model.update_norms]).view(c['eval_iters'], -1).mean(0).tolist()
        out['update_norms'] = [round(r, 5) for r in norms]
        out['mean_iters'] = iters
        raw_model.update_norms = None
        model.train()
        return out

    def checkpoint_now():
        return {
            'model': raw_model.state_dict(), 'optimizer': optimizer.state_dict(), 'scaler': scaler.state_dict(),
            'model_args': model_args, 'iter_num': iter_num, 'best_val_loss': best_val_loss, 'config': c,
            'rng': capture_rng(data_rng),
        }

    log_file = open(os.path.join(out_dir, 'log.jsonl'), 'a') if master else None

    def log(record):
        log_file.write(json.dumps(record) + '\n')
        log_file.flush()

    if c['wandb_log'] and master:
        import wandb
        wandb.init(project=c['wandb_project'], name=c['wandb_run_name'], config=c, mode=c['wandb_mode'])

    # SIGTERM/SIGINT finish the current step, save and exit 0; a second signal exits at once.
    stop = []

    def on_signal(signum, frame):
        if stop:
            print("second signal: exiting without a checkpoint", flush=True)
            os._exit(130)
        stop.append(signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    # ---- training loop ----
    peak = device_peak_flops(device_type, c['peak_flops'])
    t0 = time.time()
    running_mfu, bad_steps, local_iter, status = -1.0, 0, 0, 0
    while True:
        lr = lr_at(iter_num, c)
        for group in optimizer.param_groups:
            group['lr'] = lr

        if (iter_num % c['eval_interval'] == 0 or c['eval_only']) and master:
            losses = estimate_loss()
            print(f"step {iter_num}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
            norms = losses['update_norms']
            rates = [b / a for a, b in zip(norms, norms[1:]) if a > 0]
            contraction = math.prod(rates) ** (1 / len(rates)) if rates else float('nan')
            if len(norms) > 1:
                print(f"  relative update per iteration: {' '.join(f'{r:.3g}' for r in norms)}"
                      f" (contraction {contraction:.3f})" + (f", mean iterations {losses['mean_iters']:.2f}"
                                                             if c['exit_tol'] else ""))
            log({'iter': iter_num, 'train_loss': losses['train'], 'val_loss': losses['val'], 'update_norms': norms,
                 'contraction': contraction, 'mean_iters': losses['mean_iters']})
            if c['wandb_log']:
                wandb.log({'iter': iter_num, 'train/loss': losses['train'], 'val/loss': losses['val'], 'lr': lr,
                           'mfu': running_mfu * 100, 'val/contraction': contraction,
                           **{f'val/update_norm_{i}': r for i, r in enumerate(norms)}})
            if (losses['val'] < best_val_loss or c['always_save_checkpoint']) and not c['eval_only']:
                best_val_loss = min(best_val_loss, losses['val'])
                if iter_num > 0:
                    save_checkpoint(ckpt_path, checkpoint_now())
                    print(f"saved checkpoint to {ckpt_path}")
        if c['eval_only']:
            break

        raw_model.config.n_iter = draw_n_iter(c, iter_num)
        loss_sum = torch.zeros((), device=device)
        for micro_step, ix in enumerate(draw_offsets()):
            X, Y = get_batch('train', ix)
            if ddp:  # sync gradients only on the last micro-step
                model.require_backward_grad_sync = micro_step == accum - 1
            with autocast:
                _, loss = model(X, Y)
                loss = loss / accum
            loss_sum += loss.detach()
            scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), c['grad_clip'] or float('inf'))
        finite = bool(torch.isfinite(loss_sum)) and bool(torch.isfinite(norm))
        if finite or scaler.is_enabled():
            scaler.step(optimizer)  # the fp16 scaler skips non-finite steps by itself and lowers its scale
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        bad_steps = 0 if finite else bad_steps + 1
        if not finite:
            if master:
                print(f"iter {iter_num}: non-finite loss or gradient, step skipped ({bad_steps} in a row)")
                log({'iter': iter_num, 'skipped': 'non-finite', 'in_a_row': bad_steps})
            if bad_steps >= c['max_bad_steps']:
                if master:
                    save_checkpoint(ckpt_path, checkpoint_now())
                print(f"error: {bad_steps} non-finite steps in a row; stopped, the last good state is in {ckpt_path}. "
                      f"Lower learning_rate or enable grad_clip, then resume.", file=sys.stderr)
                status = 1
                break

        t1 = time.time()
        elapsed, t0 = t1 - t0, t1
        if iter_num % c['log_interval'] == 0:
            if ddp:
                torch.distributed.all_reduce(loss_sum, op=torch.distributed.ReduceOp.AVG)
            if master:
                lossf = loss_sum.item()
                if local_iter >= 5:  # let the first iterations settle
                    mfu = raw_model.estimate_mfu(c['batch_size'] * accum, elapsed, peak)  # per device
                    running_mfu = mfu if running_mfu == -1.0 else 0.9 * running_mfu + 0.1 * mfu
                print(f"iter {iter_num}: loss {lossf:.4f}, time {elapsed * 1000:.2f}ms, mfu {running_mfu * 100:.2f}%")
                log({'iter': iter_num, 'loss': lossf, 'lr': lr, 'ms': elapsed * 1000, 'n_iter': raw_model.config.n_iter,
                     'tokens_per_s': tokens_per_iter / elapsed, 'mfu': running_mfu})
        iter_num += 1
        local_iter += 1

        stopping = bool(stop)
        if ddp:  # a signal may reach the ranks at different steps: stop together, or the others hang
            flag = torch.tensor([float(stopping)], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            stopping = flag.item() > 0
        if stopping:
            if master:
                save_checkpoint(ckpt_path, checkpoint_now())
                print(f"stopped by signal at iter {iter_num}; checkpoint in {ckpt_path}; "
                      f"continue with --init_from=resume")
            break
        if iter_num > c['max_iters']:
            break

    if ddp:
        # Free DDP (its reducer holds gloo work objects) and the group while Python is fully alive: left to
        # interpreter exit, their teardown can abort the process (SIGABRT) after a run that went fine.
        del model
        gc.collect()
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
        del store
    return status


def capture_rng(data_rng):
    """Every random state training draws from, so that a resumed run continues exactly."""
    kind, key, pos, has_gauss, gauss = np.random.get_state()
    return {'python': random.getstate(), 'numpy': (kind, key.tolist(), pos, has_gauss, gauss),
            'torch': torch.get_rng_state(),
            'cuda': torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            'data': data_rng.bit_generator.state}


def restore_rng(state, data_rng):
    random.setstate(state['python'])
    kind, key, pos, has_gauss, gauss = state['numpy']
    np.random.set_state((kind, np.array(key, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state['torch'].cpu())
    if state['cuda'] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state['cuda']])
    data_rng.bit_generator.state = state['data']


if __name__ == '__main__':
    cli(main)
