"""Train and export the two example generic graph models on the toy showers of showers.py.

    python train_examples.py --out models/examples

shower_cluster.onnx  graph level: attention over each cluster's hits, attention pooling per
                     graph index; one logit per cluster (1 = hadron, 0 = electron).
shower_hits.onnx     node level: attention layers over the same graphs; one logit per hit
                     (1 = signal, 0 = noise).

Training clusters come from seeds 1..TRAIN_SEEDS, validation from seed 100, the sample file
(showers_sample.csv) and the reported accuracies from seeds 200 and 201 (held out). Sum
aggregation is gnn.scatter_sum (a flat scatter_add: ONNX ScatterElements with add).
"""

import argparse
import json
import pathlib
import sys
import time

import numpy as np
import onnxruntime as ort
import torch
from torch import nn

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "train"))
import export  # noqa: E402
from gnn import mlp, scatter_sum  # noqa: E402

import showers  # noqa: E402

TRAIN_SEEDS = 6
VALIDATION_SEED = 100
SAMPLE_SEED, TEST_SEED = 200, 201


class Attention(nn.Module):
    """One graph-attention layer: per-head weights of the incoming edges of each hit, normalised
    over them (exp and scatter sums, logits bounded by a tanh), then a residual update."""

    def __init__(self, hidden, heads):
        super().__init__()
        self.heads = heads
        self.score = nn.Linear(2 * hidden, heads)
        self.value = nn.Linear(hidden, hidden)
        self.update = mlp(2 * hidden, hidden, hidden)

    def forward(self, h, src, dst):
        n = h.shape[0]
        a = torch.exp(5.0 * torch.tanh(self.score(torch.cat([h[src], h[dst]], dim=1)) / 5.0))
        alpha = a / (scatter_sum(a, dst, n)[dst] + 1e-6)
        alpha = alpha.repeat_interleave(h.shape[1] // self.heads, dim=1)
        incoming = scatter_sum(alpha * self.value(h)[src], dst, n)
        return h + self.update(torch.cat([incoming, h], dim=1))


class HitTagger(nn.Module):
    """Node level: attention layers, then one logit per hit."""

    def __init__(self, n_in, hidden=16, heads=2, layers=2):
        super().__init__()
        self.node_in = mlp(n_in, hidden, hidden)
        self.layers = nn.ModuleList(Attention(hidden, heads) for _ in range(layers))
        self.out = mlp(hidden, hidden, 1, final_activation=False)

    def forward(self, x, edge_index):
        src, dst = edge_index[0], edge_index[1]
        h = self.node_in(x)
        for layer in self.layers:
            h = layer(h, src, dst)
        return self.out(h).squeeze(1)


class ClusterClassifier(nn.Module):
    """Graph level: attention layers over the hits, then per graph an attention-weighted mean
    and a plain mean of the hit states; one logit per graph."""

    def __init__(self, n_in, hidden=16, heads=2, layers=2):
        super().__init__()
        self.node_in = mlp(n_in, hidden, hidden)
        self.layers = nn.ModuleList(Attention(hidden, heads) for _ in range(layers))
        self.gate = nn.Linear(hidden, 1)
        self.out = mlp(2 * hidden, hidden, 1, final_activation=False)

    def forward(self, x, edge_index, graph_index):
        src, dst = edge_index[0], edge_index[1]
        h = self.node_in(x)
        for layer in self.layers:
            h = layer(h, src, dst)
        # The graphs: max(graph index) + 1, computed in the model (rows = nodes, then cut).
        n = x.shape[0]
        n_graphs = graph_index.max() + 1
        gate = torch.exp(5.0 * torch.tanh(self.gate(h) / 5.0))
        ones = torch.ones_like(gate)
        weighted = scatter_sum(gate * h, graph_index, n) / (scatter_sum(gate, graph_index, n) + 1e-6)
        mean = scatter_sum(h, graph_index, n) / (scatter_sum(ones, graph_index, n) + 1e-6)
        logits = self.out(torch.cat([weighted, mean], dim=1)).squeeze(1)
        return logits[:n_graphs]


def tensors(clusters):
    x, ei, gi, labels, signal = showers.batch(clusters)
    return (torch.from_numpy(x), torch.from_numpy(ei), torch.from_numpy(gi),
            torch.from_numpy(labels).float(), torch.from_numpy(signal).float())


def accuracy(logits, labels):
    return float(((logits > 0).float() == labels).float().mean())


def train(model, level, train_set, val, epochs, lr, batch_size, rng):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = nn.BCEWithLogitsLoss()
    vx, vei, vgi, vlab, vsig = tensors(val)
    start = time.time()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(train_set))
        for b in range(0, len(order), batch_size):
            x, ei, gi, lab, sig = tensors([train_set[i] for i in order[b:b + batch_size]])
            out = model(x, ei, gi) if level == "graph" else model(x, ei)
            loss = loss_fn(out, lab if level == "graph" else sig)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            out = model(vx, vei, vgi) if level == "graph" else model(vx, vei)
        acc = accuracy(out, vlab if level == "graph" else vsig)
        print(f"{level} epoch {epoch:3d} loss {loss.item():.4f} validation accuracy {acc:.4f} ({time.time() - start:.0f} s)")
    return time.time() - start


def to_onnx(model, level, clusters, path, name, version):
    x, ei, gi, _, _ = tensors(clusters)
    n = torch.export.Dim("n_nodes", min=2)
    e = torch.export.Dim("n_edges", min=2)
    model.eval()
    if level == "graph":
        args, names, shapes = (x, ei, gi), ["node_features", "edge_index", "graph_index"], ({0: n}, {1: e}, {0: n})
        output = "cluster_logits"
    else:
        args, names, shapes = (x, ei), ["node_features", "edge_index"], ({0: n}, {1: e})
        output = "hit_logits"
    torch.onnx.export(model, args, str(path), dynamo=True, external_data=False, opset_version=18,
                      input_names=names, output_names=[output], dynamic_shapes=shapes)
    meta = {
        "contract": "1",
        "model_name": name,
        "model_version": version,
        "output_level": level,
        "output": "logits",
        "node_width": str(len(showers.FEATURES)),
        "node_features": ",".join(showers.FEATURES),
        "node_scales": ",".join(f"{v:g}" for v in showers.SCALES),
        "node_offsets": ",".join(f"{v:g}" for v in showers.OFFSETS),
    }
    export.finish(path, meta)


def onnx_outputs(path, level, clusters, threads):
    """The exported model's logits on these clusters (all in one run)."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    x, ei, gi, _, _ = showers.batch(clusters)
    feeds = {"node_features": x, "edge_index": ei}
    if level == "graph":
        feeds["graph_index"] = gi
    return s.run(None, feeds)[0]


def read_sample(path):
    """Clusters of the sample file as the tests read them (features as written, to 6 digits)."""
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    out = []
    for g in np.unique(rows[:, 0]).astype(int):
        r = rows[rows[:, 0] == g]
        n = len(r)
        src = r[:, 7:7 + showers.K].astype(np.int64).reshape(-1)
        out.append({"x": r[:, 3:7].astype(np.float32), "label": int(r[0, 1]), "signal": r[:, 2].astype(np.int64),
                    "edges": np.stack([src, np.repeat(np.arange(n), showers.K)])})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--clusters", type=int, default=500, help="training clusters per seed")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--sample", type=int, default=30, help="clusters in the sample file")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    rng = np.random.default_rng(args.seed)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    train_set = [c for s in range(1, TRAIN_SEEDS + 1) for c in showers.simulate(s, args.clusters)]
    val = showers.simulate(VALIDATION_SEED, 400)
    test = showers.simulate(TEST_SEED, 1000)
    showers.write_sample(showers.simulate(SAMPLE_SEED, args.sample), out / "showers_sample.csv")
    sample = read_sample(out / "showers_sample.csv")

    report = {"train_clusters": len(train_set), "epochs": args.epochs}
    specs = [("graph", ClusterClassifier(len(showers.FEATURES)), "shower_cluster", 3e-3),
             ("node", HitTagger(len(showers.FEATURES)), "shower_hits", 3e-3)]
    for level, model, name, lr in specs:
        seconds = train(model, level, train_set, val, args.epochs, lr, 32, rng)
        path = out / f"{name}.onnx"
        to_onnx(model, level, val[:8], path, name, "1.0.0")
        with torch.no_grad():
            x, ei, gi, _, _ = tensors(test)
            torch_out = (model(x, ei, gi) if level == "graph" else model(x, ei)).numpy()
        parity = max(float(np.abs(onnx_outputs(path, level, test, t).reshape(-1) - torch_out).max()) for t in (1, 2))
        entry = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": path.stat().st_size,
                 "training_seconds": round(seconds, 1), "parity": parity}
        for what, clusters in (("test", test), ("sample", sample)):
            logits = onnx_outputs(path, level, clusters, 2).reshape(-1)
            _, _, _, labels, signal = showers.batch(clusters)
            truth = labels if level == "graph" else signal
            entry[f"{what}_accuracy"] = float(((logits > 0) == truth).mean())
            entry[f"{what}_rows"] = int(len(truth))
        report[name] = entry
        print(name, entry)
    (out / "train_report.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
