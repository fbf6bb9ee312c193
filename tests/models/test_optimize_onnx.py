"""Checks models/train/optimize_onnx.py: on a small edge classifier built here with the layout
the training export writes (row lookups by GatherND, a dense layer on two gathered node rows and
an edge row), the rewrite replaces both patterns, keeps the scores, and finds nothing left to do
on its own output or on the bundled models (which are shipped rewritten).

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
    nodes = [
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
        helper.make_node("Tanh", ["layer"], ["hidden"]),
        helper.make_node("Gemm", ["hidden", "score.w", "score.b"], ["score_col"], transB=1),
        helper.make_node("Reshape", ["score_col", "flat"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "small",
        [
            helper.make_tensor_value_info("node_features", TensorProto.FLOAT, ["N", 3]),
            helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "E"]),
            helper.make_tensor_value_info("edge_features", TensorProto.FLOAT, ["E", 2]),
        ],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["E"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = "gnntrack.model_version", "1"
    onnx.checker.check_model(model)
    return model


def main():
    original = small_classifier()
    rewritten = small_classifier()
    lookups, layers = optimize_onnx.optimize(rewritten, version="1-fast")
    assert (lookups, layers) == (2, 1), (lookups, layers)
    ops = [n.op_type for n in rewritten.graph.node]
    assert "GatherND" not in ops and "Concat" not in ops, ops
    assert {p.key: p.value for p in rewritten.metadata_props}["gnntrack.model_version"] == "1-fast"
    assert optimize_onnx.check(original, rewritten), "scores differ"
    assert optimize_onnx.optimize(rewritten) == (0, 0), "a second pass finds work"
    for path in sorted((REPO / "models").glob("*.onnx")):
        assert optimize_onnx.optimize(onnx.load(path)) == (0, 0), f"{path.name} is not the rewritten form"
    print("optimize_onnx: rewrite checked on a small classifier; bundled models are rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
