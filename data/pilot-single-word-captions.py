#!/usr/bin/env python3
"""A pilot's variant of a shapes training set (README, "The bundled model"): every K-th caption
is replaced by one of its boxed colour words, the next K-th by a shape word, keeping only that
word's boxes; the images are shared through a symbolic link.

    data/pilot-single-word-captions.py SRC_DIR DST_DIR K        (the pilot used K = 4)
"""
import json, os, sys
colours = {"red","green","blue","yellow","purple","orange","pink","white"}
shapes = {"circle","square","triangle","star","cross","diamond"}
src, dst, frac_mod = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(dst, exist_ok=True)
if not os.path.exists(os.path.join(dst, "images")):
    os.symlink(os.path.abspath(os.path.join(src, "images")), os.path.join(dst, "images"))
out = []
for i, line in enumerate(open(os.path.join(src, "captions.jsonl"))):
    obj = json.loads(line)
    if i % frac_mod == 0:
        want = colours if (i // frac_mod) % 2 == 0 else shapes
        words = [b["word"] for b in obj.get("boxes", []) if b["word"] in want and b.get("occurrence", 0) == 0]
        if words:
            w = words[(i // (2 * frac_mod)) % len(words)]
            obj["caption"] = w
            obj["boxes"] = [b for b in obj["boxes"] if b["word"] == w and b.get("occurrence", 0) == 0]
    out.append(json.dumps(obj))
open(os.path.join(dst, "captions.jsonl"), "w").write("\n".join(out) + "\n")
