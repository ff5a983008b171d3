import math

import pytest
import torch

from model import GPT, GPTConfig, ConfigError, TABLEAUX, load_model

SMALL = dict(block_size=16, vocab_size=37, n_layer=2, n_head=2, n_embd=16, dropout=0.0, bias=True)


def make(**kw):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**SMALL, **kw}))
    model.eval()
    return model


def tokens(b=2, t=12, vocab=37):
    return torch.randint(0, vocab, (b, t), generator=torch.Generator().manual_seed(1))


# ---- hand-written references, independent of GPT.forward ----

def embed(model, idx):
    return model.transformer.wte(idx) + model.transformer.wpe(torch.arange(idx.size(1)))


def head(model, h):
    return model.lm_head(model.transformer.ln_f(h))


def ref_step(block, h, dt, integrator):
    g = lambda x: block(x) - x
    if integrator == 'euler':
        return (1 - dt) * h + dt * block(h)
    if integrator == 'heun':
        k1 = g(h)
        k2 = g(h + dt * k1)
        return h + dt / 2 * (k1 + k2)
    if integrator == 'midpoint':
        k1 = g(h)
        return h + dt * g(h + dt / 2 * k1)
    if integrator == 'rk4':
        k1 = g(h)
        k2 = g(h + dt / 2 * k1)
        k3 = g(h + dt / 2 * k2)
        k4 = g(h + dt * k3)
        return h + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    raise AssertionError(integrator)


def ref_logits(model, idx):
    cfg = model.config
    h = embed(model, idx)
    for block in model.transformer.h:
        for _ in range(cfg.n_iter):
            h = ref_step(block, h, cfg.dt, cfg.integrator)
    return head(model, h)


@pytest.mark.parametrize('integrator', sorted(TABLEAUX))
@pytest.mark.parametrize('n_layer,n_iter,dt', [(1, 4, 0.25), (2, 3, 0.5), (1, 1, 1.0)])
def test_update_rule_matches_reference(integrator, n_layer, n_iter, dt):
    model = make(n_layer=n_layer, n_iter=n_iter, dt=dt, integrator=integrator)
    idx = tokens()
    logits, loss = model(idx, idx)
    with torch.no_grad():
        torch.testing.assert_close(logits, ref_logits(model, idx), rtol=1e-5, atol=1e-5)
    assert logits.shape == (2, 12, 37) and loss is not None


def test_n_iter_1_dt_1_is_plain_stacking():
    model = make(n_layer=3, n_iter=1, dt=1.0)
    idx = tokens()
    with torch.no_grad():
        h = embed(model, idx)
        for block in model.transformer.h:
            h = block(h)  # nanoGPT's forward: x = block(x)
        torch.testing.assert_close(model(idx, idx)[0], head(model, h), rtol=1e-6, atol=1e-6)


def test_integrators_differ_and_dt_matters():
    idx = tokens()
    outs = {name: make(n_layer=1, n_iter=2, dt=0.5, integrator=name)(idx, idx)[0] for name in TABLEAUX}
    assert not torch.allclose(outs['euler'], outs['rk4'])
    assert not torch.allclose(make(n_layer=1, n_iter=2, dt=0.5)(idx, idx)[0], make(n_layer=1, n_iter=2, dt=0.9)(idx, idx)[0])


def test_inference_returns_last_position_only():
    model = make(n_layer=1, n_iter=3, dt=0.5)
    idx = tokens()
    logits, loss = model(idx)
    assert loss is None and logits.shape == (2, 1, 37)
    torch.testing.assert_close(logits[:, 0], model(idx, idx)[0][:, -1], rtol=1e-5, atol=1e-5)


def test_unique_parameter_count():
    stack6 = make(n_layer=6)
    score = make(n_layer=1, n_iter=6, dt=0.5)
    stack1 = make(n_layer=1)
    block = sum(p.numel() for p in stack1.transformer.h[0].parameters())
    assert score.get_num_params() == stack1.get_num_params()  # iterations add no parameters
    assert stack6.get_num_params() - score.get_num_params() == 5 * block
    wpe = SMALL['block_size'] * SMALL['n_embd']
    assert score.get_num_params(non_embedding=False) - score.get_num_params() == wpe
    # the tied head counts once
    assert score.get_num_params(non_embedding=False) == sum(p.numel() for p in set(score.parameters()))


def test_shared_block_gets_gradient_from_every_application():
    model = make(n_layer=1, n_iter=3, dt=0.5)
    idx = tokens()
    model(idx, idx)[1].backward()
    grad3 = model.transformer.h[0].mlp.c_fc.weight.grad.clone()
    model.zero_grad()
    model.config.n_iter = 1
    model(idx, idx)[1].backward()
    assert not torch.allclose(grad3, model.transformer.h[0].mlp.c_fc.weight.grad)


def test_residual_init_scales_with_applications():
    # std 0.02/sqrt(2 * n_layer * n_iter * stages): nanoGPT's rule, counted by applications
    torch.manual_seed(0)
    m = GPT(GPTConfig(block_size=8, vocab_size=11, n_layer=1, n_head=4, n_embd=256, n_iter=8, integrator='heun'))
    std = m.transformer.h[0].mlp.c_proj.weight.std().item()
    assert abs(std - 0.02 / math.sqrt(2 * 16)) < 0.0005
    torch.manual_seed(0)
    m = GPT(GPTConfig(block_size=8, vocab_size=11, n_layer=2, n_head=4, n_embd=256))
    assert abs(m.transformer.h[0].mlp.c_proj.weight.std().item() - 0.02 / math.sqrt(4)) < 0.0005


def test_flops_count_applications_not_parameters():
    stack = make(n_layer=4)
    score = make(n_layer=1, n_iter=4, dt=0.5)
    heun = make(n_layer=1, n_iter=4, dt=0.5, integrator='heun')
    assert score.get_num_params() < stack.get_num_params()
    assert score.flops_per_token() == stack.flops_per_token()  # same applications, same work
    per_app = score.flops_per_token() - make(n_layer=1, n_iter=3, dt=0.5).flops_per_token()
    assert heun.flops_per_token() - score.flops_per_token() == 4 * per_app
    truncated = make(n_layer=1, n_iter=4, dt=0.5, backprop_iters=1)  # 3 forward-only iterations: 1/3 of the work
    assert abs(truncated.flops_per_token() - (score.flops_per_token() - 3 * per_app * 2 / 3)) < 1
    expected = score.flops_per_token() * SMALL['block_size'] * 8 / 0.5 / 1e12
    assert score.estimate_mfu(8, 0.5, 1e12) == pytest.approx(expected)


@pytest.mark.parametrize('kw,message', [
    (dict(n_iter=0), 'n_iter must be an integer >= 1'),
    (dict(dt=0.0), 'dt must be in (0, 1]'),
    (dict(dt=1.5), 'dt must be in (0, 1]'),
    (dict(integrator='rk45'), 'unknown integrator'),
    (dict(n_embd=30, n_head=4), 'divisible by n_head'),
    (dict(dropout=1.0), 'dropout must be in [0, 1)'),
])
def test_config_validation(kw, message):
    with pytest.raises(ConfigError, match=message.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[')):
        GPTConfig(**{**SMALL, **kw})


def upstream_checkpoint(model):
    """A checkpoint as upstream nanoGPT writes it: compiled-model key prefix, causal-mask buffers, old model_args."""
    state = {f'_orig_mod.{k}': v for k, v in model.state_dict().items()}
    bs = model.config.block_size
    for i in range(model.config.n_layer):
        state[f'_orig_mod.transformer.h.{i}.attn.bias'] = torch.tril(torch.ones(bs, bs)).view(1, 1, bs, bs)
    model_args = {k: SMALL[k] for k in ('n_layer', 'n_head', 'n_embd', 'block_size', 'bias', 'vocab_size', 'dropout')}
    return {'model': state, 'model_args': model_args, 'iter_num': 100, 'best_val_loss': 1.5, 'config': {}}


def test_upstream_nanogpt_checkpoint_loads_with_same_logits():
    model = make()
    loaded = load_model(upstream_checkpoint(model)).eval()
    assert (loaded.config.n_iter, loaded.config.dt, loaded.config.integrator) == (1, 1.0, 'euler')
    idx = tokens()
    with torch.no_grad():
        h = embed(model, idx)
        for block in model.transformer.h:
            h = block(h)
        torch.testing.assert_close(loaded(idx, idx)[0], head(model, h))


def test_checkpoint_of_other_architecture_is_a_clear_error():
    ckpt = upstream_checkpoint(make())
    ckpt['model_args']['n_embd'] = 32
    with pytest.raises(ConfigError, match='do not fit'):
        load_model(ckpt)


def test_generate_length_and_greedy_determinism():
    model = make(n_layer=1, n_iter=3, dt=0.5)
    idx = tokens(1, 4)
    out = model.generate(idx, 20, top_k=1)  # runs past block_size=16: the context window slides
    assert out.shape == (1, 24) and torch.equal(out[:, :4], idx)
    assert torch.equal(out, model.generate(idx, 20, top_k=1))
    # greedy equals argmax of a full forward on the window
    logits, _ = model(out[:, -17:-1])
    assert out[0, -1].item() == logits[0, -1].argmax().item()


def test_gpt2_weights_from_a_local_transformers_directory(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(0)
    hf = GPT2LMHeadModel(GPT2Config(n_positions=32, n_embd=48, n_layer=3, n_head=4, vocab_size=101)).eval()
    hf.save_pretrained(tmp_path)
    model = GPT.from_pretrained(str(tmp_path)).eval()
    assert (model.config.n_layer, model.config.n_embd, model.config.block_size) == (3, 48, 32)
    idx = torch.randint(0, 101, (2, 20), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = model(idx, idx)[0]
        theirs = hf(idx).logits
    assert (ours - theirs).abs().max().item() < 1e-4
    assert model.get_num_params(non_embedding=False) == sum(p.numel() for p in hf.parameters())
