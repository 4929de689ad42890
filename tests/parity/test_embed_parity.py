#!/usr/bin/python3
"""Parity test: `wordpatch-cli embed` against the independent torch reference (clip_reference.py).

Usage: test_embed_parity.py [WORDPATCH_CLI]   (default: $WORDPATCH_CLI). Output is TAP.

For each random tiny model (F32 quick_gelu, F32 gelu, F16, BF16, one bare .safetensors file) and
each caption, the CLI's token ids must equal OpenAI's published ids and every element of the five
embeddings must be within TOLERANCE of the float64 reference, which is computed from the same
stored weights on an image already at the model's input size (so no resampling is involved).
"""

import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402  (found beside this file)
from tap import Tap, find_cli, run_json  # noqa: E402

TOLERANCE = 1e-4
CLI_TIMEOUT = 120  # seconds per run; the tiny models take a fraction of a second

# OpenAI SimpleTokenizer ids, from tests/data/clip-bpe/README.md.
CAPTIONS = [
    ('a photo of a cat', [49406, 320, 1125, 539, 320, 2368, 49407]),
    ("it's I'm we'll don't", [49406, 585, 568, 328, 880, 649, 1342, 847, 713, 49407]),
    ('Café au lait — naïve 🙂',
     [49406, 15304, 2566, 572, 585, 2005, 1097, 35689, 563, 14860, 49407]),
    ('猫が好き', [49406, 163, 234, 104, 4813, 234, 29290, 121, 4813, 491, 49407]),
    ('Tom &amp;amp; Jerry &lt;3', [49406, 2435, 261, 9164, 283, 274, 49407]),
]

# (description, make_model arguments, written as a bare .safetensors file instead of a folder).
# Different seeds so no two cases share weights.
CASES = [
    ('tiny F32 quick_gelu folder', dict(seed=11, dtype='F32', act='quick_gelu'), False),
    ('tiny F32 gelu folder', dict(seed=12, dtype='F32', act='gelu'), False),
    ('tiny F16 folder', dict(seed=13, dtype='F16', act='quick_gelu'), False),
    ('tiny BF16 folder', dict(seed=14, dtype='BF16', act='quick_gelu'), False),
    ('tiny F32 bare .safetensors', dict(seed=15, dtype='F32', act='quick_gelu'), True),
]

# A non-square image larger than the input: the CLI must resize and crop it. Resampling parity is
# not required (PIL's bicubic is not reproduced here), so this run only checks success and shapes.
ODD_SIZE = (50, 41)  # width, height

OUTPUTS = ('image_embedding', 'text_embedding', 'patch_embeddings', 'token_embeddings')


def run_cli(cli, model, image, caption):
    """(parsed stdout JSON, None) or (None, error text)."""
    return run_json([cli, 'embed', '--model', model, '--image', image, '--text', caption],
                    CLI_TIMEOUT)


def check_tokens(out):
    """The CLI's token ids, or an error if the `tokens` list is malformed."""
    tokens = out.get('tokens')
    if not isinstance(tokens, list) or not all(
            isinstance(t, dict) and isinstance(t.get('id'), int) and isinstance(t.get('text'), str)
            for t in tokens):
        return None, f'tokens is not a list of {{"id": int, "text": str}}: {str(tokens)[:200]}'
    return [t['id'] for t in tokens], None


def as_tensor(value):
    """The CLI's JSON array as float64, or None if it is not a numeric (nested) list."""
    try:
        return torch.tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def compare(name, got, want):
    """(max |diff| or None, report line) for one output."""
    t = as_tensor(got)
    if t is None or t.shape != want.shape:
        shape = list(t.shape) if t is not None else type(got).__name__
        return None, f'{name}: shape {shape}, expected {list(want.shape)}'
    if not torch.isfinite(t).all():
        return None, f'{name}: non-finite values'
    diff = (t - want).abs()
    worst = diff.max().item()
    index = [int(i) for i in torch.nonzero(diff == worst)[0]]
    where = ','.join(map(str, index))
    line = (f'{name}: max |diff| {worst:.3g} at [{where}] '
            f'(cli {t[tuple(index)].item():.7f}, reference {want[tuple(index)].item():.7f})')
    return worst, line


def compare_outputs(out, want, worst, lines):
    """The CLI's grid and embeddings against the reference's: (passed, lines), worst updated."""
    passed = True
    if out.get('grid') != want['grid']:
        passed = False
        lines.append(f'grid {out.get("grid")}, expected {want["grid"]}')
    for name in OUTPUTS:
        diff, line = compare(name, out.get(name), want[name])
        lines.append(line)
        if diff is None or diff > TOLERANCE:
            passed = False
        if diff is not None:
            worst[name] = max(worst[name], diff)
    return passed, lines


def parity_point(cli, model_path, config, weights, pixels, image, caption, expected, worst):
    """One TAP point: token ids, grid and the four embedding outputs of one CLI run."""
    out, error = run_cli(cli, model_path, image, caption)
    if error:
        return False, [error]
    passed, lines = True, []
    ids, error = check_tokens(out)
    if error:
        return False, [error]
    if ids != expected:
        passed = False
        lines.append(f'token ids {ids}, expected {expected}')
        # Still compare the numerics, using the CLI's own ids, so a tokenizer bug does not hide
        # the state of the forward pass.
        if not (ids and ids[-1] == ref.END_ID and ref.END_ID not in ids[:-1]
                and all(0 <= i < ref.VOCAB_SIZE for i in ids)):
            return False, lines
        lines.append('comparing embeddings for the CLI ids')
    want = ref.embed(config, weights, pixels, ids)
    outputs_passed, lines = compare_outputs(out, want, worst, lines)
    return passed and outputs_passed, lines


def odd_image_point(cli, model_path, config, image, caption, expected):
    """The CLI on a non-square larger image: success, shapes and unit norms only."""
    out, error = run_cli(cli, model_path, image, caption)
    if error:
        return False, [error]
    vcfg = config['vision_config']
    side = vcfg['image_size'] // vcfg['patch_size']
    e = config['projection_dim']
    shapes = {'image_embedding': [e], 'text_embedding': [e], 'patch_embeddings': [side * side, e],
              'token_embeddings': [len(expected), e]}
    passed, lines = True, []
    if out.get('grid') != [side, side]:
        passed = False
        lines.append(f'grid {out.get("grid")}, expected {[side, side]}')
    for name, shape in shapes.items():
        t = as_tensor(out.get(name))
        if t is None or list(t.shape) != shape:
            passed = False
            lines.append(f'{name}: shape {None if t is None else list(t.shape)}, expected {shape}')
        elif not torch.isfinite(t).all() or (t.norm(dim=-1) - 1).abs().max() > 1e-3:
            passed = False
            lines.append(f'{name}: not finite unit vectors')
    return passed, lines


def print_worst(worst):
    """The tolerance and each output's largest difference over all points, as TAP comments."""
    print(f'# tolerance {TOLERANCE:g}; max |diff| over all cases:')
    for name, value in worst.items():
        print(f'#   {name}: {value:.3g}')


def main(argv):
    cli = find_cli(argv)
    if cli is None:
        return 1
    tap = Tap(1 + len(CASES) * (len(CAPTIONS) + 1))

    tap.self_check(ref.self_check)

    worst = {name: 0.0 for name in OUTPUTS}
    with tempfile.TemporaryDirectory(prefix='wordpatch-parity-') as tmp:
        for n, (description, kwargs, bare) in enumerate(CASES):
            path = os.path.join(tmp, f'model{n}' + ('.safetensors' if bare else ''))
            if bare:
                ref.make_model(bare=path, **kwargs)
            else:
                ref.make_model(out_dir=path, **kwargs)
            config, weights = ref.load_model(path)  # the stored, possibly rounded, weights
            size = config['vision_config']['image_size']
            image = os.path.join(tmp, f'image{size}.png')
            ref.write_png(image, ref.test_image(size, size))
            pixels = ref.pixels_from_png(image, size)

            for caption, expected in CAPTIONS:
                passed, lines = parity_point(cli, path, config, weights, pixels, image, caption,
                                             expected, worst)
                tap.result(passed, f'{description}: {caption!r}', lines)

            odd = os.path.join(tmp, 'odd.png')
            ref.write_png(odd, ref.test_image(*ODD_SIZE))
            caption, expected = CAPTIONS[0]
            passed, lines = odd_image_point(cli, path, config, odd, caption, expected)
            tap.result(passed, f'{description}: {ODD_SIZE[0]}x{ODD_SIZE[1]} image, shapes only',
                       lines)

    print_worst(worst)
    return tap.exit_status()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
