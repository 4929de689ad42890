#!/usr/bin/python3
"""Independent float64 torch reference of wordpatch's word maps for any CLIP model (issue 19).

Every method, query kind and option of ALGORITHMS.md, "Maps for any CLIP model", computed from a
model folder written by clip_reference.py (or any transformers CLIPModel folder), an RGB image
already at the size the vision tower sees, and a caption. It never calls wordpatch: the towers are
clip_reference.py's, the tokenizer is OpenAI's simple_tokenizer written again below, and the
gradient methods use torch autograd where wordpatch has a hand-written backward.

  maps_reference.py --model DIR --image IMG.png --text TEXT [--method M[,M...]]
                    [--query token|prompt] [--template T] [--surgery] [--legrad-layers K]
                    [--out MAPS.json]
  maps_reference.py --self-check

The image is seen whole: H x W pixels, both multiples of the patch size, a rows x cols grid; the
position embeddings are resized to that grid as transformers' interpolate_pos_encoding does. The
output has the layout of `wordpatch-cli heatmap --json`: "rows", "cols", "method", "query", and
"words", one entry per query with its "text" and one map of rows * cols values (row-major) per
method, before any display normalisation.

SigLIP folders (siglip_reference.py's) follow ALGORITHMS.md's "SigLIP" section: no class token,
the patch features of every forward method through the attention-pooling head (MaskCLIP through
the head), S the head's pooled output, chefer on the head's attention, legrad on the head run over
each block's post_layernorm'ed output; the tokenizer is siglip_reference.SiglipTokenizer.
"""

import argparse
import html
import json
import math
import os
import re
import sys
import unicodedata

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402  (found beside this file)
import siglip_reference as sref  # noqa: E402

FORWARD_METHODS = ('filip', 'maskclip', 'sclip', 'clearclip', 'naclip')
GRADIENT_METHODS = ('gradcam', 'chefer', 'legrad')
METHODS = ('filip', 'sparc') + FORWARD_METHODS[1:] + GRADIENT_METHODS
DEFAULT_TEMPLATE = 'a photo of a {}.'
NACLIP_SIGMA = 5.0
CONTEXT_LENGTH = 77


# ---------------------------------------------------------------------------------------------
# Tokenizer: OpenAI CLIP's simple_tokenizer.py over the transformers files (vocab.json and
# merges.txt), without its ftfy.fix_text step (as the ids of data/clip-bpe/README.md).

def _bytes_to_unicode():
    """GPT-2's map: printable Latin-1 bytes stand for themselves, the rest move to U+0100 on."""
    printable = (list(range(ord('!'), ord('~') + 1)) + list(range(0xA1, 0xAD))
                 + list(range(0xAE, 0x100)))
    chars, moved = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + moved)
            moved += 1
    return chars


class Tokenizer:
    SPECIALS = ('<|startoftext|>', '<|endoftext|>')
    CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")

    def __init__(self, folder):
        with open(os.path.join(folder, 'vocab.json'), encoding='utf-8') as f:
            self.encoder = json.load(f)
        with open(os.path.join(folder, 'merges.txt'), encoding='utf-8') as f:
            lines = f.read().split('\n')
        if lines and lines[0].startswith('#version'):
            lines = lines[1:]
        merges = [tuple(line.split()) for line in lines if line.strip()]
        self.ranks = {pair: rank for rank, pair in enumerate(merges)}
        self.byte_chars = _bytes_to_unicode()
        self.start_id = self.encoder['<|startoftext|>']
        self.end_id = self.encoder['<|endoftext|>']
        self.decoder = {v: k for k, v in self.encoder.items()}

    @staticmethod
    def clean(text):
        text = html.unescape(html.unescape(text)).strip()
        return re.sub(r'\s+', ' ', text).strip().lower()

    @classmethod
    def split_words(cls, text):
        """The words of cleaned text by OpenAI's pattern, written out as its alternation tries
        them at each position: 's|'t|... then letters+, one number, other non-space runs."""
        def kind(c):
            cat = unicodedata.category(c)
            return 'L' if cat.startswith('L') else 'N' if cat.startswith('N') else 'P'

        words, i = [], 0
        while i < len(text):
            if text[i] == ' ':
                i += 1
                continue
            match = next((s for s in cls.SPECIALS + cls.CONTRACTIONS if text.startswith(s, i)),
                         None)
            if match is not None:
                end = i + len(match)
            elif kind(text[i]) == 'N':
                end = i + 1
            else:
                k, end = kind(text[i]), i + 1
                while end < len(text) and text[end] != ' ' and kind(text[end]) == k:
                    end += 1
            words.append(text[i:end])
            i = end
        return words

    def bpe(self, word):
        """Merges applied lowest rank first, each to every occurrence left to right."""
        symbols = [self.byte_chars[b] for b in word.encode('utf-8')]
        symbols[-1] += '</w>'
        while len(symbols) > 1:
            pairs = {(a, b) for a, b in zip(symbols, symbols[1:])}
            best = min(pairs, key=lambda p: self.ranks.get(p, math.inf))
            if best not in self.ranks:
                break
            merged, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    merged.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    merged.append(symbols[i])
                    i += 1
            symbols = merged
        return [self.encoder[s] for s in symbols]

    def encode(self, text):
        """(ids with start and end, word index of each id or -1, word texts), cut to the
        context as CLIP's text tower takes it."""
        ids, word_of, texts = [self.start_id], [-1], []
        for word in self.split_words(self.clean(text)):
            if word in self.SPECIALS:
                pieces = [self.encoder[word]]
            else:
                pieces = self.bpe(word)
            room = CONTEXT_LENGTH - 1 - len(ids)
            if room <= 0:
                break
            pieces = pieces[:room]
            word_of += [len(texts)] * len(pieces)
            texts.append(word)
            ids += pieces
        return ids + [self.end_id], word_of + [-1], texts


def model_tokenizer(model_dir):
    """The model folder's own vocabulary when it has one, else the repository's."""
    if os.path.isfile(os.path.join(model_dir, 'vocab.json')):
        return Tokenizer(model_dir)
    return Tokenizer(ref.BPE_DIR)


# ---------------------------------------------------------------------------------------------
# Images and position embeddings.

def pixels_from_png(path, patch, mean=ref.CLIP_MEAN, std=ref.CLIP_STD):
    """[3, H, W] float64, pixel/255 then (x - mean)/std per channel, as clip_reference does; H
    and W must be multiples of the patch size (the image is seen whole, no resampling)."""
    rgb = ref.read_png(path)
    h, w = rgb.shape[:2]
    if h % patch or w % patch:
        raise ValueError(f'{path}: {w}x{h} is not a multiple of the patch size {patch}')
    x = torch.from_numpy(rgb.astype(np.float64) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(mean, dtype=torch.float64)[:, None, None]
    std = torch.tensor(std, dtype=torch.float64)[:, None, None]
    return (x - mean) / std


def position_embeddings(config, w, rows, cols):
    """[1 + rows * cols, D]: the class row as stored, the patch rows resized from their square
    grid by torch's bicubic (a = -0.75, align_corners=False, border clamped), as transformers'
    interpolate_pos_encoding does; unchanged when the grid is the model's."""
    pos = w['vision_model.embeddings.position_embedding.weight']
    cfg = config['vision_config']
    side = cfg['image_size'] // cfg['patch_size']
    if (rows, cols) == (side, side):
        return pos
    d = pos.shape[1]
    grid = pos[1:].reshape(side, side, d).permute(2, 0, 1)[None]
    grid = F.interpolate(grid, size=(rows, cols), mode='bicubic', align_corners=False)
    return torch.cat([pos[:1], grid[0].permute(1, 2, 0).reshape(rows * cols, d)])


def naclip_bias(rows, cols, sigma=NACLIP_SIGMA):
    """Omega [1+P, 1+P]: a Gaussian of the patches' grid distance (patch units), 0 in the class
    token's row and column."""
    r = torch.arange(rows * cols, dtype=torch.float64) // cols
    c = torch.arange(rows * cols, dtype=torch.float64) % cols
    d2 = (r[:, None] - r[None]) ** 2 + (c[:, None] - c[None]) ** 2
    omega = torch.zeros(1 + rows * cols, 1 + rows * cols, dtype=torch.float64)
    omega[1:, 1:] = torch.exp(-d2 / (2 * sigma ** 2))
    return omega


# ---------------------------------------------------------------------------------------------
# The vision tower seen whole, and its last block in every method's form.

def _unit(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)


class Vision:
    """One image through the vision tower: X_l, the input of every block l (0-based here), and
    the blocks written out per head so that a method can replace the attention or take a
    gradient at its layer norm or attention."""

    def __init__(self, config, w, pixels):
        self.config, self.w = config, w
        self.cfg = cfg = config['vision_config']
        self.eps = cfg.get('layer_norm_eps', 1e-5)
        self.heads = cfg['num_attention_heads']
        self.n_layers = cfg['num_hidden_layers']
        patch = cfg['patch_size']
        self.rows, self.cols = pixels.shape[1] // patch, pixels.shape[2] // patch
        x = torch.cat([w['vision_model.embeddings.class_embedding'][None],
                       ref.patch_tokens(w, pixels, patch)])
        x = x + position_embeddings(config, w, self.rows, self.cols)
        x = F.layer_norm(x, x.shape[-1:], w['vision_model.pre_layrnorm.weight'],
                         w['vision_model.pre_layrnorm.bias'], self.eps)
        self.inputs = []
        for layer in range(self.n_layers):
            self.inputs.append(x)
            x = ref.encoder_layer(x, w, self.prefix(layer), cfg, causal=False)
        self.output = x

    def prefix(self, layer):
        return f'vision_model.encoder.layers.{layer}'

    def _ln(self, x, name):
        return F.layer_norm(x, x.shape[-1:], self.w[name + '.weight'], self.w[name + '.bias'],
                            self.eps)

    def qkv(self, layer, h):
        """Unscaled q, k, v of H = layer_norm1(X), each [heads, n, d]."""
        n, width = h.shape
        a = self.prefix(layer) + '.self_attn'
        return [F.linear(h, self.w[f'{a}.{p}_proj.weight'], self.w[f'{a}.{p}_proj.bias'])
                .view(n, self.heads, width // self.heads).transpose(0, 1) for p in 'qkv']

    def attention(self, method, q, k):
        """Post-softmax attention [heads, n, n] of a method (maskclip has none)."""
        s = q.shape[-1] ** -0.5
        if method == 'filip':
            return (s * q @ k.transpose(1, 2)).softmax(-1)
        if method == 'sclip':
            return (s * q @ q.transpose(1, 2)).softmax(-1) + (s * k @ k.transpose(1, 2)).softmax(-1)
        if method == 'clearclip':
            return (s * q @ q.transpose(1, 2)).softmax(-1)
        if method == 'naclip':
            return (s * k @ k.transpose(1, 2) + naclip_bias(self.rows, self.cols)).softmax(-1)
        raise ValueError(f'no attention for {method}')

    def block(self, layer, method='filip', h=None, probs=None):
        """Block `layer` on its input, the last block's variant for method. h replaces
        layer_norm1(X) and probs the attention, so that either can be a gradient leaf."""
        x = self.inputs[layer]
        prefix = self.prefix(layer)
        if h is None:
            h = self._ln(x, prefix + '.layer_norm1')
        q, k, v = self.qkv(layer, h)
        if method == 'maskclip':
            mixed = v
        else:
            mixed = (self.attention(method, q, k) if probs is None else probs) @ v
        n, width = x.shape
        a = F.linear(mixed.transpose(0, 1).reshape(n, width),
                     self.w[prefix + '.self_attn.out_proj.weight'],
                     self.w[prefix + '.self_attn.out_proj.bias'])
        if method in ('clearclip', 'naclip'):
            return a
        y = x + a
        act = ref.activation(self.cfg['hidden_act'])
        hidden = act(F.linear(self._ln(y, prefix + '.layer_norm2'),
                              self.w[prefix + '.mlp.fc1.weight'], self.w[prefix + '.mlp.fc1.bias']))
        return y + F.linear(hidden, self.w[prefix + '.mlp.fc2.weight'],
                            self.w[prefix + '.mlp.fc2.bias'])

    def project(self, y):
        """visual_projection(post_layernorm(y)), un-normalised."""
        return self._ln(y, 'vision_model.post_layernorm') @ self.w['visual_projection.weight'].T

    def dense(self, method):
        """F [P, E]: the patches' projected features with the last block in method's form."""
        return self.project(self.block(self.n_layers - 1, method))[1:]

    # Gradient methods; e is one unit query [E].

    def _score(self, pooled, e):
        return _unit(self.project(pooled)) @ e

    def gradcam(self, e):
        last = self.n_layers - 1
        h = self._ln(self.inputs[last], self.prefix(last) + '.layer_norm1').detach()
        h.requires_grad_(True)
        score = self._score(self.block(last, h=h)[0], e)
        (grad,) = torch.autograd.grad(score, h)
        alpha = grad[1:].mean(0)
        return (h.detach()[1:] @ alpha).clamp_min(0)

    def _attention_leaf(self, layer):
        h = self._ln(self.inputs[layer], self.prefix(layer) + '.layer_norm1')
        q, k, _ = self.qkv(layer, h)
        return self.attention('filip', q, k).detach().requires_grad_(True)

    def chefer(self, e):
        last = self.n_layers - 1
        probs = self._attention_leaf(last)
        score = self._score(self.block(last, probs=probs)[0], e)
        (grad,) = torch.autograd.grad(score, probs)
        return (grad[:, 0, 1:] * probs.detach()[:, 0, 1:]).clamp_min(0).mean(0)

    def legrad(self, e, layers=None):
        layers = self.n_layers if layers is None else layers
        total = 0
        for layer in range(self.n_layers - layers, self.n_layers):
            probs = self._attention_leaf(layer)
            score = self._score(self.block(layer, probs=probs).mean(0), e)
            (grad,) = torch.autograd.grad(score, probs)
            total = total + grad.clamp_min(0).mean(dim=(0, 1))[1:]
        return total


class SiglipVision(Vision):
    """SigLIP's vision tower: patch embedding with bias, no class token, no pre-LN; every method's
    features and the score S come from the attention-pooling head over post_layernorm'ed tokens,
    written out per head here so that its attention can be a gradient leaf."""

    def __init__(self, config, w, pixels):
        self.config, self.w = config, w
        self.cfg = cfg = config['vision_config']
        self.eps = cfg['layer_norm_eps']
        self.heads = cfg['num_attention_heads']
        self.n_layers = cfg['num_hidden_layers']
        patch = cfg['patch_size']
        self.rows, self.cols = pixels.shape[1] // patch, pixels.shape[2] // patch
        x = F.conv2d(pixels[None], w['vision_model.embeddings.patch_embedding.weight'],
                     w['vision_model.embeddings.patch_embedding.bias'], stride=patch)[0]
        x = x.flatten(1).T + self.positions()
        self.inputs = []
        for layer in range(self.n_layers):
            self.inputs.append(x)
            x = ref.encoder_layer(x, w, self.prefix(layer), cfg, causal=False)
        self.output = x

    def positions(self):
        """[rows * cols, D]: the patch rows resized by torch's bicubic (no class row)."""
        pos = self.w['vision_model.embeddings.position_embedding.weight']
        side = self.cfg['image_size'] // self.cfg['patch_size']
        if (self.rows, self.cols) == (side, side):
            return pos
        d = pos.shape[1]
        grid = pos.reshape(side, side, d).permute(2, 0, 1)[None]
        grid = F.interpolate(grid, size=(self.rows, self.cols), mode='bicubic',
                             align_corners=False)
        return grid[0].permute(1, 2, 0).reshape(self.rows * self.cols, d)

    def attention(self, method, q, k):
        if method == 'naclip':
            s = q.shape[-1] ** -0.5
            return (s * k @ k.transpose(1, 2) + naclip_bias(self.rows, self.cols)[1:, 1:]
                    ).softmax(-1)
        return super().attention(method, q, k)

    def _head_weights(self):
        p = 'vision_model.head.attention.'
        return self.w[p + 'in_proj_weight'], self.w[p + 'in_proj_bias']

    def head_attention(self, x):
        """[heads, n]: the probe's attention over post_layernorm'ed tokens x [n, C]."""
        n, width = x.shape
        d = width // self.heads
        in_w, in_b = self._head_weights()
        probe = self.w['vision_model.head.probe'].reshape(1, width)
        q = F.linear(probe, in_w[:width], in_b[:width]).view(self.heads, d, 1)
        k = F.linear(x, in_w[width:2 * width], in_b[width:2 * width]).view(n, self.heads, d)
        return ((k.transpose(0, 1) @ q)[..., 0] * d ** -0.5).softmax(-1)

    def head(self, x, probs=None):
        """(pooled [C], patch embeddings [n, C]): h = out_proj(probs v) and u_p = out_proj(v_p),
        each r then r + mlp(layernorm(r))."""
        n, width = x.shape
        d = width // self.heads
        in_w, in_b = self._head_weights()
        v = F.linear(x, in_w[2 * width:], in_b[2 * width:])
        probs = self.head_attention(x) if probs is None else probs
        mixed = (probs[:, None, :] @ v.view(n, self.heads, d).transpose(0, 1))[:, 0].reshape(width)
        out_w = self.w['vision_model.head.attention.out_proj.weight']
        out_b = self.w['vision_model.head.attention.out_proj.bias']
        act = ref.activation(self.cfg['hidden_act'])

        def mlp(r):
            hidden = act(F.linear(self._ln(r, 'vision_model.head.layernorm'),
                                  self.w['vision_model.head.mlp.fc1.weight'],
                                  self.w['vision_model.head.mlp.fc1.bias']))
            return r + F.linear(hidden, self.w['vision_model.head.mlp.fc2.weight'],
                                self.w['vision_model.head.mlp.fc2.bias'])
        return mlp(F.linear(mixed, out_w, out_b)), mlp(F.linear(v, out_w, out_b))

    def post_ln(self, y):
        return self._ln(y, 'vision_model.post_layernorm')

    def dense(self, method):
        return self.head(self.post_ln(self.block(self.n_layers - 1, method)))[1]

    def _block_output(self, layer):
        return self.inputs[layer + 1] if layer + 1 < self.n_layers else self.output

    def gradcam(self, e):
        last = self.n_layers - 1
        h = self._ln(self.inputs[last], self.prefix(last) + '.layer_norm1').detach()
        h.requires_grad_(True)
        score = _unit(self.head(self.post_ln(self.block(last, h=h)))[0]) @ e
        (grad,) = torch.autograd.grad(score, h)
        return (h.detach() @ grad.mean(0)).clamp_min(0)

    def _head_gradient(self, layer, e):
        x = self.post_ln(self._block_output(layer)).detach()
        probs = self.head_attention(x).detach().requires_grad_(True)
        score = _unit(self.head(x, probs)[0]) @ e
        (grad,) = torch.autograd.grad(score, probs)
        return grad, probs.detach()

    def chefer(self, e):
        grad, probs = self._head_gradient(self.n_layers - 1, e)
        return (grad * probs).clamp_min(0).mean(0)

    def legrad(self, e, layers=None):
        layers = self.n_layers if layers is None else layers
        total = 0
        for layer in range(self.n_layers - layers, self.n_layers):
            grad, _ = self._head_gradient(layer, e)
            total = total + grad.clamp_min(0).mean(0)
        return total


class SiglipWords:
    """siglip_reference's SiglipTokenizer with the words wordpatch groups pieces into: a word
    starts at each piece that begins with U+2581; its text is its pieces without U+2581."""

    def __init__(self, spiece, context):
        self.tokenizer = sref.SiglipTokenizer(spiece)
        self.context = context

    def encode(self, text):
        ids = self.tokenizer.encode(text, self.context)
        word_of, texts = [], []
        for i in ids[:-1]:
            piece = self.tokenizer.sp.id_to_piece(i)
            if not texts or piece.startswith(sref.SPACE):
                texts.append('')
            texts[-1] += piece.replace(sref.SPACE, '')
            word_of.append(len(texts) - 1)
        return ids, word_of + [-1], texts


class SiglipText:
    """SigLIP's text tower: the caption padded to the context, its own positions' head outputs,
    pooled at the last context position."""

    def __init__(self, config, w, tokenizer):
        self.config, self.w, self.tokenizer = config, w, tokenizer

    def tokens(self, text):
        ids, word_of, words = self.tokenizer.encode(text)
        out = sref.text_tokens(self.config, self.w, ids, self.tokenizer.tokenizer.pad_id)
        return out[:len(ids)], ids, word_of, words

    def pooled(self, text):
        ids, _, _ = self.tokenizer.encode(text)
        return sref.text_tokens(self.config, self.w, ids, self.tokenizer.tokenizer.pad_id)[-1]


# ---------------------------------------------------------------------------------------------
# Queries and map values.

class Text:
    """The text tower with its tokenizer: raw (un-normalised) projected token embeddings."""

    def __init__(self, config, w, tokenizer):
        self.config, self.w, self.tokenizer = config, w, tokenizer

    def tokens(self, text):
        """(projected tokens [T, E], ids, word index per token, word texts)."""
        ids, word_of, words = self.tokenizer.encode(text)
        out = ref.text_tower(self.config, self.w, ids) @ self.w['text_projection.weight'].T
        return out, ids, word_of, words

    def pooled(self, text):
        """The projected end token (CLIP pools at the largest id, the end token)."""
        out, ids, _, _ = self.tokens(text)
        return out[int(torch.as_tensor(ids).argmax())]


def fill(template, text):
    if '{}' not in template:
        raise ValueError(f'template {template!r} has no {{}}')
    return template.replace('{}', text)


def prompt_texts(text, tokenizer):
    """A text with commas: its comma-separated phrases, blanks stripped, empty ones dropped;
    otherwise its words as the tokenizer splits them (the token queries' words)."""
    if ',' in text:
        return [p.strip() for p in text.split(',') if p.strip()]
    return tokenizer.encode(text)[2]


def queries(text_model, caption, kind, template=DEFAULT_TEMPLATE):
    """[(text, raw embeddings [n, E])]: a word's caption tokens (token) or one pooled prompt
    (prompt)."""
    if kind == 'token':
        out, _, word_of, words = text_model.tokens(caption)
        word_of = torch.as_tensor(word_of)
        return [(word, out[word_of == i]) for i, word in enumerate(words)]
    if kind == 'prompt':
        return [(p, text_model.pooled(fill(template, p))[None])
                for p in prompt_texts(caption, text_model.tokenizer)]
    raise ValueError(f'unknown query kind {kind!r}')


def surgery_reference(text_model, kind, template=DEFAULT_TEMPLATE):
    """The raw embedding a single query's map is corrected by: the template filled with ""
    (prompt) or the empty caption's pooled embedding (token)."""
    return text_model.pooled(fill(template, '') if kind == 'prompt' else '')


def cosine_map(features, e):
    return _unit(features) @ _unit(e)


def sparc_map(features, e):
    """SPARC weights of one raw query e [E] over raw patch features [P, E]: min-max, keep
    values >= 1/P, renormalise; uniform when the row's range is below 1e-8."""
    s = features @ e
    p = s.shape[0]
    lo, hi = s.min(), s.max()
    if hi - lo < 1e-8:
        return torch.full_like(s, 1.0 / p)
    shat = (s - lo) / (hi - lo)
    kept = torch.where(shat >= 1.0 / p, shat, torch.zeros_like(shat))
    return kept / kept.sum()


def sparc_margin(features, e):
    """How far the min-max values are from the 1/P threshold (and the range from 1e-8): below
    float32's resolution a C implementation may legitimately decide the other way."""
    s = features @ e
    rng = (s.max() - s.min()).item()
    shat = (s - s.min()) / max(rng, 1e-300)
    return min((shat - 1.0 / s.shape[0]).abs().min().item(), abs(rng - 1e-8))


def apply_surgery(maps, single_reference):
    """[C, P]: with C >= 2 each map minus the mean of the C maps at that patch; with one, minus
    the reference map."""
    if maps.shape[0] >= 2:
        return maps - maps.mean(0, keepdim=True)
    return maps - single_reference[None]


def compute_maps(config, w, pixels, caption, methods, kind='token', template=DEFAULT_TEMPLATE,
                 surgery=False, legrad_layers=None, tokenizer=None):
    """The heatmap JSON of one image and caption (a dict), plus 'sparc_margin' when sparc is
    among the methods."""
    for m in methods:
        if m not in METHODS:
            raise ValueError(f'unknown method {m!r}')
    layers = config['vision_config']['num_hidden_layers']
    if legrad_layers is not None and not 1 <= legrad_layers <= layers:
        raise ValueError(f'legrad layers {legrad_layers} not in 1..{layers}')
    siglip = config.get('model_type') == 'siglip'
    tokenizer = tokenizer or Tokenizer(ref.BPE_DIR)
    text_model = (SiglipText if siglip else Text)(config, w, tokenizer)
    vision = (SiglipVision if siglip else Vision)(config, w, pixels)
    qs = queries(text_model, caption, kind, template)
    result = {'rows': vision.rows, 'cols': vision.cols, 'method': list(methods), 'query': kind,
              'words': [{'text': text} for text, _ in qs]}
    empty = surgery_reference(text_model, kind, template) if surgery and len(qs) == 1 else None
    margin = math.inf
    for m in methods:
        if m in GRADIENT_METHODS:
            def one(e):
                e = _unit(e)
                return (vision.legrad(e, legrad_layers) if m == 'legrad'
                        else getattr(vision, m)(e))
        elif m == 'sparc':
            feats = vision.dense('filip')
            margin = min([margin] + [sparc_margin(feats, e) for _, es in qs for e in es])

            def one(e):
                return sparc_map(feats, e)
        else:
            feats = vision.dense(m)

            def one(e):
                return cosine_map(feats, e)
        maps = torch.stack([torch.stack([one(e) for e in es]).mean(0) for _, es in qs])
        if surgery and m in FORWARD_METHODS:
            maps = apply_surgery(maps, one(empty) if empty is not None else None)
        for entry, row in zip(result['words'], maps):
            entry[m] = row.detach()
    if 'sparc' in methods:
        result['sparc_margin'] = margin
    return result


def reference(model_dir, image, caption, methods, kind='token', template=DEFAULT_TEMPLATE,
              surgery=False, legrad_layers=None):
    """compute_maps from files, the maps as plain lists (JSON)."""
    config, w = ref.load_model(model_dir)
    pixels = pixels_from_png(image, config['vision_config']['patch_size'])
    out = compute_maps(config, w, pixels, caption, methods, kind, template, surgery,
                       legrad_layers, model_tokenizer(model_dir))
    for entry in out['words']:
        for m in methods:
            entry[m] = entry[m].tolist()
    return out


# ---------------------------------------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--self-check', action='store_true',
                    help='verify the reference against independent formulations')
    ap.add_argument('--model', help='model folder (transformers layout) or bare .safetensors')
    ap.add_argument('--image', help='PNG whose sides are multiples of the patch size')
    ap.add_argument('--text', help='caption')
    ap.add_argument('--method', default='filip', help='comma-separated: ' + ','.join(METHODS))
    ap.add_argument('--query', choices=('token', 'prompt'), default='token')
    ap.add_argument('--template', default=DEFAULT_TEMPLATE)
    ap.add_argument('--surgery', action='store_true')
    ap.add_argument('--legrad-layers', type=int)
    ap.add_argument('--out', help='output file (default: stdout)')
    args = ap.parse_args(argv)
    if args.self_check:
        import maps_self_check
        maps_self_check.self_check()
        print('self-check passed')
        return 0
    if args.model is None or args.image is None or args.text is None:
        ap.error('give --model, --image and --text, or --self-check')
    out = reference(args.model, args.image, args.text, args.method.split(','), args.query,
                    args.template, args.surgery, args.legrad_layers)
    text = json.dumps(out) + '\n'
    if args.out:
        with open(args.out, 'w', encoding='utf-8') as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
