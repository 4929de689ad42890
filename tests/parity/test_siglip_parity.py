#!/usr/bin/python3
"""Parity test: `wordpatch-cli embed` on SigLIP folders against siglip_reference.py.

Usage: test_siglip_parity.py [WORDPATCH_CLI]   (default: $WORDPATCH_CLI). Output is TAP.

A SentencePiece vocabulary is trained here (unigram, and BPE for a second folder); random SigLIP
models written by the float64 reference load in the CLI. The token ids of 200 varied captions
must equal transformers' SiglipTokenizer's as the reference reproduces it with
python3-sentencepiece, on each vocabulary; for a few captions every element of the five
embeddings must be within TOLERANCE of the reference.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402
import siglip_reference as sref  # noqa: E402
from tap import Tap, find_cli  # noqa: E402
from test_embed_parity import (  # noqa: E402
    OUTPUTS, check_tokens, compare_outputs, print_worst, run_cli)

N_CAPTIONS = 200
EMBED_CAPTIONS = ['A photo of a CAT.', 'two red circles above a blue square', '', 'ΟΔΟΣ 猫 café',
                  'x' * 80]

# (description, preset, vocabulary model type, dtype, seed)
CASES = [
    ('micro F32 unigram', 'micro', 'unigram', 'F32', 21),
    ('tiny BF16 bpe', 'tiny', 'bpe', 'BF16', 22),
]


def tokens_point(cli, path, image, tokenizer, context, caps):
    """One TAP point: the CLI's ids for every caption equal the reference's."""
    lines, passed = [], True
    for caption in caps:
        out, error = run_cli(cli, path, image, caption)
        if error:
            return False, [f'{caption!r}: {error}']
        ids, error = check_tokens(out)
        want = tokenizer.encode(caption, context)
        if error or ids != want:
            passed = False
            lines.append(f'{caption!r}: ids {ids}, expected {want}')
    lines.append(f'{len(caps)} captions')
    return passed, lines


def embed_point(cli, path, image, config, weights, pixels, tokenizer, caption, worst):
    out, error = run_cli(cli, path, image, caption)
    if error:
        return False, [error]
    context = config['text_config']['max_position_embeddings']
    ids = tokenizer.encode(caption, context)
    want = sref.embed(config, weights, pixels, ids, tokenizer.pad_id)
    return compare_outputs(out, want, worst, [])


def main(argv):
    cli = find_cli(argv)
    if cli is None:
        return 1
    tap = Tap(1 + len(CASES) * (1 + len(EMBED_CAPTIONS)))
    tap.self_check(sref.self_check)

    caps = sref.captions(N_CAPTIONS)
    worst = {name: 0.0 for name in OUTPUTS}
    with tempfile.TemporaryDirectory(prefix='wordpatch-siglip-') as tmp:
        for n, (description, preset, kind, dtype, seed) in enumerate(CASES):
            path = os.path.join(tmp, f'model{n}')
            spiece = sref.train_spiece(vocab_size=320, seed=n, model_type=kind)
            config, weights, _ = sref.make_model(path, seed=seed, preset=preset, dtype=dtype,
                                                 spiece=spiece)
            tokenizer = sref.SiglipTokenizer(spiece)
            size = config['vision_config']['image_size']
            image = os.path.join(tmp, f'image{size}.png')
            ref.write_png(image, ref.test_image(size, size))
            pixels = sref.pixels_from_png(image, size)
            context = config['text_config']['max_position_embeddings']

            passed, lines = tokens_point(cli, path, image, tokenizer, context, caps)
            tap.result(passed, f'{description}: token ids of {len(caps)} captions', lines)
            for caption in EMBED_CAPTIONS:
                passed, lines = embed_point(cli, path, image, config, weights, pixels, tokenizer,
                                            caption, worst)
                tap.result(passed, f'{description}: embeddings of {caption[:30]!r}', lines)

    print_worst(worst)
    return tap.exit_status()


if __name__ == '__main__':
    sys.exit(main(sys.argv))
