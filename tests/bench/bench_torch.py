#!/usr/bin/python3
"""The speed of the same model, batch, objective and optimiser step in PyTorch, as the yardstick
for `wordpatch-cli bench` (tests/bench/compare.sh runs both on one model).

  bench_torch.py --model DIR [--loss clip|filip|sparc|sparc-paper] [--batch B] [--threads T]
                 [--iterations N] [--tokens K]
  bench_torch.py --self-check

sparc is wordpatch's default SPARC (pair negatives, no global term), sparc-paper the paper's
definition (caption negatives, global weight 0.5). DIR is a wordpatch model folder or .safetensors file (`wordpatch-cli init --config SIZE --out DIR`);
tests/parity/clip_reference.py reads its configuration and weights, used here in float32. The
towers and objectives are batched versions of clip_reference.py's towers and of the objectives of
tests/parity/loss_reference.py (docs/algorithms.md), that run one sequence or pair at a time and
would time Python rather than torch; --self-check compares the two. Every caption of the batch has
K tokens (start, K - 2 others, end), like the bench's; images are random normalised pixels. The
training step is wordpatch's: forward, loss, backward, gradient clipping at norm 1,
torch.optim.AdamW (betas 0.9, 0.98, eps 1e-6, weight decay 0.1 on the linear weights and
projections only) and the logit scale clamped to ln 100. Timings are the median of N runs after
one warm-up, with T threads for torch's own kernels and for the OpenBLAS it calls, and OpenMP
threads that wait passively (OMP_WAIT_POLICY, unless already set; see import_torch).

Run with Debian's /usr/bin/python3 (python3-torch); prints one JSON object.
"""

import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PARITY = os.path.normpath(os.path.join(HERE, '..', 'parity'))

WARMUP = 1
SEED = 1
# Linear weights and projections, as wordpatch's AdamW decays them (clip_reference's kinds).
DECAY_KINDS = ('q_proj', 'k_proj', 'v_proj', 'out_proj', 'fc1', 'fc2', 'projection')


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--model', help='wordpatch model folder or .safetensors file')
    ap.add_argument('--loss', choices=('clip', 'filip', 'sparc', 'sparc-paper'), default='sparc')
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--threads', type=int, default=os.cpu_count())
    ap.add_argument('--iterations', type=int, default=10)
    ap.add_argument('--tokens', type=int, default=12, help='tokens of every caption (default 12)')
    ap.add_argument('--self-check', action='store_true',
                    help='compare the batched towers and losses with the parity references')
    args = ap.parse_args(argv)
    if not args.self_check and args.model is None:
        ap.error('--model is required')
    for name in ('batch', 'threads', 'iterations'):
        if getattr(args, name) < 1:
            ap.error(f'--{name} must be at least 1')
    if args.tokens < 2:
        ap.error('--tokens must be at least 2 (start and end)')
    return args


def import_torch(threads):
    """torch and the references, with the thread count fixed before any pool starts: torch's
    OpenMP pool and the OpenBLAS that Debian's torch calls for matrix products each size
    themselves from the environment at load."""
    for name in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[name] = str(threads)
    # By default torch's OpenMP threads spin after each parallel region, on the cores OpenBLAS's
    # threads need for the matrix product that follows; waiting passively gave torch its best
    # times on the 2-core machine (tiny, batch 64, 2 threads: a training step in 1.68 s instead
    # of 2.49 s, 1.76 s with one OpenBLAS thread instead).
    os.environ.setdefault('OMP_WAIT_POLICY', 'PASSIVE')
    sys.path.insert(0, PARITY)
    global torch, F, ref, lossref
    import torch
    import torch.nn.functional as F
    import clip_reference as ref
    import loss_reference as lossref
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# Batched towers: clip_reference.py's with a leading batch dimension. x is [batch, tokens, width].

def attention(x, w, prefix, heads, causal):
    b, n, width = x.shape
    hd = width // heads

    def split(t):  # [b, heads, n, hd]
        return t.view(b, n, heads, hd).transpose(1, 2)

    q = split(ref._linear(x, w, prefix + '.q_proj') * hd ** -0.5)
    k = split(ref._linear(x, w, prefix + '.k_proj'))
    v = split(ref._linear(x, w, prefix + '.v_proj'))
    scores = q @ k.transpose(-1, -2)
    if causal:
        future = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)
        scores = scores.masked_fill(future, float('-inf'))
    out = (scores.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, width)
    return ref._linear(out, w, prefix + '.out_proj')


def encoder(x, w, prefix, cfg, causal):
    eps = cfg.get('layer_norm_eps', 1e-5)
    act = ref.activation(cfg['hidden_act'])
    for i in range(cfg['num_hidden_layers']):
        p = f'{prefix}.layers.{i}'
        x = x + attention(ref._layer_norm(x, w, p + '.layer_norm1', eps), w, p + '.self_attn',
                          cfg['num_attention_heads'], causal)
        h = act(ref._linear(ref._layer_norm(x, w, p + '.layer_norm2', eps), w, p + '.mlp.fc1'))
        x = x + ref._linear(h, w, p + '.mlp.fc2')
    return x


def vision_tower(config, w, pixels):
    """[B, 3, S, S] -> every token projected, [B, 1 + P, E]; token 0 is the class token."""
    cfg = config['vision_config']
    eps = cfg.get('layer_norm_eps', 1e-5)
    patches = F.conv2d(pixels, w['vision_model.embeddings.patch_embedding.weight'],
                       stride=cfg['patch_size']).flatten(2).transpose(1, 2)
    cls = w['vision_model.embeddings.class_embedding'].expand(pixels.shape[0], 1, -1)
    x = torch.cat([cls, patches], dim=1) + w['vision_model.embeddings.position_embedding.weight']
    x = ref._layer_norm(x, w, 'vision_model.pre_layrnorm', eps)
    x = encoder(x, w, 'vision_model.encoder', cfg, causal=False)
    x = ref._layer_norm(x, w, 'vision_model.post_layernorm', eps)
    return x @ w['visual_projection.weight'].T


def text_tower(config, w, ids):
    """[B, T] ids, every caption T valid tokens -> every token projected, [B, T, E]."""
    cfg = config['text_config']
    x = w['text_model.embeddings.token_embedding.weight'][ids]
    x = x + w['text_model.embeddings.position_embedding.weight'][:ids.shape[1]]
    x = encoder(x, w, 'text_model.encoder', cfg, causal=True)
    x = ref._layer_norm(x, w, 'text_model.final_layer_norm', cfg.get('layer_norm_eps', 1e-5))
    return x @ w['text_projection.weight'].T


# ---------------------------------------------------------------------------------------------
# Batched objectives (docs/algorithms.md), every caption with all its T tokens valid.

def filip_loss(patches, tokens, lam):
    """patches [B, P, E], tokens [B, T, E], un-normalised."""
    s = torch.einsum('ipe,jle->ijpl', lossref.unit(patches), lossref.unit(tokens))
    si = s.max(dim=3).values.mean(dim=2)  # [image i, text j]
    st = s.max(dim=2).values.mean(dim=2)
    return 0.5 * (lossref.ce_diag(lam * si) + lossref.ce_diag(lam * st.T))


def alignment(s, p):
    """SPARC's alignment weights of similarities s [..., P] over their last axis."""
    mn = s.min(dim=-1, keepdim=True).values
    rng = s.max(dim=-1, keepdim=True).values - mn
    flat = rng < 1e-8
    shat = (s - mn) / torch.where(flat, torch.ones_like(rng), rng)
    stil = shat * (shat >= 1.0 / p).detach()
    return torch.where(flat, torch.full_like(s, 1.0 / p), stil / stil.sum(dim=-1, keepdim=True))


def sparc_fine(patches, tokens, lam):
    """The paper's L_f of patches [B, P, E] and tokens [B, T, E], un-normalised."""
    b, p, _ = patches.shape
    n = tokens.shape[1]
    a = alignment(tokens @ patches.transpose(1, 2), p)  # [B, T, P]
    z = lam * lossref.unit(a @ patches) @ lossref.unit(tokens).transpose(1, 2)  # [B, T, T]
    target = torch.arange(n).repeat(b)
    v2l = F.cross_entropy(z.reshape(b * n, n), target)
    l2v = F.cross_entropy(z.transpose(1, 2).reshape(b * n, n), target)
    return 0.5 * (v2l + l2v)


def sparc_pairs(patches, tokens, lam):
    """L_f with pair negatives: every caption grouped over every image, CLIP's loss on the pairs'
    mean cosines of tokens and groupings."""
    a = alignment(torch.einsum('jle,ipe->jilp', tokens, patches), patches.shape[1])
    grouped = torch.einsum('jilp,ipe->jile', a, patches)  # [caption, image, T, E]
    z = lam * (lossref.unit(grouped) * lossref.unit(tokens)[:, None]).sum(dim=3).mean(dim=2)
    return 0.5 * (lossref.ce_diag(z) + lossref.ce_diag(z.T))


def objective(name, w, vision, text):
    lam = w['logit_scale'].exp()
    clip = lossref.clip_loss(vision[:, 0], text[:, -1], lam) if name != 'filip' else None
    if name == 'clip':
        return clip
    if name == 'filip':
        return filip_loss(vision[:, 1:], text, lam)
    if name == 'sparc-paper':
        return 0.5 * clip + sparc_fine(vision[:, 1:], text, lam)
    # The default's global weight is 0; wordpatch computes the term all the same, as here.
    return 0.0 * clip + sparc_pairs(vision[:, 1:], text, lam)


# ---------------------------------------------------------------------------------------------

def median_seconds(fn, iterations):
    for _ in range(WARMUP):
        fn()
    runs = []
    for _ in range(iterations):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def bench(args):
    config, weights64 = ref.load_model(args.model)
    kinds = {name: kind for name, _, kind in ref.tensor_layout(config)}
    w = {name: torch.nn.Parameter(weights64[name].float()) for name in kinds}
    del weights64
    tcfg, vcfg = config['text_config'], config['vision_config']
    if args.tokens > tcfg['max_position_embeddings']:
        raise SystemExit(f'bench_torch.py: --tokens {args.tokens} exceeds the context length '
                         f'{tcfg["max_position_embeddings"]}')

    g = torch.Generator().manual_seed(SEED)
    b, size = args.batch, vcfg['image_size']
    pixels = torch.randn(b, 3, size, size, generator=g)
    middle = torch.randint(0, tcfg['vocab_size'] - 2, (b, args.tokens - 2), generator=g)
    ids = torch.cat([torch.full((b, 1), tcfg['bos_token_id']), middle,
                     torch.full((b, 1), tcfg['eos_token_id'])], dim=1)

    def image_forward():
        with torch.inference_mode():
            vision_tower(config, w, pixels)

    def text_forward():
        with torch.inference_mode():
            text_tower(config, w, ids)

    params = list(w.values())
    optimiser = torch.optim.AdamW(
        [{'params': [w[n] for n in kinds if kinds[n] in DECAY_KINDS], 'weight_decay': 0.1},
         {'params': [w[n] for n in kinds if kinds[n] not in DECAY_KINDS], 'weight_decay': 0.0}],
        lr=5e-4, betas=(0.9, 0.98), eps=1e-6)

    def train_step():
        optimiser.zero_grad(set_to_none=True)
        loss = objective(args.loss, w, vision_tower(config, w, pixels), text_tower(config, w, ids))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        with torch.no_grad():
            w['logit_scale'].clamp_(max=math.log(100.0))

    image_s = median_seconds(image_forward, args.iterations)
    text_s = median_seconds(text_forward, args.iterations)
    train_s = median_seconds(train_step, args.iterations)
    return {
        'framework': 'torch ' + torch.__version__,
        'model': args.model,
        'loss': args.loss,
        'batch': b,
        'threads': args.threads,
        'iterations': args.iterations,
        'warmup': WARMUP,
        'caption_tokens': args.tokens,
        'parameters': sum(t.numel() for t in params),
        'image_fwd_ms': image_s * 1e3,
        'image_fwd_per_s': b / image_s,
        'text_fwd_ms': text_s * 1e3,
        'text_fwd_per_s': b / text_s,
        'train_step_ms': train_s * 1e3,
        'train_pairs_per_s': b / train_s,
        'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def self_check():
    """The batched towers and objectives equal the parity references (float64, tiny preset)."""
    config = ref.make_config('tiny')
    w = {k: v.double() for k, v in ref.init_weights(config, seed=7).items()}
    g = torch.Generator().manual_seed(3)
    size = config['vision_config']['image_size']
    pixels = torch.randn(3, 3, size, size, generator=g, dtype=torch.float64)
    ids = torch.tensor([[ref.START_ID, 320, 1125, 539, ref.END_ID],
                        [ref.START_ID, 2368, 320, 1929, ref.END_ID],
                        [ref.START_ID, 999, 998, 997, ref.END_ID]])
    proj_v, proj_t = w['visual_projection.weight'], w['text_projection.weight']
    vision, text = vision_tower(config, w, pixels), text_tower(config, w, ids)
    for i in range(3):
        want_v = ref.vision_tower(config, w, pixels[i]) @ proj_v.T
        want_t = ref.text_tower(config, w, ids[i].tolist()) @ proj_t.T
        assert (vision[i] - want_v).abs().max() < 1e-10, 'self-check: vision tower'
        assert (text[i] - want_t).abs().max() < 1e-10, 'self-check: text tower'

    patches = torch.randn(4, 9, 6, generator=g, dtype=torch.float64)
    tokens = torch.randn(4, 5, 6, generator=g, dtype=torch.float64)
    lam = 3.7
    pairs = ([p for p in patches], [t for t in tokens])
    for got, want, name in ((filip_loss(patches, tokens, lam), lossref.filip_loss(*pairs, lam),
                             'FILIP'),
                            (sparc_fine(patches, tokens, lam), lossref.sparc_fine(*pairs, lam),
                             'SPARC'),
                            (sparc_pairs(patches, tokens, lam),
                             lossref.sparc_fine(*pairs, lam, pair_negatives=True), 'SPARC pairs')):
        assert abs(got.item() - want.item()) < 1e-12, f'self-check: {name} {got} vs {want}'


def main(argv):
    args = parse_args(argv)
    import_torch(1 if args.self_check else args.threads)
    if args.self_check:
        self_check()
        print('self-check passed')
        return 0
    print(json.dumps(bench(args), indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
