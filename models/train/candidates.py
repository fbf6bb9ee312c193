"""Train the candidate classifier: a graph-level graph-attention network over each track
candidate's hits, and export it to ONNX as a generic graph-level model.

    python candidates.py --train DIR [DIR ...] --tune DIR --out gnntrack_candidates.onnx

Each DIR is written by `gnntrack export-candidates` (one .npz per crossing, manifest.json). The
label is 1 for a genuine candidate (it matches a positron under the double-majority rule with
one particle per hit) and 0 for a fake; the model outputs the logit of "genuine", so the
sigmoid of its output is the candidate's quality and candidates below the cut are dropped.

The cut recommended in the model's metadata is chosen on the --tune crossings: the cut with the
lowest fake rate among those that lose at most --max-efficiency-loss of the efficiency (and
at most as much efficiency as they take off the fake rate), computed exactly as `gnntrack eval`
counts (a positron is found when a kept candidate matches it).
"""

import argparse
import json
import pathlib
import random
import time

import numpy as np
import torch
from torch import nn

import export
from gnn import mlp, scatter_sum


class CandidateGAT(nn.Module):
    """Graph attention over the hits of each candidate, then attention pooling per candidate.

    Inputs: node features [N, F], edge index [2, E] (consecutive hits of a candidate, both
    ways), graph index [N] (candidate of each hit). Output: one logit per candidate [G],
    G = max(graph index) + 1.
    """

    def __init__(self, n_feat, hidden=24, heads=2, layers=2):
        super().__init__()
        assert hidden % heads == 0
        self.heads, self.layers = heads, layers
        self.node_in = mlp(n_feat, hidden, hidden)
        self.edge_in = mlp(n_feat, hidden, hidden)
        self.attn = nn.ModuleList(nn.Linear(3 * hidden, heads) for _ in range(layers))
        self.value = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.update = nn.ModuleList(mlp(2 * hidden, hidden, hidden) for _ in range(layers))
        self.pool = nn.Linear(hidden, heads)
        self.out = mlp(2 * hidden, hidden, 1, final_activation=False)

    def _softmax_sum(self, logits, values, index, n):
        """Per-head softmax of logits [R, heads] over the rows of each index, then the weighted
        sum of values [R, hidden] per index ([n, hidden]). Logits are bounded by a tanh so that
        exp never overflows."""
        a = torch.exp(5.0 * torch.tanh(logits / 5.0))
        denom = scatter_sum(a, index, n)[index] + 1e-6
        alpha = (a / denom).repeat_interleave(values.shape[1] // self.heads, dim=1)
        return scatter_sum(alpha * values, index, n)

    def forward(self, x, edge_index, graph_index):
        src, dst = edge_index[0], edge_index[1]
        n = x.shape[0]
        n_graphs = (graph_index.max() + 1).item()
        torch._check(n_graphs >= 0)
        torch._check(n_graphs <= n)
        h = self.node_in(x)
        e = self.edge_in(x[dst] - x[src])
        for k in range(self.layers):
            logits = self.attn[k](torch.cat([h[src], h[dst], e], dim=1))
            incoming = self._softmax_sum(logits, self.value[k](h[src]), dst, n)
            h = h + self.update[k](torch.cat([incoming, h], dim=1))
        pooled = self._softmax_sum(self.pool(h), h, graph_index, n_graphs)
        ones = torch.ones(n, 1, dtype=x.dtype)
        mean = scatter_sum(h, graph_index, n_graphs) / scatter_sum(ones, graph_index, n_graphs)
        return self.out(torch.cat([pooled, mean], dim=1)).squeeze(1)


def consecutive_edges(sizes, starts):
    """Edges of consecutive hits of each candidate, both ways (as the tracker builds them)."""
    src, dst = [], []
    for k in np.unique(sizes):
        if k < 2:
            continue
        s = starts[sizes == k][:, None]
        a = (s + np.arange(k - 1)[None, :]).reshape(-1)
        src += [a, a + 1]
        dst += [a + 1, a]
    if not src:
        return np.zeros((2, 0), dtype=np.int64)
    return np.stack([np.concatenate(src), np.concatenate(dst)]).astype(np.int64)


def load(folders):
    manifest, crossings = None, []
    for folder in map(pathlib.Path, folders):
        m = json.loads((folder / "manifest.json").read_text())
        if manifest is None:
            manifest = m
        if m["node_features"] != manifest["node_features"]:
            raise SystemExit(f"{folder}: features differ from the first folder's")
        for f in sorted(folder.glob("*.npz")):
            z = np.load(f)
            gi = z["graph_index"]
            sizes = np.bincount(gi, minlength=len(z["label"]))
            crossings.append(
                {
                    "name": f"{folder.name}/{f.stem}",
                    "x": z["node_features"].astype(np.float32),
                    "sizes": sizes,
                    "starts": np.concatenate([[0], np.cumsum(sizes)[:-1]]),
                    "label": z["label"].astype(np.float32),
                    "owner": z["owner"],
                    "reconstructable": z["reconstructable"],
                }
            )
    if not crossings:
        raise SystemExit(f"no .npz files in {folders}")
    return manifest, crossings


def batch(c, pick=None):
    """Tensors of the candidates `pick` (all when None) of crossing c."""
    pick = np.arange(len(c["label"])) if pick is None else np.sort(pick)
    sizes, starts = c["sizes"][pick], c["starts"][pick]
    rows = np.concatenate([s + np.arange(k) for s, k in zip(starts, sizes)])
    new_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gi = np.repeat(np.arange(len(pick)), sizes)
    return (
        torch.from_numpy(c["x"][rows]),
        torch.from_numpy(consecutive_edges(sizes, new_starts)),
        torch.from_numpy(gi.astype(np.int64)),
        torch.from_numpy(c["label"][pick]),
    )


def quality(model, c):
    with torch.no_grad():
        return torch.sigmoid(model(*batch(c)[:3])).numpy()


def effect(crossings, qualities, cut):
    """Efficiency and fake rate (sums over crossings) when candidates below `cut` are dropped."""
    found = recon = kept = fakes = 0
    for c, q in zip(crossings, qualities):
        keep = q >= cut
        owners = c["owner"][keep]
        matched = set(owners[owners > 0].tolist())
        r = set(c["reconstructable"].tolist())
        found += len(matched & r)
        recon += len(r)
        kept += int(keep.sum())
        fakes += int((c["label"][keep] == 0).sum())
    return found / max(recon, 1), fakes / max(kept, 1)


def choose_cut(crossings, qualities, max_loss):
    base_eff, base_fake = effect(crossings, qualities, 0.0)
    scan = []
    for cut in [0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]:
        eff, fake = effect(crossings, qualities, cut)
        scan.append({"cut": cut, "efficiency": eff, "fake_rate": fake})
    ok = [
        s
        for s in scan
        if base_eff - s["efficiency"] <= max_loss
        and base_eff - s["efficiency"] <= base_fake - s["fake_rate"]
    ]
    best = min(ok, key=lambda s: (s["fake_rate"], -s["efficiency"]))
    return best["cut"], scan


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--tune", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--hidden", type=int, default=24)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=4096, help="candidates per step")
    ap.add_argument("--max-fake-weight", type=float, default=10.0)
    ap.add_argument("--max-efficiency-loss", type=float, default=0.001)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--version", default="1.0.0")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)

    manifest, train = load(args.train)
    _, tune = load(args.tune)
    names = [f["name"] for f in manifest["node_features"]]
    n_gen = sum(float(c["label"].sum()) for c in train)
    n_all = sum(len(c["label"]) for c in train)
    fake_weight = min(n_gen / max(n_all - n_gen, 1), args.max_fake_weight)
    print(f"{len(train)} training crossings: {n_all} candidates, {n_all - n_gen:.0f} fakes; fake weight {fake_weight:.1f}")

    model = CandidateGAT(len(names), args.hidden, args.heads, args.layers)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
    start = time.time()
    for step in range(args.steps):
        c = random.choice(train)
        n = len(c["label"])
        pick = np.random.choice(n, min(args.batch, n), replace=False)
        x, ei, gi, y = batch(c, pick)
        logits = model(x, ei, gi)
        w = torch.where(y > 0.5, 1.0, fake_weight)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, y, weight=w)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            print(f"step {step}: loss {loss.item():.4f} ({time.time() - start:.0f} s)", flush=True)
    model.eval()

    qualities = [quality(model, c) for c in tune]
    cut, scan = choose_cut(tune, qualities, args.max_efficiency_loss)
    for s in scan:
        print(f"cut {s['cut']:.2f}: efficiency {100 * s['efficiency']:.3f} %, fake rate {100 * s['fake_rate']:.3f} %")
    print(f"recommended cut {cut}")

    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    x, ei, gi, _ = batch(train[0], np.arange(8))
    n_dim = torch.export.Dim("n_nodes", min=2)
    e_dim = torch.export.Dim("n_edges", min=2)
    torch.onnx.export(
        model,
        (x, ei, gi),
        str(out),
        dynamo=True,
        external_data=False,
        opset_version=18,
        input_names=["node_features", "edge_index", "graph_index"],
        output_names=["candidate_logits"],
        dynamic_shapes=({0: n_dim}, {1: e_dim}, {0: n_dim}),
    )
    feats = manifest["node_features"]
    meta = {
        "contract": "1",
        "model_name": "gnntrack_candidates",
        "model_version": args.version,
        "output_level": "graph",
        "output": "logits",
        "node_width": str(len(names)),
        "node_features": ",".join(names),
        "node_scales": ",".join(str(f["scale"]) for f in feats),
        "node_offsets": ",".join(str(f["offset"]) for f in feats),
        "candidate_cut": str(cut),
    }
    export.finish(out, meta)
    report = {
        "train": args.train,
        "tune": args.tune,
        "candidates": n_all,
        "fakes": n_all - n_gen,
        "fake_weight": fake_weight,
        "parameters": sum(p.numel() for p in model.parameters()),
        "args": vars(args),
        "train_seconds": time.time() - start,
        "cut": cut,
        "scan": scan,
    }
    out.with_suffix(".train.json").write_text(json.dumps(report, indent=2))
    print(f"{out}: {report['parameters']} parameters")


if __name__ == "__main__":
    main()
