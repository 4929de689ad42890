#!/usr/bin/python3
"""An independent float64 torch reference for SigLIP (transformers' SiglipModel) and its tokenizer.

It never calls wordpatch. It writes random SigLIP folders (config.json as SiglipConfig writes it,
model.safetensors under SiglipModel's tensor names, spiece.model trained here with
python3-sentencepiece, preprocessor_config.json as SiglipImageProcessor's), encodes captions as
transformers' SiglipTokenizer does and computes wordpatch's five embedding outputs for SigLIP as
docs/algorithms.md defines them:
- image_embedding: the attention-pooling head's output (torch's own multi-head attention);
- patch_embeddings: u_p + mlp(layernorm(u_p)), u_p = out_proj(v_proj(x_p)) over the
  post_layernorm'ed patch tokens x_p;
- text_embedding: the text head's output at the last context position (the caption padded with
  the pad id to the context length, no attention mask, no causal mask);
- token_embeddings: the same at the caption's own positions (its pieces and "</s>").
"""

import io
import json
import os
import re
import string
import sys

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402  (the safetensors and PNG helpers, the activations)

SPACE = '\u2581'
UNK, END, PAD = '<unk>', '</s>', '<pad>'
MEAN = STD = (0.5, 0.5, 0.5)

PRESETS = {
    # (width, mlp, heads, vision layers, text layers, image size, patch, context)
    'micro': (32, 64, 2, 2, 2, 32, 8, 16),
    'tiny': (48, 96, 3, 2, 2, 48, 12, 24),
    'maps': (32, 64, 2, 3, 2, 64, 8, 16),
}


# ---------------------------------------------------------------------------------------------
# The vocabulary: trained here, no downloads.

WORDS = ('a photo of the cat dog bird car red green blue yellow small large big circle square '
         'triangle left right above below next to on in with and two three one black white '
         'sitting running standing street house tree sky water person man woman child playing '
         'holding picture image dark bright striped spotted wooden metal glass café naïve über '
         'straße garçon mañana 東京 猫 ΟΔΟΣ σοφία').split()


def training_texts(seed=0, n=3000):
    """Deterministic caption-like lines for SentencePiece's trainer."""
    rng = np.random.default_rng(seed)
    lines = []
    for _ in range(n):
        k = int(rng.integers(3, 12))
        lines.append(' '.join(WORDS[int(i)] for i in rng.integers(0, len(WORDS), k)))
    return lines


def train_spiece(vocab_size=320, seed=0, model_type='unigram'):
    """An spiece.model's bytes, trained on training_texts(); the dummy prefix on, as in SigLIP's
    own model (SiglipTokenizer turns it off when loading), "</s>" 1, "<unk>" 2, "<pad>" 0."""
    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(training_texts(seed)), model_writer=out, vocab_size=vocab_size,
        model_type=model_type, pad_id=0, pad_piece=PAD, eos_id=1, eos_piece=END, unk_id=2,
        unk_piece=UNK, bos_id=-1, character_coverage=1.0, hard_vocab_limit=False,
        num_threads=1, minloglevel=2)
    return out.getvalue()


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data, pos):
    value, shift = 0, 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def without_dummy_prefix(proto):
    """transformers' get_spm_processor: ModelProto.normalizer_spec.MergeFrom(
    NormalizerSpec(add_dummy_prefix=False)). Done on the wire (no protobuf package here): the
    merged field is appended to field 3's message, whose later value wins."""
    out, pos, found = bytearray(), 0, False
    while pos < len(proto):
        start = pos
        key, pos = _read_varint(proto, pos)
        kind = key & 7
        if kind == 0:
            _, pos = _read_varint(proto, pos)
        elif kind == 1:
            pos += 8
        elif kind == 5:
            pos += 4
        elif kind == 2:
            size, pos = _read_varint(proto, pos)
            if key >> 3 == 3:
                body = proto[pos:pos + size] + bytes([3 << 3, 0])
                out += _varint(key) + _varint(len(body)) + body
                pos += size
                found = True
                continue
            pos += size
        else:
            raise ValueError('unexpected wire type')
        out += proto[start:pos]
    if not found:
        out += _varint(3 << 3 | 2) + _varint(2) + bytes([3 << 3, 0])
    return bytes(out)


class SiglipTokenizer:
    """transformers' SiglipTokenizer on a caption with no special-token spelling in it:
    tokenize() puts U+2581 in front (after replacing U+2581 by spaces), PreTrainedTokenizer
    lowercases character by character (do_lower_case), _tokenize() canonicalises (punctuation
    removed, whitespace collapsed, stripped), encodes "<unk>" + text and drops the pieces of
    "<unk>"; build_inputs_with_special_tokens appends "</s>" after truncation to the context."""

    def __init__(self, proto):
        self.sp = spm.SentencePieceProcessor(model_proto=without_dummy_prefix(proto))
        self.unk_length = len(self.sp.encode(UNK))
        self.end_id = self.sp.piece_to_id(END)
        self.pad_id = self.end_id  # SiglipTokenizer's pad_token is "</s>"

    @staticmethod
    def canonical(text):
        text = SPACE + text.replace(SPACE, ' ')
        text = re.sub(r'(.+?)', lambda m: m.group(1).lower(), text)
        text = text.translate(str.maketrans('', '', string.punctuation))
        return re.sub(r'\s+', ' ', text).strip()

    def encode(self, text, context):
        pieces = self.sp.encode(UNK + self.canonical(text))
        pieces = pieces[self.unk_length:] if len(pieces) >= self.unk_length else pieces
        return pieces[:context - 1] + [self.end_id]


def captions(n=200, seed=1):
    """n varied captions: case, punctuation, digits, accents, CJK, Greek (final sigma), emoji,
    U+2581 written out, runs of whitespace, empty and overlong ones."""
    rng = np.random.default_rng(seed)
    fixed = ['', ' ', 'A photo of a CAT.', "it's I'm we'll don't", 'Café au lait — naïve 🙂',
             '猫が好き', 'ΟΔΟΣ ΣΟΦΙΑΣ', 'x' * 80, '  leading and trailing  ', 'tab\there\nnewline',
             f'pre{SPACE}piece {SPACE}space', '(red) [blue] {green} <yellow>', 'über-straße!',
             '1 2 3 45 678', 'İstanbul', '...', 'a,b;c:d', 'ＦＵＬＬ ｗｉｄｔｈ']
    out = list(fixed)
    extra = list(string.punctuation) + ['\t', '  ', '\u00a0', 'É', '東京', '🙂', '42', SPACE]
    while len(out) < n:
        k = int(rng.integers(1, 14))
        parts = []
        for _ in range(k):
            word = WORDS[int(rng.integers(0, len(WORDS)))]
            r = rng.random()
            if r < 0.2:
                word = word.upper()
            elif r < 0.3:
                word = word.capitalize()
            parts.append(word)
            if rng.random() < 0.3:
                parts.append(extra[int(rng.integers(0, len(extra)))])
        out.append(' '.join(parts) if rng.random() < 0.7 else ''.join(parts))
    return out[:n]


# ---------------------------------------------------------------------------------------------
# Model files.

def make_config(preset='micro', vocab_size=320):
    C, I, heads, vl, tl, size, patch, context = PRESETS[preset]
    tower = {'hidden_size': C, 'intermediate_size': I, 'num_attention_heads': heads,
             'hidden_act': 'gelu_pytorch_tanh', 'layer_norm_eps': 1e-6}
    return {
        'architectures': ['SiglipModel'],
        'model_type': 'siglip',
        'initializer_factor': 1.0,
        'text_config': dict(tower, num_hidden_layers=tl, vocab_size=vocab_size,
                            max_position_embeddings=context, pad_token_id=1, bos_token_id=49406,
                            eos_token_id=1, model_type='siglip_text_model'),
        'vision_config': dict(tower, num_hidden_layers=vl, image_size=size, patch_size=patch,
                              num_channels=3, model_type='siglip_vision_model'),
    }


def _layer_shapes(prefix, C, I):
    shapes = {}
    for proj in ('q_proj', 'k_proj', 'v_proj', 'out_proj'):
        shapes[f'{prefix}.self_attn.{proj}.weight'] = (C, C)
        shapes[f'{prefix}.self_attn.{proj}.bias'] = (C,)
    for ln in ('layer_norm1', 'layer_norm2'):
        shapes[f'{prefix}.{ln}.weight'] = (C,)
        shapes[f'{prefix}.{ln}.bias'] = (C,)
    shapes[f'{prefix}.mlp.fc1.weight'] = (I, C)
    shapes[f'{prefix}.mlp.fc1.bias'] = (I,)
    shapes[f'{prefix}.mlp.fc2.weight'] = (C, I)
    shapes[f'{prefix}.mlp.fc2.bias'] = (C,)
    return shapes


def tensor_layout(config):
    """{name: shape} of SiglipModel's state_dict."""
    t, v = config['text_config'], config['vision_config']
    Ct, It, Cv, Iv = t['hidden_size'], t['intermediate_size'], v['hidden_size'], v['intermediate_size']
    E = t.get('projection_size', Ct)
    P = (v['image_size'] // v['patch_size']) ** 2
    p = v['patch_size']
    shapes = {'text_model.embeddings.token_embedding.weight': (t['vocab_size'], Ct),
              'text_model.embeddings.position_embedding.weight': (t['max_position_embeddings'], Ct)}
    for i in range(t['num_hidden_layers']):
        shapes.update(_layer_shapes(f'text_model.encoder.layers.{i}', Ct, It))
    shapes.update({'text_model.final_layer_norm.weight': (Ct,),
                   'text_model.final_layer_norm.bias': (Ct,),
                   'text_model.head.weight': (E, Ct), 'text_model.head.bias': (E,),
                   'vision_model.embeddings.patch_embedding.weight': (Cv, 3, p, p),
                   'vision_model.embeddings.patch_embedding.bias': (Cv,),
                   'vision_model.embeddings.position_embedding.weight': (P, Cv)})
    for i in range(v['num_hidden_layers']):
        shapes.update(_layer_shapes(f'vision_model.encoder.layers.{i}', Cv, Iv))
    shapes.update({'vision_model.post_layernorm.weight': (Cv,),
                   'vision_model.post_layernorm.bias': (Cv,),
                   'vision_model.head.probe': (1, 1, Cv),
                   'vision_model.head.attention.in_proj_weight': (3 * Cv, Cv),
                   'vision_model.head.attention.in_proj_bias': (3 * Cv,),
                   'vision_model.head.attention.out_proj.weight': (Cv, Cv),
                   'vision_model.head.attention.out_proj.bias': (Cv,),
                   'vision_model.head.layernorm.weight': (Cv,),
                   'vision_model.head.layernorm.bias': (Cv,),
                   'vision_model.head.mlp.fc1.weight': (Iv, Cv),
                   'vision_model.head.mlp.fc1.bias': (Iv,),
                   'vision_model.head.mlp.fc2.weight': (Cv, Iv),
                   'vision_model.head.mlp.fc2.bias': (Cv,),
                   'logit_scale': (1,), 'logit_bias': (1,)})
    return shapes


def init_weights(config, seed):
    """Random weights large enough that every layer matters (layer norms not at 1 and 0)."""
    g = torch.Generator().manual_seed(seed)
    w = {}
    for name, shape in tensor_layout(config).items():
        if 'norm' in name and name.endswith('.weight'):
            w[name] = 1.0 + 0.2 * torch.randn(shape, generator=g, dtype=torch.float64)
        elif name in ('logit_scale', 'logit_bias'):
            w[name] = torch.randn(shape, generator=g, dtype=torch.float64)
        else:
            w[name] = 0.1 * torch.randn(shape, generator=g, dtype=torch.float64)
    return w


PREPROCESSOR = {'do_normalize': True, 'do_rescale': True, 'do_resize': True,
                'image_mean': list(MEAN), 'image_std': list(STD),
                'image_processor_type': 'SiglipImageProcessor', 'processor_class': 'SiglipProcessor',
                'resample': 3, 'rescale_factor': 1 / 255}


def make_model(out_dir, seed=0, preset='micro', dtype='F32', spiece=None):
    """Writes a SigLIP folder; returns (config, float64 weights as stored, spiece bytes)."""
    spiece = spiece if spiece is not None else train_spiece()
    n_pieces = spm.SentencePieceProcessor(model_proto=spiece).get_piece_size()
    config = make_config(preset, vocab_size=n_pieces)
    w = init_weights(config, seed)
    os.makedirs(out_dir, exist_ok=True)
    size = config['vision_config']['image_size']
    with open(os.path.join(out_dir, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
    with open(os.path.join(out_dir, 'preprocessor_config.json'), 'w') as f:
        json.dump(dict(PREPROCESSOR, size={'height': size, 'width': size}), f, indent=2)
    with open(os.path.join(out_dir, 'spiece.model'), 'wb') as f:
        f.write(spiece)
    ref.write_safetensors(os.path.join(out_dir, 'model.safetensors'), w, dtype)
    stored, _ = ref.read_safetensors(os.path.join(out_dir, 'model.safetensors'))
    return config, {k: v.to(torch.float64) for k, v in stored.items()}, spiece


# ---------------------------------------------------------------------------------------------
# Forward pass, one image or caption at a time: x is [tokens, width].

def _linear(x, w, prefix):
    return F.linear(x, w[prefix + '.weight'], w[prefix + '.bias'])


def _layer_norm(x, w, prefix, eps):
    return F.layer_norm(x, x.shape[-1:], w[prefix + '.weight'], w[prefix + '.bias'], eps)


def _mlp(x, w, prefix, act):
    return _linear(act(_linear(x, w, prefix + '.fc1')), w, prefix + '.fc2')


def encoder(x, w, prefix, cfg):
    """SiglipEncoder without any mask: every token sees every token."""
    eps, heads = cfg['layer_norm_eps'], cfg['num_attention_heads']
    act = ref.activation(cfg['hidden_act'])
    n, width = x.shape
    hd = width // heads
    for i in range(cfg['num_hidden_layers']):
        p = f'{prefix}.layers.{i}'
        h = _layer_norm(x, w, p + '.layer_norm1', eps)
        q = _linear(h, w, p + '.self_attn.q_proj').view(n, heads, hd).transpose(0, 1)
        k = _linear(h, w, p + '.self_attn.k_proj').view(n, heads, hd).transpose(0, 1)
        v = _linear(h, w, p + '.self_attn.v_proj').view(n, heads, hd).transpose(0, 1)
        att = ((q @ k.transpose(1, 2)) * hd ** -0.5).softmax(-1)
        x = x + _linear((att @ v).transpose(0, 1).reshape(n, width), w, p + '.self_attn.out_proj')
        x = x + _mlp(_layer_norm(x, w, p + '.layer_norm2', eps), w, p + '.mlp', act)
    return x


def vision_tokens(config, w, pixels):
    """[P, C]: every patch token after post_layernorm."""
    cfg = config['vision_config']
    x = F.conv2d(pixels[None], w['vision_model.embeddings.patch_embedding.weight'],
                 w['vision_model.embeddings.patch_embedding.bias'],
                 stride=cfg['patch_size'])[0].flatten(1).T
    x = x + w['vision_model.embeddings.position_embedding.weight']
    x = encoder(x, w, 'vision_model.encoder', cfg)
    return _layer_norm(x, w, 'vision_model.post_layernorm', cfg['layer_norm_eps'])


def head(config, w, x):
    """(pooled [C], patch embeddings [P, C]) of SiglipMultiheadAttentionPoolingHead on x."""
    cfg = config['vision_config']
    eps, act = cfg['layer_norm_eps'], ref.activation(cfg['hidden_act'])
    C = x.shape[1]
    pre = 'vision_model.head'
    h, _ = F.multi_head_attention_forward(
        w[pre + '.probe'].reshape(1, 1, C), x[:, None], x[:, None], C, cfg['num_attention_heads'],
        w[pre + '.attention.in_proj_weight'], w[pre + '.attention.in_proj_bias'], None, None,
        False, 0.0, w[pre + '.attention.out_proj.weight'], w[pre + '.attention.out_proj.bias'],
        training=False, need_weights=False)
    h = h[0, 0]
    pooled = h + _mlp(_layer_norm(h, w, pre + '.layernorm', eps), w, pre + '.mlp', act)
    wv = w[pre + '.attention.in_proj_weight'][2 * C:]
    bv = w[pre + '.attention.in_proj_bias'][2 * C:]
    u = F.linear(F.linear(x, wv, bv), w[pre + '.attention.out_proj.weight'],
                 w[pre + '.attention.out_proj.bias'])
    patches = u + _mlp(_layer_norm(u, w, pre + '.layernorm', eps), w, pre + '.mlp', act)
    return pooled, patches


def text_tokens(config, w, ids, pad_id):
    """[K, E]: the caption padded with pad_id to the context, through the head at every
    position."""
    cfg = config['text_config']
    K = cfg['max_position_embeddings']
    ids = torch.as_tensor(list(ids) + [pad_id] * (K - len(ids)), dtype=torch.long)
    x = w['text_model.embeddings.token_embedding.weight'][ids]
    x = x + w['text_model.embeddings.position_embedding.weight']
    x = encoder(x, w, 'text_model.encoder', cfg)
    x = _layer_norm(x, w, 'text_model.final_layer_norm', cfg['layer_norm_eps'])
    return _linear(x, w, 'text_model.head')


def l2_normalise(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def embed(config, w, pixels, ids, pad_id):
    pooled, patches = head(config, w, vision_tokens(config, w, pixels))
    text = text_tokens(config, w, ids, pad_id)
    side = config['vision_config']['image_size'] // config['vision_config']['patch_size']
    return {
        'image_embedding': l2_normalise(pooled),
        'text_embedding': l2_normalise(text[-1]),
        'patch_embeddings': l2_normalise(patches),
        'token_embeddings': l2_normalise(text[:len(ids)]),
        'grid': [side, side],
    }


def pixels_from_png(path, size):
    """SiglipImageProcessor on an image already at the model's size: /255, (x - 0.5) / 0.5."""
    rgb = ref.read_png(path)
    if rgb.shape[:2] != (size, size):
        raise ValueError(f'{path}: the reference needs {size}x{size}')
    x = torch.from_numpy(rgb.astype(np.float64) / 255.0).permute(2, 0, 1)
    return (x - 0.5) / 0.5


# ---------------------------------------------------------------------------------------------
# Self-check: the head's pooled output is the attention-weighted mean of the u_p before the MLP
# (the identity docs/algorithms.md builds the patch embeddings on), and the wire-level merge
# turns the dummy prefix off.

def self_check():
    config = make_config('micro', vocab_size=50)
    w = init_weights(config, 3)
    x = torch.randn(16, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    C, heads = 32, config['vision_config']['num_attention_heads']
    pre = 'vision_model.head'
    _, att = F.multi_head_attention_forward(
        w[pre + '.probe'].reshape(1, 1, C), x[:, None], x[:, None], C, heads,
        w[pre + '.attention.in_proj_weight'], w[pre + '.attention.in_proj_bias'], None, None,
        False, 0.0, w[pre + '.attention.out_proj.weight'], w[pre + '.attention.out_proj.bias'],
        training=False, need_weights=True, average_attn_weights=False)
    wv = w[pre + '.attention.in_proj_weight'][2 * C:]
    bv = w[pre + '.attention.in_proj_bias'][2 * C:]
    v = F.linear(x, wv, bv).view(16, heads, C // heads)
    mixed = torch.einsum('hp,phd->hd', att[0, :, 0], v).reshape(C)
    h = F.linear(mixed, w[pre + '.attention.out_proj.weight'], w[pre + '.attention.out_proj.bias'])
    h_ref, _ = F.multi_head_attention_forward(
        w[pre + '.probe'].reshape(1, 1, C), x[:, None], x[:, None], C, heads,
        w[pre + '.attention.in_proj_weight'], w[pre + '.attention.in_proj_bias'], None, None,
        False, 0.0, w[pre + '.attention.out_proj.weight'], w[pre + '.attention.out_proj.bias'],
        training=False, need_weights=False)
    assert (h - h_ref[0, 0]).abs().max() < 1e-12, 'pooling head: attention over values'
    spiece = train_spiece(vocab_size=200)
    plain = spm.SentencePieceProcessor(model_proto=spiece)
    patched = spm.SentencePieceProcessor(model_proto=without_dummy_prefix(spiece))
    assert plain.encode('cat', out_type=str)[0].startswith(SPACE), 'the trained model has a prefix'
    assert not patched.encode('cat', out_type=str)[0].startswith(SPACE), 'prefix not turned off'
    assert SiglipTokenizer.canonical('ΟΔΟΣ, Hi!') == SPACE + 'οδοσ hi', 'canonical form'
