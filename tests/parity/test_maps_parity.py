#!/usr/bin/python3
"""Parity test: `wordpatch-cli heatmap --json` maps against the float64 reference of
maps_reference.py (issue 19, ALGORITHMS.md "Maps for any CLIP model").

Usage: test_maps_parity.py [WORDPATCH_CLI]   (default: $WORDPATCH_CLI). Output is TAP.

Random tiny models (clip_reference.make_model: widths of the `tiny` preset, 64-pixel input, patch
8, an 8 x 8 grid) and PNGs already at the size the tower sees (so no resampling enters): the
model's 64 x 64, and images seen whole (--crop none) whose grids need interpolated position
embeddings (8 x 12, 12 x 8, 16 x 16, 16 x 24). Every method with both query kinds, surgery on and
off, a word of several tokens, comma-separated phrases, single-query surgery, a custom template,
--legrad-layers 1, 2 and the default. Each run gives one TAP point for the JSON's layout (grid,
method, query, the queries' texts, the figure) and one per method with its largest difference.
Forward methods (and sparc) must be within FORWARD_TOL absolute; gradient methods within GRAD_TOL
of each map's largest reference magnitude.
"""

import json
import math
import os
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402  (found beside this file)
import maps_reference as maps  # noqa: E402
import maps_self_check  # noqa: E402
import siglip_reference as sref  # noqa: E402
from tap import Tap, find_cli, run_command  # noqa: E402

FORWARD_TOL = 5e-4   # absolute, filip, sparc, maskclip, sclip, clearclip, naclip
GRAD_TOL = 2e-3      # of max |reference map|, gradcam, chefer, legrad ...
GRAD_FLOOR = 1e-7    # ... or absolute, for a map that is ~0 everywhere
MARGIN_MIN = 1e-5    # reference-side: no SPARC threshold decision closer than this
CLI_TIMEOUT = 300    # seconds per run; the tiny models take a fraction of a second
IMAGE_SIZE = 64

ALL = list(maps.METHODS)
# A word BPE splits into three tokens (zebroid: 2254, 927, 1014); the disc and bar of the test
# picture. Phrases with a blank before a comma, so stripping is part of the contract.
CAPTION = 'a zebroid beside the green bar'
PHRASES = 'a red disc, the green bar , stripes'
SINGLE = 'disc'

# Images as (width, height) and the options that show them whole at their own size.
SQUARE = ((64, 64), [])
SQUARE_CENTRE = ((64, 64), ['--crop', 'center'])
WIDE = ((96, 64), ['--crop', 'none', '--resolution', '64'])         # grid 8 x 12
TALL = ((64, 96), ['--crop', 'none', '--resolution', '64'])         # grid 12 x 8
LARGE = ((128, 128), ['--crop', 'none', '--resolution', '128'])     # grid 16 x 16
BANNER = ((192, 128), ['--crop', 'none', '--resolution', '128'])    # grid 16 x 24

# Models: (seed, activation).
MODELS = {'A': (44, 'quick_gelu'), 'B': (46, 'gelu')}
# SigLIP folders of siglip_reference.py (64-pixel images, patch 8, three blocks): name -> seed.
SIGLIP_MODELS = {'S': 48}

# (model, image, caption, query kind, surgery, methods, template or None, legrad layers or None)
RUNS = [
    ('A', SQUARE, CAPTION, 'token', False, ALL, None, None),
    ('A', SQUARE, CAPTION, 'token', True, ALL, None, None),
    ('A', SQUARE, CAPTION, 'prompt', False, ALL, None, None),
    ('A', SQUARE, CAPTION, 'prompt', True, ALL, None, None),
    ('A', SQUARE, PHRASES, 'prompt', False, ALL, None, None),
    ('A', SQUARE, PHRASES, 'prompt', True, ALL, None, None),
    ('A', SQUARE, PHRASES, 'token', True, ALL, None, None),
    ('A', SQUARE, SINGLE, 'token', True, ['legrad', 'naclip', 'filip', 'sparc'], None, None),
    ('A', SQUARE, SINGLE, 'prompt', True, ['maskclip', 'clearclip', 'chefer'], None, None),
    ('A', SQUARE, SINGLE, 'prompt', True, ['sclip', 'gradcam'], 'a {} in a picture', None),
    ('A', SQUARE, CAPTION, 'prompt', True, ['filip', 'legrad'], 'a {} in a picture', None),
    ('A', SQUARE_CENTRE, CAPTION, 'token', False, ['legrad'], None, 1),
    ('A', SQUARE, CAPTION, 'prompt', False, ['legrad', 'gradcam'], None, 2),
    ('A', WIDE, CAPTION, 'token', False, ALL, None, None),
    ('A', WIDE, CAPTION, 'prompt', True, ALL, None, None),
    ('A', TALL, CAPTION, 'prompt', False, ALL, None, None),
    ('A', TALL, CAPTION, 'token', True, ALL, None, 1),
    ('A', LARGE, CAPTION, 'token', False, ALL, None, None),
    ('A', BANNER, CAPTION, 'prompt', False, ALL, None, None),
    ('A', BANNER, CAPTION, 'token', True, ALL, None, None),
    ('B', SQUARE, CAPTION, 'prompt', True, ALL, None, None),
    ('B', WIDE, PHRASES, 'prompt', False, ALL, None, None),
    ('B', BANNER, CAPTION, 'token', False, ALL, None, 2),
    # Without commas a prompt query is every word the tokenizer finds, punctuation included.
    ('A', SQUARE, 'a red disc.', 'prompt', False, ['filip'], None, None),
    # SigLIP: no class token, the pooling head in its place (ALGORITHMS.md, "SigLIP").
    ('S', SQUARE, CAPTION, 'token', False, ALL, None, None),
    ('S', SQUARE, CAPTION, 'prompt', True, ALL, None, None),
    ('S', SQUARE, SINGLE, 'token', True, ['legrad', 'naclip', 'filip', 'sparc'], None, None),
    # Without LeGrad the image keeps only its last two blocks' activations (encoder.h).
    ('S', WIDE, CAPTION, 'token', False, ['chefer', 'gradcam', 'maskclip'], None, None),
    ('S', WIDE, PHRASES, 'prompt', False, ALL, None, 2),
    ('S', TALL, CAPTION, 'token', True, ALL, None, 1),
    ('S', BANNER, CAPTION, 'prompt', False, ALL, None, None),
]


def run_cli(cmd):
    """(parsed JSON written by the CLI, None) or (None, error text)."""
    json_path = cmd[cmd.index('--json') + 1]
    _, error = run_command(cmd, CLI_TIMEOUT)
    if error:
        return None, error
    try:
        with open(json_path, encoding='utf-8') as f:
            return json.load(f), None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        return None, f'{json_path}: not readable JSON ({e})'


def check_layout(out, want, methods, kind, figure):
    """(passed, report lines) for everything but the map values."""
    lines = []
    if (out.get('rows'), out.get('cols')) != (want['rows'], want['cols']):
        lines.append(f'grid {out.get("rows")} x {out.get("cols")}, '
                     f'expected {want["rows"]} x {want["cols"]}')
    if out.get('method') not in (methods, ','.join(methods)):
        lines.append(f'method {out.get("method")!r}, expected {methods}')
    if out.get('query') != kind:
        lines.append(f'query {out.get("query")!r}, expected {kind!r}')
    words = out.get('words')
    texts = [w.get('text') if isinstance(w, dict) else None
             for w in (words if isinstance(words, list) else [])]
    expected = [w['text'] for w in want['words']]
    if texts != expected:
        lines.append(f'queries {texts}, expected {expected}')
    try:
        with open(figure, 'rb') as f:
            if f.read(8) != b'\x89PNG\r\n\x1a\n':
                lines.append(f'{figure}: not a PNG')
    except OSError as e:
        lines.append(f'figure not written: {e}')
    return not lines, lines or [f'grid {want["rows"]} x {want["cols"]}, queries {expected}']


def compare_method(out, want, method):
    """(passed, report line, worst difference in units of the tolerance or None)."""
    gradient = method in maps.GRADIENT_METHODS
    words = out.get('words') if isinstance(out.get('words'), list) else []
    if len(words) != len(want['words']):
        return False, f'{len(words)} queries, expected {len(want["words"])}', None
    n = want['rows'] * want['cols']
    worst, where = -1.0, None
    for i, (got, ref_word) in enumerate(zip(words, want['words'])):
        values = got.get(method) if isinstance(got, dict) else None
        try:
            t = torch.tensor(values, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            t = None
        if t is None or t.shape != (n,):
            shape = list(t.shape) if t is not None else type(values).__name__
            return False, f'query {i} ({ref_word["text"]!r}): shape {shape}, expected [{n}]', None
        if not torch.isfinite(t).all():
            return False, f'query {i} ({ref_word["text"]!r}): non-finite values', None
        r = ref_word[method]
        tol = max(GRAD_TOL * r.abs().max().item(), GRAD_FLOOR) if gradient else FORWARD_TOL
        diff = (t - r).abs()
        p = int(diff.argmax())
        if diff[p].item() / tol > worst:
            worst = diff[p].item() / tol
            where = (ref_word['text'], p, diff[p].item(), tol, t[p].item(), r[p].item())
    text, p, d, tol, got, exp = where
    line = (f'max |diff| {d:.3g} (tolerance {tol:.3g}) at {text!r} patch '
            f'({p // want["cols"]},{p % want["cols"]}): cli {got:.7f}, reference {exp:.7f}')
    return worst <= 1.0, line, worst


def describe(run):
    model, ((width, height), options), caption, kind, surgery, methods, template, layers = run
    parts = [f'model {model}', f'{width}x{height}'] + options + [repr(caption), kind]
    if surgery:
        parts.append('surgery')
    if template is not None:
        parts.append(f'template {template!r}')
    if layers is not None:
        parts.append(f'legrad-layers {layers}')
    return ' '.join(parts)


def main(argv):
    cli = find_cli(argv)
    if cli is None:
        return 1
    tap = Tap(1 + sum(1 + len(run[5]) for run in RUNS))

    tap.self_check(maps_self_check.self_check)

    worst = {}
    with tempfile.TemporaryDirectory(prefix='wordpatch-maps-parity-') as tmp:
        loaded = {}
        for name, (seed, act) in MODELS.items():
            path = os.path.join(tmp, f'model-{name}')
            ref.make_model(out_dir=path, seed=seed, act=act, image_size=IMAGE_SIZE)
            loaded[name] = (path,) + ref.load_model(path) + (maps.model_tokenizer(path),)
        spiece = sref.train_spiece(seed=5)
        for name, seed in SIGLIP_MODELS.items():
            path = os.path.join(tmp, f'model-{name}')
            config, weights, _ = sref.make_model(path, seed=seed, preset='maps', spiece=spiece)
            context = config['text_config']['max_position_embeddings']
            loaded[name] = (path, config, weights, maps.SiglipWords(spiece, context))

        for n, run in enumerate(RUNS):
            model, ((width, height), options), caption, kind, surgery, methods, template, \
                layers = run
            path, config, weights, tokenizer = loaded[model]
            image = os.path.join(tmp, f'image-{width}x{height}.png')
            if not os.path.exists(image):
                ref.write_png(image, ref.test_image(width, height))
            norm = (sref.MEAN, sref.STD) if model in SIGLIP_MODELS else ()
            pixels = maps.pixels_from_png(image, config['vision_config']['patch_size'], *norm)
            want = maps.compute_maps(config, weights, pixels, caption, methods, kind,
                                     template or maps.DEFAULT_TEMPLATE, surgery, layers,
                                     tokenizer)
            json_path = os.path.join(tmp, f'maps-{n}.json')
            figure = os.path.join(tmp, f'figure-{n}.png')
            cmd = [cli, 'heatmap', '--model', path, '--image', image, '--text', caption,
                   '--json', json_path, '-o', figure, '--method', ','.join(methods),
                   '--query', kind] + options
            if surgery:
                cmd.append('--surgery')
            if template is not None:
                cmd += ['--template', template]
            if layers is not None:
                cmd += ['--legrad-layers', str(layers)]
            name = describe(run)
            out, error = run_cli(cmd)
            if error:
                tap.result(False, f'{name}: layout', [error])
                for method in methods:
                    tap.result(False, f'{name}: {method}', ['no output'])
                    worst[method] = math.inf
                continue
            passed, lines = check_layout(out, want, methods, kind, figure)
            tap.result(passed, f'{name}: layout', lines)
            for method in methods:
                passed, line, ratio = compare_method(out, want, method)
                lines = [line]
                if method == 'sparc' and want['sparc_margin'] < MARGIN_MIN:
                    passed = False
                    lines.append(f'reference SPARC threshold margin {want["sparc_margin"]:.3g} '
                                 f'< {MARGIN_MIN:g}: test data too close to a tie, change seed')
                tap.result(passed, f'{name}: {method}', lines)
                worst[method] = max(worst.get(method, 0.0), math.inf if ratio is None else ratio)

    print(f'# tolerances: forward methods {FORWARD_TOL:g} absolute; gradient methods '
          f'{GRAD_TOL:g} of max |reference map| (floor {GRAD_FLOOR:g})')
    print('# worst difference per method, in units of its tolerance:')
    for method in maps.METHODS:
        if method in worst:
            print(f'#   {method}: {worst[method]:.3g}')
    return tap.exit_status()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
