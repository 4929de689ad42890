#!/usr/bin/python3
"""Independent PyTorch reference of transformers' CLIPModel forward, for wordpatch's parity tests.

Written from the transformers architecture description only; it never imports or calls wordpatch.
The math runs in float64 on the stored (float32, float16 or bfloat16) weights, so the reference
error is far below the float32 error of the C code and the 1e-4 tolerance of the test.

Library (used by test_embed_parity.py) and command line:

  clip_reference.py make-model --out DIR --seed S [--dtype F32|F16|BF16] [--preset tiny|vitb32]
                               [--act quick_gelu|gelu] [--bare FILE.safetensors]
  clip_reference.py make-image --out IMG.png --width W --height H
  clip_reference.py reference --model DIR_OR_FILE --image IMG.png --ids 49406,320,49407 [--out F]
  clip_reference.py self-check
"""

import argparse
import json
import os
import shutil
import struct
import sys
import tempfile
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
BPE_DIR = os.path.normpath(os.path.join(HERE, '..', 'data', 'clip-bpe'))
BPE_FILES = ('vocab.json', 'merges.txt', 'LICENSE')  # LICENSE must travel with the vocabulary

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
START_ID, END_ID, PAD_ID = 49406, 49407, 1
VOCAB_SIZE = 49408
LOGIT_SCALE_INIT = 2.6592

# Tiny: every dimension differs from the others (vision width 48, text width 40, projection 32,
# MLPs 112/88, head dims 12/20) and the towers have different depths, so a transposed weight,
# a swapped tower or a wrong loop bound gives a shape error or a large numeric error.
PRESETS = {
    'tiny': {
        'vision': dict(image_size=32, patch_size=8, hidden_size=48, num_hidden_layers=3,
                       num_attention_heads=4, intermediate_size=112),
        'text': dict(hidden_size=40, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=88, max_position_embeddings=77),
        'projection_dim': 32,
    },
    # OpenAI ViT-B/32 sizes, for load and speed benchmarks.
    'vitb32': {
        'vision': dict(image_size=224, patch_size=32, hidden_size=768, num_hidden_layers=12,
                       num_attention_heads=12, intermediate_size=3072),
        'text': dict(hidden_size=512, num_hidden_layers=12, num_attention_heads=8,
                     intermediate_size=2048, max_position_embeddings=77),
        'projection_dim': 512,
    },
}

TORCH_DTYPE_NAMES = {'F32': 'float32', 'F16': 'float16', 'BF16': 'bfloat16'}


# ---------------------------------------------------------------------------------------------
# safetensors, by hand: u64 little-endian header length, JSON header, raw little-endian data.

def _tensor_bytes(t, dtype):
    t = t.detach().to(torch.float32).contiguous()
    if dtype == 'F32':
        return t.numpy().astype('<f4').tobytes()
    if dtype == 'F16':
        return t.to(torch.float16).numpy().astype('<f2').tobytes()
    if dtype == 'BF16':
        # torch rounds float32 -> bfloat16 to nearest even; the self-check verifies that.
        return t.to(torch.bfloat16).view(torch.int16).numpy().astype('<i2').tobytes()
    raise ValueError(f'unsupported dtype {dtype}')


def write_safetensors(path, tensors, dtype='F32', metadata=None):
    """Write {name: tensor} with every tensor stored as dtype; metadata is a str -> str map."""
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        blob = _tensor_bytes(t, dtype)
        header[name] = {'dtype': dtype, 'shape': list(t.shape),
                        'data_offsets': [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    if metadata is not None:
        header['__metadata__'] = metadata
    # Raw UTF-8 like the Rust writer (serde_json), not \u escapes.
    text = json.dumps(header, ensure_ascii=False, separators=(',', ':')).encode('utf-8')
    text += b' ' * (-(8 + len(text)) % 8)  # the data section starts 8-byte aligned
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def read_safetensors(path):
    """Return ({name: float32 tensor}, metadata dict); F16/BF16 widen exactly to float32."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack_from('<Q', data, 0)
    header = json.loads(data[8:8 + n].decode('utf-8'))
    metadata = header.pop('__metadata__', {})
    base = 8 + n
    tensors = {}
    for name, info in header.items():
        begin, end = info['data_offsets']
        raw = data[base + begin:base + end]
        shape = info['shape']
        if info['dtype'] == 'F32':
            t = torch.from_numpy(np.frombuffer(raw, dtype='<f4').astype(np.float32))
        elif info['dtype'] == 'F16':
            t = torch.from_numpy(np.frombuffer(raw, dtype='<f2').astype(np.float32))
        elif info['dtype'] == 'BF16':
            bits = np.frombuffer(raw, dtype='<u2').astype(np.uint32) << 16
            t = torch.from_numpy(bits.view(np.float32))
        else:
            raise ValueError(f'{path}: {name}: unsupported dtype {info["dtype"]}')
        if t.numel() != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f'{path}: {name}: {len(raw)} bytes do not fit shape {shape}')
        tensors[name] = t.reshape(shape)
    return tensors, metadata


# ---------------------------------------------------------------------------------------------
# Model files.

def make_config(preset='tiny', act='quick_gelu', dtype='F32', image_size=None):
    """A transformers CLIPConfig dict (config.json) for a preset, its input size replaced by
    image_size when given (a larger grid from the same small widths)."""
    p = PRESETS[preset]
    common = dict(hidden_act=act, layer_norm_eps=1e-5, projection_dim=p['projection_dim'])
    text = dict(model_type='clip_text_model', vocab_size=VOCAB_SIZE, **p['text'], **common,
                bos_token_id=START_ID, eos_token_id=END_ID, pad_token_id=PAD_ID)
    vision = dict(model_type='clip_vision_model', **p['vision'], num_channels=3, **common)
    if image_size is not None:
        vision['image_size'] = image_size
    return {
        'architectures': ['CLIPModel'],
        'model_type': 'clip',
        'projection_dim': p['projection_dim'],
        'logit_scale_init_value': LOGIT_SCALE_INIT,
        'torch_dtype': TORCH_DTYPE_NAMES[dtype],
        'text_config': text,
        'vision_config': vision,
    }


def _layer_names(prefix, width, mlp):
    """(name, shape, kind) of one encoder layer's tensors, transformers naming."""
    out = []
    for proj in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):
        out.append((f'{prefix}.self_attn.{proj}.weight', (width, width), proj))
        out.append((f'{prefix}.self_attn.{proj}.bias', (width,), 'bias'))
    for ln in ('layer_norm1', 'layer_norm2'):
        out.append((f'{prefix}.{ln}.weight', (width,), 'ln_weight'))
        out.append((f'{prefix}.{ln}.bias', (width,), 'bias'))
    out.append((f'{prefix}.mlp.fc1.weight', (mlp, width), 'fc1'))
    out.append((f'{prefix}.mlp.fc1.bias', (mlp,), 'bias'))
    out.append((f'{prefix}.mlp.fc2.weight', (width, mlp), 'fc2'))
    out.append((f'{prefix}.mlp.fc2.bias', (width,), 'bias'))
    return out


def tensor_layout(config):
    """(name, shape, kind) of every CLIPModel tensor, in transformers' names and shapes."""
    v, t = config['vision_config'], config['text_config']
    cv, ct, e = v['hidden_size'], t['hidden_size'], config['projection_dim']
    p = v['patch_size']
    n_pos = (v['image_size'] // p) ** 2 + 1
    out = [
        ('text_model.embeddings.token_embedding.weight', (t['vocab_size'], ct), 'embedding'),
        ('text_model.embeddings.position_embedding.weight', (t['max_position_embeddings'], ct),
         'embedding'),
    ]
    for i in range(t['num_hidden_layers']):
        out += _layer_names(f'text_model.encoder.layers.{i}', ct, t['intermediate_size'])
    out += [
        ('text_model.final_layer_norm.weight', (ct,), 'ln_weight'),
        ('text_model.final_layer_norm.bias', (ct,), 'bias'),
        ('vision_model.embeddings.class_embedding', (cv,), 'embedding'),
        ('vision_model.embeddings.patch_embedding.weight', (cv, 3, p, p), 'patch'),
        ('vision_model.embeddings.position_embedding.weight', (n_pos, cv), 'embedding'),
        ('vision_model.pre_layrnorm.weight', (cv,), 'ln_weight'),
        ('vision_model.pre_layrnorm.bias', (cv,), 'bias'),
    ]
    for i in range(v['num_hidden_layers']):
        out += _layer_names(f'vision_model.encoder.layers.{i}', cv, v['intermediate_size'])
    out += [
        ('vision_model.post_layernorm.weight', (cv,), 'ln_weight'),
        ('vision_model.post_layernorm.bias', (cv,), 'bias'),
        ('visual_projection.weight', (e, cv), 'projection'),
        ('text_projection.weight', (e, ct), 'projection'),
        ('logit_scale', (), 'logit_scale'),
    ]
    return out


def init_weights(config, seed):
    """Random float32 weights whose every tensor visibly moves the outputs.

    Not CLIP's training init (std 0.02 everywhere would make attention nearly uniform and the
    residual updates tiny): linear weights have std ~1/sqrt(fan_in) so each sub-layer changes the
    stream as much as the embeddings do, q/k get 1.5x that so attention is peaked (a wrong scale,
    mask or head split changes the result), and LayerNorm weights/biases and all biases are
    random and non-zero."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, shape, kind in tensor_layout(config):
        z = torch.randn(shape, generator=g, dtype=torch.float32)
        fan_in = shape[-1] if len(shape) == 2 else None
        if kind in ('q_proj', 'k_proj'):
            out[name] = z * (1.5 / fan_in ** 0.5)
        elif kind in ('v_proj', 'out_proj', 'fc1', 'fc2', 'projection'):
            out[name] = z / fan_in ** 0.5
        else:
            out[name] = init_tensor(kind, z, shape)
    return out


def init_tensor(kind, z, shape):
    """init_weights' value, from the standard normal z, for a kind every layout has."""
    if kind == 'patch':
        return z / (shape[1] * shape[2] * shape[3]) ** 0.5
    if kind == 'embedding':
        return z * 0.5
    if kind == 'ln_weight':
        return 1.0 + 0.1 * z
    if kind == 'bias':
        return 0.1 * z
    if kind == 'logit_scale':
        return torch.tensor(LOGIT_SCALE_INIT, dtype=torch.float32)
    raise AssertionError(kind)


def _read_bpe():
    texts = {}
    for name in ('vocab.json', 'merges.txt'):
        with open(os.path.join(BPE_DIR, name), encoding='utf-8') as f:
            texts[name] = f.read()
    return texts


def make_model(out_dir=None, seed=0, dtype='F32', preset='tiny', act='quick_gelu', bare=None,
               image_size=None):
    """Write a random model as a transformers folder (out_dir) and/or one bare .safetensors file
    with config and tokenizer in its metadata (bare). Returns the config."""
    config = make_config(preset, act, dtype, image_size)
    weights = init_weights(config, seed)
    config_text = json.dumps(config, indent=2) + '\n'
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, 'config.json'), 'w', encoding='utf-8') as f:
            f.write(config_text)
        write_safetensors(os.path.join(out_dir, 'model.safetensors'), weights, dtype,
                          {'format': 'pt'})
        for name in BPE_FILES:
            shutil.copyfile(os.path.join(BPE_DIR, name), os.path.join(out_dir, name))
    if bare is not None:
        bpe = _read_bpe()
        write_safetensors(bare, weights, dtype, {
            'format': 'pt',
            'wordpatch.config': config_text,
            'wordpatch.vocab': bpe['vocab.json'],
            'wordpatch.merges': bpe['merges.txt'],
        })
    return config


def load_model(path):
    """(config, float64 weights) from a model folder or a bare .safetensors file."""
    if os.path.isdir(path):
        with open(os.path.join(path, 'config.json'), encoding='utf-8') as f:
            config = json.load(f)
        tensors, _ = read_safetensors(os.path.join(path, 'model.safetensors'))
    else:
        tensors, metadata = read_safetensors(path)
        config = json.loads(metadata['wordpatch.config'])
    for name, shape, _ in tensor_layout(config):
        if tuple(tensors[name].shape) != shape:
            raise ValueError(f'{name}: shape {list(tensors[name].shape)}, expected {list(shape)}')
    return config, {k: v.to(torch.float64) for k, v in tensors.items()}


# ---------------------------------------------------------------------------------------------
# Forward pass. Single sequences, no batch dimension: x is [tokens, width].

def _linear(x, w, prefix, bias=True):
    return F.linear(x, w[prefix + '.weight'], w[prefix + '.bias'] if bias else None)


def _layer_norm(x, w, prefix, eps):
    return F.layer_norm(x, x.shape[-1:], w[prefix + '.weight'], w[prefix + '.bias'], eps)


def activation(name):
    if name == 'quick_gelu':
        return lambda x: x * torch.sigmoid(1.702 * x)
    if name == 'gelu':  # transformers' "gelu" is the exact erf form
        return lambda x: F.gelu(x)
    if name in ('gelu_new', 'gelu_pytorch_tanh', 'gelu_fast'):  # GELU's tanh approximation
        return lambda x: 0.5 * x * (1.0 + torch.tanh((2.0 / torch.pi) ** 0.5
                                                     * (x + 0.044715 * torch.pow(x, 3.0))))
    raise ValueError(f'unsupported hidden_act {name}')


def attention(x, w, prefix, heads, causal):
    n, width = x.shape
    hd = width // heads
    # [heads, n, hd]; q is scaled before the product, as transformers does.
    q = (_linear(x, w, prefix + '.q_proj') * hd ** -0.5).view(n, heads, hd).transpose(0, 1)
    k = _linear(x, w, prefix + '.k_proj').view(n, heads, hd).transpose(0, 1)
    v = _linear(x, w, prefix + '.v_proj').view(n, heads, hd).transpose(0, 1)
    scores = q @ k.transpose(1, 2)
    if causal:  # token i sees tokens j <= i
        future = torch.ones(n, n, dtype=torch.bool).triu(diagonal=1)
        scores = scores.masked_fill(future, float('-inf'))
    out = (scores.softmax(dim=-1) @ v).transpose(0, 1).reshape(n, width)
    return _linear(out, w, prefix + '.out_proj')


def encoder_layer(x, w, prefix, cfg, causal):
    """One pre-LN transformer layer of CLIPEncoder."""
    eps = cfg.get('layer_norm_eps', 1e-5)
    act = activation(cfg['hidden_act'])
    x = x + attention(_layer_norm(x, w, prefix + '.layer_norm1', eps), w, prefix + '.self_attn',
                      cfg['num_attention_heads'], causal)
    h = act(_linear(_layer_norm(x, w, prefix + '.layer_norm2', eps), w, prefix + '.mlp.fc1'))
    return x + _linear(h, w, prefix + '.mlp.fc2')


def encoder(x, w, prefix, cfg, causal):
    for i in range(cfg['num_hidden_layers']):
        x = encoder_layer(x, w, f'{prefix}.layers.{i}', cfg, causal)
    return x


def patch_tokens(w, pixels, patch):
    """Conv2d patch embedding (no bias, stride = kernel) of [3,S,S] pixels -> [P, C], row-major."""
    grid = F.conv2d(pixels[None], w['vision_model.embeddings.patch_embedding.weight'],
                    stride=patch)[0]
    return grid.flatten(1).T


def vision_tower(config, w, pixels):
    """All vision tokens after post_layernorm, [1 + P, Cv]; row 0 is the class token."""
    cfg = config['vision_config']
    eps = cfg.get('layer_norm_eps', 1e-5)
    x = torch.cat([w['vision_model.embeddings.class_embedding'][None],
                   patch_tokens(w, pixels, cfg['patch_size'])])
    x = x + w['vision_model.embeddings.position_embedding.weight']
    x = _layer_norm(x, w, 'vision_model.pre_layrnorm', eps)
    x = encoder(x, w, 'vision_model.encoder', cfg, causal=False)
    return _layer_norm(x, w, 'vision_model.post_layernorm', eps)


def text_tower(config, w, ids):
    """All text tokens after final_layer_norm, [T, Ct].

    Only the valid tokens are computed: with causal attention and absolute positions, padding
    after the end token cannot change them (the self-check verifies it)."""
    cfg = config['text_config']
    ids = torch.as_tensor(ids, dtype=torch.long)
    x = w['text_model.embeddings.token_embedding.weight'][ids]
    x = x + w['text_model.embeddings.position_embedding.weight'][:len(ids)]
    x = encoder(x, w, 'text_model.encoder', cfg, causal=True)
    return _layer_norm(x, w, 'text_model.final_layer_norm', cfg.get('layer_norm_eps', 1e-5))


def l2_normalise(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def embed(config, w, pixels, ids):
    """wordpatch's five outputs (L2-normalised, float64) plus the patch grid [rows, cols]."""
    if ids[-1] != END_ID or END_ID in ids[:-1]:
        raise ValueError('ids must end with the end token and contain it once')
    vision = vision_tower(config, w, pixels) @ w['visual_projection.weight'].T
    text = text_tower(config, w, ids) @ w['text_projection.weight'].T
    # CLIP pools text at the largest id (the end token), which here is the last position.
    end = int(torch.as_tensor(ids).argmax())
    side = config['vision_config']['image_size'] // config['vision_config']['patch_size']
    return {
        'image_embedding': l2_normalise(vision[0]),
        'text_embedding': l2_normalise(text[end]),
        'patch_embeddings': l2_normalise(vision[1:]),
        'token_embeddings': l2_normalise(text),
        'grid': [side, side],
    }


# ---------------------------------------------------------------------------------------------
# Images: an 8-bit RGB PNG writer/reader by hand, and a structured test picture.

def _png_chunk(kind, payload):
    body = kind + payload
    return struct.pack('>I', len(payload)) + body + struct.pack('>I', zlib.crc32(body))


def write_png(path, rgb):
    """rgb: uint8 array [H, W, 3]. Non-interlaced, every row with filter type 0 (None)."""
    h, w, _ = rgb.shape
    rows = b''.join(b'\x00' + rgb[y].tobytes() for y in range(h))
    with open(path, 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n')
        f.write(_png_chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)))
        f.write(_png_chunk(b'IDAT', zlib.compress(rows, 9)))
        f.write(_png_chunk(b'IEND', b''))


def read_png(path):
    """Read a PNG as written by write_png (8-bit RGB, filter 0) into uint8 [H, W, 3]."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != b'\x89PNG\r\n\x1a\n':
        raise ValueError(f'{path}: not a PNG')
    pos, idat = 8, b''
    while pos < len(data):
        (length,) = struct.unpack_from('>I', data, pos)
        kind, payload = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b'IHDR':
            w, h, depth, colour, _, _, interlace = struct.unpack('>IIBBBBB', payload)
            if (depth, colour, interlace) != (8, 2, 0):
                raise ValueError(f'{path}: only 8-bit RGB non-interlaced PNGs are supported')
        elif kind == b'IDAT':
            idat += payload
    rows = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(h, 1 + 3 * w)
    if rows[:, 0].any():
        raise ValueError(f'{path}: only filter type 0 is supported')
    return rows[:, 1:].reshape(h, w, 3).copy()


def test_image(width, height):
    """Gradients, a disc, a bar and stripes: every patch differs and no channel is constant."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / max(width - 1, 1), y / max(height - 1, 1)
    img = np.stack([255 * u, 255 * v, 127.5 + 127.5 * np.sin(6.0 * (u + 2 * v))], axis=-1)
    disc = (u - 0.3) ** 2 + (v - 0.35) ** 2 < 0.2 ** 2
    img[disc] = (230, 40, 60)
    bar = (u > 0.55) & (u < 0.85) & (v > 0.6) & (v < 0.75)
    img[bar] = (20, 200, 90)
    img[((x.astype(int) // 3) % 2 == 0) & (v < 0.15)] *= 0.5
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def pixels_from_png(path, size):
    """CLIP input tensor [3, S, S] float64: pixel/255 then (x - mean)/std per channel.

    The image must already be S x S: then CLIP's resize and centre crop are identities and no
    resampling enters the comparison."""
    rgb = read_png(path)
    if rgb.shape[:2] != (size, size):
        raise ValueError(f'{path}: {rgb.shape[1]}x{rgb.shape[0]}, the reference needs '
                         f'{size}x{size}')
    x = torch.from_numpy(rgb.astype(np.float64) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(CLIP_MEAN, dtype=torch.float64)[:, None, None]
    std = torch.tensor(CLIP_STD, dtype=torch.float64)[:, None, None]
    return (x - mean) / std


def reference(model_path, image_path, ids):
    """The five outputs as plain lists, for JSON."""
    config, w = load_model(model_path)
    pixels = pixels_from_png(image_path, config['vision_config']['image_size'])
    out = embed(config, w, pixels, list(ids))
    result = {'tokens': list(ids)}
    for key, value in out.items():
        result[key] = value.tolist() if torch.is_tensor(value) else value
    return result


# ---------------------------------------------------------------------------------------------
# Self-check: the reference against independent formulations of the same maths.

def _close(a, b, what, tol=1e-10):
    diff = (a - b).abs().max().item()
    assert diff <= tol, f'self-check: {what}: max |diff| {diff:.3g} > {tol:.3g}'


def _torch_layer(w, prefix, cfg):
    """torch.nn.TransformerEncoderLayer (norm_first) holding one CLIP layer's weights."""
    width = cfg['hidden_size']
    layer = torch.nn.TransformerEncoderLayer(
        width, cfg['num_attention_heads'], cfg['intermediate_size'], dropout=0.0,
        activation=activation(cfg['hidden_act']), layer_norm_eps=cfg['layer_norm_eps'],
        batch_first=True, norm_first=True, dtype=torch.float64).eval()
    a = prefix + '.self_attn'
    with torch.no_grad():
        layer.self_attn.in_proj_weight.copy_(torch.cat(
            [w[f'{a}.{p}_proj.weight'] for p in 'qkv']))
        layer.self_attn.in_proj_bias.copy_(torch.cat([w[f'{a}.{p}_proj.bias'] for p in 'qkv']))
        pairs = [(layer.self_attn.out_proj, 'self_attn.out_proj'), (layer.linear1, 'mlp.fc1'),
                 (layer.linear2, 'mlp.fc2'), (layer.norm1, 'layer_norm1'),
                 (layer.norm2, 'layer_norm2')]
        for module, name in pairs:
            module.weight.copy_(w[f'{prefix}.{name}.weight'])
            module.bias.copy_(w[f'{prefix}.{name}.bias'])
    return layer


def _bf16_rne(t):
    """float32 -> bfloat16 bits by integer round-to-nearest-even, independent of torch."""
    bits = t.numpy().reshape(-1).view(np.uint32).astype(np.uint64)
    one, sixteen = np.uint64(1), np.uint64(16)
    return ((bits + np.uint64(0x7FFF) + ((bits >> sixteen) & one)) >> sixteen).astype(np.uint16)


def self_check():
    torch.manual_seed(0)
    for act in ('quick_gelu', 'gelu'):
        config = make_config('tiny', act)
        w = {k: v.double() for k, v in init_weights(config, seed=7).items()}
        vcfg, tcfg = config['vision_config'], config['text_config']
        p, size = vcfg['patch_size'], vcfg['image_size']
        pixels = torch.randn(3, size, size, dtype=torch.float64)

        # Patch embedding: conv2d equals flattening each patch (channel, row, col) and a matmul.
        cols = F.unfold(pixels[None], p, stride=p)[0]  # [3*p*p, P], patches row-major
        flat = w['vision_model.embeddings.patch_embedding.weight'].reshape(vcfg['hidden_size'], -1)
        _close(patch_tokens(w, pixels, p), (flat @ cols).T, 'patch embedding vs unfold')

        # Encoder layers against torch's own pre-LN transformer layer.
        for tower, cfg, causal, n in (('vision_model', vcfg, False, 17), ('text_model', tcfg,
                                                                           True, 9)):
            x = torch.randn(n, cfg['hidden_size'], dtype=torch.float64)
            prefix = f'{tower}.encoder.layers.1'
            mask = torch.ones(n, n, dtype=torch.bool).triu(1) if causal else None
            with torch.no_grad():
                expected = _torch_layer(w, prefix, cfg)(x[None], src_mask=mask)[0]
            _close(encoder_layer(x, w, prefix, cfg, causal), expected,
                   f'{tower} layer vs nn.TransformerEncoderLayer ({act})')

        # Causality: a later token never changes earlier ones, and padding after the end token
        # (transformers pads to 77) leaves the valid tokens unchanged.
        ids = [START_ID, 320, 1125, 539, 320, 2368, END_ID]
        text = text_tower(config, w, ids)
        changed = text_tower(config, w, ids[:3] + [999] + ids[4:])
        _close(changed[:3], text[:3], 'causal mask')
        assert (changed[3:] - text[3:]).abs().max() > 1e-3, 'self-check: text ignores a token'
        for pad in (PAD_ID, END_ID):
            padded = text_tower(config, w, ids + [pad] * (77 - len(ids)))
            _close(padded[:len(ids)], text, f'padding with {pad}')

        # Pooling: the text embedding is the end token's row, the image one the class token's.
        out = embed(config, w, pixels, ids)
        _close(out['text_embedding'], out['token_embeddings'][-1], 'text pooling')
        vision = vision_tower(config, w, pixels) @ w['visual_projection.weight'].T
        _close(out['image_embedding'], l2_normalise(vision[0]), 'image pooling')
        assert out['patch_embeddings'].shape == ((size // p) ** 2, config['projection_dim'])
        assert abs(out['image_embedding'].norm().item() - 1) < 1e-12

    # safetensors round trip: exact for F32, float16 / RNE bfloat16 rounding otherwise.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 't.safetensors')
        t = {'a': torch.randn(3, 5) * 10, 'b': torch.randn(7), 'c': torch.tensor(2.6592)}
        # Values exactly halfway between two bfloat16s, to exercise the ties-to-even rule.
        t['d'] = torch.from_numpy(np.array([0x3F808000, 0x3F818000, 0xBF808001], dtype=np.uint32)
                                  .view(np.float32).copy())
        for dtype in ('F32', 'F16', 'BF16'):
            write_safetensors(path, t, dtype, {'k': 'v'})
            with open(path, 'rb') as f:
                assert (8 + struct.unpack('<Q', f.read(8))[0]) % 8 == 0, 'header not aligned'
            back, meta = read_safetensors(path)
            assert meta == {'k': 'v'}
            for name, value in t.items():
                assert back[name].shape == value.shape, f'self-check: {name} shape'
                if dtype == 'F32':
                    expected = value
                elif dtype == 'F16':
                    expected = value.half().float()
                else:
                    bits = _bf16_rne(value).astype(np.uint32) << 16
                    expected = torch.from_numpy(bits.view(np.float32)).reshape(value.shape)
                assert torch.equal(back[name], expected), f'self-check: {dtype} {name}'

        # PNG round trip and CLIP normalisation of a known pixel.
        img = test_image(32, 32)
        png = os.path.join(tmp, 'i.png')
        write_png(png, img)
        assert np.array_equal(read_png(png), img), 'self-check: PNG round trip'
        x = pixels_from_png(png, 32)
        for c in range(3):
            want = (img[5, 9, c] / 255.0 - CLIP_MEAN[c]) / CLIP_STD[c]
            assert abs(x[c, 5, 9].item() - want) < 1e-12, 'self-check: normalisation'


# ---------------------------------------------------------------------------------------------

def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = ap.add_subparsers(dest='command', required=True)
    mm = sub.add_parser('make-model', help='write a random CLIP model')
    mm.add_argument('--out', help='model folder (config.json, model.safetensors, vocabulary)')
    mm.add_argument('--bare', help='single .safetensors with config and vocabulary in metadata')
    mm.add_argument('--seed', type=int, required=True)
    mm.add_argument('--dtype', choices=('F32', 'F16', 'BF16'), default='F32')
    mm.add_argument('--preset', choices=tuple(PRESETS), default='tiny')
    mm.add_argument('--act', choices=('quick_gelu', 'gelu'), default='quick_gelu')
    mi = sub.add_parser('make-image', help='write the structured test PNG')
    mi.add_argument('--out', required=True)
    mi.add_argument('--width', type=int, required=True)
    mi.add_argument('--height', type=int, required=True)
    rf = sub.add_parser('reference', help='compute the five outputs as JSON')
    rf.add_argument('--model', required=True, help='model folder or bare .safetensors')
    rf.add_argument('--image', required=True, help='PNG at exactly the model input size')
    rf.add_argument('--ids', required=True, help='comma-separated token ids, start..end')
    rf.add_argument('--out', help='output file (default: stdout)')
    sub.add_parser('self-check', help='verify the reference against independent formulations')
    args = ap.parse_args(argv)

    if args.command == 'make-model':
        if args.out is None and args.bare is None:
            ap.error('make-model needs --out and/or --bare')
        make_model(args.out, args.seed, args.dtype, args.preset, args.act, args.bare)
    elif args.command == 'make-image':
        write_png(args.out, test_image(args.width, args.height))
    elif args.command == 'reference':
        ids = [int(s) for s in args.ids.split(',')]
        text = json.dumps(reference(args.model, args.image, ids)) + '\n'
        if args.out:
            with open(args.out, 'w', encoding='utf-8') as f:
                f.write(text)
        else:
            sys.stdout.write(text)
    else:
        self_check()
        print('self-check passed')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
