"""The objectives in float64 torch, written from docs/algorithms.md ("CLIP", "FILIP", "SPARC",
"Box-supervised word maps"): the independent reference test_loss_parity.py compares
wordpatch-cli's losses and gradients with."""
import math

import torch
import torch.nn.functional as F


def unit(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def ce_diag(logits):
    """Mean over rows of cross-entropy with target = row index (log-sum-exp, max subtracted)."""
    target = torch.arange(logits.shape[0])
    return F.cross_entropy(logits, target)


def clip_loss(v_glob, t_glob, lam):
    """v_glob, t_glob: [B, E] un-normalised global embeddings."""
    g = lam * unit(v_glob) @ unit(t_glob).T
    return 0.5 * (ce_diag(g) + ce_diag(g.T))


def filip_sims(patches, tokens):
    """sI [B,B] (image i, text j) and sT [B,B] (same indexing) from lists of un-normalised
    patches [P, E] and valid tokens [L_j, E]. torch.max(dim) routes the gradient to the first
    maximal index, as the definition requires."""
    b = len(patches)
    si = [[None] * b for _ in range(b)]
    st = [[None] * b for _ in range(b)]
    for i in range(b):
        v = unit(patches[i])
        for j in range(b):
            s = v @ unit(tokens[j]).T  # [P, L_j], valid tokens only
            si[i][j] = s.max(dim=1).values.mean()
            st[i][j] = s.max(dim=0).values.mean()
    return torch.stack([torch.stack(r) for r in si]), torch.stack([torch.stack(r) for r in st])


def filip_loss(patches, tokens, lam):
    si, st = filip_sims(patches, tokens)
    a = lam * si        # rows = images, softmax over texts
    c = lam * st.T      # C_{ji} = lam sT_{ij}: rows = texts, softmax over images
    return 0.5 * (ce_diag(a) + ce_diag(c))


def sparc_weights(t, v, threshold=None):
    """Alignment weights a [L, P] from un-normalised tokens t [L, E] and patches v [P, E]; the
    sparsity threshold is the paper's 1/P unless given."""
    s = t @ v.T
    p = v.shape[0]
    mn = s.min(dim=1, keepdim=True).values   # gradient to the arg-index (first on ties)
    mx = s.max(dim=1, keepdim=True).values
    rng = mx - mn
    flat = (rng < 1e-8).squeeze(1)
    shat = (s - mn) / torch.where(flat[:, None], torch.ones_like(rng), rng)
    keep = (shat >= (1.0 / p if threshold is None else threshold)).detach()
    stil = shat * keep
    a = stil / stil.sum(dim=1, keepdim=True)
    uniform = torch.full_like(a, 1.0 / p)
    return torch.where(flat[:, None], uniform, a)


def centre(patches, positions, images):
    """The patches less the mean over the batch's images of each position's patch (positions),
    then less each image's mean patch (images)."""
    v = torch.stack(list(patches))
    if positions:
        v = v - v.mean(dim=0, keepdim=True)
    if images:
        v = v - v.mean(dim=1, keepdim=True)
    return list(v.unbind(0))


def sparc_fine(patches, tokens, lam, batch_negatives=False, stop_selection=False,
               centre_positions=False, image_negatives=False, centre_images=False,
               token_ids=None, threshold=None, pair_negatives=False, patch_side=None):
    """L_f: per pair L x L logits on the valid block, CE summed over all valid tokens of the
    batch and divided by their number, in both directions, times 1/2. With batch negatives the
    logits span every valid token of the batch (N x N) instead; with the selection stopped the
    alignment weights are constants to the gradient; centred, the patches lose their position's
    batch mean, or their image's mean patch, or both, first. With image negatives each valid
    token is grouped over every image, one CE over the images (its own the target) per token,
    averaged over the tokens; given token_ids (each caption's valid ids), another image whose
    caption holds the token's id is left out of its negatives. threshold replaces the paper's
    1/P in the alignment weights. With pair negatives each caption is grouped over every image,
    the pair's score is the mean of its tokens' cosines with their groupings, and the loss is
    CLIP's on those scores; with a patch side (a share of the patches) the images' cross-entropy
    reads FILIP's s^I over each image's ceil(share P) patches most similar to any valid token of
    the batch (raw dot products) instead."""
    def weights(t, v):
        if stop_selection:
            t, v = t.detach(), v.detach()
        return sparc_weights(t, v, threshold)

    patches = centre(patches, centre_positions, centre_images)
    if pair_negatives:
        z = torch.stack([torch.stack([lam * (unit(weights(t, v) @ v) * unit(t)).sum(dim=1).mean()
                                      for v in patches]) for t in tokens])  # [captions, images]
        if patch_side is None:
            return 0.5 * (ce_diag(z) + ce_diag(z.T))
        every = torch.cat(list(tokens)).detach()
        n_kept = max(1, min(len(patches[0]), math.ceil(patch_side * len(patches[0]) - 1e-9)))
        zi = []  # [images, captions]
        for v in patches:
            score = (v.detach() @ every.T).max(dim=1).values
            kept = v[torch.sort(-score, stable=True).indices[:n_kept]]
            zi.append(torch.stack([lam * (unit(kept) @ unit(t).T).max(dim=1).values.mean()
                                   for t in tokens]))
        return 0.5 * (ce_diag(z) + ce_diag(torch.stack(zi)))
    if image_negatives:
        total, n = 0.0, 0
        for i, t in enumerate(tokens):
            z = torch.stack([lam * (unit(weights(t, v) @ v) * unit(t)).sum(dim=1)
                             for v in patches], dim=1)  # [L_i, B]
            if token_ids is not None:
                shared = torch.tensor([[j != i and tok in token_ids[j] for j in range(len(patches))]
                                       for tok in token_ids[i]])
                z = z.masked_fill(shared, float('-inf'))
            target = torch.full((t.shape[0],), i, dtype=torch.long)
            total = total + F.cross_entropy(z, target, reduction='sum')
            n += t.shape[0]
        return total / n
    if batch_negatives:
        c = torch.cat([weights(t, v) @ v for v, t in zip(patches, tokens)])
        t = torch.cat(list(tokens))
        z = lam * unit(c) @ unit(t).T
        return 0.5 * (ce_diag(z) + ce_diag(z.T))
    total_v2l, total_l2v, n = 0.0, 0.0, 0
    for v, t in zip(patches, tokens):
        a = weights(t, v)
        c = a @ v
        z = lam * unit(c) @ unit(t).T
        target = torch.arange(t.shape[0])
        total_v2l = total_v2l + F.cross_entropy(z, target, reduction='sum')
        total_l2v = total_l2v + F.cross_entropy(z.T, target, reduction='sum')
        n += t.shape[0]
    return 0.5 * (total_v2l / n + total_l2v / n)


def box_loss(patches, tokens, words, tau):
    """L_box: words is a list of (pair, token indices, inside [P] bool); each word's map is the
    mean over its tokens of the cosines with the patches, L_w the cross-entropy of the softmax of
    map / tau against the uniform distribution on its inside patches; the mean over the words."""
    losses = []
    for b, toks, inside in words:
        m = (unit(patches[b]) @ unit(tokens[b][toks]).T).mean(dim=1)
        q = inside.to(torch.float64) / inside.sum()
        losses.append(-(q * F.log_softmax(m / tau, dim=0)).sum())
    return torch.stack(losses).mean() if losses else torch.zeros((), dtype=torch.float64)


def decision_margin(patches, tokens, objective, threshold=None):
    """Smallest distance of any discrete decision (argmax, argmin, the sparsity threshold, 1/P
    unless given) from a tie, so a float32 implementation cannot legitimately take a different
    branch."""
    m = float('inf')
    with torch.no_grad():
        if objective == 'filip':
            for v in patches:
                for t in tokens:
                    s = unit(v) @ unit(t).T
                    for dim in (0, 1):
                        if s.shape[dim] > 1:
                            top = s.topk(2, dim=dim).values
                            m = min(m, (top.select(dim, 0) - top.select(dim, 1)).min().item())
        elif objective.startswith('sparc'):
            patches = centre(patches, objective in ('sparc-centre', 'sparc-images-centred'),
                             objective == 'sparc-images-centred')
            cross = objective.startswith(('sparc-images', 'sparc-pairs')) or \
                objective == 'sparc-unshared'
            pairs = [(v, t) for v in patches for t in tokens] if cross else zip(patches, tokens)
            for v, t in pairs:
                s = t @ v.T
                top = s.topk(2, dim=1).values
                bot = (-s).topk(2, dim=1).values
                rng = top[:, 0] - (-bot[:, 0])
                m = min(m, (top[:, 0] - top[:, 1]).min().item() / rng.max().item(),
                        (bot[:, 0] - bot[:, 1]).min().item() / rng.max().item())
                shat = (s + bot[:, :1]) / rng[:, None]
                # A threshold of 1 keeps the maximum alone: the decision is the arg-max's.
                if threshold is None or threshold < 1.0:
                    sigma = 1.0 / v.shape[0] if threshold is None else threshold
                    m = min(m, (shat - sigma).abs().min().item())
            if objective == 'sparc-pairs-patches':
                # The patch side ranks each image's patches and picks each one's best token.
                every = torch.cat(list(tokens))
                for v in patches:
                    top = (v @ every.T).max(dim=1).values.sort(descending=True).values
                    m = min(m, (top[:-1] - top[1:]).min().item())
                    for t in tokens:
                        if t.shape[0] > 1:
                            best = (unit(v) @ unit(t).T).topk(2, dim=1).values
                            m = min(m, (best[:, 0] - best[:, 1]).min().item())
    return m
