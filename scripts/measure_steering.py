#!/usr/bin/env python3
"""One-token steering search on all-MiniLM-L6-v2 (float approximation of gpushare's integer model).

For layer L (1..5), token position u, and a real text: find a valid LayerNorm output r_u = g*z + b
(g, b = layer L-1's output LayerNorm; z centred, |z|^2 = 384) maximising the number of (query t, head h)
pairs where u's key beats every honest other key by more than 21.5 real logit units:
    gap(t,h) = (q_th . k_uh - max_{w != u} q_th . k_wh) / sqrt(32)  > 21.5.
k_u = W_k r_u + b_k is affine in z, so each gap is affine in z: gap = alpha_th . z + beta_th.
Honest queries (including u's own, honest) and honest other keys are kept.

Run by scripts/measure-steering (a venv with numpy, safetensors and tokenizers from PyPI; the model from
scripts/fetch-model). Results: docs/verification.md, "One token steering every query".
Usage: MODEL_DIR=... python3 scripts/measure_steering.py [--quick | --per-head]
"""
import json
import os
import sys
import time

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

MODEL = os.environ["MODEL_DIR"]
H, DH, D = 12, 32, 384
NEED = 21.5
R = np.sqrt(D)
QUICK = "--quick" in sys.argv

W = {k: v.astype(np.float64) for k, v in load_file(f"{MODEL}/model.safetensors").items()}


def ln(x, g, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * g + b


def erf(x):
    # Abramowitz-Stegun 7.1.26 is too coarse; use math.erf vectorised
    from math import erf as e
    return np.vectorize(e)(x)


def gelu(x):
    return 0.5 * x * (1 + erf(x / np.sqrt(2)))


def lin(x, name):
    return x @ W[name + ".weight"].T + W[name + ".bias"]


def forward(ids):
    """Returns per layer l: input x_l (T,384), q_l, k_l (T,12,32); and final x."""
    T = len(ids)
    p = "embeddings."
    x = W[p + "word_embeddings.weight"][ids] + W[p + "position_embeddings.weight"][:T] \
        + W[p + "token_type_embeddings.weight"][0]
    x = ln(x, W[p + "LayerNorm.weight"], W[p + "LayerNorm.bias"])
    trace = []
    for l in range(6):
        a = f"encoder.layer.{l}."
        q = lin(x, a + "attention.self.query").reshape(T, H, DH)
        k = lin(x, a + "attention.self.key").reshape(T, H, DH)
        v = lin(x, a + "attention.self.value").reshape(T, H, DH)
        trace.append((x, q, k))
        s = np.einsum("thd,whd->htw", q, k) / np.sqrt(DH)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = np.einsum("htw,whd->thd", s, v).reshape(T, D)
        att = ln(lin(ctx, a + "attention.output.dense") + x,
                 W[a + "attention.output.LayerNorm.weight"], W[a + "attention.output.LayerNorm.bias"])
        inter = gelu(lin(att, a + "intermediate.dense"))
        x = ln(lin(inter, a + "output.dense") + att,
               W[a + "output.LayerNorm.weight"], W[a + "output.LayerNorm.bias"])
    return trace, x


def embed(ids):
    _, x = forward(ids)
    m = x.mean(0)
    return m / np.linalg.norm(m)


def affine_gaps(trace, L, u):
    """alpha (P, 384) centred, beta (P,) for the P = T*12 pairs (t, h), row index t*12 + h."""
    x, q, k = trace[L]
    T = x.shape[0]
    a = f"encoder.layer.{L - 1}.output.LayerNorm."
    g, b = W[a + "weight"], W[a + "bias"]
    Wk, bk = W[f"encoder.layer.{L}.attention.self.key.weight"], W[f"encoder.layer.{L}.attention.self.key.bias"]
    A = (Wk * g).reshape(H, DH, D)  # k_u,h = A_h z + c_h
    c = (Wk @ b + bk).reshape(H, DH)
    others = np.delete(k, u, axis=0)  # (T-1, H, DH)
    M = np.einsum("thd,whd->thw", q, others).max(-1)  # (T, H)
    alpha = np.einsum("thd,hdn->thn", q, A) / np.sqrt(DH)
    alpha -= alpha.mean(-1, keepdims=True)  # z is centred: only the centred part acts
    beta = (np.einsum("thd,hd->th", q, c) - M) / np.sqrt(DH)
    global LAST_S
    LAST_S = (np.einsum("thd,hd->th", q, c) / np.sqrt(DH),
              np.einsum("thd,whd->thw", q, others) / np.sqrt(DH))
    # sanity: honest z reproduces the honest key
    zh = (x[u] - b) / g
    assert np.allclose(A.reshape(D, D) @ zh + c.reshape(D), k[u].reshape(D), atol=1e-6)
    return alpha.reshape(T * H, D), beta.reshape(T * H)


def matching(adj):
    """Maximum bipartite matching size (= minimum vertex cover, Konig); adj: list of neighbour lists."""
    match = {}

    def aug(t, seen):
        for w in adj[t]:
            if w in seen:
                continue
            seen.add(w)
            if w not in match or aug(match[w], seen):
                match[w] = t
                return True
        return False

    return sum(aug(t, set()) for t in range(len(adj)))


def cover(alpha, z, T):
    """Fewest query-or-key pieces to lie at so that every (t, h) attends to u alone: per head, the minimum
    vertex cover of (unsteered query t) -- (honest key w within 21.5 of u's logit at t)."""
    base, S = LAST_S
    lu = (alpha @ z).reshape(T, H) + base  # u's logit per (t, h)
    close = (lu[:, :, None] - S) <= NEED  # (T, H, T-1)
    return sum(matching([np.nonzero(close[t, h])[0].tolist() for t in range(T) if close[t, h].any()])
               for h in range(H))


def project(Z):
    Z = Z - Z.mean(0, keepdims=True)
    return Z * (R / np.linalg.norm(Z, axis=0, keepdims=True))


def sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))


def search_count(alpha, beta, rng, restarts=64, steps=400):
    """Max #pairs with gap > NEED over z on the centred sphere: annealed sum of sigmoids, batched restarts.
    Returns best count, its z, and its gaps."""
    P = alpha.shape[0]
    inits = [rng.standard_normal((D, restarts // 2))]
    # aligned starts: individual constraint directions (most reachable first), and the sum of all
    reach = np.linalg.norm(alpha, axis=1) * R + beta
    top = np.argsort(-reach)[: restarts // 2 - 1]
    inits.append(alpha[top].T)
    inits.append(alpha.sum(0)[:, None])
    Z = project(np.concatenate(inits, axis=1))
    best = (-1, None, None)
    lr = 0.05 * R
    m = np.zeros_like(Z)
    Zprev = Z
    for i in range(steps):
        tau = 8.0 * (0.5 / 8.0) ** (i / (steps - 1))  # anneal 8 -> 0.5
        Zprev = Z
        G = alpha @ Z + beta[:, None]  # (P, restarts)
        s = sigmoid((G - NEED) / tau)
        w = s * (1 - s) / tau
        grad = alpha.T @ w  # (D, restarts)
        grad -= grad.mean(0, keepdims=True)
        grad -= Z * (np.sum(grad * Z, 0, keepdims=True) / R**2)  # tangent
        gn = np.linalg.norm(grad, axis=0, keepdims=True) + 1e-30
        m = 0.8 * m + grad / gn
        Z = project(Z + lr * (1 - i / steps) * m / (np.linalg.norm(m, axis=0, keepdims=True) + 1e-30))
        cnt = (G > NEED).sum(0)
        j = int(cnt.argmax())
        if cnt[j] > best[0]:
            best = (int(cnt[j]), Zprev[:, j].copy(), G[:, j].copy())
    G = alpha @ Z + beta[:, None]
    cnt = (G > NEED).sum(0)
    j = int(cnt.argmax())
    if cnt[j] >= best[0]:
        best = (int(cnt[j]), Z[:, j].copy(), G[:, j].copy())
    return best + (Z[:, np.argsort(-cnt)[:6]],)


def maxmin(alpha, beta, active, z0=None, steps=300):
    """Maximise min_{active} gap over the centred sphere (soft-min with annealed temperature)."""
    al, be = alpha[active], beta[active]
    z = project((al.sum(0) if z0 is None else z0)[:, None])[:, 0]
    lr = 0.05 * R
    for i in range(steps):
        tau = 3.0 * (0.05 / 3.0) ** (i / (steps - 1))
        g = al @ z + be
        w = np.exp(-(g - g.min()) / tau)
        w /= w.sum()
        grad = al.T @ w
        grad -= grad.mean()
        grad -= z * (grad @ z) / R**2
        z = project((z + lr * (1 - 0.9 * i / steps) * grad / (np.linalg.norm(grad) + 1e-30))[:, None])[:, 0]
    return z, (al @ z + be).min()


def prune(alpha, beta, z0=None):
    """Greedy: max-min over the active set, drop the worst pairs, repeat until min gap > NEED."""
    P = alpha.shape[0]
    active = np.arange(P)
    z = z0
    while len(active):
        z, mn = maxmin(alpha, beta, active, z, steps=150)
        g = alpha[active] @ z + beta[active]
        if mn > NEED:
            break
        drop = max(1, int(0.03 * len(active)))
        active = active[np.argsort(g)[drop:]]
    g = alpha @ z + beta
    return int((g > NEED).sum()), z


def main():
    tok = Tokenizer.from_file(f"{MODEL}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(64)
    # validate the float forward pass against sentence-transformers' float embeddings
    gold = json.load(open(os.path.join(os.path.dirname(__file__), "..", "model", "tests", "golden", "minilm.json")))["cases"]
    tok256 = Tokenizer.from_file(f"{MODEL}/tokenizer.json")
    tok256.no_padding()
    tok256.enable_truncation(256)
    for c in gold[:3]:
        e = embed(tok256.encode(c["text"]).ids)
        print("validate cos vs sentence-transformers float:", float(e @ np.array(c["float"]) / np.linalg.norm(c["float"])))
    card = open(f"{MODEL}/README.md").read()
    # The rule of gpushare_model::card::prose_lines.
    lines = [l.strip() for l in card.splitlines() if len(l.strip()) >= 20 and l.strip()[0].isalpha()]
    seqs = [(l, tok.encode(l)) for l in lines]
    seqs.sort(key=lambda s: -len(s[1].ids))
    texts = [s for s in seqs if len(s[1].ids) == 64][:3]
    mid = min(seqs, key=lambda s: abs(len(s[1].ids) - 32))
    short = min(seqs, key=lambda s: abs(len(s[1].ids) - 17))
    texts += [mid, short]
    if QUICK:
        texts = texts[:1]
    rng = np.random.default_rng(1)
    results = []
    for text, enc in texts:
        ids, toks = enc.ids, enc.tokens
        T = len(ids)
        trace, _ = forward(ids)
        words = [i for i in range(1, T - 1) if toks[i].isalpha() and not toks[i].startswith("##")]
        cands = [0, T - 1] + list(rng.choice(words, size=min(1 if not QUICK else 3, len(words)), replace=False))
        print(f"\n=== T={T}: {text[:70]!r}")
        for L in range(1, 6):
            t0 = time.time()
            rows = []
            for u in cands:
                alpha, beta = affine_gaps(trace, L, u)
                reach = np.linalg.norm(alpha, axis=1) * R + beta  # each pair alone at its best z
                ub = int((reach > NEED).sum())
                cnt, z, g, finals = search_count(alpha, beta, rng, restarts=32 if QUICK else 128,
                                         steps=250 if QUICK else 600)
                pc, zp = prune(alpha, beta)
                sc = cnt
                if pc > cnt:
                    cnt, z, g = pc, zp, alpha @ zp + beta
                zw, worst = maxmin(alpha, beta, np.arange(len(beta)), steps=600)
                cov = min(cover(alpha, zz, T) for zz in [z, zp, zw] + list(finals.T))
                per_head = (g.reshape(T, H) > NEED).sum(0)
                # best single head fully steered: max-min per head
                head_best = max(maxmin(alpha, beta, np.arange(h, T * H, H), steps=200)[1] for h in range(H))
                rows.append(dict(T=T, L=L, u=int(u), tok=toks[u], steered=cnt, of=T * H, unsteered=T * H - cnt,
                                 upper_bound=ub, worst_gap=float(worst), best_head_worst_gap=float(head_best),
                                 max_single_pair_gap=float(reach.max()), sigmoid_count=sc, prune_count=pc, min_cover=cov, per_head=per_head.tolist()))
                print(f"L={L} u={u:2d} {toks[u]:>10s}: steered {cnt:4d}/{T * H} (unsteered {T * H - cnt}), "
                      f"pairs reachable alone {ub:4d}, best worst-case gap {worst:6.2f}, "
                      f"best whole-head worst gap {head_best:6.2f}, max single gap {reach.max():6.1f}, "
                      f"(sigmoid {sc}, prune {pc}), min query/key cover {cov}, per head {per_head.tolist()}", flush=True)
            results += rows
            print(f"   ({time.time() - t0:.0f}s)", flush=True)
    json.dump(results, sys.stdout, indent=1)


def per_head_bound():
    """Sanity bound for the joint search: each head searched alone (its 64 query pairs, 256 restarts);
    the joint count cannot exceed the sum of the per-head maxima (up to the heuristic's reach)."""
    tok = Tokenizer.from_file(f"{MODEL}/tokenizer.json")
    tok.no_padding()
    tok.enable_truncation(64)
    card = open(f"{MODEL}/README.md").read()
    lines = [l.strip() for l in card.splitlines() if len(l.strip()) >= 20 and l.strip()[0].isalpha()]
    encs = [tok.encode(l) for l in lines]
    rng = np.random.default_rng(2)
    for enc in [e for e in encs if len(e.ids) == 64][:3]:
        ids = enc.ids
        T = len(ids)
        trace, _ = forward(ids)
        for L in range(1, 6):
            for u in (0, T - 1):
                alpha, beta = affine_gaps(trace, L, u)
                per = []
                for h in range(H):
                    idx = np.arange(h, T * H, H)
                    per.append(search_count(alpha[idx], beta[idx], rng, restarts=256, steps=500)[0])
                print(f"T={T} L={L} u={u}: per-head maxima {per}, sum {sum(per)}/{T * H}, "
                      f"unsteered >= {T * H - sum(per)}", flush=True)


if __name__ == "__main__":
    if "--per-head" in sys.argv:
        per_head_bound()
    else:
        main()
