"""Recurrent depth as a feature: KV cache, test-time depth, randomised depth, truncated backprop, checkpointing,
learned dt, iteration embedding, adaptive exit, convergence diagnostics."""
import numpy as np
import pytest
import torch

from model import GPT, GPTConfig, TABLEAUX, load_model
from test_model import SMALL, embed, head, ref_step, tokens
from train import DEFAULTS, draw_n_iter

DEPTHS = {'stack': dict(n_layer=3), 'skip05': dict(n_layer=3, dt=0.5), 'score': dict(n_layer=1, n_iter=4, dt=0.5)}
DEPTHS.update({f'score-{name}': dict(n_layer=1, n_iter=2, dt=0.5, integrator=name) for name in TABLEAUX if name != 'euler'})
DEPTHS['score-learned'] = dict(n_layer=2, n_iter=2, dt=0.5, learn_dt=True, iter_embd=True)


def make(**kw):
    torch.manual_seed(0)
    model = GPT(GPTConfig(**{**SMALL, **kw}))
    if model.config.iter_embd:  # non-zero so the test sees it
        torch.nn.init.normal_(model.transformer.wie.weight, std=0.5)
    if model.config.learn_dt:
        with torch.no_grad():
            model.dt_logit.normal_()
    return model.eval()


@pytest.mark.parametrize('name', list(DEPTHS))
def test_kv_cache_gives_the_same_greedy_tokens(name):
    model = make(**DEPTHS[name])
    idx = tokens(2, 3)
    n = SMALL['block_size'] - 3  # up to the end of the position table
    with_cache = model.generate(idx, n, top_k=1, kv_cache=True)
    assert torch.equal(with_cache, model.generate(idx, n, top_k=1, kv_cache=False))


def test_kv_cache_logits_match_full_forward():
    model = make(n_layer=1, n_iter=3, dt=0.5, integrator='heun')
    from model import KVCache
    idx = tokens(2, 10)
    cache = KVCache()
    model(idx[:, :4], cache=cache)  # prefill several positions at once, then one by one
    for t in range(4, 10):
        logits, _ = model(idx[:, t:t + 1], cache=cache)
        torch.testing.assert_close(logits, model(idx[:, :t + 1])[0], rtol=1e-5, atol=1e-5)


def test_kv_cache_slides_past_block_size():
    """Past block_size the cache restarts from the last block_size // 2 tokens: every token must be the greedy
    choice of a full forward over exactly that window."""
    model = make(n_layer=1, n_iter=3, dt=0.5)
    bs = SMALL['block_size']
    idx = tokens(1, 5)
    out = model.generate(idx, 3 * bs, top_k=1, kv_cache=True)
    start = max(0, idx.size(1) - bs)
    for p in range(idx.size(1), out.size(1)):  # position p is predicted from out[:, start:p]
        if p - start > bs:
            start = p - 1 - bs // 2  # the cache was full: rebuilt from the last bs // 2 tokens
        logits, _ = model(out[:, start:p])
        assert out[0, p].item() == logits[0, -1].argmax().item(), p


def test_test_time_depth_loads_the_same_weights_at_any_n_iter():
    model = make(n_layer=1, n_iter=3, dt=0.5, learn_dt=True, iter_embd=True)
    ckpt = {'model': model.state_dict(), 'model_args': vars(model.config).copy()}
    idx = tokens()
    deeper = load_model(ckpt, {**ckpt['model_args'], 'n_iter': 6}).eval()
    assert deeper.config.n_iter == 6 and deeper.config.n_iter_table == 3
    same = load_model(ckpt, {**ckpt['model_args'], 'n_iter': 3}).eval()
    torch.testing.assert_close(same(idx, idx)[0], model(idx, idx)[0])
    # iterations past the trained ones reuse the last learned dt and iteration embedding
    with torch.no_grad():
        h = embed(model, idx)
        block = model.transformer.h[0]
        for i in range(6):
            j = min(i, 2)
            h = ref_step(block, h + model.transformer.wie.weight[j], torch.sigmoid(model.dt_logit[0, j]), 'euler')
        torch.testing.assert_close(deeper(idx, idx)[0], head(model, h), rtol=1e-5, atol=1e-5)


def test_learned_dt_forward_math_and_bounds():
    model = make(n_layer=2, n_iter=2, dt=0.3, learn_dt=True, iter_embd=True, integrator='rk4')
    idx = tokens()
    with torch.no_grad():
        h = embed(model, idx)
        for l, block in enumerate(model.transformer.h):
            for i in range(2):
                h = ref_step(block, h + model.transformer.wie.weight[i], torch.sigmoid(model.dt_logit[l, i]), 'rk4')
        torch.testing.assert_close(model(idx, idx)[0], head(model, h), rtol=1e-5, atol=1e-5)
    fresh = GPT(GPTConfig(**{**SMALL, 'n_layer': 2, 'n_iter': 3, 'dt': 0.3, 'learn_dt': True}))
    torch.testing.assert_close(torch.sigmoid(fresh.dt_logit), torch.full((2, 3), 0.3))  # starts at dt
    with torch.no_grad():
        fresh.dt_logit.copy_(torch.tensor([[-1e4, 1e4, 0.0], [50.0, -50.0, 3.0]]))
    dts = torch.sigmoid(fresh.dt_logit)
    assert ((dts >= 0) & (dts <= 1)).all()  # any parameter value stays a valid step size
    loss = fresh(idx, idx)[1]
    loss.backward()
    assert torch.isfinite(loss) and fresh.dt_logit.grad is not None and fresh.dt_logit.grad.abs().sum() > 0


def test_iteration_embedding_starts_as_a_no_op():
    torch.manual_seed(0)
    plain = GPT(GPTConfig(**{**SMALL, 'n_layer': 1, 'n_iter': 3, 'dt': 0.5})).eval()
    tagged = GPT(GPTConfig(**{**SMALL, 'n_layer': 1, 'n_iter': 3, 'dt': 0.5, 'iter_embd': True})).eval()
    assert tagged.load_state_dict(plain.state_dict(), strict=False).missing_keys == ['transformer.wie.weight']
    idx = tokens()
    torch.testing.assert_close(plain(idx, idx)[0], tagged(idx, idx)[0])


def grads(model, idx):
    model.zero_grad()
    model(idx, idx)[1].backward()
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_truncated_backprop_equals_backprop_through_the_last_k_iterations():
    model = make(n_layer=1, n_iter=5, dt=0.5)
    model.train()
    model.config.backprop_iters = 2
    idx = tokens()
    truncated = grads(model, idx)
    # reference: the first 3 iterations without a graph, then full backprop through the last 2
    model.zero_grad()
    with torch.no_grad():
        h = embed(model, idx)
        for _ in range(3):
            h = ref_step(model.transformer.h[0], h, 0.5, 'euler')
    h3 = h.clone().requires_grad_()
    h = h3
    for _ in range(2):
        h = ref_step(model.transformer.h[0], h, 0.5, 'euler')
    logits = head(model, h)
    torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), idx.view(-1)).backward()
    for n, p in model.named_parameters():
        if n.startswith('transformer.h.') or n.startswith('transformer.ln_f'):
            torch.testing.assert_close(truncated[n], p.grad, rtol=1e-5, atol=1e-6)
    # the embeddings get the gradient at the truncation point, passed straight through the first iterations
    torch.testing.assert_close(truncated['transformer.wpe.weight'][:idx.size(1)], h3.grad.sum(0), rtol=1e-5, atol=1e-6)
    model.config.backprop_iters = 0
    full = grads(model, idx)
    assert not torch.allclose(full['transformer.h.0.mlp.c_fc.weight'], truncated['transformer.h.0.mlp.c_fc.weight'])


def test_truncated_backprop_keeps_gradients_for_every_block():
    model = make(n_layer=2, n_iter=4, dt=0.5)
    model.train()
    model.config.backprop_iters = 1
    g = grads(model, tokens())
    assert all(n in g and g[n].abs().sum() > 0 for n, _ in model.named_parameters())


def test_activation_checkpointing_gives_the_same_gradients():
    model = make(n_layer=1, n_iter=4, dt=0.5, integrator='heun')
    model.train()
    idx = tokens()
    full = grads(model, idx)
    model.config.checkpoint_blocks = True
    checkpointed = grads(model, idx)
    for n in full:
        torch.testing.assert_close(checkpointed[n], full[n], rtol=1e-5, atol=1e-6)


def test_adaptive_exit():
    model = make(n_layer=1, n_iter=4, dt=0.5)
    idx = tokens()
    plain = model(idx, idx)[0]
    assert model.iters_used.mean().item() == 4
    model.config.exit_tol = 1e9  # everything exits after its first iteration
    model.update_norms = []
    once = model(idx, idx)[0]
    assert model.iters_used.max().item() == 1
    assert len(model.update_norms) == 4 and all(r == 0 for _, _, r in model.update_norms[1:])  # one per iteration
    model.update_norms = None
    model.config.exit_tol, model.config.n_iter = 0.0, 1
    torch.testing.assert_close(once, model(idx, idx)[0])
    model.config.n_iter = 4
    # a tolerance in between: some tokens stop early, the loss moves little
    model.update_norms = []
    model(idx, idx)
    rel = [r.item() for _, _, r in model.update_norms]
    model.update_norms = None
    model.config.exit_tol = float(np.median(rel))
    partial, loss_partial = model(idx, idx)
    assert 1 < model.iters_used.mean().item() < 4
    assert not torch.equal(partial, plain)


@pytest.mark.parametrize('name', ['score', 'score-rk4', 'score-learned'])
def test_adaptive_exit_with_kv_cache_matches_without(name):
    model = make(**{**DEPTHS[name], 'n_iter': 4})
    idx = tokens(1, 3)
    n = SMALL['block_size'] - 3
    model.update_norms = []
    model(idx)
    model.config.exit_tol = float(np.median([r.item() for _, _, r in model.update_norms]))  # some tokens exit
    model.update_norms = None
    with_cache = model.generate(idx, n, top_k=1, kv_cache=True)
    model(with_cache[:, :-1])
    full = 4 * model.config.n_layer
    assert model.iters_used.min() < full and model.iters_used.max() > model.config.n_layer  # tokens exit, at various depths
    assert torch.equal(with_cache, model.generate(idx, n, top_k=1, kv_cache=False))


def test_convergence_diagnostics_record_each_iteration():
    model = make(n_layer=2, n_iter=3, dt=0.5)
    idx = tokens()
    model.update_norms = []
    model(idx)
    assert [(l, i) for l, i, _ in model.update_norms] == [(l, i) for l in range(2) for i in range(3)]
    with torch.no_grad():
        h = embed(model, idx)
        h1 = ref_step(model.transformer.h[0], h, 0.5, 'euler')
        expected = ((h1 - h).norm(dim=-1) / h.norm(dim=-1)).mean()
    torch.testing.assert_close(model.update_norms[0][2], expected)


def test_randomised_depth_is_a_pure_function_of_seed_and_step():
    c = dict(DEFAULTS, n_iter=4, depth_sampler='poisson_lognormal', n_iter_max=12)
    draws = [draw_n_iter(c, it) for it in range(3000)]
    assert draws == [draw_n_iter(dict(c), it) for it in range(3000)]  # identical on every rank and after resume
    assert draws != [draw_n_iter(dict(c, seed=7), it) for it in range(3000)]
    assert min(draws) >= 1 and max(draws) <= 12 and len(set(draws)) > 5
    assert abs(np.mean(draws) - 4) < 0.3
    u = [draw_n_iter(dict(c, depth_sampler='uniform', n_iter_min=2, n_iter_max=6), it) for it in range(600)]
    assert set(u) == {2, 3, 4, 5, 6}
    assert draw_n_iter(dict(c, depth_sampler='fixed'), 5) == 4
