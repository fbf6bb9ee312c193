"""Floating-point work of an edge-classifier model per node and per edge, from its ONNX graph.

    python count_flops.py MODEL.onnx [MODEL.onnx ...] [--write] [--check]

For each model the graph is run with onnxruntime at two sizes (nodes N, edges E; random
features, valid random edges) with every intermediate tensor made an output, which gives the
exact shape of every tensor (onnx shape inference alone cannot follow the shapes these graphs
compute at run time, e.g. the zeros of a scatter sized from the node count); each operator's
work is then counted from its shapes:

- Gemm and MatMul: 2 * rows * K * M (one multiply and one add per term), plus rows * M for a
  Gemm bias;
- element-wise arithmetic (Add, Sub, Mul, Div, Neg, Abs, Max, Min, Pow, Sqrt, Reciprocal),
  activations (Tanh, Sigmoid, Relu, LeakyRelu, Exp, Log, Erf, Softplus): one per output
  element (a transcendental counts as one, as the usual convention);
- ScatterElements / ScatterND with an add, mul, max or min reduction: one per update element;
- reductions (ReduceSum, ReduceMean, ReduceMax, ...): one per input element;
- data movement (Gather, GatherND, GatherElements, Scatter* without reduction, Concat, Expand,
  Slice, Split, Tile, Transpose, Where): no FLOPs, but the bytes read and written are counted
  as "bytes moved";
- shape-only operators (Shape, Reshape, Squeeze, Unsqueeze, Flatten, Identity, Cast of
  integers, Constant): nothing;
- operators the model defines as functions (the `gnntrack` domain of optimize_onnx.py): the
  work of their bodies, inlined before counting.

Only operators with a floating-point result count as FLOPs (the integer index arithmetic
of the scatters does not). The work of these models is linear in the graph size,
flops = a * N + b * E + c (c: work on scalars and shapes, a few operations), so three sizes give
a, b and c exactly; a fourth checks the linearity. An operator this script does
not know stops it with its name rather than being silently left out.

Printed as JSON on stdout; with --write, also written beside each model as
`<model>.flops.json`, which `gnntrack bench pipeline` reads when the model's fingerprint (FNV-1a
64 of the file bytes) still matches. --check only compares those files with a fresh count and
fails when one is missing or stale.
"""

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.inliner
import onnxruntime as ort
from onnx import helper, numpy_helper

# (nodes, edges) of the three sizes that fix a, b and c, and of the one that checks them.
SIZES = [(1000, 3000), (5000, 11000), (3000, 3000)]
CHECK = (2345, 7777)

MATRIX = {"Gemm", "MatMul"}
ELEMENTWISE = {
    "Add", "Sub", "Mul", "Div", "Neg", "Abs", "Max", "Min", "Pow", "Sqrt", "Reciprocal",
    "Tanh", "Sigmoid", "Relu", "LeakyRelu", "Elu", "Exp", "Log", "Erf", "Softplus", "Clip",
}
REDUCTIONS = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd"}
MOVEMENT = {
    "Gather", "GatherND", "GatherElements", "Concat", "Expand", "Slice", "Split", "Tile",
    "Transpose", "Where",
}
SCATTER = {"ScatterElements", "ScatterND"}
SHAPE_ONLY = {
    "Shape", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Constant", "Cast",
    "ConstantOfShape", "Range",
}


def fnv1a64(data: bytes) -> int:
    """FNV-1a, 64 bits: the model fingerprint, computed the same way by the Rust bench."""
    h = 0xCBF29CE484222325
    for byte in data:
        h ^= byte
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def shapes_at(model: onnx.ModelProto, n_nodes: int, n_edges: int, seed: int = 0):
    """Name -> (shape, element size in bytes) of every tensor of one run at this size."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    known = {o.name for o in m.graph.output}
    for node in m.graph.node:
        for name in node.output:
            if name and name not in known:
                m.graph.output.append(onnx.ValueInfoProto(name=name))
                known.add(name)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    feeds = {}
    for value in session.get_inputs():
        if value.type == "tensor(int64)":
            src = rng.integers(0, n_nodes, n_edges)
            dst = rng.integers(0, n_nodes, n_edges)
            feeds[value.name] = np.stack([src, dst]).astype(np.int64)
        else:
            # The node-feature input's rows are nodes, any other float input's rows are edges
            # (the contract: the one float input, or two with nodes first unless named).
            rows = n_nodes if not any(v.dtype == np.float32 for v in feeds.values()) else n_edges
            feeds[value.name] = rng.standard_normal((rows, value.shape[1])).astype(np.float32)
    names = [o.name for o in session.get_outputs()]
    out = {
        name: (list(v.shape), v.itemsize, v.dtype.kind == "f")
        for name, v in zip(names, session.run(names, feeds))
    }
    for name, v in feeds.items():
        out[name] = (list(v.shape), v.itemsize, v.dtype.kind == "f")
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        out[init.name] = (list(array.shape), array.itemsize, array.dtype.kind == "f")
    return out


def elements(shape) -> int:
    return math.prod(shape)


def count(model: onnx.ModelProto, n_nodes: int, n_edges: int):
    """(flops, bytes moved, flops by operator type) of one run at this size."""
    shapes = shapes_at(model, n_nodes, n_edges)
    flops, moved, by_op = 0, 0, {}

    def shape(name):
        if name not in shapes:
            raise SystemExit(f"no shape for tensor {name!r}")
        return shapes[name][:2]

    def is_float(name):
        return shape(name) and shapes[name][2]

    for node in model.graph.node:
        op = node.op_type
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        f = 0
        if op in MATRIX:
            a, _ = shape(node.input[0])
            b, _ = shape(node.input[1])
            if op == "Gemm":
                rows = a[1] if attrs.get("transA", 0) else a[0]
                k = a[0] if attrs.get("transA", 0) else a[1]
                cols = b[0] if attrs.get("transB", 0) else b[1]
                f = 2 * rows * k * cols + (rows * cols if len(node.input) > 2 and node.input[2] else 0)
            else:
                k, cols = b[-2], b[-1]
                f = 2 * (elements(a) // k) * k * cols
        elif op in ELEMENTWISE:
            if is_float(node.output[0]):
                f = elements(shape(node.output[0])[0])
        elif op in REDUCTIONS:
            if is_float(node.output[0]):
                f = elements(shape(node.input[0])[0])
        elif op in SCATTER:
            reduction = attrs.get("reduction", b"none")
            reduction = reduction.decode() if isinstance(reduction, bytes) else reduction
            updates, size = shape(node.input[2])
            if reduction != "none" and is_float(node.output[0]):
                f = elements(updates)
            # Reads the indices and updates, writes one element per update.
            idx, isize = shape(node.input[1])
            moved += elements(idx) * isize + 2 * elements(updates) * size
        elif op in MOVEMENT:
            out, size = shape(node.output[0])
            moved += 2 * elements(out) * size
            if op in {"Gather", "GatherND", "GatherElements"}:
                idx, isize = shape(node.input[1])
                moved += elements(idx) * isize
        elif op not in SHAPE_ONLY:
            raise SystemExit(f"operator {op} ({node.name}) is not counted by this script")
        flops += f
        if f:
            by_op[op] = by_op.get(op, 0) + f
    return flops, moved, by_op


def per_node_and_edge(values):
    """a, b, c of v = a * N + b * E + c from the values at the three SIZES."""
    matrix = np.array([[n, e, 1.0] for n, e in SIZES])
    a, b, c = np.linalg.solve(matrix, np.array(values, dtype=float))
    return float(a), float(b), float(c)


def describe(path: Path):
    data = path.read_bytes()
    # Operators defined by functions in the model (the gnntrack domain of optimize_onnx.py)
    # count as their bodies: the same work, whichever kernel runs it.
    model = onnx.inliner.inline_local_functions(onnx.load_from_string(data))
    runs = [count(model, n, e) for n, e in SIZES]
    fa, fb, fc = per_node_and_edge([r[0] for r in runs])
    ma, mb, mc = per_node_and_edge([r[1] for r in runs])
    flops, moved, by_op = count(model, *CHECK)
    for what, a, b, c, got in [("FLOPs", fa, fb, fc, flops), ("bytes moved", ma, mb, mc, moved)]:
        expected = a * CHECK[0] + b * CHECK[1] + c
        if abs(expected - got) > 1e-6 * max(got, 1):
            raise SystemExit(f"{path}: {what} are not linear in nodes and edges")
    meta = {p.key: p.value for p in model.metadata_props}
    return {
        "model": path.name,
        "model_name": meta.get("gnntrack.model_name", ""),
        "model_version": meta.get("gnntrack.model_version", ""),
        "fnv1a64": f"{fnv1a64(data):016x}",
        "flops_per_node": round(fa, 3),
        "flops_per_edge": round(fb, 3),
        "flops_constant": round(fc, 3) + 0.0,  # never -0.0
        "bytes_moved_per_node": round(ma, 3),
        "bytes_moved_per_edge": round(mb, 3),
        "flops_by_op_at": {"nodes": CHECK[0], "edges": CHECK[1], "flops": by_op},
        "counted_by": "models/train/count_flops.py",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--write", action="store_true", help="write <model>.flops.json beside each model")
    ap.add_argument("--check", action="store_true", help="fail when a .flops.json is missing or stale")
    args = ap.parse_args()
    stale = []
    results = []
    for path in args.models:
        props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
        if "gnntrack.output_level" in props:
            # A generic graph model (the candidate classifier): its work is not per hit and edge.
            print(f"{path}: a generic graph model ({props['gnntrack.output_level']} level), not counted", file=sys.stderr)
            continue
        result = describe(path)
        results.append(result)
        sidecar = path.with_suffix(".flops.json")
        text = json.dumps(result, indent=2) + "\n"
        if args.write:
            sidecar.write_text(text)
        elif args.check and (not sidecar.exists() or sidecar.read_text() != text):
            stale.append(str(sidecar))
    print(json.dumps(results, indent=2))
    if stale:
        print(f"missing or stale: {', '.join(stale)} (rerun with --write)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
