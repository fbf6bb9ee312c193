"""Parity of an exported model: onnxruntime (default threads, or as many as the model's
`gnntrack.max_intra_threads` allows) against PyTorch.

    python parity.py --model MODEL.onnx --state MODEL.pt --graphs DIR [DIR ...] [--min-edges 500000]

Builds one large graph as the disjoint union of exported crossings until it has at least
--min-edges edges, runs both and prints the largest absolute difference of the logits.
"""

import argparse
import json
import sys

import numpy as np
import onnxruntime as ort
import torch

import gnn
import train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--state", required=True, help="PyTorch state dict saved by train.py (.pt)")
    ap.add_argument("--graphs", required=True, nargs="+")
    ap.add_argument("--min-edges", type=int, default=500_000)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    state = torch.load(args.state)
    cfg = state["config"]
    model = gnn.build(cfg.pop("arch"), **cfg)
    model.load_state_dict(state["weights"])
    model.eval()
    _, graphs = train.load_graphs(args.graphs)
    xs, eis, eas, offset = [], [], [], 0
    for g in sorted(graphs, key=lambda g: -g["edge_index"].shape[1]):
        xs.append(g["node_features"].astype(np.float32))
        eis.append(g["edge_index"].astype(np.int64) + offset)
        eas.append(g["edge_features"].astype(np.float32))
        offset += xs[-1].shape[0]
        if sum(e.shape[1] for e in eis) >= args.min_edges:
            break
    x, ei, ea = np.concatenate(xs), np.concatenate(eis, axis=1), np.concatenate(eas)
    with torch.no_grad():
        ref = model(torch.from_numpy(x), torch.from_numpy(ei), torch.from_numpy(ea)).numpy()
    sess = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    max_threads = sess.get_modelmeta().custom_metadata_map.get("gnntrack.max_intra_threads")
    if max_threads is not None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(max_threads)
        sess = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    out = sess.run(None, dict(zip(names, [x, ei, ea])))[0].reshape(-1)
    diff = float(np.abs(out - ref).max())
    result = {"nodes": int(x.shape[0]), "edges": int(ei.shape[1]), "max_abs_diff": diff,
              "threads": max_threads or "onnxruntime default", "ok": diff <= args.tolerance}
    print(json.dumps(result))
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
