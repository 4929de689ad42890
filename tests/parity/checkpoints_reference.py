#!/usr/bin/python3
"""Independent PyTorch references for the checkpoint kinds wordpatch reads besides its own.

Written from open_clip's and transformers' architecture descriptions; it never imports or calls
wordpatch. The maths runs in float64 on the stored weights. Three kinds:

- open_clip folders (open_clip_config.json + open_clip_model.safetensors, open_clip's names): the
  forward pass here reads those names directly, with torch's own multi-head attention over the
  fused in_proj weights (nn.MultiheadAttention is what open_clip's blocks compute), x @ proj for
  the projections, and open_clip's pooling (the class token; text at the first largest id for
  "argmax", the first eos_id for "eos").
- transformers folders that differ from OpenAI's defaults: any activation, image and patch size,
  and preprocessor_config.json's mean, std, resize and crop sizes (the reference prepares the image
  itself: centre crop at floor((size - S) / 2), transformers' rule, or round-half-even for
  open_clip's torchvision CenterCrop; images are made so that no resampling is needed).
- sharded transformers folders: model.safetensors.index.json and its shards, read here by hand.

The transformers forward itself is clip_reference.py's.
"""

import json
import os
import shutil

import numpy as np
import torch
import torch.nn.functional as F

import clip_reference as ref

OPENCLIP_EPS = 1e-5


# ---------------------------------------------------------------------------------------------
# open_clip folders.

def openclip_config(quick_gelu=False, pool='argmax', mean=ref.CLIP_MEAN, std=ref.CLIP_STD,
                    interpolation='bicubic', image_size=32, patch_size=8):
    """An open_clip_config.json dict: every size differs from the others, as in clip_reference."""
    text = dict(context_length=77, vocab_size=ref.VOCAB_SIZE, width=40, heads=2, layers=2,
                mlp_ratio=2.2)
    if pool == 'eos':
        text.update(pool_type='eos', eos_id=ref.END_ID)
    return {
        'model_cfg': {
            'embed_dim': 32,
            'quick_gelu': quick_gelu,
            'vision_cfg': dict(image_size=image_size, patch_size=patch_size, width=48, layers=3,
                               head_width=12, mlp_ratio=2.5),
            'text_cfg': text,
        },
        'preprocess_cfg': dict(mean=list(mean), std=list(std), interpolation=interpolation,
                               resize_mode='shortest'),
    }


def _oc_sizes(config):
    m = config['model_cfg']
    v, t = m['vision_cfg'], m['text_cfg']
    return (m, v, t, int(v['width'] * v.get('mlp_ratio', 4.0)),
            int(t['width'] * t.get('mlp_ratio', 4.0)))


def _oc_block(prefix, width, mlp):
    """(name, shape, kind) of one open_clip residual block."""
    return [
        (f'{prefix}.ln_1.weight', (width,), 'ln_weight'),
        (f'{prefix}.ln_1.bias', (width,), 'bias'),
        (f'{prefix}.attn.in_proj_weight', (3 * width, width), 'in_proj'),
        (f'{prefix}.attn.in_proj_bias', (3 * width,), 'bias'),
        (f'{prefix}.attn.out_proj.weight', (width, width), 'linear'),
        (f'{prefix}.attn.out_proj.bias', (width,), 'bias'),
        (f'{prefix}.ln_2.weight', (width,), 'ln_weight'),
        (f'{prefix}.ln_2.bias', (width,), 'bias'),
        (f'{prefix}.mlp.c_fc.weight', (mlp, width), 'linear'),
        (f'{prefix}.mlp.c_fc.bias', (mlp,), 'bias'),
        (f'{prefix}.mlp.c_proj.weight', (width, mlp), 'linear'),
        (f'{prefix}.mlp.c_proj.bias', (width,), 'bias'),
    ]


def openclip_layout(config):
    """(name, shape, kind) of every tensor of open_clip's CLIP state dict."""
    m, v, t, v_mlp, t_mlp = _oc_sizes(config)
    e, cv, ct, p = m['embed_dim'], v['width'], t['width'], v['patch_size']
    n_pos = (v['image_size'] // p) ** 2 + 1
    out = [
        ('positional_embedding', (t['context_length'], ct), 'embedding'),
        ('text_projection', (ct, e), 'projection_t'),
        ('logit_scale', (), 'logit_scale'),
        ('visual.class_embedding', (cv,), 'embedding'),
        ('visual.positional_embedding', (n_pos, cv), 'embedding'),
        ('visual.proj', (cv, e), 'projection_t'),
        ('visual.conv1.weight', (cv, 3, p, p), 'patch'),
        ('visual.ln_pre.weight', (cv,), 'ln_weight'),
        ('visual.ln_pre.bias', (cv,), 'bias'),
    ]
    for i in range(v['layers']):
        out += _oc_block(f'visual.transformer.resblocks.{i}', cv, v_mlp)
    out += [('visual.ln_post.weight', (cv,), 'ln_weight'), ('visual.ln_post.bias', (cv,), 'bias')]
    for i in range(t['layers']):
        out += _oc_block(f'transformer.resblocks.{i}', ct, t_mlp)
    out += [
        ('token_embedding.weight', (t['vocab_size'], ct), 'embedding'),
        ('ln_final.weight', (ct,), 'ln_weight'),
        ('ln_final.bias', (ct,), 'bias'),
    ]
    return out


def openclip_init(config, seed):
    """Random float32 weights that visibly move every output (as clip_reference.init_weights)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape, kind in openclip_layout(config):
        z = torch.randn(shape, generator=g, dtype=torch.float32)
        if kind == 'in_proj':  # q and k peaked, v as any linear
            scale = torch.ones(shape[0], 1)
            scale[:2 * shape[1]] = 1.5
            out[name] = z * scale / shape[1] ** 0.5
        elif kind == 'linear':
            out[name] = z / shape[1] ** 0.5
        elif kind == 'projection_t':  # (in, out)
            out[name] = z / shape[0] ** 0.5
        else:
            out[name] = ref.init_tensor(kind, z, shape)
    return out


def make_openclip(out_dir, config, seed, dtype='F32', attn_mask=True):
    """Write an open_clip folder without vocabulary files (open_clip uses OpenAI's); with
    attn_mask, the causal-mask buffer older open_clip versions saved is in the file too."""
    weights = openclip_init(config, seed)
    tensors = dict(weights)
    if attn_mask:
        n = config['model_cfg']['text_cfg']['context_length']
        tensors['attn_mask'] = torch.full((n, n), -1e4).triu(1)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'open_clip_config.json'), 'w', encoding='utf-8') as f:
        json.dump(config, f, indent=2)
    ref.write_safetensors(os.path.join(out_dir, 'open_clip_model.safetensors'), tensors, dtype,
                          {'format': 'pt'})
    return config


def load_openclip(path):
    """(config, float64 weights) of an open_clip folder; every tensor of the layout must be
    there with its shape."""
    with open(os.path.join(path, 'open_clip_config.json'), encoding='utf-8') as f:
        config = json.load(f)
    tensors, _ = ref.read_safetensors(os.path.join(path, 'open_clip_model.safetensors'))
    for name, shape, _ in openclip_layout(config):
        if tuple(tensors[name].reshape(shape).shape) != shape or tensors[name].numel() != \
                int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f'{name}: shape {list(tensors[name].shape)}, expected {list(shape)}')
        tensors[name] = tensors[name].reshape(shape)
    return config, {k: v.to(torch.float64) for k, v in tensors.items()}


def _oc_activation(model_cfg, tower_cfg):
    if model_cfg.get('quick_gelu', False):
        return lambda x: x * torch.sigmoid(1.702 * x)
    approximate = (tower_cfg.get('act_kwargs') or {}).get('approximate', 'none')
    return lambda x: F.gelu(x, approximate=approximate)


def _oc_blocks(x, w, prefix, layers, heads, act, eps, causal):
    """open_clip's ResidualAttentionBlock stack on x [n, width], torch's multi-head attention."""
    n, width = x.shape
    mask = torch.full((n, n), float('-inf'), dtype=x.dtype).triu(1) if causal else None
    for i in range(layers):
        b = f'{prefix}.{i}'
        h = F.layer_norm(x, (width,), w[f'{b}.ln_1.weight'], w[f'{b}.ln_1.bias'], eps)[:, None]
        attn, _ = F.multi_head_attention_forward(
            h, h, h, width, heads, w[f'{b}.attn.in_proj_weight'], w[f'{b}.attn.in_proj_bias'],
            None, None, False, 0.0, w[f'{b}.attn.out_proj.weight'], w[f'{b}.attn.out_proj.bias'],
            training=False, need_weights=False, attn_mask=mask)
        x = x + attn[:, 0]
        h = F.layer_norm(x, (width,), w[f'{b}.ln_2.weight'], w[f'{b}.ln_2.bias'], eps)
        h = act(F.linear(h, w[f'{b}.mlp.c_fc.weight'], w[f'{b}.mlp.c_fc.bias']))
        x = x + F.linear(h, w[f'{b}.mlp.c_proj.weight'], w[f'{b}.mlp.c_proj.bias'])
    return x


def openclip_pool(text_cfg, ids):
    """open_clip's text_global_pool position: the first largest id ('argmax') or the first
    eos_id ('eos')."""
    ids = torch.as_tensor(ids)
    if text_cfg.get('pool_type', 'argmax') == 'eos':
        return int((ids == text_cfg['eos_id']).int().argmax())
    return int(ids.argmax())


def openclip_embed(config, w, pixels, ids):
    """wordpatch's five outputs for an open_clip model (patch tokens through ln_post and proj,
    as docs/algorithms.md defines them), float64, L2-normalised."""
    m, v, t, _, _ = _oc_sizes(config)
    veps = ((v.get('norm_kwargs') or {}).get('eps', OPENCLIP_EPS))
    teps = ((t.get('norm_kwargs') or {}).get('eps', OPENCLIP_EPS))
    p, cv = v['patch_size'], v['width']
    grid = F.conv2d(pixels[None], w['visual.conv1.weight'], stride=p)[0]
    x = torch.cat([w['visual.class_embedding'][None], grid.flatten(1).T])
    x = x + w['visual.positional_embedding']
    x = F.layer_norm(x, (cv,), w['visual.ln_pre.weight'], w['visual.ln_pre.bias'], veps)
    x = _oc_blocks(x, w, 'visual.transformer.resblocks', v['layers'], cv // v['head_width'],
                   _oc_activation(m, v), veps, causal=False)
    x = F.layer_norm(x, (cv,), w['visual.ln_post.weight'], w['visual.ln_post.bias'], veps)
    vision = x @ w['visual.proj']

    ct = t['width']
    tokens = torch.as_tensor(ids, dtype=torch.long)
    y = w['token_embedding.weight'][tokens] + w['positional_embedding'][:len(ids)]
    y = _oc_blocks(y, w, 'transformer.resblocks', t['layers'], t['heads'], _oc_activation(m, t),
                   teps, causal=True)
    y = F.layer_norm(y, (ct,), w['ln_final.weight'], w['ln_final.bias'], teps)
    text = y @ w['text_projection']
    side = v['image_size'] // p
    return {
        'image_embedding': ref.l2_normalise(vision[0]),
        'text_embedding': ref.l2_normalise(text[openclip_pool(t, ids)]),
        'patch_embeddings': ref.l2_normalise(vision[1:]),
        'token_embeddings': ref.l2_normalise(text),
        'grid': [side, side],
    }


# ---------------------------------------------------------------------------------------------
# transformers folders beyond OpenAI's defaults.

def transformers_pool(text_cfg, ids):
    """transformers' CLIPTextTransformer: eos_token_id 2 (configs from before its fix) pools at
    the largest id, any other at the first eos_token_id."""
    ids = torch.as_tensor(ids)
    if text_cfg['eos_token_id'] == 2:
        return int(ids.argmax())
    return int((ids == text_cfg['eos_token_id']).int().argmax())


def transformers_embed(config, w, pixels, ids):
    """clip_reference's towers with transformers' pooling rule."""
    vision = ref.vision_tower(config, w, pixels) @ w['visual_projection.weight'].T
    text = ref.text_tower(config, w, ids) @ w['text_projection.weight'].T
    v = config['vision_config']
    side = v['image_size'] // v['patch_size']
    return {
        'image_embedding': ref.l2_normalise(vision[0]),
        'text_embedding': ref.l2_normalise(text[transformers_pool(config['text_config'], ids)]),
        'patch_embeddings': ref.l2_normalise(vision[1:]),
        'token_embeddings': ref.l2_normalise(text),
        'grid': [side, side],
    }


def make_transformers(out_dir, config, seed, dtype='F32', preprocessor=None, shards=0):
    """A transformers folder of config (clip_reference's layout and init), with
    preprocessor_config.json when given, the weights in one file or split into shards listed by
    model.safetensors.index.json. Returns the float32 weights written."""
    weights = ref.init_weights(config, seed)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'config.json'), 'w', encoding='utf-8') as f:
        json.dump(config, f, indent=2)
    if preprocessor is not None:
        with open(os.path.join(out_dir, 'preprocessor_config.json'), 'w', encoding='utf-8') as f:
            json.dump(preprocessor, f, indent=2)
    for name in ref.BPE_FILES:
        shutil.copyfile(os.path.join(ref.BPE_DIR, name), os.path.join(out_dir, name))
    if not shards:
        ref.write_safetensors(os.path.join(out_dir, 'model.safetensors'), weights, dtype,
                              {'format': 'pt'})
        return weights
    names = list(weights)
    files = [f'model-{i + 1:05d}-of-{shards:05d}.safetensors' for i in range(shards)]
    weight_map = {}
    for i, file in enumerate(files):
        part = {n: weights[n] for n in names[i::shards]}  # interleaved: layers cross shards
        ref.write_safetensors(os.path.join(out_dir, file), part, dtype, {'format': 'pt'})
        weight_map.update({n: file for n in part})
    index = {'metadata': {'total_size': 0}, 'weight_map': dict(sorted(weight_map.items()))}
    with open(os.path.join(out_dir, 'model.safetensors.index.json'), 'w', encoding='utf-8') as f:
        json.dump(index, f, indent=2)
    return weights


def load_transformers(path):
    """(config, float64 weights) of a transformers folder, sharded or not, read by hand."""
    with open(os.path.join(path, 'config.json'), encoding='utf-8') as f:
        config = json.load(f)
    index = os.path.join(path, 'model.safetensors.index.json')
    if os.path.exists(index):
        with open(index, encoding='utf-8') as f:
            weight_map = json.load(f)['weight_map']
        tensors = {}
        for file in sorted(set(weight_map.values())):
            part, _ = ref.read_safetensors(os.path.join(path, file))
            tensors.update(part)
    else:
        tensors, _ = ref.read_safetensors(os.path.join(path, 'model.safetensors'))
    for name, shape, _ in ref.tensor_layout(config):
        if tuple(tensors[name].shape) != shape:
            raise ValueError(f'{name}: shape {list(tensors[name].shape)}, expected {list(shape)}')
    return config, {k: v.to(torch.float64) for k, v in tensors.items()}


# ---------------------------------------------------------------------------------------------
# Images: the centre crop and normalisation, on images whose resize is the identity.

def crop_offset(excess, rule):
    """Where a centre crop starts: transformers' floor(excess / 2), or torchvision's
    int(round(excess / 2.0)) (Python rounds halves to even)."""
    return excess // 2 if rule == 'floor' else int(round(excess / 2.0))


def prepared_pixels(rgb, resize, crop, mean, std, rule):
    """[3, crop, crop] float64: the centre crop of an image whose shorter side is already the
    resize size (so resizing it is the identity), scaled to [0, 1] and normalised."""
    h, w, _ = rgb.shape
    if min(h, w) != resize:
        raise ValueError(f'{w}x{h}: the reference needs the shorter side to be {resize}')
    top, left = crop_offset(h - crop, rule), crop_offset(w - crop, rule)
    x = torch.from_numpy(rgb[top:top + crop, left:left + crop].astype(np.float64) / 255.0)
    x = x.permute(2, 0, 1)
    return ((x - torch.tensor(mean, dtype=torch.float64)[:, None, None])
            / torch.tensor(std, dtype=torch.float64)[:, None, None])


def self_check():
    """The references against independent formulations of the same maths."""
    # open_clip's attention through torch's MHA equals an explicit per-head computation.
    config = openclip_config()
    w = {k: v.double() for k, v in openclip_init(config, 3).items()}
    x = torch.randn(5, 40, dtype=torch.float64)
    b = 'transformer.resblocks.0'
    got = _oc_blocks(x, w, 'transformer.resblocks', 1, 2, lambda t: F.gelu(t), OPENCLIP_EPS, True)
    h = F.layer_norm(x, (40,), w[f'{b}.ln_1.weight'], w[f'{b}.ln_1.bias'], OPENCLIP_EPS)
    q, k, v = F.linear(h, w[f'{b}.attn.in_proj_weight'], w[f'{b}.attn.in_proj_bias']).chunk(3, -1)
    heads = []
    for i in range(2):
        s = slice(20 * i, 20 * i + 20)
        scores = (q[:, s] @ k[:, s].T) / 20 ** 0.5
        scores = scores.masked_fill(torch.ones(5, 5, dtype=torch.bool).triu(1), float('-inf'))
        heads.append(scores.softmax(-1) @ v[:, s])
    y = x + F.linear(torch.cat(heads, -1), w[f'{b}.attn.out_proj.weight'],
                     w[f'{b}.attn.out_proj.bias'])
    h = F.layer_norm(y, (40,), w[f'{b}.ln_2.weight'], w[f'{b}.ln_2.bias'], OPENCLIP_EPS)
    y = y + F.linear(F.gelu(F.linear(h, w[f'{b}.mlp.c_fc.weight'], w[f'{b}.mlp.c_fc.bias'])),
                     w[f'{b}.mlp.c_proj.weight'], w[f'{b}.mlp.c_proj.bias'])
    diff = (got - y).abs().max().item()
    assert diff < 1e-10, f'self-check: open_clip block vs explicit heads: {diff:.3g}'

    # Pooling rules and crop offsets.
    ids = [ref.START_ID, 320, ref.END_ID, 539, ref.END_ID]
    assert openclip_pool({}, ids) == 2 and openclip_pool(
        {'pool_type': 'eos', 'eos_id': ref.END_ID}, ids) == 2
    assert transformers_pool({'eos_token_id': 2}, ids) == 2
    assert transformers_pool({'eos_token_id': ref.END_ID}, ids) == 2
    assert [crop_offset(e, 'round') for e in (1, 3, 5, 67)] == [0, 2, 2, 34]
    assert [crop_offset(e, 'floor') for e in (1, 3, 5, 67)] == [0, 1, 2, 33]
    # GELU's tanh approximation is torch's.
    t = torch.linspace(-6, 6, 101, dtype=torch.float64)
    diff = (ref.activation('gelu_new')(t) - F.gelu(t, approximate='tanh')).abs().max().item()
    assert diff < 1e-12, f'self-check: gelu_new vs torch tanh GELU: {diff:.3g}'
