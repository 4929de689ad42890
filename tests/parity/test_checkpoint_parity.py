#!/usr/bin/python3
"""Parity test: `wordpatch-cli embed` on the checkpoint kinds people have, against independent
float64 references (checkpoints_reference.py, clip_reference.py).

Usage: test_checkpoint_parity.py [WORDPATCH_CLI]   (default: $WORDPATCH_CLI). Output is TAP.

Random models written by the references:
- open_clip folders (open_clip's tensor names, no vocabulary files, an attn_mask buffer): exact
  GELU with "argmax" pooling in F32, QuickGELU with "eos" pooling in BF16, each with its own mean
  and std and an image whose centre crop tests torchvision's rounded offset;
- a 336-pixel, patch-14 transformers folder with GELU's tanh approximation (gelu_new in the
  vision tower, gelu_pytorch_tanh in the text tower), F16, and its own preprocessor_config.json
  (mean, std, shortest edge 352, crop 336);
- a transformers folder sharded over three files by model.safetensors.index.json, BF16, exact
  GELU, with the eos_token_id 2 of configs written before transformers' fix (pooled at the
  largest id).
Each caption's token ids must equal OpenAI's, and every element of the five outputs must be within
TOLERANCE of the reference, including a caption that spells the end token in its middle (pooled
at its first end token). Then `convert` both ways: the open_clip model written as a transformers
folder and a transformers model written as an open_clip folder must give, through the other
layout's reference, what the original gives through its own (float64 both: 1e-9).
"""

import json
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checkpoints_reference as ckpt  # noqa: E402  (found beside this file)
import clip_reference as ref  # noqa: E402
from tap import Tap, find_cli, run_command  # noqa: E402

TOLERANCE = 1e-4
LAYOUT_TOLERANCE = 1e-9
CLI_TIMEOUT = 300

CAPTIONS = [
    ('a photo of a cat', [49406, 320, 1125, 539, 320, 2368, 49407]),
    ('a photo <|endoftext|> of a cat', [49406, 320, 1125, 49407, 539, 320, 2368, 49407]),
    ('Café au lait — naïve 🙂',
     [49406, 15304, 2566, 572, 585, 2005, 1097, 35689, 563, 14860, 49407]),
]

OUTPUTS = ('image_embedding', 'text_embedding', 'patch_embeddings', 'token_embeddings')
INCEPTION = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def run_cli(cli, *args):
    """(stdout, None) or (None, error text)."""
    stdout, error = run_command([cli, *args], CLI_TIMEOUT)
    return (None, error) if error else (stdout.decode('utf-8'), None)


def compare(name, got, want, tolerance):
    """(passed, report line) for one output."""
    try:
        t = torch.tensor(got, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return False, f'{name}: not a numeric array'
    if t.shape != want.shape:
        return False, f'{name}: shape {list(t.shape)}, expected {list(want.shape)}'
    worst = (t - want).abs().max().item()
    return worst <= tolerance, f'{name}: max |diff| {worst:.3g}'


def embed_point(cli, model, image, caption, expected, reference):
    """One CLI embed run against reference(ids): ids, grid and the four outputs."""
    text, error = run_cli(cli, 'embed', '--model', model, '--image', image, '--text', caption)
    if error:
        return False, [error]
    out = json.loads(text)
    ids = [t['id'] for t in out.get('tokens', [])]
    passed, lines = True, []
    if ids != expected:
        return False, [f'token ids {ids}, expected {expected}']
    want = reference(ids)
    if out.get('grid') != want['grid']:
        passed = False
        lines.append(f'grid {out.get("grid")}, expected {want["grid"]}')
    for name in OUTPUTS:
        ok, line = compare(name, out.get(name), want[name], TOLERANCE)
        passed = passed and ok
        lines.append(line)
    return passed, lines


def write_image(path, width, height):
    ref.write_png(path, ref.test_image(width, height))
    return ref.read_png(path)


# Each layout's reference: its reader and its embedding.
READERS = {
    'open_clip': (ckpt.load_openclip, ckpt.openclip_embed),
    'transformers': (ckpt.load_transformers, ckpt.transformers_embed),
}


def reference_case(description, path, layout, image, pixels):
    """A case of make_cases(): the model at path read by its layout's reference, which embeds
    pixels (image as the CLI should prepare it)."""
    load, embed = READERS[layout]
    config, w = load(path)
    return description, path, image, lambda ids: embed(config, w, pixels, ids)


def make_cases(tmp):
    """(description, model path, image path, reference(ids)) of every kind."""
    cases = []

    # open_clip, exact GELU, argmax pooling, F32; 32 x 35: a crop offset of round(1.5) = 2.
    path = os.path.join(tmp, 'openclip-gelu')
    ckpt.make_openclip(path, ckpt.openclip_config(mean=INCEPTION[0], std=INCEPTION[1]), seed=31,
                       dtype='F32')
    image = os.path.join(tmp, 'image-32x35.png')
    pixels = ckpt.prepared_pixels(write_image(image, 32, 35), 32, 32, *INCEPTION, 'round')
    cases.append(reference_case('open_clip F32 gelu argmax', path, 'open_clip', image, pixels))

    # open_clip, QuickGELU, eos pooling, BF16; 39 x 32: round(3.5) = 4 where floor gives 3.
    path = os.path.join(tmp, 'openclip-quick')
    ckpt.make_openclip(path, ckpt.openclip_config(quick_gelu=True, pool='eos', mean=IMAGENET[0],
                                                  std=IMAGENET[1]), seed=32, dtype='BF16')
    image = os.path.join(tmp, 'image-39x32.png')
    pixels = ckpt.prepared_pixels(write_image(image, 39, 32), 32, 32, *IMAGENET, 'round')
    cases.append(reference_case('open_clip BF16 quick_gelu eos', path, 'open_clip', image, pixels))

    # transformers 336 / 14, GELU's tanh approximation, its own preprocessing, F16; 352 x 363:
    # crop offsets 8 and floor(27 / 2) = 13.
    path = os.path.join(tmp, 'transformers-336')
    config = ref.make_config('tiny', 'gelu', 'F16', image_size=336)
    config['vision_config'].update(patch_size=14, hidden_act='gelu_new')
    config['text_config']['hidden_act'] = 'gelu_pytorch_tanh'
    preprocessor = {
        'image_processor_type': 'CLIPImageProcessor', 'crop_size': {'height': 336, 'width': 336},
        'size': {'shortest_edge': 352}, 'resample': 3, 'do_center_crop': True,
        'do_normalize': True, 'do_rescale': True, 'rescale_factor': 1 / 255, 'do_resize': True,
        'do_convert_rgb': True, 'image_mean': list(IMAGENET[0]), 'image_std': list(IMAGENET[1]),
    }
    ckpt.make_transformers(path, config, seed=33, dtype='F16', preprocessor=preprocessor)
    image = os.path.join(tmp, 'image-352x363.png')
    pixels = ckpt.prepared_pixels(write_image(image, 352, 363), 352, 336, *IMAGENET, 'floor')
    cases.append(reference_case('transformers 336/14 gelu_new F16 preprocessor_config', path,
                                'transformers', image, pixels))

    # transformers sharded over three files, BF16, exact GELU, eos_token_id 2.
    path = os.path.join(tmp, 'transformers-sharded')
    config = ref.make_config('tiny', 'gelu', 'BF16')
    config['text_config'].update(bos_token_id=0, eos_token_id=2)
    ckpt.make_transformers(path, config, seed=34, dtype='BF16', shards=3)
    image = os.path.join(tmp, 'image-32x32.png')
    write_image(image, 32, 32)
    pixels = ref.pixels_from_png(image, 32)
    cases.append(reference_case('transformers 3 shards BF16 eos_token_id 2', path, 'transformers',
                                image, pixels))
    return cases


def convert_point(cli, tap, source, source_format, target, target_format, pixels, ids):
    """convert source to target_format: the result, read by its layout's reference, embeds pixels
    and ids as the source does."""
    _, error = run_cli(cli, 'convert', '--model', source, '--out', target, '--format',
                       target_format)
    lines, passed = [], error is None
    if error:
        lines.append(error)
    else:
        load, embed = READERS[source_format]
        want = embed(*load(source), pixels, ids)
        load, embed = READERS[target_format]
        got = embed(*load(target), pixels, ids)
        for name in OUTPUTS:
            ok, line = compare(name, got[name].tolist(), want[name], LAYOUT_TOLERANCE)
            passed = passed and ok
            lines.append(line)
    tap.result(passed, f'convert {source_format} -> {target_format}: same model', lines)


def layout_points(cli, tmp, tap):
    """convert both ways, each result read by the other layout's reference."""
    ids = CAPTIONS[1][1]
    pixels = torch.randn(3, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(5))

    source = os.path.join(tmp, 'convert-openclip')
    ckpt.make_openclip(source, ckpt.openclip_config(pool='eos'), seed=41, dtype='F32')
    convert_point(cli, tap, source, 'open_clip',
                  os.path.join(tmp, 'convert-openclip-as-transformers'), 'transformers', pixels,
                  ids)

    source = os.path.join(tmp, 'convert-transformers')
    ckpt.make_transformers(source, ref.make_config('tiny', 'gelu', 'F32'), seed=42, dtype='F32')
    convert_point(cli, tap, source, 'transformers',
                  os.path.join(tmp, 'convert-transformers-as-openclip'), 'open_clip', pixels, ids)


def main(argv):
    cli = find_cli(argv)
    if cli is None:
        return 1
    n_cases = 4
    tap = Tap(1 + n_cases * len(CAPTIONS) + 2)
    tap.self_check(ckpt.self_check)

    with tempfile.TemporaryDirectory(prefix='wordpatch-checkpoints-') as tmp:
        cases = make_cases(tmp)
        assert len(cases) == n_cases
        for description, path, image, reference in cases:
            for caption, expected in CAPTIONS:
                passed, lines = embed_point(cli, path, image, caption, expected, reference)
                tap.result(passed, f'{description}: {caption!r}', lines)
        layout_points(cli, tmp, tap)
    return tap.exit_status()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
