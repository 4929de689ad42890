#!/usr/bin/python3
"""The self-check of maps_reference.py: the reference against independent formulations of the same
definitions (loops over every element, central differences, OpenAI's tokenizer ids). Run by
`maps_reference.py --self-check` and by test_maps_parity.py before the comparisons."""

import json
import math
import os
import sys
import tempfile

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402  (found beside this file)
import maps_reference as maps  # noqa: E402

# OpenAI SimpleTokenizer ids, from data/clip-bpe/README.md (test_embed_parity.py has the rest).
KNOWN_IDS = [
    ('a photo of a dog', [49406, 320, 1125, 539, 320, 1929, 49407]),
    ('a diagram', [49406, 320, 22697, 49407]),
    ('A PHOTO OF A CAT.', [49406, 320, 1125, 539, 320, 2368, 269, 49407]),
    ('supercalifragilisticexpialidocious',
     [49406, 1642, 2857, 13093, 2076, 5868, 26850, 835, 639, 38466, 49407]),
]


def _close(a, b, what, tol=1e-10):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, f'self-check: {what}: shape {list(a.shape)} vs {list(b.shape)}'
    diff = (a - b).abs().max().item()
    scale = max(b.abs().max().item(), 1.0)
    assert diff <= tol * scale, f'self-check: {what}: max |diff| {diff:.3g} > {tol:.3g}'


def _cubic_weights(t, a=-0.75):
    """Keys' cubic convolution weights of the four taps around a point at fraction t."""
    def near(x):
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _bicubic_loop(grid, rows, cols):
    """grid [side, side, D] resized to [rows, cols, D] one output at a time: source coordinate
    (i + 1/2) * in / out - 1/2, not clamped, taps' indices clamped to the border."""
    side = grid.shape[0]
    out = torch.zeros(rows, cols, grid.shape[2], dtype=torch.float64)
    for i in range(rows):
        y = (i + 0.5) * side / rows - 0.5
        y0 = math.floor(y)
        wy = _cubic_weights(y - y0)
        for j in range(cols):
            x = (j + 0.5) * side / cols - 0.5
            x0 = math.floor(x)
            wx = _cubic_weights(x - x0)
            for a in range(4):
                for b in range(4):
                    r = min(max(y0 - 1 + a, 0), side - 1)
                    c = min(max(x0 - 1 + b, 0), side - 1)
                    out[i, j] += wy[a] * wx[b] * grid[r, c]
    return out


def _softmax_row(values):
    top = max(values)
    e = [math.exp(v - top) for v in values]
    return [x / sum(e) for x in e]


def _attention_loop(q, k, v, method, rows, cols):
    """One head's attention matrix and mixed values [n, d] written out in scalars."""
    n, d = len(q), len(q[0])
    s = d ** -0.5

    def dot(a, b):
        return sum(x * y for x, y in zip(a, b))

    def omega(i, j):
        if i == 0 or j == 0:
            return 0.0
        (ri, ci), (rj, cj) = divmod(i - 1, cols), divmod(j - 1, cols)
        return math.exp(-((ri - rj) ** 2 + (ci - cj) ** 2) / (2 * maps.NACLIP_SIGMA ** 2))

    if method == 'maskclip':
        probs = [[float(i == j) for j in range(n)] for i in range(n)]
    else:
        probs = []
        for i in range(n):
            if method == 'filip':
                row = _softmax_row([s * dot(q[i], k[j]) for j in range(n)])
            elif method == 'sclip':
                row = [a + b for a, b in zip(_softmax_row([s * dot(q[i], q[j]) for j in range(n)]),
                                             _softmax_row([s * dot(k[i], k[j]) for j in range(n)]))]
            elif method == 'clearclip':
                row = _softmax_row([s * dot(q[i], q[j]) for j in range(n)])
            else:
                row = _softmax_row([s * dot(k[i], k[j]) + omega(i, j) for j in range(n)])
            probs.append(row)
    mixed = [[sum(probs[i][j] * v[j][c] for j in range(n)) for c in range(d)] for i in range(n)]
    return probs, mixed


def _block_loop(vision, method):
    """The last block of method from per-head scalar attention: residual and MLP as
    ALGORITHMS.md writes each variant."""
    layer = vision.n_layers - 1
    prefix = vision.prefix(layer)
    w, x = vision.w, vision.inputs[layer]
    h = vision._ln(x, prefix + '.layer_norm1')
    q, k, v = (t.tolist() for t in vision.qkv(layer, h))
    heads = []
    for head in range(vision.heads):
        probs, mixed = _attention_loop(q[head], k[head], v[head], method, vision.rows,
                                       vision.cols)
        if method != 'maskclip':
            want = vision.attention(method, *vision.qkv(layer, h)[:2])[head]
            _close(want, probs, f'{method} attention of head {head} vs a scalar loop')
        heads.append(torch.tensor(mixed, dtype=torch.float64))
    a = torch.cat(heads, dim=1) @ w[prefix + '.self_attn.out_proj.weight'].T
    a = a + w[prefix + '.self_attn.out_proj.bias']
    if method in ('clearclip', 'naclip'):
        return a
    y = x + a
    act = ref.activation(vision.cfg['hidden_act'])
    hidden = act(vision._ln(y, prefix + '.layer_norm2') @ w[prefix + '.mlp.fc1.weight'].T
                 + w[prefix + '.mlp.fc1.bias'])
    return y + hidden @ w[prefix + '.mlp.fc2.weight'].T + w[prefix + '.mlp.fc2.bias']


def _central_difference(f, x, eps=1e-5):
    """d f / d x for every element of x, by central differences."""
    grad = torch.zeros_like(x)
    flat, out = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.numel()):
        saved = flat[i].item()
        flat[i] = saved + eps
        up = f(x).item()
        flat[i] = saved - eps
        down = f(x).item()
        flat[i] = saved
        out[i] = (up - down) / (2 * eps)
    return grad


def _gradient_loops(vision, e, legrad_layers):
    """gradcam, chefer and legrad from finite-difference gradients, assembled by loops."""
    last = vision.n_layers - 1
    n, p = 1 + vision.rows * vision.cols, vision.rows * vision.cols
    with torch.no_grad():
        h = vision._ln(vision.inputs[last], vision.prefix(last) + '.layer_norm1').clone()
        g = _central_difference(lambda t: vision._score(vision.block(last, h=t)[0], e), h)
        alpha = [sum(g[1 + i, c].item() for i in range(p)) / p for c in range(h.shape[1])]
        gradcam = [max(0.0, sum(a * h[1 + i, c].item() for c, a in enumerate(alpha)))
                   for i in range(p)]

        def attention(layer):
            hl = vision._ln(vision.inputs[layer], vision.prefix(layer) + '.layer_norm1')
            return vision.attention('filip', *vision.qkv(layer, hl)[:2]).clone()

        a = attention(last)
        g = _central_difference(lambda t: vision._score(vision.block(last, probs=t)[0], e), a)
        chefer = [sum(max(0.0, g[hd, 0, 1 + i].item() * a[hd, 0, 1 + i].item())
                      for hd in range(vision.heads)) / vision.heads for i in range(p)]

        legrad = [0.0] * p
        for layer in range(vision.n_layers - legrad_layers, vision.n_layers):
            a = attention(layer)
            g = _central_difference(
                lambda t: vision._score(vision.block(layer, probs=t).mean(0), e), a)
            for i in range(p):
                legrad[i] += sum(max(0.0, g[hd, r, 1 + i].item()) for hd in range(vision.heads)
                                 for r in range(n)) / (vision.heads * n)
    return {'gradcam': gradcam, 'chefer': chefer, 'legrad': legrad}


def self_check():
    import test_embed_parity
    tokenizer = maps.Tokenizer(ref.BPE_DIR)
    for caption, ids in test_embed_parity.CAPTIONS + KNOWN_IDS:
        got = tokenizer.encode(caption)[0]
        assert got == ids, f'self-check: tokenizer: {caption!r}: {got}, expected {ids}'
    ids, word_of, words = tokenizer.encode("a zebroid, it's")
    assert words == ['a', 'zebroid', ',', 'it', "'s"], f'self-check: words {words}'
    assert word_of == [-1, 0, 1, 1, 1, 2, 3, 4, -1], f'self-check: word_of {word_of}'
    assert len(tokenizer.encode('cat ' * 100)[0]) == maps.CONTEXT_LENGTH, 'self-check: context'
    assert maps.prompt_texts(' red circle, , blue  square ,', tokenizer) == ['red circle',
                                                                       'blue  square']
    assert maps.prompt_texts('A red circle.', tokenizer) == ['a', 'red', 'circle', '.']

    for act in ('quick_gelu', 'gelu'):
        config = ref.make_config('tiny', act, image_size=64)
        w = {k: v.double() for k, v in ref.init_weights(config, seed=5).items()}
        vcfg = config['vision_config']
        side = vcfg['image_size'] // vcfg['patch_size']
        pos = w['vision_model.embeddings.position_embedding.weight']
        grid = pos[1:].reshape(side, side, -1)

        # Position embeddings: the same grid is the identity, other grids torch's bicubic.
        same = F.interpolate(grid.permute(2, 0, 1)[None], size=(side, side), mode='bicubic',
                             align_corners=False)[0].permute(1, 2, 0)
        _close(same, grid, 'bicubic to the same grid', 1e-15)
        for rows, cols in ((8, 12), (12, 8), (16, 24), (5, 11), (3, 3)):
            got = maps.position_embeddings(config, w, rows, cols)
            _close(got[0], pos[0], f'class position kept at {rows}x{cols}', 0)
            _close(got[1:].reshape(rows, cols, -1), _bicubic_loop(grid, rows, cols),
                   f'position embeddings {rows}x{cols} vs a bicubic loop', 1e-13)

        # The tower seen whole at the model's grid is clip_reference's tower.
        pixels = torch.randn(3, 64, 64, dtype=torch.float64, generator=torch.Generator()
                             .manual_seed(1))
        vision = maps.Vision(config, w, pixels)
        plain = ref.vision_tower(config, w, pixels) @ w['visual_projection.weight'].T
        _close(vision.dense('filip'), plain[1:], f'filip features vs clip_reference ({act})')
        _close(vision.project(vision.output)[0], plain[0], 'pooled image vs clip_reference')
        _close(vision.block(vision.n_layers - 1), vision.output, 'standard block vs encoder')

        # A small non-square grid: every last-block variant against scalar loops.
        pixels = torch.randn(3, 16, 24, dtype=torch.float64, generator=torch.Generator()
                             .manual_seed(2))
        small = maps.Vision(config, w, pixels)
        assert (small.rows, small.cols) == (2, 3)
        for method in maps.FORWARD_METHODS:
            _close(small.block(small.n_layers - 1, method), _block_loop(small, method),
                   f'{method} block vs a loop ({act})')
        omega = maps.naclip_bias(2, 3)
        assert omega[0].abs().max() == 0 and omega[:, 0].abs().max() == 0
        _close(omega[1:, 1:].diagonal(), torch.ones(6), 'naclip omega diagonal', 0)
        _close(omega[1, 6], math.exp(-(1 + 4) / (2 * maps.NACLIP_SIGMA ** 2)),
               'naclip omega between patches (0,0) and (1,2)')

        # Gradient methods: autograd against central differences assembled by loops.
        e = maps._unit(torch.randn(config['projection_dim'], dtype=torch.float64,
                              generator=torch.Generator().manual_seed(3)))
        for layers in (1, small.n_layers):
            loops = _gradient_loops(small, e, layers)
            _close(small.legrad(e, layers), loops['legrad'],
                   f'legrad ({layers} layers) vs finite differences', 1e-7)
        _close(small.gradcam(e), loops['gradcam'], 'gradcam vs finite differences', 1e-7)
        _close(small.chefer(e), loops['chefer'], 'chefer vs finite differences', 1e-7)

    # Maps on a model folder: SPARC rows, word means, surgery, JSON layout.
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, 'model')
        config = ref.make_model(model, seed=9, image_size=64)
        _, w = ref.load_model(model)
        image = os.path.join(tmp, 'image.png')
        ref.write_png(image, ref.test_image(96, 64))
        pixels = maps.pixels_from_png(image, 8)
        text = maps.Text(config, w, maps.model_tokenizer(model))
        caption = 'a zebroid beside the square'
        out = maps.compute_maps(config, w, pixels, caption, maps.METHODS, 'token')
        assert (out['rows'], out['cols']) == (8, 12)
        assert [x['text'] for x in out['words']] == ['a', 'zebroid', 'beside', 'the', 'square']
        tokens, _, word_of, _ = text.tokens(caption)
        vision = maps.Vision(config, w, pixels)
        feats = vision.dense('filip')
        zebroid = [maps.cosine_map(feats, tokens[i]) for i, x in enumerate(word_of) if x == 1]
        assert len(zebroid) == 3
        _close(out['words'][1]['filip'], torch.stack(zebroid).mean(0), 'word = mean of tokens')
        for i in range(1, len(word_of) - 1):
            a, s = maps.sparc_map(feats, tokens[i]), feats @ tokens[i]
            shat = (s - s.min()) / (s.max() - s.min())
            _close(a.sum(), 1.0, 'sparc weights sum to 1', 1e-12)
            assert torch.equal(a > 0, shat >= 1 / 96), 'self-check: sparc threshold'
            assert a[s.argmax()] == a.max(), 'self-check: sparc loses the maximum'
        flat = maps.sparc_map(torch.ones(4, 3, dtype=torch.float64),
                              torch.ones(3, dtype=torch.float64))
        _close(flat, torch.full((4,), 0.25), 'sparc uniform on a flat row', 0)

        cut = maps.compute_maps(config, w, pixels, caption, maps.METHODS, 'token', surgery=True)
        for m in maps.METHODS:
            got = torch.stack([x[m] for x in cut['words']])
            raw = torch.stack([x[m] for x in out['words']])
            if m in maps.FORWARD_METHODS:
                _close(got, raw - raw.mean(0), f'{m} surgery with several queries')
                _close(got.sum(0), torch.zeros(got.shape[1]), f'{m} surgery sums to 0')
            else:
                _close(got, raw, f'{m} unchanged by surgery', 0)
        for kind, empty in (('token', ''), ('prompt', 'a photo of a .')):
            one = maps.compute_maps(config, w, pixels, 'square', ['maskclip'], kind, surgery=True)
            raw = maps.compute_maps(config, w, pixels, 'square', ['maskclip'], kind)
            base = maps.cosine_map(vision.dense('maskclip'), text.pooled(empty))
            _close(one['words'][0]['maskclip'], raw['words'][0]['maskclip'] - base,
                   f'single {kind} query surgery')

        phrases = maps.compute_maps(config, w, pixels, 'a red disc, green bar', ['filip'], 'prompt')
        assert [x['text'] for x in phrases['words']] == ['a red disc', 'green bar']
        want = maps.cosine_map(feats, text.pooled('a photo of a green bar.'))
        _close(phrases['words'][1]['filip'], want, 'prompt query is the pooled template')
        json.dumps(maps.reference(model, image, caption, ['legrad'], 'prompt', legrad_layers=2))
