"""Train the edge filter of the graph stage and export it to ONNX.

    python train_filter.py --graphs DIR [DIR ...] --out ../gnntrack_filter.onnx

The filter is a small per-edge network on the features of an edge and of its inner hit (no
message passing). It is an edge-level generic graph model (models/README.md, "The edge filter
of the graph stage") whose metadata carries the probability cut `gnntrack.filter.cut`: the
highest cut that keeps `--keep` of the true edges of the validation crossings. The graph stage
drops the edges scored below it before the edge classifier sees the graph, so the edge
classifier is trained afterwards on graphs exported with the filter.
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
import train


class EdgeFilter(nn.Module):
    """An MLP on the features of an edge giving one logit per edge. It takes the node features
    and the edge index of the contract without using them: the hits' own features add little
    (the edge features already hold the slopes relative to the cone axis) and their row lookup
    would cost more than the network."""

    def __init__(self, n_edge, hidden=16, layers=1):
        super().__init__()
        mods, d = [], n_edge
        for _ in range(layers):
            mods += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        mods.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x, edge_index, edge_attr):
        return self.net(edge_attr).squeeze(1)


def rows(g):
    ea = train.key(g, "edge_features").astype(np.float32)
    y = train.key(g, "edge_labels", "edge_label").astype(np.float32)
    return ea, y


def cut_keeping(scores, labels, keep):
    """The highest probability cut that keeps at least `keep` of the true edges."""
    true = np.sort(scores[labels > 0.5])
    if len(true) == 0:
        return 0.5
    return float(true[int(np.floor((1.0 - keep) * len(true)))])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graphs", required=True, nargs="+", help="folders of exported graphs")
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--layers", type=int, default=1, help="hidden layers")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=8192)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--pos-weight", type=float, default=3.0, help="weight of the true edges in the loss")
    ap.add_argument("--keep", type=float, default=0.9999, help="share of true validation edges the cut keeps")
    ap.add_argument("--val-share", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--name", default="gnntrack_filter")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    manifest, graphs = train.load_graphs(args.graphs)
    random.Random(args.seed).shuffle(graphs)
    n_val = max(1, int(round(args.val_share * len(graphs))))
    val, fit = graphs[:n_val], graphs[n_val:]
    x, y = map(np.concatenate, zip(*(rows(g) for g in fit)))
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    n_node = graphs[0]["node_features"].shape[1]
    n_edge = graphs[0]["edge_features"].shape[1]
    model = EdgeFilter(n_edge, args.hidden, args.layers)
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, args.epochs)
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=torch.tensor(args.pos_weight))
    print(f"{len(fit)} training / {len(val)} validation crossings, {len(y)} training edges, "
          f"true share {y.mean().item():.3f}")
    start = time.time()
    for epoch in range(args.epochs):
        order = torch.randperm(len(y))
        total = 0.0
        model.train()
        for i in range(0, len(y), args.batch):
            b = order[i:i + args.batch]
            optimiser.zero_grad()
            loss = loss_fn(model.net(x[b]).squeeze(1), y[b])
            loss.backward()
            optimiser.step()
            total += loss.item() * len(b)
        schedule.step()
        print(f"epoch {epoch}: loss {total / len(y):.4f}", flush=True)
    model.eval()
    with torch.no_grad():
        vx, vy = map(np.concatenate, zip(*(rows(g) for g in val)))
        scores = torch.sigmoid(model.net(torch.from_numpy(vx)).squeeze(1)).numpy()
    cut = cut_keeping(scores, vy, args.keep)
    kept = scores >= cut
    report = {
        "name": args.name,
        "version": args.version,
        "hidden": args.hidden,
        "layers": args.layers,
        "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": args.epochs,
        "train_seconds": round(time.time() - start),
        "graphs": len(graphs),
        "cut": cut,
        "val_true_kept": float(kept[vy > 0.5].mean()),
        "val_edges_kept": float(kept.mean()),
        "val_purity_before": float(vy.mean()),
        "val_purity_after": float(vy[kept].mean()),
        "seed": args.seed,
    }
    print(json.dumps(report, indent=2))
    out = pathlib.Path(args.out)
    example = val[0]
    xt = torch.from_numpy(example["node_features"].astype(np.float32))
    ei = torch.from_numpy(example["edge_index"].astype(np.int64))
    ea = torch.from_numpy(example["edge_features"].astype(np.float32))
    torch.onnx.export(
        model, (xt, ei, ea), str(out), dynamo=True, external_data=False, opset_version=18,
        input_names=["node_features", "edge_index", "edge_features"], output_names=["edge_logits"],
        dynamic_shapes=({0: torch.export.Dim("n_nodes", min=2)}, {1: torch.export.Dim("n_edges", min=2)},
                        {0: torch.export.Dim("n_edges", min=2)}),
    )
    meta = export.metadata(manifest, args.name, args.version, "")
    for k in ("edge_cut", "graph"):
        del meta[k]
    meta |= {
        "output_level": "edge",
        "node_width": str(n_node),
        "edge_width": str(n_edge),
        "filter.cut": repr(cut),
    }
    export.finish(out, meta)
    out.with_suffix(".train.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
