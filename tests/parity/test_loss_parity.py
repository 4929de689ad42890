#!/usr/bin/python3
"""Parity test: `wordpatch-cli loss` (losses and parameter gradients) against a float64 torch
reference of the CLIP, FILIP and SPARC objectives and of the box term as docs/algorithms.md
defines them, and of SigLIP's sigmoid loss on a random SigLIP model (siglip_reference.py).

Usage: test_loss_parity.py [WORDPATCH_CLI]   (default: $WORDPATCH_CLI). Output is TAP.
       test_loss_parity.py --self-check      (reference only: no CLI needed)

A random tiny model (clip_reference.make_model) and a 4-pair dataset (32x32 PNGs, i.e. exactly the
model input size so no resampling is involved; captions of different token lengths) are written to
a temporary folder. For each objective the CLI's losses must be within LOSS_TOL relative of the
reference, and every gradient tensor within GRAD_TOL of that tensor's largest reference magnitude
(absolute floor GRAD_FLOOR). The reference is the forward of clip_reference.py run under torch
autograd in float64 on the stored float32 weights; it never calls wordpatch code.

The box term (--box-weight) runs on a second 4-pair dataset whose captions carry boxes: a word
split into four BPE pieces, a word whose box holds no patch centre, a word of two boxes, the second
occurrence of a word, a box naming no caption word, images that are not square (one resampled by
the preprocessing, so boxes go through its crop) and, in one run, the training augmentation
(`--augment --seed`: crops, flips, jitter). The reference does the preprocessing and the
augmentation itself, from the crop, factors and flip that `loss --json` reports for each pair
(PIL's bicubic resampling with double weights, rounded to 8 bits after each pass, as
docs/algorithms.md describes wordpatch's), and maps the boxes to patches itself.
"""

import json
import os
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402  (found beside this file)
import siglip_reference as sref  # noqa: E402
from tap import Tap, find_cli, run_json  # noqa: E402
from loss_reference import (box_loss, clip_loss, decision_margin, filip_loss,  # noqa: E402
                            filip_sims, sparc_fine, sparc_weights, unit)

LOSS_TOL = 1e-4     # relative, per reported loss value
GRAD_TOL = 1e-3     # max|ours - ref| <= GRAD_TOL * max|ref| per tensor ...
GRAD_FLOOR = 1e-7   # ... or <= GRAD_FLOOR for tensors whose gradient is ~0
MARGIN_MIN = 1e-5   # reference-side: no argmax / threshold decision closer than this
CLI_TIMEOUT = 240
SEED = 21
BATCH = 4

# Different token lengths (7, 3, 5, 10 with start and end). The CLI tokenizes these itself; the
# reference takes its ids from `wordpatch-cli embed` (key "tokens"). That is acceptable here:
# the C tokenizer has its own tests against OpenAI's SimpleTokenizer (tests/test-tokenizer.c and
# test_embed_parity.py). The ids known from tests/data/clip-bpe/README.md are checked as well.
CAPTIONS = ['a photo of a dog', 'cat', 'a red circle', 'two green squares above a big blue star']
KNOWN_IDS = {
    'a photo of a dog': [49406, 320, 1125, 539, 320, 1929, 49407],
    'cat': [49406, 2368, 49407],  # 'cat</w>' is 2368 in 'a photo of a cat'
}

# (objective, global weight, lambda_fine or None for the CLI defaults): the global weight is
# SPARC's lambda_global, or for FILIP the weight of the added CLIP loss (--filip-global).
# SPARC's variants: their names here and their options; 'sparc' is the paper's definition and
# 'sparc-pairs' the CLI's default negatives, given by no option so that the default is tested.
CAPTION = ['--sparc-negatives', 'caption']
SPARC_VARIANTS = {'sparc': CAPTION,
                  'sparc-batch': ['--sparc-negatives', 'batch'],
                  'sparc-stop': CAPTION + ['--sparc-stop-selection'],
                  'sparc-centre': CAPTION + ['--sparc-centre-positions'],
                  'sparc-images': ['--sparc-negatives', 'images'],
                  'sparc-unshared': ['--sparc-negatives', 'unshared-images'],
                  'sparc-images-centred': ['--sparc-negatives', 'images',
                                           '--sparc-centre-positions', '--sparc-centre-images'],
                  'sparc-images-sharp': ['--sparc-negatives', 'images', '--sparc-threshold', '0.5'],
                  'sparc-max': CAPTION + ['--sparc-threshold', '1'],
                  'sparc-pairs': [],
                  'sparc-pairs-patches': ['--sparc-patch-side', '0.3']}
SPARC_THRESHOLDS = {'sparc-images-sharp': 0.5, 'sparc-max': 1.0}
RUNS = [('clip', None, None), ('filip', None, None), ('filip', 0.4, None), ('sparc', None, None),
        ('sparc', 0.3, 2.0), ('sparc-batch', None, None), ('sparc-batch', 0.3, 2.0),
        ('sparc-stop', None, None), ('sparc-centre', None, None), ('sparc-images', None, None),
        ('sparc-images', 0.3, 2.0), ('sparc-images-centred', None, None),
        ('sparc-unshared', None, None), ('sparc-images-sharp', None, None),
        ('sparc-max', None, None), ('sparc-pairs', None, None),
        ('sparc-pairs-patches', None, None)]
DEFAULT_LG, DEFAULT_LF, DEFAULT_FILIP_GLOBAL = 0.0, 1.0, 0.0

# The box dataset: (width, height, caption, boxes as (word, occurrence, x, y, w, h)). The model
# input is 32 x 32 pixels of 4 x 4 patches of 8 pixels, centred on 4, 12, 20, 28.
BOX_PAIRS = [
    (32, 32, 'a red circle and a flummoxing square',
     [('red', 0, 6, 5, 16, 16), ('circle', 0, 6, 5, 16, 16), ('flummoxing', 0, 18, 20, 12, 10),
      ('square', 0, 1, 1, 1, 1)]),   # 'square': between the patch centres
    (48, 40, 'two green squares above a big blue star',   # resampled to 38 x 32, cropped
     [('green', 0, 4, 2, 12, 12), ('green', 0, 30, 2, 12, 12), ('squares', 0, 4, 2, 38, 12),
      ('star', 0, 14, 20, 22, 18), ('Blue', 0, 14, 20, 22, 18)]),
    (32, 32, 'a red dog and a red cat',
     [('red', 1, 17, 3, 12, 26), ('Cat', 0, 17, 3, 12, 26), ('dog', 0, 2, 8, 12, 20),
      ('zebra', 0, 0, 0, 32, 32)]),   # 'zebra': in no caption
    (40, 32, 'cat', [('cat', 0, 20, 4, 16, 24)]),   # centre crop from x = 4, not resampled
]
# (objective, box weight, box tau, augmentation seed or None)
BOX_RUNS = [('clip', 1.0, None, None), ('sparc', 0.5, 0.1, None), ('filip', 1.0, None, 7)]
DEFAULT_BOX_TAU = 0.07


# ---------------------------------------------------------------------------------------------
# The model forward, wordpatch's embeddings, the losses and the gradients.

def embeddings(config, w, pixels, ids):
    """Un-normalised (global image, global text, patches [P,E], valid tokens [L,E])."""
    vision = ref.vision_tower(config, w, pixels) @ w['visual_projection.weight'].T
    text = ref.text_tower(config, w, ids) @ w['text_projection.weight'].T
    end = int(torch.as_tensor(ids).argmax())  # the end token, the largest id
    return vision[0], text[end], vision[1:], text


def batch_embeddings(config, w, pixels, ids):
    """embeddings() of each pair: the globals stacked ([B,E] each), the patches and tokens as
    lists."""
    vg, tg, patches, tokens = zip(*(embeddings(config, w, px, tid) for px, tid in zip(pixels, ids)))
    return torch.stack(vg), torch.stack(tg), list(patches), list(tokens)


def reference_losses(config, weights, pixels, ids, objective, lg=DEFAULT_LG, lf=DEFAULT_LF,
                     box=None):
    """({key: float}, {name: float64 gradient of the total}, decision margin). box: None, or
    (weight, tau, words) adding weight * L_box."""
    names = [n for n, _, _ in ref.tensor_layout(config)]
    w = {n: weights[n].detach().clone().requires_grad_(True) for n in names}
    vg, tg, patches, tokens = batch_embeddings(config, w, pixels, ids)
    lam = w['logit_scale'].exp()  # no clamp in the loss
    zero = torch.zeros((), dtype=torch.float64)
    parts = {'loss_clip': zero, 'loss_filip': zero, 'loss_fine': zero, 'loss_box': zero}
    if objective == 'clip':
        parts['loss_clip'] = clip_loss(vg, tg, lam)
        total = parts['loss_clip']
    elif objective == 'filip':
        parts['loss_filip'] = filip_loss(patches, tokens, lam)
        total = parts['loss_filip']
        if lg > 0:
            parts['loss_clip'] = clip_loss(vg, tg, lam)
            total = total + lg * parts['loss_clip']
    else:
        parts['loss_clip'] = clip_loss(vg, tg, lam)
        parts['loss_fine'] = sparc_fine(
            patches, tokens, lam, objective == 'sparc-batch', objective == 'sparc-stop',
            objective in ('sparc-centre', 'sparc-images-centred'),
            objective.startswith('sparc-images') or objective == 'sparc-unshared',
            objective == 'sparc-images-centred',
            [list(t) for t in ids] if objective == 'sparc-unshared' else None,
            SPARC_THRESHOLDS.get(objective), objective.startswith('sparc-pairs'),
            0.3 if objective == 'sparc-pairs-patches' else None)
        total = lg * parts['loss_clip'] + lf * parts['loss_fine']
    if box is not None:
        parts['loss_box'] = box_loss(patches, tokens, box[2], box[1])
        total = total + box[0] * parts['loss_box']
    grads = torch.autograd.grad(total, [w[n] for n in names], allow_unused=True)
    out = {n: (g if g is not None else torch.zeros_like(w[n])).detach()
           for n, g in zip(names, grads)}
    values = {k: v.item() for k, v in parts.items()}
    values['loss'] = total.item()
    return values, out, decision_margin([p.detach() for p in patches],
                                        [t.detach() for t in tokens], objective,
                                        SPARC_THRESHOLDS.get(objective))


# ---------------------------------------------------------------------------------------------
# Self-check of the objectives against naive loops, hand values and finite differences.

def _naive_filip(patches, tokens, lam):
    b = len(patches)
    si = np.zeros((b, b))
    st = np.zeros((b, b))
    for i in range(b):
        for j in range(b):
            v = [x / max(np.linalg.norm(x), 1e-6) for x in patches[i].numpy()]
            t = [x / max(np.linalg.norm(x), 1e-6) for x in tokens[j].numpy()]
            si[i, j] = sum(max(float(vp @ tl) for tl in t) for vp in v) / len(v)
            st[i, j] = sum(max(float(vp @ tl) for vp in v) for tl in t) / len(t)

    def ce(m):
        return np.mean([np.log(np.sum(np.exp(r - r.max()))) + r.max() - r[k]
                        for k, r in enumerate(m)])
    return 0.5 * (ce(lam * si) + ce(lam * st.T))


def _naive_sparc(patches, tokens, lam):
    tot1 = tot2 = 0.0
    n = 0
    for v, t in zip(patches, tokens):
        v, t = v.numpy(), t.numpy()
        p = len(v)
        c = []
        for tl in t:
            s = np.array([float(tl @ vp) for vp in v])
            if s.max() - s.min() < 1e-8:
                a = np.full(p, 1.0 / p)
            else:
                sh = (s - s.min()) / (s.max() - s.min())
                sh = np.where(sh >= 1.0 / p, sh, 0.0)
                a = sh / sh.sum()
            c.append(a @ v)
        c = np.array(c)
        cn = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-6)
        tn = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-6)
        z = lam * cn @ tn.T
        for k in range(len(t)):
            tot1 += np.log(np.sum(np.exp(z[k] - z[k].max()))) + z[k].max() - z[k, k]
            tot2 += np.log(np.sum(np.exp(z[:, k] - z[:, k].max()))) + z[:, k].max() - z[k, k]
        n += len(t)
    return 0.5 * (tot1 / n + tot2 / n)


def _naive_box(patches, tokens, words, tau):
    total = 0.0
    for b, toks, inside in words:
        v = [x / max(np.linalg.norm(x), 1e-6) for x in patches[b].numpy()]
        t = [x / max(np.linalg.norm(x), 1e-6) for x in tokens[b].numpy()[toks]]
        m = np.array([sum(float(vp @ tl) for tl in t) / len(t) for vp in v]) / tau
        log_pi = m - m.max() - np.log(np.sum(np.exp(m - m.max())))
        inside = inside.numpy()
        total += -np.sum(log_pi[inside]) / inside.sum()
    return total / len(words)


def self_check():
    """Raise AssertionError on any disagreement."""
    g = torch.Generator().manual_seed(5)
    e, p = 6, 9
    lens = [3, 5, 2, 4]
    patches = [torch.randn(p, e, generator=g, dtype=torch.float64) for _ in lens]
    tokens = [torch.randn(n, e, generator=g, dtype=torch.float64) for n in lens]
    lam = 3.7
    got, want = filip_loss(patches, tokens, lam).item(), _naive_filip(patches, tokens, lam)
    assert abs(got - want) < 1e-12, f'self-check: FILIP {got} vs naive {want}'
    got, want = sparc_fine(patches, tokens, lam).item(), _naive_sparc(patches, tokens, lam)
    assert abs(got - want) < 1e-12, f'self-check: SPARC {got} vs naive {want}'

    # The box term against a loop: two words of pair 0 (one of two tokens), one of pair 2.
    tau = 0.2
    inside = [torch.tensor([0, 1, 1, 0, 0, 0, 0, 0, 0], dtype=torch.bool),
              torch.tensor([1, 0, 0, 0, 0, 0, 0, 0, 1], dtype=torch.bool),
              torch.tensor([0, 0, 0, 0, 1, 0, 0, 0, 0], dtype=torch.bool)]
    words = [(0, [0, 1], inside[0]), (0, [2], inside[1]), (2, [1], inside[2])]
    got, want = box_loss(patches, tokens, words, tau).item(), _naive_box(patches, tokens, words,
                                                                         tau)
    assert abs(got - want) < 1e-12, f'self-check: box term {got} vs naive {want}'
    assert box_loss(patches, tokens, [], tau).item() == 0.0

    # FILIP: C is not A^T. One image with P=1 patch and two texts: sI = sT for every pair, so
    # then they coincide; with two patches they differ.
    v = [torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)]
    t = [torch.tensor([[1.0, 0.0], [0.6, 0.8]], dtype=torch.float64)]
    si, st = filip_sims(v, t)
    # sI = mean over patches of max over tokens: (1 + 0.8)/2; sT = mean over tokens of max over
    # patches: (1 + 0.8)/2 as well here, so use a 3-token text to separate them.
    assert abs(si.item() - 0.9) < 1e-12 and abs(st.item() - 0.9) < 1e-12
    t = [torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.8, 0.6]], dtype=torch.float64)]
    si, st = filip_sims(v, t)
    assert abs(si.item() - 0.9) < 1e-12 and abs(st.item() - (1 + 0.8 + 0.8) / 3) < 1e-12

    # SPARC weights by hand: s = [0, 1, 3, 4], P = 4: shat = [0, .25, .75, 1], all but the first
    # survive 1/P = .25 (>= keeps the equal one), a = [0, .25, .75, 1] / 2.
    vv = torch.tensor([[0.0], [1.0], [3.0], [4.0]], dtype=torch.float64)
    a = sparc_weights(torch.tensor([[1.0]], dtype=torch.float64), vv)
    assert torch.allclose(a, torch.tensor([[0.0, 0.125, 0.375, 0.5]], dtype=torch.float64))
    a = sparc_weights(torch.tensor([[0.0]], dtype=torch.float64), vv)  # range 0: uniform
    assert torch.allclose(a, torch.full((1, 4), 0.25, dtype=torch.float64))

    # Gradients: finite differences of the whole pipeline on a tiny model, one element of a few
    # tensors per objective (the float64 reference is smooth away from decision ties).
    config = ref.make_config('tiny')
    weights = {k: v.double() for k, v in ref.init_weights(config, seed=3).items()}
    size = config['vision_config']['image_size']
    pixels = [torch.randn(3, size, size, generator=g, dtype=torch.float64) for _ in range(3)]
    ids = [[49406, 320, 2368, 49407], [49406, 1929, 49407], [49406, 320, 1125, 539, 49407]]
    probes = [('logit_scale', ()), ('text_projection.weight', (3, 7)),
              ('vision_model.post_layernorm.weight', (5,)),
              ('text_model.embeddings.token_embedding.weight', (2368, 4)),
              ('vision_model.encoder.layers.1.mlp.fc1.bias', (10,))]
    box = (0.7, 0.3, [(0, [1, 2], torch.tensor([1] + [0] * 15, dtype=torch.bool)),
                      (2, [3], torch.tensor([0] * 9 + [1, 1] + [0] * 5, dtype=torch.bool))])
    for objective, with_box in (('clip', None), ('filip', None), ('sparc', None), ('clip', box)):
        values, grads, _ = reference_losses(config, weights, pixels, ids, objective, 0.4, 1.3,
                                            with_box)
        for name, index in probes:
            h = 1e-6
            plus = {k: v.clone() for k, v in weights.items()}
            minus = {k: v.clone() for k, v in weights.items()}
            plus[name][index] += h
            minus[name][index] -= h
            with torch.no_grad():
                fp = reference_losses_nograd(config, plus, pixels, ids, objective, 0.4, 1.3,
                                             with_box)
                fm = reference_losses_nograd(config, minus, pixels, ids, objective, 0.4, 1.3,
                                             with_box)
            fd = (fp - fm) / (2 * h)
            an = grads[name][index].item()
            assert abs(fd - an) <= 1e-6 * max(1.0, abs(an)), \
                f'self-check: {objective} d/d{name}{list(index)}: autograd {an} vs fd {fd}'
        assert grads['text_model.embeddings.token_embedding.weight'][5000].abs().max() == 0


def reference_losses_nograd(config, weights, pixels, ids, objective, lg, lf, box=None):
    vg, tg, patches, tokens = batch_embeddings(config, weights, pixels, ids)
    lam = weights['logit_scale'].exp()
    extra = 0.0 if box is None else box[0] * box_loss(patches, tokens, box[2], box[1]).item()
    if objective == 'clip':
        return clip_loss(vg, tg, lam).item() + extra
    if objective == 'filip':
        return (filip_loss(patches, tokens, lam) + lg * clip_loss(vg, tg, lam)).item() + extra
    return (lg * clip_loss(vg, tg, lam) + lf * sparc_fine(patches, tokens, lam)).item() + extra


# ---------------------------------------------------------------------------------------------
# Dataset.

def draw_image(k, size):
    """Structured, distinct pictures: a background gradient plus shapes that differ per image."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    u, v = x / (size - 1), y / (size - 1)
    img = np.stack([60 + 80 * u, 60 + 80 * v, 120 + 60 * np.sin(3 * (u + v) + k)], axis=-1)
    if k == 0:    # a dog-ish blob: brown ellipse with a darker head
        img[((u - 0.5) / 0.35) ** 2 + ((v - 0.6) / 0.2) ** 2 < 1] = (140, 90, 40)
        img[(u - 0.25) ** 2 + (v - 0.35) ** 2 < 0.12 ** 2] = (90, 55, 25)
    elif k == 1:  # a cat: grey disc with two triangle ears
        img[(u - 0.5) ** 2 + (v - 0.55) ** 2 < 0.25 ** 2] = (150, 150, 150)
        img[(v < 0.35) & (v > 0.1) & (np.abs(u - 0.35) < (v - 0.1))] = (110, 110, 110)
        img[(v < 0.35) & (v > 0.1) & (np.abs(u - 0.65) < (v - 0.1))] = (110, 110, 110)
    elif k == 2:  # a red circle
        img[(u - 0.4) ** 2 + (v - 0.45) ** 2 < 0.28 ** 2] = (225, 30, 40)
    else:         # two green squares above a big blue star
        img[(np.abs(u - 0.25) < 0.1) & (np.abs(v - 0.18) < 0.1)] = (30, 200, 60)
        img[(np.abs(u - 0.75) < 0.1) & (np.abs(v - 0.18) < 0.1)] = (30, 200, 60)
        r = np.hypot(u - 0.5, v - 0.65)
        ang = np.arctan2(v - 0.65, u - 0.5)
        img[r < 0.3 * (0.55 + 0.45 * np.cos(5 * ang))] = (30, 50, 220)
    img[((x.astype(int) + 2 * k) % 7 == 0) & (v > 0.9)] *= 0.6
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_dataset(folder, size):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'captions.jsonl'), 'w', encoding='utf-8') as f:
        for k, caption in enumerate(CAPTIONS):
            ref.write_png(os.path.join(folder, f'img{k}.png'), draw_image(k, size))
            f.write(json.dumps({'image': f'img{k}.png', 'caption': caption}) + '\n')


# ---------------------------------------------------------------------------------------------
# The box dataset: its images, their preprocessing and augmentation, and the boxes' patches.

def draw_box_image(k, width, height):
    """The boxed objects of BOX_PAIRS[k] over a gradient: each box filled with a colour of its
    own (shared by boxes of the same position), so the resampled pixels vary."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    img = np.stack([40 + 150 * x / width, 60 + 120 * y / height,
                    110 + 70 * np.sin(0.5 * (x + y) + k)], axis=-1)
    for n, (_, _, bx, by, bw, bh) in enumerate(BOX_PAIRS[k][3]):
        inside = (x >= bx) & (x < bx + bw) & (y >= by) & (y < by + bh)
        img[inside] = (255 - 40 * n, 30 + 50 * n, (90 * n + 60 * k) % 256)
    img[(x.astype(int) + y.astype(int)) % 5 == 0] *= 0.8
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def write_box_dataset(folder):
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'captions.jsonl'), 'w', encoding='utf-8') as f:
        for k, (width, height, caption, boxes) in enumerate(BOX_PAIRS):
            ref.write_png(os.path.join(folder, f'img{k}.png'), draw_box_image(k, width, height))
            f.write(json.dumps({
                'image': f'img{k}.png', 'caption': caption,
                'boxes': [{'word': w, 'occurrence': o, 'x': x, 'y': y, 'w': bw, 'h': bh}
                          for w, o, x, y, bw, bh in boxes]}) + '\n')


def _bicubic(x):
    """PIL's bicubic kernel, a = -0.5."""
    a, x = -0.5, abs(x)
    if x < 1.0:
        return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    if x < 2.0:
        return (((x - 5.0) * x + 8.0) * x - 4.0) * a
    return 0.0


def _resample_axis(img, n_out, first, count):
    """Resamples axis 0 of img (n_in, ..., 3) float64 to n_out samples as PIL does (the kernel
    stretched by the scale when shrinking, weights normalised per output sample), keeping the
    count outputs from first, rounded to 8 bits; also returns how many values were exactly
    halfway (summed tap by tap, in order, so that such ties round as wordpatch's do)."""
    n_in = img.shape[0]
    scale = n_in / n_out
    filter_scale = max(scale, 1.0)
    support = 2.0 * filter_scale
    taps = int(np.ceil(support)) * 2 + 1
    out = []
    for i in range(first, first + count):
        center = (i + 0.5) * scale
        lo = max(int(np.floor(center - support + 0.5)), 0)
        hi = min(int(np.floor(center + support + 0.5)), n_in, lo + taps)
        w = [_bicubic((j - center + 0.5) / filter_scale) for j in range(lo, hi)]
        total = 0.0
        for x in w:
            total += x
        acc = np.zeros(img.shape[1:])
        for k, j in enumerate(range(lo, hi)):
            acc = acc + (w[k] / total) * img[j]
        out.append(acc)
    out = np.stack(out)
    ties = int((out - np.floor(out) == 0.5).sum())
    return np.clip(np.floor(out + 0.5), 0, 255), ties


def resize_window(rgb, width, height, left, top, crop_width, crop_height):
    """The crop_width x crop_height window at (left, top) of rgb resized to width x height: rows
    first (each image row resampled along x), then columns, 8-bit rounding in between."""
    img = rgb.astype(np.float64)
    horizontal, ties1 = _resample_axis(img.transpose(1, 0, 2), width, left, crop_width)
    out, ties2 = _resample_axis(horizontal.transpose(1, 0, 2), height, top, crop_height)
    return out, ties1 + ties2


def normalise(unit_rgb):
    """[H, W, 3] in [0, 1] to the model's input [3, H, W]."""
    x = torch.from_numpy(unit_rgb).permute(2, 0, 1)
    mean = torch.tensor(ref.CLIP_MEAN, dtype=torch.float64)[:, None, None]
    std = torch.tensor(ref.CLIP_STD, dtype=torch.float64)[:, None, None]
    return (x - mean) / std


def preprocess(rgb, size):
    """CLIP's preprocessing: the shorter side resized to size (the longer to int(size * long /
    short)), the centre square. (pixels [3, S, S], crop (x, y, w, h) in original pixels,
    rounding ties)."""
    h, w = rgb.shape[:2]
    if (w, h) == (size, size):
        return normalise(rgb / 255.0), (0.0, 0.0, float(w), float(h)), 0
    width, height = (size, size * h // w) if w <= h else (size * w // h, size)
    left, top = (width - size) // 2, (height - size) // 2
    out, ties = resize_window(rgb, width, height, left, top, size, size)
    sx, sy = w / width, h / height
    return normalise(out / 255.0), (left * sx, top * sy, size * sx, size * sy), ties


def augment(rgb, size, aug):
    """docs/algorithms.md's augmentation with the draws `loss --json` reports: the crop resized
    to size x size, brightness, saturation around each pixel's grey, contrast around the mean
    grey, clamping, the flip. (pixels [3, S, S], rounding ties)."""
    x, y, w, h = (int(v) for v in aug['crop'])
    out, ties = resize_window(rgb[y:y + h, x:x + w], size, size, 0, 0, size, size)
    p = out / 255.0 * aug['brightness']
    grey = p @ np.array([0.299, 0.587, 0.114])
    p = grey[..., None] + (p - grey[..., None]) * aug['saturation']
    p = grey.mean() + (p - grey.mean()) * aug['contrast']
    p = np.clip(p, 0.0, 1.0)
    if aug['flipped']:
        p = p[:, ::-1].copy()
    return normalise(p), ties


def caption_words(tokens):
    """[(text, token indices)] of the caption's words, from `embed`'s tokens ("word" index)."""
    words = {}
    for i, t in enumerate(tokens):
        if t['word'] >= 0:
            words.setdefault(t['word'], []).append(i)
    return [(''.join(tokens[i]['text'] for i in idx), idx) for _, idx in sorted(words.items())]


def box_targets(b, boxes, tokens, crop, flipped, grid):
    """The box term's words of pair b: its boxes grouped by word (lowercased) and occurrence,
    each group naming the occurrence-th caption word of that text; the patches of the grid x grid
    input whose centre, in original-image pixels through crop and flip, lies inside one of the
    group's boxes (edges included). Groups naming no word or holding no centre are left out."""
    groups = {}
    for word, occ, x, y, w, h in boxes:
        groups.setdefault((word.lower(), occ), []).append((x, y, w, h))
    words = caption_words(tokens)
    out = []
    for (text, occ), rects in groups.items():
        matches = [idx for t, idx in words if t == text]
        if occ >= len(matches):
            continue
        inside = torch.zeros(grid * grid, dtype=torch.bool)
        cx0, cy0, cw, ch = crop
        for p in range(grid * grid):
            row, col = divmod(p, grid)
            src = grid - 1 - col if flipped else col
            x0, y0 = cx0 + src * cw / grid, cy0 + row * ch / grid
            x1, y1 = cx0 + (src + 1) * cw / grid, cy0 + (row + 1) * ch / grid
            px, py = x0 + (x1 - x0) / 2.0, y0 + (y1 - y0) / 2.0
            inside[p] = any(x <= px <= x + w and y <= py <= y + h for x, y, w, h in rects)
        if inside.any():
            out.append((b, matches[occ], inside))
    return out


# ---------------------------------------------------------------------------------------------
# CLI and comparison.

def run(cmd):
    return run_json(cmd, CLI_TIMEOUT)


def cli_tokens(cli, model, image, caption):
    out, error = run([cli, 'embed', '--model', model, '--image', image, '--text', caption])
    if error:
        return None, error
    try:
        return [{'id': int(t['id']), 'text': str(t['text']), 'word': int(t['word'])}
                for t in out['tokens']], None
    except (KeyError, TypeError, ValueError):
        return None, f'embed: malformed "tokens": {str(out.get("tokens"))[:200]}'


def cli_ids(cli, model, image, caption):
    tokens, error = cli_tokens(cli, model, image, caption)
    return (None, error) if error else ([t['id'] for t in tokens], None)


def compare_grads(ours, want, used_ids):
    """(passed, lines, worst (name, rel)) for every tensor."""
    passed, lines = True, []
    worst = (None, -1.0)
    zero_worst = 0.0
    missing = [n for n in want if n not in ours]
    extra = [n for n in ours if n not in want]
    if missing:
        passed = False
        lines.append(f'missing gradient tensors ({len(missing)}): {missing[:5]}')
    if extra:
        lines.append(f'note: extra tensors in the gradient file: {extra[:5]}')
    for name, g in want.items():
        if name not in ours:
            continue
        o = ours[name].to(torch.float64)
        if name == 'logit_scale' and tuple(o.shape) in ((), (1,)):
            o = o.reshape(g.shape)
        if tuple(o.shape) != tuple(g.shape):
            passed = False
            lines.append(f'{name}: shape {list(o.shape)}, expected {list(g.shape)}')
            continue
        if not torch.isfinite(o).all():
            passed = False
            lines.append(f'{name}: non-finite values')
            continue
        diff = (o - g).abs().max().item()
        scale = g.abs().max().item()
        rel = diff / scale if scale > 0 else (0.0 if diff == 0 else float('inf'))
        if diff > max(GRAD_TOL * scale, GRAD_FLOOR):
            passed = False
            idx = [int(i) for i in torch.nonzero((o - g).abs() == diff)[0]]
            lines.append(f'{name}: max|diff| {diff:.3g} ({rel:.3g} of max|ref| {scale:.3g}) '
                         f'at {idx}: ours {o[tuple(idx)].item():.6g}, '
                         f'ref {g[tuple(idx)].item():.6g}')
        # Rank by relative error among tensors with a real gradient; tensors whose exact gradient
        # is ~0 (k_proj biases: softmax ignores a per-query constant) only meet the floor.
        if scale >= GRAD_FLOOR / GRAD_TOL:
            if rel > worst[1]:
                worst = (name, rel)
        else:
            zero_worst = max(zero_worst, diff)
    tok = 'text_model.embeddings.token_embedding.weight'
    if tok in ours and tuple(ours[tok].shape) == tuple(want[tok].shape):
        unused = torch.ones(want[tok].shape[0], dtype=torch.bool)
        unused[sorted(used_ids)] = False
        nz = int((ours[tok][unused] != 0).any(dim=1).sum())
        lines.append(f'{tok}: gradient rows of unused ids exactly 0: {"no" if nz else "yes"}')
        if nz:
            passed = False
            lines.append(f'{tok}: {nz} rows of unused token ids have non-zero gradient')
    lines.append(f'tensors with ~0 exact gradient (max|ref| < {GRAD_FLOOR / GRAD_TOL:g}): '
                 f'max|ours - ref| {zero_worst:.3g} (floor {GRAD_FLOOR:g})')
    return passed, lines, worst


def check_losses(out, want, objective, lg, lf, batch=BATCH, box_weight=0.0):
    passed, lines = True, []
    for key in ('loss', 'loss_clip', 'loss_filip', 'loss_fine', 'loss_box'):
        got = out.get(key)
        if not isinstance(got, (int, float)):
            passed = False
            lines.append(f'{key}: missing or not a number: {got!r}')
            continue
        w = want[key]
        ok = abs(got - w) <= LOSS_TOL * abs(w) if w != 0 else abs(got) <= 1e-7
        passed &= ok
        rel = abs(got - w) / abs(w) if w != 0 else abs(got)
        lines.append(f'{key}: ours {got:.9g}, ref {w:.9g}, rel err {rel:.3g}'
                     + ('' if ok else '  <-- MISMATCH'))
    if out.get('pairs') != batch:
        passed = False
        lines.append(f'pairs {out.get("pairs")!r}, expected {batch}')
    if objective == 'sparc' and all(isinstance(out.get(k), (int, float))
                                    for k in ('loss', 'loss_clip', 'loss_fine')):
        comb = lg * out['loss_clip'] + lf * out['loss_fine'] + box_weight * out['loss_box']
        if abs(comb - out['loss']) > 1e-5 * abs(out['loss']):
            passed = False
            lines.append(f'loss {out["loss"]:.9g} != {lg}*loss_clip + {lf}*loss_fine + '
                         f'{box_weight}*loss_box = {comb:.9g} (are the components reported '
                         'weighted?)')
    if objective == 'filip' and all(isinstance(out.get(k), (int, float))
                                    for k in ('loss', 'loss_clip', 'loss_filip', 'loss_box')):
        comb = out['loss_filip'] + lg * out['loss_clip'] + box_weight * out['loss_box']
        if abs(comb - out['loss']) > 1e-5 * abs(out['loss']):
            passed = False
            lines.append(f'loss {out["loss"]:.9g} != loss_filip + {lg}*loss_clip + '
                         f'{box_weight}*loss_box = {comb:.9g}')
    return passed, lines


def box_run(cli, tmp, model, config, weights, data, images, tokens, objective, weight, tau, seed,
            index):
    """One `loss --box-weight` run against the reference: (description, (passed, lines, summary
    line))."""
    size = config['vision_config']['image_size']
    grid = size // config['vision_config']['patch_size']
    desc = (f'{objective} box_weight={weight}' + ('' if tau is None else f' box_tau={tau}') +
            ('' if seed is None else f' augmented (seed {seed})'))
    tau = DEFAULT_BOX_TAU if tau is None else tau
    grads_path = os.path.join(tmp, f'grads-box-{index}.safetensors')
    cmd = [cli, 'loss', '--model', model, '--data', data, '--loss', objective, '--batch',
           str(len(images)), '--box-weight', str(weight), '--grads', grads_path, '--json']
    cmd += SPARC_VARIANTS.get(objective, [])
    if tau != DEFAULT_BOX_TAU:
        cmd += ['--box-tau', str(tau)]
    if seed is not None:
        cmd += ['--augment', '--seed', str(seed)]
    out, error = run(cmd)
    if error:
        return desc, (False, [error], 'CLI failed')
    lines, passed = [], True
    augs = out.get('augmentations') if seed is not None else None
    if seed is not None and (not isinstance(augs, list) or len(augs) != len(images)):
        return desc, (False, [f'"augmentations" missing or malformed: {str(augs)[:200]}'],
                      'no augmentations')
    if seed is not None:
        flips = sum(bool(a['flipped']) for a in augs)
        whole = sum(a['crop'][2:] == [float(w), float(h)]
                    for a, (w, h, _, _) in zip(augs, BOX_PAIRS))
        lines.append(f'augmentation: {flips} of {len(augs)} flipped, {whole} uncropped')
        if flips == 0 or flips == len(augs) or whole == len(augs):
            passed = False
            lines.append('the seed neither flips some pairs and not others nor crops: change it')
    pixels, words, ties = [], [], 0
    for b, (path, (_, _, _, boxes)) in enumerate(zip(images, BOX_PAIRS)):
        rgb = ref.read_png(path)
        if seed is None:
            px, crop, n = preprocess(rgb, size)
            flipped = False
        else:
            px, n = augment(rgb, size, augs[b])
            crop, flipped = tuple(augs[b]['crop']), bool(augs[b]['flipped'])
        pixels.append(px)
        ties += n
        words += box_targets(b, boxes, tokens[b], crop, flipped, grid)
    ids = [[t['id'] for t in seq] for seq in tokens]
    lg = DEFAULT_FILIP_GLOBAL if objective == 'filip' else DEFAULT_LG
    want, grads, decisions = reference_losses(config, weights, pixels, ids, objective, lg,
                                              DEFAULT_LF, (weight, tau, words))
    split = max(len(idx) for _, idx, _ in words)
    lines.append(f'reference: {len(words)} boxed words (longest {split} tokens), decision margin '
                 f'{decisions:.3g}, {ties} resampled values exactly halfway')
    if decisions < MARGIN_MIN:
        passed = False
        lines.append('test data too close to a tie; change the data or the seed')
    if out.get('box_words') != len(words):
        passed = False
        lines.append(f'box_words {out.get("box_words")!r}, the reference has {len(words)}')
    ok, more = check_losses(out, want, objective, lg, DEFAULT_LF, len(images), weight)
    passed &= ok
    lines += more
    try:
        ours, _ = ref.read_safetensors(grads_path)
    except (OSError, ValueError, KeyError) as e:
        return desc, (False, lines + [f'cannot read {grads_path}: {e}'], 'no gradient file')
    ok, more, worst = compare_grads(ours, grads, {i for seq in ids for i in seq})
    passed &= ok
    lines += more
    lines.append(f'worst gradient tensor: {worst[0]} rel err {worst[1]:.3g}')
    rel = abs(out.get('loss', float('nan')) - want['loss']) / abs(want['loss'])
    return desc, (passed, lines, f'loss rel err {rel:.3g}, worst gradient {worst[0]} '
                                 f'{worst[1]:.3g}')


def sigmoid_loss(img, txt, logit_scale, logit_bias):
    """Zhai et al. 2023: -(1/B) sum_ij log sigmoid(z_ij (t cos_ij + b)), z = 1 on the diagonal."""
    logits = logit_scale.exp() * unit(img) @ unit(txt).T + logit_bias
    z = 2 * torch.eye(len(img), dtype=torch.float64) - 1
    return -F.logsigmoid(z * logits).sum() / len(img)


def siglip_point(cli, tmp):
    """The sigmoid loss and every gradient of a random SigLIP model, as one TAP point."""
    folder = os.path.join(tmp, 'siglip')
    spiece = sref.train_spiece(seed=3)
    config, weights, _ = sref.make_model(folder, seed=SEED + 1, preset='micro', spiece=spiece)
    tokenizer = sref.SiglipTokenizer(spiece)
    size = config['vision_config']['image_size']
    context = config['text_config']['max_position_embeddings']
    data = os.path.join(tmp, 'siglip-data')
    write_dataset(data, size)
    images = [os.path.join(data, f'img{k}.png') for k in range(len(CAPTIONS))]
    ids = [tokenizer.encode(c, context) for c in CAPTIONS]
    lines, passed = [], True
    for image, caption, want_ids in zip(images, CAPTIONS, ids):
        got, error = cli_ids(cli, folder, image, caption)
        if error or got != want_ids:
            return False, [f'{caption!r}: ids {got}, expected {want_ids} {error or ""}']
    w = {k: v.clone().requires_grad_(True) for k, v in weights.items()}
    img = torch.stack([sref.head(config, w, sref.vision_tokens(
        config, w, sref.pixels_from_png(p, size)))[0] for p in images])
    txt = torch.stack([sref.text_tokens(config, w, i, tokenizer.pad_id)[-1] for i in ids])
    loss = sigmoid_loss(img, txt, w['logit_scale'][0], w['logit_bias'][0])
    loss.backward()
    want = {k: v.grad if v.grad is not None else torch.zeros_like(v) for k, v in w.items()}
    grads_path = os.path.join(tmp, 'grads-siglip.safetensors')
    out, error = run([cli, 'loss', '--model', folder, '--data', data, '--loss', 'sigmoid',
                      '--batch', str(BATCH), '--grads', grads_path, '--json'])
    if error:
        return False, [error]
    for key in ('loss', 'loss_sigmoid'):
        got = out.get(key)
        ok = isinstance(got, (int, float)) and abs(got - loss.item()) <= LOSS_TOL * abs(loss.item())
        passed &= ok
        lines.append(f'{key}: ours {got!r}, ref {loss.item():.9g}' + ('' if ok else ' <-- MISMATCH'))
    ours, _ = ref.read_safetensors(grads_path)
    used = {i for seq in ids for i in seq} | {tokenizer.pad_id}
    ok, more, worst = compare_grads(ours, want, used)
    lines += more + [f'worst gradient tensor: {worst[0]} rel err {worst[1]:.3g}']
    return passed and ok, lines


def main(argv):
    if len(argv) > 1 and argv[1] == '--self-check':
        self_check()
        print('self-check passed')
        return 0
    cli = find_cli(argv)
    if cli is None:
        return 1
    tap = Tap(3 + len(RUNS) + len(BOX_RUNS))
    try:
        self_check()
        tap.result(True, 'reference self-check (naive loops, hand values, finite differences)',
                   [])
    except AssertionError as e:
        tap.result(False, 'reference self-check', [str(e)])

    summary = []
    with tempfile.TemporaryDirectory(prefix='wordpatch-loss-parity-') as tmp:
        model = os.path.join(tmp, 'model')
        ref.make_model(out_dir=model, seed=SEED)
        config, weights = ref.load_model(model)
        size = config['vision_config']['image_size']
        data = os.path.join(tmp, 'data')
        write_dataset(data, size)
        images = [os.path.join(data, f'img{k}.png') for k in range(len(CAPTIONS))]
        pixels = [ref.pixels_from_png(p, size) for p in images]

        ids, lines, ok = [], [], True
        for image, caption in zip(images, CAPTIONS):
            got, error = cli_ids(cli, model, image, caption)
            if error:
                tap.result(False, 'token ids of the captions', [error])
                print('Bail out! cannot tokenize the captions')
                return 1
            if caption in KNOWN_IDS and got != KNOWN_IDS[caption]:
                ok = False
                lines.append(f'{caption!r}: {got}, expected {KNOWN_IDS[caption]}')
            lines.append(f'{caption!r}: {got}')
            ids.append(got)
        if len({len(i) for i in ids}) != len(ids):
            ok = False
            lines.append('captions do not have distinct token lengths')
        tap.result(ok, 'token ids of the captions (distinct lengths)', lines)
        used = {i for seq in ids for i in seq}

        for objective, lg, lf in RUNS:
            if objective == 'filip':
                desc = objective + ('' if lg is None else f' filip_global={lg}')
                rlg = DEFAULT_FILIP_GLOBAL if lg is None else lg
            else:
                desc = objective + ('' if lg is None else f' lambda_global={lg} lambda_fine={lf}')
                rlg = DEFAULT_LG if lg is None else lg
            rlf = DEFAULT_LF if lf is None else lf
            want, grads, margin = reference_losses(config, weights, pixels, ids, objective,
                                                   rlg, rlf)
            lines = [f'reference decision margin {margin:.3g}']
            passed = margin >= MARGIN_MIN
            if not passed:
                lines.append(f'test data too close to a tie (< {MARGIN_MIN}); change SEED')
            grads_path = os.path.join(tmp, f'grads-{len(summary)}.safetensors')
            base = 'sparc' if objective in SPARC_VARIANTS else objective
            cmd = [cli, 'loss', '--model', model, '--data', data, '--loss', base,
                   '--batch', str(BATCH), '--grads', grads_path, '--json']
            cmd += SPARC_VARIANTS.get(objective, [])
            if lg is not None and objective == 'filip':
                cmd += ['--filip-global', str(lg)]
            elif lg is not None:
                cmd += ['--lambda-global', str(lg), '--lambda-fine', str(lf)]
            out, error = run(cmd)
            if error:
                tap.result(False, desc, lines + [error])
                summary.append(f'{desc}: CLI failed')
                continue
            ok, more = check_losses(out, want, base, rlg, rlf)
            passed &= ok
            lines += more
            try:
                ours, _ = ref.read_safetensors(grads_path)
            except (OSError, ValueError, KeyError) as e:
                tap.result(False, desc, lines + [f'cannot read {grads_path}: {e}'])
                summary.append(f'{desc}: no gradient file')
                continue
            ok, more, worst = compare_grads(ours, grads, used)
            passed &= ok
            lines += more
            lines.append(f'worst gradient tensor: {worst[0]} rel err {worst[1]:.3g}')
            loss_rel = abs(out.get('loss', float('nan')) - want['loss']) / abs(want['loss'])
            summary.append(f'{desc}: loss rel err {loss_rel:.3g}, '
                           f'worst gradient {worst[0]} {worst[1]:.3g}')
            tap.result(passed, desc, lines)

        box_data = os.path.join(tmp, 'boxes')
        write_box_dataset(box_data)
        box_images = [os.path.join(box_data, f'img{k}.png') for k in range(len(BOX_PAIRS))]
        box_tokens = []
        for image, (_, _, caption, _) in zip(box_images, BOX_PAIRS):
            tokens, error = cli_tokens(cli, model, image, caption)
            if error:
                print(f'Bail out! cannot tokenize the box captions: {error}')
                return 1
            box_tokens.append(tokens)
        for objective, weight, tau, seed in BOX_RUNS:
            desc, result = box_run(cli, tmp, model, config, weights, box_data, box_images,
                                   box_tokens, objective, weight, tau, seed, len(summary))
            passed, lines, line = result
            summary.append(f'{desc}: {line}')
            tap.result(passed, desc, lines)
        passed, lines = siglip_point(cli, tmp)
        tap.result(passed, 'sigmoid loss on a SigLIP model (logit_scale and logit_bias learnt)',
                   lines)

    print(f'# tolerances: loss {LOSS_TOL:g} relative; gradients {GRAD_TOL:g} of max|ref| '
          f'(floor {GRAD_FLOOR:g})')
    for line in summary:
        print(f'#   {line}')
    return tap.exit_status()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
