"""Train the hit embedding of the learned-space graph builder and export it to ONNX.

    python embedding.py --graphs DIR [DIR ...] --out ../gnntrack_embedding.onnx

DIR holds one .npz per bunch crossing and manifest.json, as written by `gnntrack export-graphs`
(its cone graph gives the hard negatives). An MLP maps the node features of each hit to a point
in a small space where the hits of one positron lie close together: a hinge loss pulls the two
hits of every true segment (consecutive hits of one positron: next layer, stave overlap, across
a layer without its hit) together and pushes hits of false pairs beyond a margin of 1. False
pairs are the false edges of the cone graph (hard negatives), random pairs of the same two
(layer, stave) groups and, after the first fifth of the steps, the false pairs the embedding
itself puts closest (mined from all hits of a group). The builder connects hits of neighbouring groups whose embeddings lie
within `gnntrack.embedding.radius` (at most `gnntrack.embedding.max_neighbours` nearest); the
radius is the smallest that keeps the target share of the true next-layer and overlap segments
on every intensity of the training crossings.
"""

import argparse
import json
import pathlib
import time

import numpy as np
import torch
from torch import nn

import export
from train import load_graphs

FEATURES = ["x", "y", "z", "layer", "stave", "u", "v"]
# Inputs whose differences along a track are what separates tracks: normalised by the spread of
# those differences, the others by their spread over the hits. The last two are computed inside
# the model from u and v (`cone_coordinates`).
FINE = ["u", "v", "log_u", "v_over_u"]
INPUTS = FEATURES + ["log_u", "v_over_u"]


class Embedding(nn.Module):
    """Fixed normalisation of the features and of two derived coordinates, then a linear map
    plus an MLP correction, to `dim` coordinates."""

    def __init__(self, n_in, dim, hidden, centre, gain):
        super().__init__()
        self.register_buffer("centre", torch.as_tensor(centre, dtype=torch.float32))
        self.register_buffer("gain", torch.as_tensor(gain, dtype=torch.float32))
        self.linear = nn.Linear(n_in, dim)
        self.mlp = nn.Sequential(
            nn.Linear(n_in, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, dim),
        )

    def forward(self, x):
        return self.head(self.inputs(x))

    def inputs(self, x):
        """The features normalised, plus the two track-invariant coordinates of the cone windows'
        shape, normalised alike (see `cone_coordinates`)."""
        return (torch.cat([x, cone_coordinates(x)], dim=1) - self.centre) * self.gain

    def head(self, h):
        return self.linear(h) + self.mlp(h)


# The cone windows grow with x like (X0 + x): their base over their growth, X0 = 0.000639 /
# 1.28e-5 mm, is about 50 mm, or U0 = 50 / 2000 / 0.3 in scaled u. Measured in units of the
# window, the x slope of a track is log(u + U0) and its y slope v / (u + U0); both stay nearly
# constant along a track, like u and v.
U0 = 50.0 / 2000.0 / 0.3


class Rotated(nn.Module):
    """An embedding turned onto its principal axes, in decreasing order of spread: distances are
    unchanged, and the builder's index over the leading coordinates becomes selective."""

    def __init__(self, embedding, rotation):
        super().__init__()
        self.embedding = embedding
        self.register_buffer("rotation", torch.as_tensor(rotation, dtype=torch.float32))

    def forward(self, x):
        return self.embedding(x) @ self.rotation


def principal_axes(model, crossings):
    with torch.no_grad():
        e = torch.cat([model(p["x"]) for p in crossings]).double()
    values, vectors = torch.linalg.eigh(torch.cov(e.T))
    return vectors[:, values.argsort(descending=True)].float()


def cone_coordinates(x):
    u = torch.clamp(x[:, FEATURES.index("u") : FEATURES.index("u") + 1], min=0.0) + U0
    v = x[:, FEATURES.index("v") : FEATURES.index("v") + 1]
    return torch.cat([torch.log(u), v / u], dim=1)


def raw(g, manifest, name):
    """The raw value of a node feature (the export stores (raw - offset) / scale)."""
    specs = manifest["node_features"]
    k = [f["name"] for f in specs].index(name)
    return g["node_features"][:, k].astype(np.float64) * specs[k]["scale"] + specs[k]["offset"]


def prepare(g, manifest):
    """Group of every hit, true segments (inner, outer, kind) and hard negatives of one crossing."""
    layer = np.rint(raw(g, manifest, "layer")).astype(np.int64)
    stave = np.rint(raw(g, manifest, "stave")).astype(np.int64)
    z = raw(g, manifest, "z")
    # Rank of each stave inside its layer by z (the staves' order along the beam).
    n_staves = int(stave.max()) + 1
    group = layer * n_staves + stave
    rank = np.zeros(len(z), dtype=np.int64)
    for l in np.unique(layer):
        staves = np.unique(stave[layer == l])
        mean_z = [z[(layer == l) & (stave == s)].mean() for s in staves]
        for r, s in enumerate(staves[np.argsort(mean_z)]):
            rank[(layer == l) & (stave == s)] = r
    rows = []
    for pid in (g["particle_id"], g["other_particle_id"]):
        keep = np.nonzero(pid > 0)[0]
        rows.append(np.stack([pid[keep], layer[keep], rank[keep], keep], axis=1))
    order = np.concatenate(rows)
    order = order[np.lexsort((order[:, 3], order[:, 2], order[:, 1], order[:, 0]))]
    a, b = order[:-1], order[1:]
    step = b[:, 1] - a[:, 1]
    ok = (a[:, 0] == b[:, 0]) & ((step > 0) | (b[:, 2] != a[:, 2])) & (step <= 2)
    segments = np.unique(np.stack([a[ok, 3], b[ok, 3], step[ok]], axis=1), axis=0)
    ei, labels = g["edge_index"], g["edge_labels"]
    hard = ei[:, labels == 0].T
    by_group = np.argsort(group, kind="stable")
    starts = np.searchsorted(group[by_group], np.arange(group.max() + 2))
    return {
        "by_group": by_group,
        "starts": starts,
        "true": set(zip(segments[:, 0].tolist(), segments[:, 1].tolist())),
        "x": torch.from_numpy(g["node_features"].astype(np.float32)),
        "group": group,
        "segments": segments,
        "hard": hard,
        "members": {k: np.nonzero(group == k)[0] for k in np.unique(group)},
        "name": g["name"],
    }


def batch(p, rng, n_pos, n_hard, n_random):
    """Index pairs and labels (1 true, 0 false) of one training step on crossing p."""
    seg = p["segments"][rng.integers(len(p["segments"]), size=n_pos)]
    hard = p["hard"][rng.integers(len(p["hard"]), size=n_hard)] if len(p["hard"]) else np.zeros((0, 2), int)
    # Random false pairs: the inner hit of a true segment and any hit of its outer hit's group.
    inner = p["segments"][rng.integers(len(p["segments"]), size=n_random)]
    g = p["group"][inner[:, 1]]
    lo, hi = p["starts"][g], p["starts"][g + 1]
    outer = p["by_group"][lo + (rng.random(len(g)) * (hi - lo)).astype(np.int64)]
    pairs = np.concatenate([seg[:, :2], hard, np.stack([inner[:, 0], outer], axis=1)])
    labels = np.concatenate([np.ones(len(seg)), np.zeros(len(hard)), np.zeros(len(outer))])
    # A random pair may be a true one.
    for k in range(len(seg) + len(hard), len(pairs)):
        if (int(pairs[k, 0]), int(pairs[k, 1])) in p["true"]:
            labels[k] = 1
    return torch.from_numpy(pairs), torch.from_numpy(labels.astype(np.float32))


def mined(model, p, rng, n_inner, reach):
    """False pairs the current embedding puts within `reach`: inner hits of true segments
    against every hit of their partner's group (hard negatives of the model itself)."""
    seg = p["segments"][rng.integers(len(p["segments"]), size=n_inner)]
    g = int(p["group"][seg[0, 1]])
    seg = seg[p["group"][seg[:, 1]] == g]
    members = p["members"][g]
    with torch.no_grad():
        d = torch.cdist(model(p["x"][seg[:, 0]]), model(p["x"][members]))
    rows, cols = torch.nonzero(d < reach, as_tuple=True)
    pairs = np.stack([seg[rows.numpy(), 0], members[cols.numpy()]], axis=1)
    keep = np.array([(int(a), int(b)) not in p["true"] for a, b in pairs], dtype=bool)
    return pairs[keep] if len(pairs) else np.zeros((0, 2), dtype=np.int64)


def hinge_loss(model, x, pairs, labels, margin):
    e = model(x[pairs.reshape(-1)]).reshape(len(pairs), 2, -1)
    d = (e[:, 0] - e[:, 1]).norm(dim=1)
    pos = labels * d.pow(2)
    neg = (1 - labels) * torch.relu(margin - d).pow(2)
    return (pos.sum() + neg.sum()) / len(labels)


def embed_all(model, p):
    with torch.no_grad():
        return model(p["x"]).numpy()


def scan(model, p, radii, k_max, n_inner, rng):
    """For each radius: true next/overlap segments kept, edges found (with the cap of k_max
    nearest) and true edges among them, on n_inner sampled inner hits of true segments, plus the
    expected edges of the whole crossing (every hit as an inner hit of every neighbouring group)."""
    e = torch.from_numpy(embed_all(model, p))
    seg = p["segments"][p["segments"][:, 2] <= 1]
    pick = seg[rng.choice(len(seg), size=min(n_inner, len(seg)), replace=False)]
    kept = np.zeros(len(radii))
    for group in np.unique(p["group"][pick[:, 1]]):
        rows = pick[p["group"][pick[:, 1]] == group]
        members = torch.from_numpy(p["members"][group])
        for c in range(0, len(rows), 256):
            chunk = rows[c:c + 256]
            d = torch.cdist(e[chunk[:, 0]], e[members])
            d_true = (e[chunk[:, 0]] - e[chunk[:, 1]]).norm(dim=1)
            closer = (d < d_true[:, None]).sum(dim=1)
            for r, radius in enumerate(radii):
                kept[r] += ((d_true <= radius) & (closer < k_max)).sum().item()
    return kept / len(pick)


def edge_counts(model, p, radius, k_max, rng, n_inner=3000):
    """Expected edges of the crossing and true edges among them at this radius: every hit of a
    group queries each group it connects to (the group pairs of the true segments)."""
    e = torch.from_numpy(embed_all(model, p))
    true = p["true"]
    pairs = {(p["group"][a], p["group"][b]) for a, b, s in p["segments"] if s <= 1}
    edges = true_edges = 0.0
    for gi, go in pairs:
        inner = p["members"][gi]
        sample = rng.choice(inner, size=min(n_inner, len(inner)), replace=False)
        outer = p["members"][go]
        for c in range(0, len(sample), 256):
            chunk = sample[c:c + 256]
            d = torch.cdist(e[chunk], e[outer])
            nearest = d.topk(min(k_max, len(outer)), dim=1, largest=False)
            for row, i in enumerate(chunk):
                found = [int(outer[j]) for j, dj in zip(nearest.indices[row], nearest.values[row]) if dj <= radius]
                edges += len(found) * len(inner) / len(sample)
                true_edges += sum((int(i), o) in true for o in found) * len(inner) / len(sample)
    return edges, true_edges


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graphs", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dim", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--margin", type=float, default=1.0)
    ap.add_argument("--max-neighbours", type=int, default=8)
    ap.add_argument("--efficiency", type=float, default=0.998, help="share of true segments the radius keeps on every folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--state", help="start from these weights (a .pt written here) and skip training")
    ap.add_argument("--name", default="gnntrack_embedding")
    ap.add_argument("--version", default="1.0.0")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)

    manifest, graphs = load_graphs(args.graphs)
    names = [f["name"] for f in manifest["node_features"]]
    if names != FEATURES:
        raise SystemExit(f"node features {names}: export them as {FEATURES}")
    start = time.time()
    crossings = [prepare(g, manifest) for g in graphs]
    print(f"{len(crossings)} crossings prepared in {time.time() - start:.1f} s")

    # Normalisation: fine features by the spread of their differences along true segments.
    full = [torch.cat([p["x"], cone_coordinates(p["x"])], dim=1) for p in crossings]
    x_all = torch.cat(full).numpy()
    centre = x_all.mean(axis=0)
    gain = 1.0 / x_all.std(axis=0).clip(1e-6)
    diffs = np.concatenate([(f[p["segments"][:, 1]] - f[p["segments"][:, 0]]).numpy() for f, p in zip(full, crossings)])
    for name in FINE:
        k = INPUTS.index(name)
        gain[k] = 1.0 / diffs[:, k].std()
    model = Embedding(len(INPUTS), args.dim, args.hidden, centre, gain)
    if args.state:
        model.load_state_dict(torch.load(args.state))
        args.steps = 0
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(args.steps, 1))
    history = []
    start = time.time()
    for step in range(args.steps):
        p = crossings[rng.integers(len(crossings))]
        pairs, labels = batch(p, rng, 2048, 4096, 2048)
        if step >= args.steps // 5:
            extra = mined(model, p, rng, 512, 1.5 * args.margin)[:4096]
            pairs = torch.cat([pairs, torch.from_numpy(extra)])
            labels = torch.cat([labels, torch.zeros(len(extra))])
        loss = hinge_loss(model, p["x"], pairs, labels, args.margin)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.item())
        if step % 250 == 0 or step == args.steps - 1:
            print(f"step {step:5d} loss {np.mean(history[-250:]):.5f} ({time.time() - start:.0f} s)")
    model.eval()
    state = model.state_dict()
    model = Rotated(model, principal_axes(model, crossings))

    # The radius: the smallest of a grid that keeps the target share on every folder.
    radii = np.round(np.arange(0.05, 2.0001, 0.01), 3)
    by_folder = {}
    for p in crossings:
        folder = p["name"].split("/")[0]
        by_folder.setdefault(folder, []).append(scan(model, p, radii, args.max_neighbours, 4000, rng))
    worst = np.min([np.mean(v, axis=0) for v in by_folder.values()], axis=0)
    ok = np.nonzero(worst >= args.efficiency)[0]
    if len(ok) == 0:
        raise SystemExit(f"no radius up to {radii[-1]} keeps {args.efficiency} of the segments (best {worst.max():.4f})")
    radius = float(radii[ok[0]])
    report = {"radius": radius, "max_neighbours": args.max_neighbours, "folders": {}}
    for folder, runs in by_folder.items():
        r = int(np.nonzero(radii == radius)[0][0])
        p = next(c for c in crossings if c["name"].startswith(folder + "/"))
        edges, true_edges = edge_counts(model, p, radius, args.max_neighbours, rng)
        report["folders"][folder] = {
            "efficiency": float(np.mean(runs, axis=0)[r]),
            "purity": true_edges / max(edges, 1),
            "edges_per_hit": edges / len(p["x"]),
        }
        print(f"{folder:<22} efficiency {100 * report['folders'][folder]['efficiency']:.3f} %, "
              f"purity ~{100 * report['folders'][folder]['purity']:.1f} %, "
              f"~{report['folders'][folder]['edges_per_hit']:.2f} edges per hit")
    print(f"radius {radius} (worst-folder efficiency {worst[ok[0]]:.4f}), at most {args.max_neighbours} neighbours")

    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    to_onnx(model, manifest, out, args, radius)
    report |= {
        "parameters": sum(p.numel() for p in model.parameters()),
        "dim": args.dim,
        "hidden": args.hidden,
        "steps": args.steps,
        "final_loss": float(np.mean(history[-250:])) if history else None,
        "training_seconds": time.time() - start,
        "graphs": [str(g) for g in args.graphs],
    }
    out.with_suffix(".train.json").write_text(json.dumps(report, indent=1) + "\n")
    torch.save(state, out.with_suffix(".pt"))


def to_onnx(model, manifest, path, args, radius):
    """A node-level generic graph model: node features in, `dim` embedding values per hit out."""
    x = torch.zeros(4, len(FEATURES))
    n = torch.export.Dim("n_nodes", min=2)
    torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, opset_version=18,
                      input_names=["node_features"], output_names=["embedding"],
                      dynamic_shapes=({0: n},))
    specs = manifest["node_features"]
    meta = {
        "contract": "1",
        "model_name": args.name,
        "model_version": args.version,
        "output_level": "node",
        "output": "values",
        "node_width": str(len(specs)),
        "output_width": str(args.dim),
        "node_features": ",".join(f["name"] for f in specs),
        "node_scales": ",".join(str(f["scale"]) for f in specs),
        "node_offsets": ",".join(str(f["offset"]) for f in specs),
        "embedding.radius": str(radius),
        "embedding.max_neighbours": str(args.max_neighbours),
    }
    export.finish(path, meta)


if __name__ == "__main__":
    main()
