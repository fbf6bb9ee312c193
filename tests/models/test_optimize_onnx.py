"""Checks models/train/optimize_onnx.py on two small edge classifiers built here with the layouts
the training export writes: row lookups by GatherND and a dense layer on two gathered node rows
and an edge row (rewrites 1 and 2); gated messages summed into nodes through flat indices, one 4
and one 8 columns wide (rewrites 3 and 4), both then by ScatterND when the model declares its
receptive field (rewrite 5); one round of an interaction network, whose node parts of the
edge layer and whose incoming and outgoing messages become the gnntrack operators (rewrite 6);
and dense layers of 8 and 16 outputs with and without their ReLU, one with a matrix for a bias,
which become the operators Dense and DenseRelu (rewrite 7). The rewrites replace each pattern,
keep the scores (the last five bit for bit on one thread), and
find nothing left to do on their own output or on the bundled models (which are shipped
rewritten).

    .venv/bin/python tests/models/test_optimize_onnx.py
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "models" / "train"))
import optimize_onnx  # noqa: E402


def classifier(nodes, inits, name, opset):
    """An edge classifier of `nodes`: node features [N, 3], edge index, edge features [E, 2] in,
    one score per edge out."""
    graph = helper.make_graph(
        nodes,
        name,
        [
            helper.make_tensor_value_info("node_features", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "E"]),
            helper.make_tensor_value_info("edge_features", TensorProto.FLOAT, ["E", 2]),
        ],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["E"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def edge_layer(out):
    """Hits and edges embedded (`h`, `e`), then a dense layer on [h[src], h[dst], e] with the
    lookups as the training export writes them (GatherND), its tanh into `out`; weights
    node.w/b, edge.w/b, layer.w/b; constants row0, row1, axis1."""
    return [
        helper.make_node("Gather", ["edge_index", "row0"], ["src"], axis=0),
        helper.make_node("Gather", ["edge_index", "row1"], ["dst"], axis=0),
        helper.make_node("Gemm", ["node_features", "node.w", "node.b"], ["h_lin"], transB=1),
        helper.make_node("Tanh", ["h_lin"], ["h"]),
        helper.make_node("Gemm", ["edge_features", "edge.w", "edge.b"], ["e_lin"], transB=1),
        helper.make_node("Tanh", ["e_lin"], ["e"]),
        helper.make_node("Unsqueeze", ["src", "axis1"], ["src_col"]),
        helper.make_node("Unsqueeze", ["dst", "axis1"], ["dst_col"]),
        helper.make_node("GatherND", ["h", "src_col"], ["h_src"]),
        helper.make_node("GatherND", ["h", "dst_col"], ["h_dst"]),
        helper.make_node("Concat", ["h_src", "h_dst", "e"], ["cat"], axis=1),
        helper.make_node("Gemm", ["cat", "layer.w", "layer.b"], ["layer"], transB=1),
        helper.make_node("Tanh", ["layer"], [out]),
    ]


def small_classifier(seed=3):
    rng = np.random.default_rng(seed)
    weights = {
        "node.w": rng.standard_normal((4, 3)),
        "node.b": rng.standard_normal(4),
        "edge.w": rng.standard_normal((4, 2)),
        "edge.b": rng.standard_normal(4),
        "layer.w": rng.standard_normal((5, 12)),
        "layer.b": rng.standard_normal(5),
        "score.w": rng.standard_normal((1, 5)),
        "score.b": rng.standard_normal(1),
    }
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()]
    inits += [
        numpy_helper.from_array(np.array(0, dtype=np.int64), "row0"),
        numpy_helper.from_array(np.array(1, dtype=np.int64), "row1"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat"),
    ]
    nodes = edge_layer("hidden") + [
        helper.make_node("Gemm", ["hidden", "score.w", "score.b"], ["score_col"], transB=1),
        helper.make_node("Reshape", ["score_col", "flat"], ["score"]),
    ]
    model = classifier(nodes, inits, "small", opset=17)
    entry = model.metadata_props.add()
    entry.key, entry.value = "gnntrack.model_version", "1"
    return model


def message_passing_classifier(seed=5):
    """Gated messages summed into nodes the way the training export writes them: a message of 4
    columns gated by a one-column sigmoid, an ungated one of 8 columns, each summed through flat
    indices dst * K + [0..K-1]."""
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    inits = [numpy_helper.from_array(v, k) for k, v in {
        "node.w": f32(4, 3), "node.b": f32(4), "edge.w": f32(4, 2), "edge.b": f32(4),
        "gate.w": f32(1, 4), "gate.b": f32(1), "m4.w": f32(4, 4), "m8.w": f32(8, 4),
        "update.w": f32(4, 16), "update.b": f32(4), "score.w": f32(1, 4), "score.b": f32(1),
    }.items()]
    i64 = lambda v, name: numpy_helper.from_array(np.array(v, dtype=np.int64), name)
    inits += [i64(0, "row0"), i64(1, "row1"), i64([1], "axis1"), i64([-1], "flat"), i64(4, "k4"),
              i64(8, "k8"), i64(np.arange(4), "arange4"), i64(np.arange(8), "arange8"),
              i64([-1, 4], "rows4"), i64([-1, 8], "rows8")]
    nodes = [
        helper.make_node("Gather", ["edge_index", "row0"], ["src"], axis=0),
        helper.make_node("Gather", ["edge_index", "row1"], ["dst"], axis=0),
        helper.make_node("Shape", ["node_features"], ["shape"], start=0, end=1),
        helper.make_node("Gemm", ["node_features", "node.w", "node.b"], ["h_lin"], transB=1),
        helper.make_node("Tanh", ["h_lin"], ["h"]),
        helper.make_node("Gemm", ["edge_features", "edge.w", "edge.b"], ["e_lin"], transB=1),
        helper.make_node("Tanh", ["e_lin"], ["e"]),
        helper.make_node("Gemm", ["e", "gate.w", "gate.b"], ["gate_lin"], transB=1),
        helper.make_node("Sigmoid", ["gate_lin"], ["gate"]),
    ]
    for k, gated in ((4, True), (8, False)):
        rows = f"m{k}.rows"
        nodes += [
            helper.make_node("Gemm", ["h", f"m{k}.w"], [f"m{k}"], transB=1),
            helper.make_node("Gather", [f"m{k}", "src"], [rows], axis=0),
        ]
        if gated:
            nodes.append(helper.make_node("Mul", ["gate", rows], [f"m{k}.gated"]))
            rows = f"m{k}.gated"
        nodes += [
            helper.make_node("Unsqueeze", ["dst", "axis1"], [f"dst{k}.col"]),
            helper.make_node("Mul", [f"dst{k}.col", f"k{k}"], [f"dst{k}.scaled"]),
            helper.make_node("Add", [f"dst{k}.scaled", f"arange{k}"], [f"dst{k}.at"]),
            helper.make_node("Reshape", [f"dst{k}.at", "flat"], [f"dst{k}.flat"]),
            helper.make_node("Mul", ["shape", f"k{k}"], [f"size{k}"]),
            helper.make_node("ConstantOfShape", [f"size{k}"], [f"zeros{k}"],
                             value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),
            helper.make_node("Reshape", [rows, "flat"], [f"m{k}.flat"]),
            helper.make_node("ScatterElements", [f"zeros{k}", f"dst{k}.flat", f"m{k}.flat"], [f"sum{k}.flat"],
                             axis=0, reduction="add"),
            helper.make_node("Reshape", [f"sum{k}.flat", f"rows{k}"], [f"sum{k}"]),
        ]
    nodes += [
        helper.make_node("Concat", ["sum4", "sum8", "h"], ["node_in"], axis=1),
        helper.make_node("Gemm", ["node_in", "update.w", "update.b"], ["update"], transB=1),
        helper.make_node("Tanh", ["update"], ["h2"]),
        helper.make_node("Gather", ["h2", "src"], ["h2_src"], axis=0),
        helper.make_node("Gemm", ["h2_src", "score.w", "score.b"], ["score_col"], transB=1),
        helper.make_node("Reshape", ["score_col", "flat"], ["score"]),
    ]
    return classifier(nodes, inits, "message_passing", opset=18)


def interaction_round(seed=7):
    """One round of an interaction network as the training export writes it: an edge layer on
    [h[src], h[dst], e] (row lookups by GatherND), a one-column gate, a 2-wide message of the
    hits summed into each edge's target (of its source's message) and into its source (of its
    target's), both through flat indices, then the hits updated from [incoming, outgoing, h] and
    the edges scored from the new states."""
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    inits = [numpy_helper.from_array(v, k) for k, v in {
        "node.w": f32(4, 3), "node.b": f32(4), "edge.w": f32(4, 2), "edge.b": f32(4),
        "layer.w": f32(4, 12), "layer.b": f32(4), "gate.w": f32(1, 4), "gate.b": f32(1),
        "m.w": f32(2, 4), "m.b": f32(2), "update.w": f32(4, 8), "update.b": f32(4),
        "score.w": f32(1, 8), "score.b": f32(1),
    }.items()]
    i64 = lambda v, name: numpy_helper.from_array(np.array(v, dtype=np.int64), name)
    inits += [i64(0, "row0"), i64(1, "row1"), i64([1], "axis1"), i64([-1], "flat"), i64(2, "k2"),
              i64(np.arange(2), "arange2"), i64([-1, 2], "rows2")]
    nodes = edge_layer("e2") + [
        helper.make_node("Shape", ["node_features"], ["shape"], start=0, end=1),
        helper.make_node("Gemm", ["e2", "gate.w", "gate.b"], ["gate_lin"], transB=1),
        helper.make_node("Sigmoid", ["gate_lin"], ["gate"]),
        helper.make_node("Gemm", ["h", "m.w", "m.b"], ["m"], transB=1),
        helper.make_node("Mul", ["shape", "k2"], ["size"]),
        helper.make_node("ConstantOfShape", ["size"], ["zeros"],
                         value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])),
    ]
    for name, via, to in (("in", "src", "dst"), ("out", "dst", "src")):
        nodes += [
            helper.make_node("GatherND", ["m", f"{via}_col"], [f"{name}.m"]),
            helper.make_node("Mul", ["gate", f"{name}.m"], [f"{name}.gated"]),
            helper.make_node("Unsqueeze", [to, "axis1"], [f"{name}.col"]),
            helper.make_node("Mul", [f"{name}.col", "k2"], [f"{name}.scaled"]),
            helper.make_node("Add", [f"{name}.scaled", "arange2"], [f"{name}.at"]),
            helper.make_node("Reshape", [f"{name}.at", "flat"], [f"{name}.flat_at"]),
            helper.make_node("Reshape", [f"{name}.gated", "flat"], [f"{name}.flat"]),
            helper.make_node("ScatterElements", ["zeros", f"{name}.flat_at", f"{name}.flat"], [f"{name}.sum_flat"],
                             axis=0, reduction="add"),
            helper.make_node("Reshape", [f"{name}.sum_flat", "rows2"], [f"{name}.sum"]),
        ]
    nodes += [
        helper.make_node("Concat", ["in.sum", "out.sum", "h"], ["node_in"], axis=1),
        helper.make_node("Gemm", ["node_in", "update.w", "update.b"], ["update"], transB=1),
        helper.make_node("Tanh", ["update"], ["h2"]),
        helper.make_node("Gather", ["h2", "src"], ["h2_src"], axis=0),
        helper.make_node("Gather", ["h2", "dst"], ["h2_dst"], axis=0),
        helper.make_node("Concat", ["h2_src", "h2_dst"], ["pair"], axis=1),
        helper.make_node("Gemm", ["pair", "score.w", "score.b"], ["score_col"], transB=1),
        helper.make_node("Reshape", ["score_col", "flat"], ["score"]),
    ]
    model = classifier(nodes, inits, "interaction_round", opset=18)
    optimize_onnx.set_metadata(model, "gnntrack.receptive_hops", "2")
    return model


def same_bits_and_done(original, reference, rewritten):
    """Asserts that `rewritten` scores a random graph of `original`'s inputs as `reference`
    does, bit for bit on one thread, and that a second pass of the rewrites finds no work."""
    feeds = optimize_onnx.random_feeds(original)
    run = lambda m: optimize_onnx.single_thread_session(m).run(None, feeds)[0]
    a, b = run(reference), run(rewritten)
    assert np.array_equal(a, b), float(np.max(np.abs(a - b)))
    assert optimize_onnx.optimize(rewritten) == (0,) * 7, "a second pass finds work"


def check_gnntrack_operators():
    """Rewrite 6 on an interaction round: the node parts of the edge layer summed by
    GatherPairSum, the incoming and outgoing messages beside the states by MessageSum, their
    function bodies in the model, no scatter left in its graph, and the scores of rewrites 1 to
    5 bit for bit (onnxruntime runs the bodies here; tests/inference.rs compares the tracker's
    kernels with them)."""
    original = interaction_round()
    rewritten = interaction_round()
    counts = optimize_onnx.optimize(rewritten)
    assert counts == (4, 1, 2, 1, 2, 2, 1), counts
    ops = [(n.domain, n.op_type) for n in rewritten.graph.node]
    assert ops.count(("gnntrack", "GatherPairSum")) == 1 and ops.count(("gnntrack", "MessageSum")) == 1, ops
    assert not any(op.startswith("Scatter") for _, op in ops), ops
    assert {(f.domain, f.name) for f in rewritten.functions} == {
        ("gnntrack", "GatherPairSum"), ("gnntrack", "MessageSum"), ("gnntrack", "Dense")}
    assert any(o.domain == "gnntrack" for o in rewritten.opset_import)
    assert optimize_onnx.check(original, rewritten), "scores differ"
    # Bit for bit against rewrites 1 to 5 alone.
    standard = interaction_round()
    assert optimize_onnx.optimize(standard, operators=False) == counts[:5] + (0, 0)
    same_bits_and_done(original, standard, rewritten)
    # Run in one piece (no receptive field declared), the model keeps its standard operators.
    whole = interaction_round()
    whole.metadata_props.pop()
    assert optimize_onnx.optimize(whole)[5] == 0


def dense_round(seed=11):
    """Hits embedded by a 16-wide dense layer and its ReLU, an edge layer on the edge features
    with the node parts as its bias matrix and a ReLU, an 8-wide layer with a tanh (which
    onnxruntime fuses: rewrite 7 leaves it), then one score per edge (a one-column layer)."""
    rng = np.random.default_rng(seed)
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    inits = [numpy_helper.from_array(v, k) for k, v in {
        "node.w": f32(16, 3), "node.b": f32(16), "edge.w": f32(16, 2), "mid.w": f32(8, 16),
        "mid.b": f32(8), "score.w": f32(1, 8), "score.b": f32(1),
    }.items()]
    inits += [numpy_helper.from_array(np.array(v, dtype=np.int64), name)
              for v, name in ((0, "row0"), (1, "row1"), ([-1], "flat"))]
    nodes = [
        helper.make_node("Gather", ["edge_index", "row0"], ["src"], axis=0),
        helper.make_node("Gather", ["edge_index", "row1"], ["dst"], axis=0),
        helper.make_node("Gemm", ["node_features", "node.w", "node.b"], ["h_lin"], transB=1),
        helper.make_node("Relu", ["h_lin"], ["h"]),
        helper.make_node("Gather", ["h", "src"], ["h_src"], axis=0),
        helper.make_node("Gather", ["h", "dst"], ["h_dst"], axis=0),
        helper.make_node("Add", ["h_src", "h_dst"], ["pair"]),
        helper.make_node("Gemm", ["edge_features", "edge.w", "pair"], ["e_lin"], transB=1),
        helper.make_node("Relu", ["e_lin"], ["e"]),
        helper.make_node("Gemm", ["e", "mid.w", "mid.b"], ["mid_lin"], transB=1),
        helper.make_node("Tanh", ["mid_lin"], ["mid"]),
        helper.make_node("Gemm", ["mid", "score.w", "score.b"], ["score_col"], transB=1),
        helper.make_node("Reshape", ["score_col", "flat"], ["score"]),
    ]
    model = classifier(nodes, inits, "dense_round", opset=18)
    optimize_onnx.set_metadata(model, "gnntrack.receptive_hops", "1")
    return model


def check_dense_layers():
    """Rewrite 7 on dense_round: two DenseRelu (one with the bias matrix), the one-column layer
    a Dense, the layer with a tanh left a Gemm, no Relu left, the bodies in the model and the
    scores bit for bit on one thread (onnxruntime runs the bodies here; tests/inference.rs compares the
    tracker's kernels with them)."""
    original = dense_round()
    rewritten = dense_round()
    counts = optimize_onnx.optimize(rewritten)
    assert counts == (0, 0, 0, 0, 0, 1, 3), counts
    ops = [(n.domain, n.op_type) for n in rewritten.graph.node]
    assert ops.count(("gnntrack", "DenseRelu")) == 2 and ops.count(("gnntrack", "Dense")) == 1, ops
    assert ops.count(("", "Gemm")) == 1 and ("", "Relu") not in ops, ops
    made = optimize_onnx.producers(rewritten.graph)
    edge = next(n for n in rewritten.graph.node if n.op_type == "DenseRelu" and n.input[0] == "edge_features")
    assert made[edge.input[2]].op_type == "GatherPairSum", edge
    assert {("gnntrack", "Dense"), ("gnntrack", "DenseRelu")} <= {(f.domain, f.name) for f in rewritten.functions}
    same_bits_and_done(original, original, rewritten)
    whole = dense_round()
    whole.metadata_props.pop()
    assert optimize_onnx.optimize(whole)[6] == 0, "dense operators in a model run in one piece"


def check_message_sums():
    """Rewrites 3, 4 and 5: the narrow sum by rows and then by ScatterND on the index column,
    the wide one with its index scaled as a vector and then by ScatterND over the zeros seen as
    rows, the gate widened, the model declaring one intra-op thread, and the same scores bit for
    bit on one thread."""
    original = message_passing_classifier()
    rewritten = message_passing_classifier()
    optimize_onnx.set_metadata(rewritten, "gnntrack.receptive_hops", "1")
    whole = message_passing_classifier()
    assert optimize_onnx.optimize(whole) == (0, 0, 2, 1, 0, 0, 0), "ScatterND in a model run in one piece"
    counts = optimize_onnx.optimize(rewritten)
    assert counts == (0, 0, 2, 1, 2, 0, 1), counts
    nodes = list(rewritten.graph.node)
    made = optimize_onnx.producers(rewritten.graph)
    scatters = sorted((n.op_type, made[n.input[1]].op_type) for n in nodes if n.op_type.startswith("Scatter"))
    assert scatters == [("ScatterND", "Unsqueeze")] * 2, scatters
    assert "Concat" not in [made[n.input[1]].op_type for n in nodes if n.op_type == "ScatterND"]
    assert not any(n.op_type == "Mul" and made.get(n.input[0], n).op_type == "Unsqueeze" for n in nodes)
    assert [n.op_type for n in nodes].count("Sigmoid") == 1
    metadata = {p.key: p.value for p in rewritten.metadata_props}
    assert metadata[optimize_onnx.MAX_INTRA_THREADS] == "1", metadata
    same_bits_and_done(original, original, rewritten)


def main():
    original = small_classifier()
    rewritten = small_classifier()
    counts = optimize_onnx.optimize(rewritten, version="1-fast")
    assert counts == (2, 1, 0, 0, 0, 0, 0), counts
    ops = [n.op_type for n in rewritten.graph.node]
    assert "GatherND" not in ops and "Concat" not in ops, ops
    assert {p.key: p.value for p in rewritten.metadata_props}["gnntrack.model_version"] == "1-fast"
    assert optimize_onnx.check(original, rewritten), "scores differ"
    assert optimize_onnx.optimize(rewritten) == (0,) * 7, "a second pass finds work"
    assert optimize_onnx.MAX_INTRA_THREADS not in {p.key for p in rewritten.metadata_props}
    check_message_sums()
    check_gnntrack_operators()
    check_dense_layers()
    for path in sorted((REPO / "models").glob("*.onnx")):
        model = onnx.load(path)
        if any(o.domain == optimize_onnx.GNNTRACK_DOMAIN for o in model.opset_import):
            # Any onnxruntime runs the gnntrack operators' function bodies.
            scores = optimize_onnx.single_thread_session(str(path)).run(
                None, optimize_onnx.random_feeds(model, n_nodes=500, n_edges=1500))[0]
            assert scores.shape[0] == 1500 and np.isfinite(scores).all(), path.name
        counts = optimize_onnx.optimize(model)
        assert counts == (0,) * 7, f"{path.name} is not the rewritten form: {counts}"
    print("optimize_onnx: rewrites checked on four small classifiers; bundled models are rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
