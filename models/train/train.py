"""Train a gnntrack edge classifier on exported graphs and export it to ONNX.

    python train.py --graphs DIR --arch in --hidden 16 --iterations 3 --out ../gnntrack_in_small.onnx

DIR holds one .npz per bunch crossing and manifest.json, as written by `gnntrack export-graphs`.
Every epoch draws a new random subset of positrons per crossing (particle sampling) and trains
on the sub-graph of their hits plus the same share of the noise hits, so that large crossings fit
in memory and tracks stay whole.
"""

import argparse
import json
import math
import pathlib
import random
import time

import numpy as np
import torch
from tqdm import tqdm

import gnn
import export


def load_graphs(folders):
    """Graphs of one or more export folders; their features and graph settings must agree."""
    if isinstance(folders, (str, pathlib.Path)):
        folders = [folders]
    manifest, graphs = None, []
    for folder in map(pathlib.Path, folders):
        m = json.loads((folder / "manifest.json").read_text())
        if manifest is None:
            manifest = m
        for k in ("node_features", "edge_features", "graph"):
            if m[k] != manifest[k]:
                raise SystemExit(f"{folder}: `{k}` differs from the first folder's manifest")
        for f in sorted(folder.glob("*.npz")):
            z = np.load(f)
            graphs.append({k: z[k] for k in z.files} | {"name": f"{folder.name}/{f.stem}"})
    if not graphs:
        raise SystemExit(f"no .npz graphs in {folders}")
    return manifest, graphs


def key(g, *names):
    for n in names:
        if n in g:
            return g[n]
    raise KeyError(f"none of {names} in graph {g['name']}: has {sorted(g)}")


def as_tensors(g, keep_nodes=None):
    """Tensors of a graph, restricted to the nodes where keep_nodes is true."""
    x = key(g, "node_features").astype(np.float32)
    ei = key(g, "edge_index").astype(np.int64)
    ea = key(g, "edge_features").astype(np.float32)
    y = key(g, "edge_labels", "edge_label").astype(np.float32)
    if keep_nodes is not None:
        new_id = np.full(x.shape[0], -1, dtype=np.int64)
        new_id[keep_nodes] = np.arange(int(keep_nodes.sum()))
        keep_edges = keep_nodes[ei[0]] & keep_nodes[ei[1]]
        x = x[keep_nodes]
        ei = new_id[ei[:, keep_edges]]
        ea = ea[keep_edges]
        y = y[keep_edges]
    return (torch.from_numpy(x), torch.from_numpy(ei), torch.from_numpy(ea), torch.from_numpy(y))


def sample(g, max_edges, rng):
    """Particle sampling: a random share of the positrons (all of them when the graph is small
    enough) plus the same share of the noise hits."""
    n_edges = key(g, "edge_index").shape[1]
    share = min(1.0, max_edges / max(n_edges, 1))
    if share >= 1.0:
        return as_tensors(g)
    pid = key(g, "particle_id", "particle_ids")
    particles = np.unique(pid[pid != 0])
    chosen = particles[rng.random(particles.size) < share]
    keep = np.isin(pid, chosen) | ((pid == 0) & (rng.random(pid.size) < share))
    if "other_particle_id" in g:
        # A hit merged from two positrons stays when either of them is drawn.
        keep |= np.isin(g["other_particle_id"], chosen)
    return as_tensors(g, keep)


class Teacher:
    """A trained edge classifier (ONNX) whose scores the network learns beside the truth
    (knowledge distillation): the loss is (1 - weight) times the weighted cross-entropy against
    the labels plus weight times the cross-entropy against the teacher's probabilities, the
    teacher scoring the same sampled sub-graph as the network. That term is not weighted: the
    teacher was trained with the same positive weight, which its probabilities carry already."""

    def __init__(self, path, weight, manifest):
        import onnxruntime as ort
        if not 0.0 <= weight <= 1.0:
            raise SystemExit(f"--teacher-weight {weight}: expected a share between 0 and 1")
        options = ort.SessionOptions()
        # The bundled models sum messages with ScatterND, which loses updates on more than one
        # onnxruntime thread (onnxruntime issue 18048).
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.weight = weight
        # The teacher must read the columns of the exported graphs in their order.
        meta = self.session.get_modelmeta().custom_metadata_map
        for kind in ("node_features", "edge_features"):
            wanted = ",".join(f["name"] for f in manifest[kind])
            found = meta.get(f"gnntrack.{kind}", "")
            if found != wanted:
                raise SystemExit(f"--teacher {path}: gnntrack.{kind} is `{found}`, the graphs have `{wanted}`")

    def loss(self, logits, x, ei, ea, truth_loss):
        feeds = {"node_features": x.numpy(), "edge_index": ei.numpy(), "edge_features": ea.numpy()}
        teacher = torch.from_numpy(self.session.run(None, feeds)[0].astype(np.float32))
        soft = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.sigmoid(teacher))
        return (1 - self.weight) * truth_loss + self.weight * soft


def epoch_loss(model, graphs, max_edges, rng, optimiser=None, pos_weight=None, teacher=None):
    total, n = 0.0, 0
    for g in graphs:
        x, ei, ea, y = sample(g, max_edges, rng)
        if y.numel() == 0:
            continue
        logits = model(x, ei, ea)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
        if teacher is not None:
            loss = teacher.loss(logits, x, ei, ea, loss)
        if optimiser is not None:
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        total += loss.item() * y.numel()
        n += y.numel()
    return total / max(n, 1)


def edge_metrics(model, graphs, cut=0.5):
    tp = fp = fn = 0
    with torch.no_grad():
        for g in graphs:
            x, ei, ea, y = as_tensors(g)
            p = torch.sigmoid(model(x, ei, ea))
            tp += int(((p >= cut) & (y > 0.5)).sum())
            fp += int(((p >= cut) & (y < 0.5)).sum())
            fn += int(((p < cut) & (y > 0.5)).sum())
    return tp / max(tp + fn, 1), tp / max(tp + fp, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--graphs", required=True, nargs="+", help="folders of exported graphs")
    ap.add_argument("--arch", choices=["in", "gat"], default="in")
    ap.add_argument("--hidden", type=int, default=16)
    ap.add_argument("--iterations", type=int, default=3, help="message-passing iterations / attention layers")
    ap.add_argument("--message", type=int, default=0, help="message width before aggregation (in; 0: hidden)")
    ap.add_argument("--heads", type=int, default=4, help="attention heads (gat)")
    ap.add_argument("--no-sharing", action="store_true", help="separate weights per iteration (in)")
    ap.add_argument("--messages", choices=["node", "edge"], default="node",
                    help="in: messages projected from the sending hit's state (gathered per edge) or from the edge's new state")
    ap.add_argument("--activation", choices=["tanh", "relu", "hardtanh"], default="tanh",
                    help="activation of the dense layers (in): tanh, relu (fused into onnxruntime's dense layers) or hardtanh (exported as Clip)")
    ap.add_argument("--node-layers", type=int, default=2,
                    help="dense layers of the hits' update network (in)")
    ap.add_argument("--node-activation", choices=["tanh", "relu", "hardtanh"], default=None,
                    help="activation of the hits' networks (in; default: --activation), the edges' keep --activation")
    ap.add_argument("--inner-activation", choices=["tanh", "relu", "hardtanh"], default=None,
                    help="activation after the hidden layer of each network (in; default: the network's own), the last layer keeps it")
    ap.add_argument("--teacher", default=None,
                    help="ONNX edge classifier whose scores the network also learns (distillation)")
    ap.add_argument("--teacher-weight", type=float, default=0.5,
                    help="share of the teacher's term in the loss (with --teacher)")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--patience", type=int, default=5, help="early stopping on the validation loss")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--max-edges", type=int, default=150_000, help="edges per sampled sub-graph")
    ap.add_argument("--val-share", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--name", default=None, help="model name in the metadata")
    ap.add_argument("--version", default="1.0.0")
    ap.add_argument("--edge-cut", type=float, default=0.5,
                    help="recommended cut on the edge probability, in the metadata")
    ap.add_argument("--out", required=True, help="ONNX file to write")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    random.seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)

    manifest, graphs = load_graphs(args.graphs)
    order = rng.permutation(len(graphs))
    n_val = max(1, int(len(graphs) * args.val_share))
    val = [graphs[i] for i in order[:n_val]]
    train = [graphs[i] for i in order[n_val:]] or val
    n_node = key(graphs[0], "node_features").shape[1]
    n_edge = key(graphs[0], "edge_features").shape[1]
    if args.arch == "in":
        model = gnn.build("in", n_node, n_edge, hidden=args.hidden, iterations=args.iterations, shared=not args.no_sharing, message=args.message or None, activation=args.activation, messages=args.messages, node_activation=args.node_activation, node_layers=args.node_layers, inner_activation=args.inner_activation)
    else:
        model = gnn.build("gat", n_node, n_edge, hidden=args.hidden, heads=args.heads, layers=args.iterations)
    n_params = sum(p.numel() for p in model.parameters())
    pos = sum(float(key(g, "edge_labels", "edge_label").sum()) for g in train)
    tot = sum(key(g, "edge_labels", "edge_label").size for g in train)
    pos_weight = torch.tensor((tot - pos) / max(pos, 1.0))
    print(f"{len(train)} training / {len(val)} validation crossings, {n_params} parameters, "
          f"positive share {pos / tot:.3f}, pos_weight {pos_weight.item():.2f}")

    teacher = Teacher(args.teacher, args.teacher_weight, manifest) if args.teacher else None
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=args.epochs)
    history = []
    best = (math.inf, None, 0)
    start = time.time()
    bar = tqdm(range(args.epochs), desc="epochs")
    for epoch in bar:
        model.train()
        tl = epoch_loss(model, train, args.max_edges, rng, optimiser, pos_weight, teacher)
        model.eval()
        with torch.no_grad():
            vl = epoch_loss(model, val, args.max_edges, np.random.default_rng(0), None, pos_weight, teacher)
        schedule.step()
        history.append((tl, vl))
        bar.set_postfix(train=f"{tl:.4f}", val=f"{vl:.4f}")
        if vl < best[0]:
            best = (vl, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        elif epoch - best[2] >= args.patience:
            print(f"early stop at epoch {epoch}: best validation loss {best[0]:.4f} at epoch {best[2]}")
            break
    train_seconds = time.time() - start
    model.load_state_dict(best[1])
    model.eval()
    eff, pur = edge_metrics(model, val)
    print(f"validation edges at cut 0.5: efficiency {eff:.4f}, purity {pur:.4f}; trained {train_seconds:.0f} s")

    out = pathlib.Path(args.out)
    plot_loss(history, out.with_suffix(".loss.png"))
    name = args.name or out.stem
    export.to_onnx(model, graphs[0], manifest, out, name=name, version=args.version, edge_cut=args.edge_cut,
                   description=f"{args.arch} hidden={args.hidden} iterations={args.iterations} message={args.message or args.hidden} activation={args.activation} node_activation={args.node_activation or args.activation} inner_activation={args.inner_activation or 'same'} messages={args.messages} params={n_params}")
    info = {"name": name, "arch": args.arch, "hidden": args.hidden, "iterations": args.iterations,
            "activation": args.activation, "node_activation": args.node_activation or args.activation,
            "inner_activation": args.inner_activation, "messages": args.messages,
            "parameters": n_params, "epochs_run": len(history), "best_epoch": best[2],
            "train_seconds": round(train_seconds), "val_edge_efficiency": eff, "val_edge_purity": pur,
            "seed": args.seed, "graphs": len(graphs),
            "teacher": pathlib.Path(args.teacher).name if args.teacher else None,
            "teacher_weight": args.teacher_weight if args.teacher else None}
    out.with_suffix(".train.json").write_text(json.dumps(info, indent=2) + "\n")
    config = {"arch": args.arch, "n_node": n_node, "n_edge": n_edge, "hidden": args.hidden}
    if args.arch == "in":
        config |= {"iterations": args.iterations, "shared": not args.no_sharing, "message": args.message or None,
                   "activation": args.activation, "messages": args.messages,
                   "node_activation": args.node_activation or args.activation,
                   "node_layers": args.node_layers, "inner_activation": args.inner_activation}
    else:
        config |= {"heads": args.heads, "layers": args.iterations}
    torch.save({"config": config, "weights": model.state_dict()}, out.with_suffix(".pt"))
    print(json.dumps(info))


def plot_loss(history, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([h[0] for h in history], label="training")
    ax.plot([h[1] for h in history], label="validation")
    ax.set_xlabel("epoch")
    ax.set_ylabel("weighted BCE")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    main()
