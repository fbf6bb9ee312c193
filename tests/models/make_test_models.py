#!/usr/bin/env python3
"""Write the small ONNX models the inference tests load.

Only the `onnx` package is needed (no PyTorch): every graph is built node by node with
`onnx.helper` (the function bodies of the gnntrack operators come from
models/train/optimize_onnx.py). Two valid models compute simple known functions that the Rust
tests recompute independently; the other models each break one rule of the model contract
(models/README.md).

Usage: make_test_models.py OUT_DIR
"""

import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "train"))
from optimize_onnx import gnntrack_functions  # noqa: E402

IR_VERSION = 10  # onnxruntime 1.31 reads IR versions up to 13; onnx 1.23 writes newer by default
OPSET = 17

# Parameters of the linear model; the Rust tests hold the same numbers.
LINEAR_W = [0.5, -0.25, 0.125, -0.5, 0.75, -0.0625, 1.5, -2.0]
LINEAR_B = 0.1
# Parameters of the message-passing model.
MP_W = [0.3, -0.7, 0.2, 0.45]
MP_B = -0.05

GRAPH_TOML = 'reference_z = 2054.0\nwindow_x = [0.01, 0.012, 0.014]\nskip_layers = false\n'


def const(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def filled(shape, out, value):
    """A float32 tensor of the shape held in `shape`, every element `value`."""
    return helper.make_node(
        "ConstantOfShape", [shape], [out], value=numpy_helper.from_array(np.full(1, value, dtype=np.float32))
    )


def linear_metadata():
    return {
        "gnntrack.contract": "1",
        "gnntrack.model_name": "linear-test",
        "gnntrack.model_version": "1.0.0",
        "gnntrack.node_features": "x,y,z",
        "gnntrack.node_scales": "1000,10,5000",
        "gnntrack.node_offsets": "0,0,0",
        "gnntrack.edge_features": "dx,dy",
        "gnntrack.edge_scales": "100,1",
        "gnntrack.edge_offsets": "0,0",
        "gnntrack.output": "logits",
        "gnntrack.edge_cut": "0.5",
        "gnntrack.graph": GRAPH_TOML,
    }


def linear_graph(
    node_type=TensorProto.FLOAT,
    node_shape=("N", 3),
    edge_type=TensorProto.FLOAT,
    edge_index_transposed=False,
    extra_inputs=(),
    outputs=None,
    swap_float_inputs=False,
):
    """score = sigmoid(w . [x[src], x[dst], e] + b), returned as logits of shape [E, 1].

    The keyword arguments bend the interface to make broken variants; the defaults give the
    valid model.
    """
    nodes = []
    initializers = [
        const("w", np.array(LINEAR_W).reshape(8, 1)),
        const("b", [LINEAR_B]),
        const("zero", 0, np.int64),
        const("one", 1, np.int64),
    ]
    x_name = "node_features"
    if node_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["node_features"], ["x_cast"], to=TensorProto.FLOAT))
        x_name = "x_cast"
    if len(node_shape) == 3:
        initializers.append(const("axis0", [0], np.int64))
        nodes.append(helper.make_node("Squeeze", [x_name, "axis0"], ["x_squeezed"]))
        x_name = "x_squeezed"
    ei_name = "edge_index"
    if edge_index_transposed:
        nodes.append(helper.make_node("Transpose", ["edge_index"], ["ei_t"], perm=[1, 0]))
        ei_name = "ei_t"
    e_name = "edge_features"
    if edge_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["edge_features"], ["e_cast"], to=TensorProto.FLOAT))
        e_name = "e_cast"
    nodes += [
        helper.make_node("Gather", [ei_name, "zero"], ["src"], axis=0),
        helper.make_node("Gather", [ei_name, "one"], ["dst"], axis=0),
        helper.make_node("Gather", [x_name, "src"], ["x_src"], axis=0),
        helper.make_node("Gather", [x_name, "dst"], ["x_dst"], axis=0),
        helper.make_node("Concat", ["x_src", "x_dst", e_name], ["cat"], axis=1),
        helper.make_node("MatMul", ["cat", "w"], ["wx"]),
        helper.make_node("Add", ["wx", "b"], ["logits"]),
    ]
    node_in = helper.make_tensor_value_info("node_features", node_type, list(node_shape))
    edge_index_shape = ["E", 2] if edge_index_transposed else [2, "E"]
    edge_index_in = helper.make_tensor_value_info("edge_index", TensorProto.INT64, edge_index_shape)
    edge_in = helper.make_tensor_value_info("edge_features", edge_type, ["E", 2])
    float_inputs = [edge_in, node_in] if swap_float_inputs else [node_in, edge_in]
    inputs = [float_inputs[0], edge_index_in, float_inputs[1]] + list(extra_inputs)
    if outputs is None:
        outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["E", 1])]
    return helper.make_graph(nodes, "linear_edge_classifier", inputs, outputs, initializers)


def message_passing_graph():
    """One round of sum aggregation, then a linear edge score; outputs probabilities [E].

    h = x + scatter_add over edges (src -> dst) of x[src]
    score = sigmoid(w . [h[src], h[dst]] + b)

    Inputs come in a different order (edge_index first) and with other names than the
    linear model, so the tests show that names and order are read from the model.
    """
    nodes = [
        helper.make_node("Gather", ["edges", "zero"], ["src"], axis=0),
        helper.make_node("Gather", ["edges", "one"], ["dst"], axis=0),
        helper.make_node("Gather", ["hits", "src"], ["x_src"], axis=0),
        helper.make_node("Shape", ["x_src"], ["msg_shape"]),
        helper.make_node("Unsqueeze", ["dst", "axis1"], ["dst_col"]),
        helper.make_node("Expand", ["dst_col", "msg_shape"], ["dst_idx"]),
        helper.make_node("Shape", ["hits"], ["hits_shape"]),
        filled("hits_shape", "zeros", 0.0),
        helper.make_node(
            "ScatterElements", ["zeros", "dst_idx", "x_src"], ["agg"], axis=0, reduction="add"
        ),
        helper.make_node("Add", ["hits", "agg"], ["h"]),
        helper.make_node("Gather", ["h", "src"], ["h_src"], axis=0),
        helper.make_node("Gather", ["h", "dst"], ["h_dst"], axis=0),
        helper.make_node("Concat", ["h_src", "h_dst"], ["cat"], axis=1),
        helper.make_node("MatMul", ["cat", "w"], ["wx"]),
        helper.make_node("Add", ["wx", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["edge_probability"]),
    ]
    initializers = [
        const("w", MP_W),
        const("b", [MP_B]),
        const("zero", 0, np.int64),
        const("one", 1, np.int64),
        const("axis1", [1], np.int64),
    ]
    inputs = [
        helper.make_tensor_value_info("edges", TensorProto.INT64, [2, "num_edges"]),
        helper.make_tensor_value_info("hits", TensorProto.FLOAT, ["num_hits", 2]),
    ]
    outputs = [helper.make_tensor_value_info("edge_probability", TensorProto.FLOAT, ["num_edges"])]
    return helper.make_graph(nodes, "message_passing_edge_classifier", inputs, outputs, initializers)


def message_passing_nd_graph():
    """The message-passing model with its sum by `ScatterND` (rows added by index), which races
    on more than one onnxruntime intra-op thread (onnxruntime issue 18048)."""
    graph = message_passing_graph()
    at = next(i for i, n in enumerate(graph.node) if n.op_type == "ScatterElements")
    graph.node[at].CopyFrom(
        helper.make_node("ScatterND", ["zeros", "dst_col", "x_src"], ["agg"], reduction="add")
    )
    graph.name = "message_passing_nd_edge_classifier"
    return graph


def message_passing_metadata():
    """Declares no offsets, as models written before offsets were recorded."""
    return {
        "gnntrack.contract": "1",
        "gnntrack.model_name": "message-passing-test",
        "gnntrack.model_version": "2.1",
        "gnntrack.node_features": "x,layer",
        "gnntrack.node_scales": "1000,1",
        "gnntrack.output": "probabilities",
        "gnntrack.edge_cut": "0.3",
        "gnntrack.graph": GRAPH_TOML,
    }


# The gnntrack operator domain (models/train/optimize_onnx.py, rewrite 6) in a model whose
# function bodies differ from the operators on purpose: the tracker's kernels compute the
# operators, onnxruntime without them the bodies, so the scores tell which ran.
# p = GatherPairSum(x, x, src, dst) [E, 2]; g = sigmoid(p); r = MessageSum(g, x, x, src, dst)
# [N, 6]; score = sigmoid(w . r[src] + b), x [N, 2]
OPS_W = [0.5, -0.25, 0.75, -1.0, 0.3, -0.6]
OPS_B = 0.05


def decoy_functions():
    """The bodies optimize_onnx.py writes for the gnntrack operators, changed: GatherPairSum
    subtracts, MessageSum swaps its two sums."""
    pair_sum, message_sum, *_ = gnntrack_functions(18)
    for node in pair_sum.node:
        if node.op_type == "Add":
            node.op_type = "Sub"
    rows = next(n for n in message_sum.node if n.op_type == "Concat" and "h" in n.input)
    rows.input[0], rows.input[1] = rows.input[1], rows.input[0]
    return [pair_sum, message_sum]


def gnntrack_ops_model(functions=True):
    """The model of OPS_W with the gnntrack operators (decoy bodies, or none)."""
    nodes = [
        helper.make_node("Gather", ["edges", "zero"], ["src"], axis=0),
        helper.make_node("Gather", ["edges", "one"], ["dst"], axis=0),
        helper.make_node("GatherPairSum", ["hits", "hits", "src", "dst"], ["pair"], domain="gnntrack"),
        helper.make_node("Sigmoid", ["pair"], ["gate"]),
        helper.make_node("MessageSum", ["gate", "hits", "hits", "src", "dst"], ["rows"], domain="gnntrack"),
        helper.make_node("Gather", ["rows", "src"], ["rows_src"], axis=0),
        helper.make_node("MatMul", ["rows_src", "w"], ["wx"]),
        helper.make_node("Add", ["wx", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["edge_probability"]),
    ]
    initializers = [const("w", OPS_W), const("b", [OPS_B])]
    functions = decoy_functions() if functions else None
    return gnntrack_domain_model(nodes, initializers, "gnntrack_ops", functions)


def gnntrack_domain_model(nodes, initializers, name, functions):
    """An edge classifier of hits [N, 2] and edges in, edge probabilities out, whose `nodes`
    use the gnntrack domain (with `functions` as its bodies, or none) and read the constants
    `zero` and `one` besides `initializers`; checked in full when it has bodies."""
    inputs = [
        helper.make_tensor_value_info("edges", TensorProto.INT64, [2, "num_edges"]),
        helper.make_tensor_value_info("hits", TensorProto.FLOAT, ["num_hits", 2]),
    ]
    outputs = [helper.make_tensor_value_info("edge_probability", TensorProto.FLOAT, ["num_edges"])]
    initializers = initializers + [const("zero", 0, np.int64), const("one", 1, np.int64)]
    graph = helper.make_graph(nodes, f"{name}_edge_classifier", inputs, outputs, initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("gnntrack", 1)],
        producer_name="gnntrack-test-models",
        functions=functions,
    )
    model.ir_version = IR_VERSION
    metadata = with_value(message_passing_metadata(), "gnntrack.max_intra_threads", "1")
    helper.set_model_props(model, with_value(metadata, "gnntrack.model_name", f"{name.replace('_', '-')}-test"))
    if functions:
        onnx.checker.check_model(model, full_check=True)
    return model


# The dense operators (rewrite 7) in a model whose function bodies differ from the operators:
# h = DenseRelu(x, W1, b1) [N, 8] (decoy body: no ReLU); y = Dense(h[src], W2, h[dst]) [E, 8]
# (decoy body: with a ReLU); score = sigmoid(v . y + b), x [N, 2]
DENSE_W1 = [[0.5, -1.0], [-0.75, 0.25], [1.5, 0.5], [-0.25, -0.5], [0.125, 1.0], [-1.25, 0.75], [0.625, -0.375], [-0.5, 1.25]]
DENSE_B1 = [0.1, -0.2, 0.0, 0.3, -0.4, 0.05, -0.15, 0.25]
DENSE_W2 = [[0.25 * ((3 * i + 5 * j) % 7 - 3) for j in range(8)] for i in range(8)]
DENSE_V = [0.5, -0.5, 0.25, -0.25, 0.75, -0.75, 1.0, -1.0]
DENSE_B = -0.05


def decoy_dense_functions():
    """The bodies optimize_onnx.py writes for the dense operators, changed: DenseRelu without
    its ReLU, Dense with one."""
    *_, dense, dense_relu = gnntrack_functions(18)
    dense_relu.node.pop()
    dense_relu.node[0].output[0] = "y"
    dense.node[0].output[0] = "xw_c"
    dense.node.append(helper.make_node("Relu", ["xw_c"], ["y"]))
    return [dense, dense_relu]


def gnntrack_dense_model():
    """The model of DENSE_W1 .. DENSE_B with the dense operators and decoy bodies."""
    nodes = [
        helper.make_node("Gather", ["edges", "zero"], ["src"], axis=0),
        helper.make_node("Gather", ["edges", "one"], ["dst"], axis=0),
        helper.make_node("DenseRelu", ["hits", "w1", "b1"], ["h"], domain="gnntrack"),
        helper.make_node("Gather", ["h", "src"], ["h_src"], axis=0),
        helper.make_node("Gather", ["h", "dst"], ["h_dst"], axis=0),
        helper.make_node("Dense", ["h_src", "w2", "h_dst"], ["y"], domain="gnntrack"),
        helper.make_node("MatMul", ["y", "v"], ["vy"]),
        helper.make_node("Add", ["vy", "b"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["edge_probability"]),
    ]
    initializers = [
        const("w1", DENSE_W1),
        const("b1", DENSE_B1),
        const("w2", DENSE_W2),
        const("v", DENSE_V),
        const("b", [DENSE_B]),
    ]
    return gnntrack_domain_model(nodes, initializers, "gnntrack_dense", decoy_dense_functions())


# Generic graph models (models/README.md, "Generic graph models"); the Rust, C and C++ tests hold
# the same numbers.
# node level: h = x W (x [N, 3], W [3, 2]); out[i] = h[i] + sum of h[src] over the edges src -> i
NODE_W = [[0.5, -1.0], [0.25, 2.0], [-0.75, 0.125]]
# node level without edges: out[i] = sigmoid(x[i] . w + b), x [N, 2]
NODE_SOLO_W = [1.5, -0.5]
NODE_SOLO_B = 0.25
# edge level: out[e] = sigmoid(w . [x[src], x[dst], f[e]] + b), x [N, 2], f [E, 1]
EDGE_W = [0.5, -0.25, -1.0, 0.75, 2.0]
EDGE_B = -0.1
# graph level: out[g] = [mean over the nodes i of g of x[i] . w, number of edges ending in g]
GRAPH_W = [2.0, -1.0]


def graph_metadata(level, node_width, output, **extra):
    """The metadata of a generic graph model; keyword arguments add keys (`gnntrack.` prefixed,
    `__` for `.`)."""
    out = {
        "gnntrack.contract": "1",
        "gnntrack.model_name": f"{level}-test",
        "gnntrack.model_version": "0.1",
        "gnntrack.output_level": level,
        "gnntrack.node_width": str(node_width),
        "gnntrack.output": output,
    }
    for key, value in extra.items():
        out["gnntrack." + key.replace("__", ".")] = value
    return out


def node_graph(node_type=TensorProto.FLOAT, outputs=None):
    """The node-level model with edges; `node_type` and `outputs` bend it into broken variants."""
    x = "node_features"
    nodes = []
    if node_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", ["node_features"], ["x_cast"], to=TensorProto.FLOAT))
        x = "x_cast"
    nodes += [
        helper.make_node("MatMul", [x, "W"], ["h"]),
        helper.make_node("Gather", ["edge_index", "zero"], ["src"], axis=0),
        helper.make_node("Gather", ["edge_index", "one"], ["dst"], axis=0),
        helper.make_node("Gather", ["h", "src"], ["h_src"], axis=0),
        helper.make_node("Shape", ["h_src"], ["msg_shape"]),
        helper.make_node("Unsqueeze", ["dst", "axis1"], ["dst_col"]),
        helper.make_node("Expand", ["dst_col", "msg_shape"], ["dst_idx"]),
        helper.make_node("ScatterElements", ["h", "dst_idx", "h_src"], ["out"], axis=0, reduction="add"),
    ]
    initializers = [
        const("W", NODE_W),
        const("zero", 0, np.int64),
        const("one", 1, np.int64),
        const("axis1", [1], np.int64),
    ]
    inputs = [
        helper.make_tensor_value_info("node_features", node_type, ["N", 3]),
        helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "E"]),
    ]
    if outputs is None:
        outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 2])]
    return helper.make_graph(nodes, "node_level", inputs, outputs, initializers)


def node_solo_graph():
    """The node-level model without edges: logits [N]."""
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"]),
        helper.make_node("Add", ["xw", "b"], ["logit"]),
    ]
    initializers = [const("w", NODE_SOLO_W), const("b", [NODE_SOLO_B])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2])]
    outputs = [helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["N"])]
    return helper.make_graph(nodes, "node_level_solo", inputs, outputs, initializers)


def edge_graph():
    """The edge-level model: logits [E, 1]; inputs edge index first, then edge and node features."""
    nodes = [
        helper.make_node("Gather", ["ei", "zero"], ["src"], axis=0),
        helper.make_node("Gather", ["ei", "one"], ["dst"], axis=0),
        helper.make_node("Gather", ["nodes", "src"], ["x_src"], axis=0),
        helper.make_node("Gather", ["nodes", "dst"], ["x_dst"], axis=0),
        helper.make_node("Concat", ["x_src", "x_dst", "edges"], ["cat"], axis=1),
        helper.make_node("MatMul", ["cat", "w"], ["wx"]),
        helper.make_node("Add", ["wx", "b"], ["score"]),
    ]
    initializers = [
        const("w", np.array(EDGE_W).reshape(5, 1)),
        const("b", [EDGE_B]),
        const("zero", 0, np.int64),
        const("one", 1, np.int64),
    ]
    inputs = [
        helper.make_tensor_value_info("ei", TensorProto.INT64, [2, "E"]),
        helper.make_tensor_value_info("edges", TensorProto.FLOAT, ["E", 1]),
        helper.make_tensor_value_info("nodes", TensorProto.FLOAT, ["N", 2]),
    ]
    outputs = [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["E", 1])]
    return helper.make_graph(nodes, "edge_level", inputs, outputs, initializers)


def graph_graph(graph_type=TensorProto.INT64):
    """The graph-level model: [G, 2] values, G = max(graph index) + 1; scatter-add pooling."""
    g = "graph_index"
    nodes = []
    if graph_type != TensorProto.INT64:
        nodes.append(helper.make_node("Cast", ["graph_index"], ["g_cast"], to=TensorProto.INT64))
        g = "g_cast"
    nodes += [
        # G = max + 1, as a shape [G]
        helper.make_node("ReduceMax", [g], ["g_max"], keepdims=1),
        helper.make_node("Add", ["g_max", "one_1d"], ["n_graphs"]),
        filled("n_graphs", "zeros_g", 0.0),
        # per-node value p = x . w, its sum and the node count per graph
        helper.make_node("MatMul", ["x", "w"], ["p"]),
        helper.make_node("ScatterElements", ["zeros_g", g, "p"], ["p_sum"], axis=0, reduction="add"),
        helper.make_node("Shape", ["p"], ["n_shape"]),
        filled("n_shape", "ones_n", 1.0),
        helper.make_node("ScatterElements", ["zeros_g", g, "ones_n"], ["count"], axis=0, reduction="add"),
        helper.make_node("Div", ["p_sum", "count"], ["mean"]),
        # edges ending in each graph: graph of each edge's target
        helper.make_node("Gather", ["edge_index", "one"], ["dst"], axis=0),
        helper.make_node("Gather", [g, "dst"], ["dst_graph"], axis=0),
        helper.make_node("Shape", ["dst"], ["e_shape"]),
        filled("e_shape", "ones_e", 1.0),
        helper.make_node(
            "ScatterElements", ["zeros_g", "dst_graph", "ones_e"], ["in_edges"], axis=0, reduction="add"
        ),
        helper.make_node("Unsqueeze", ["mean", "axis1"], ["mean_col"]),
        helper.make_node("Unsqueeze", ["in_edges", "axis1"], ["edges_col"]),
        helper.make_node("Concat", ["mean_col", "edges_col"], ["pooled"], axis=1),
    ]
    initializers = [
        const("w", GRAPH_W),
        const("one", 1, np.int64),
        const("one_1d", [1], np.int64),
        const("axis1", [1], np.int64),
    ]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2]),
        helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "E"]),
        helper.make_tensor_value_info("graph_index", graph_type, ["N"]),
    ]
    outputs = [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["G", 2])]
    return helper.make_graph(nodes, "graph_level", inputs, outputs, initializers)


# candidate classifier: logit[g] = mean over the hits i of candidate g of x[i] . CANDIDATE_W
# + CANDIDATE_B, features n_hits ((n - 4) / 4) and chi2_ndf: 3 hits give -4, 4 hits 1, 5 hits 6
CANDIDATE_W = [20.0, 0.0]
CANDIDATE_B = 1.0


def candidate_graph():
    """The candidate classifier of known function: one logit per candidate [G]."""
    nodes = [
        helper.make_node("ReduceMax", ["graph_index"], ["g_max"], keepdims=1),
        helper.make_node("Add", ["g_max", "one_1d"], ["n_graphs"]),
        filled("n_graphs", "zeros_g", 0.0),
        helper.make_node("MatMul", ["x", "w"], ["p"]),
        helper.make_node("ScatterElements", ["zeros_g", "graph_index", "p"], ["p_sum"], axis=0, reduction="add"),
        helper.make_node("Shape", ["p"], ["n_shape"]),
        filled("n_shape", "ones_n", 1.0),
        helper.make_node("ScatterElements", ["zeros_g", "graph_index", "ones_n"], ["count"], axis=0, reduction="add"),
        helper.make_node("Div", ["p_sum", "count"], ["mean"]),
        helper.make_node("Add", ["mean", "b"], ["logit"]),
    ]
    initializers = [const("w", CANDIDATE_W), const("b", [CANDIDATE_B]), const("one_1d", [1], np.int64)]
    inputs = [
        helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2]),
        helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "E"]),
        helper.make_tensor_value_info("graph_index", TensorProto.INT64, ["N"]),
    ]
    outputs = [helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["G"])]
    return helper.make_graph(nodes, "candidate_level", inputs, outputs, initializers)


def candidate_models():
    """The candidate classifier of known function and variants the tracker must refuse."""
    meta = graph_metadata(
        "graph",
        2,
        "logits",
        node_features="n_hits,chi2_ndf",
        node_scales="4,5",
        node_offsets="4,0",
        candidate_cut="0.5",
    )
    return {
        "candidate.onnx": make_model(candidate_graph(), meta),
        "candidate_unknown_feature.onnx": make_model(
            candidate_graph(), with_value(meta, "gnntrack.node_features", "n_hits,curvature")
        ),
        "candidate_other_scale.onnx": make_model(
            candidate_graph(), with_value(meta, "gnntrack.node_scales", "8,5")
        ),
        "candidate_bad_cut.onnx": make_model(candidate_graph(), with_value(meta, "gnntrack.candidate_cut", "1.5")),
    }


def graph_models():
    """The generic graph models: valid ones with known functions, then broken variants."""
    node_meta = graph_metadata(
        "node",
        3,
        "values",
        output_width="2",
        node_features="a,b,c",
        node_scales="1,2,4",
        node_offsets="0,0.5,0",
        embedding__radius="0.5",
    )
    solo_meta = graph_metadata("node", 2, "logits")
    # its float32 inputs come edge features first: named by metadata
    edge_meta = graph_metadata("edge", 2, "logits", edge_width="1", edge_input="edges")
    graph_meta = graph_metadata("graph", 2, "values", output_width="2")
    return {
        "graph_node.onnx": make_model(node_graph(), node_meta),
        "graph_node_solo.onnx": make_model(node_solo_graph(), solo_meta),
        "graph_edge.onnx": make_model(edge_graph(), edge_meta),
        "graph_graph.onnx": make_model(graph_graph(), graph_meta),
        # runs, but its values are not the probabilities it declares
        "graph_bad_probabilities.onnx": make_model(
            node_solo_graph(), with_value(solo_meta, "gnntrack.output", "probabilities")
        ),
        # broken metadata
        "graph_missing_level.onnx": make_model(node_graph(), without(node_meta, "gnntrack.output_level")),
        "graph_bad_level.onnx": make_model(node_graph(), with_value(node_meta, "gnntrack.output_level", "nodes")),
        "graph_missing_node_width.onnx": make_model(node_graph(), without(node_meta, "gnntrack.node_width")),
        "graph_bad_node_width.onnx": make_model(node_graph(), with_value(node_meta, "gnntrack.node_width", "0")),
        "graph_bad_output_kind.onnx": make_model(node_graph(), with_value(node_meta, "gnntrack.output", "scores")),
        "graph_feature_count.onnx": make_model(
            node_graph(),
            node_meta
            | {"gnntrack.node_features": "a,b", "gnntrack.node_scales": "1,2", "gnntrack.node_offsets": "0,0"},
        ),
        "graph_scales_without_names.onnx": make_model(node_solo_graph(), with_value(solo_meta, "gnntrack.node_scales", "1,1")),
        # metadata against the interface
        "graph_width_mismatch.onnx": make_model(
            node_graph(),
            node_meta
            | {
                "gnntrack.node_width": "4",
                "gnntrack.node_features": "a,b,c,d",
                "gnntrack.node_scales": "1,2,4,8",
                "gnntrack.node_offsets": "0,0.5,0,0",
            },
        ),
        "graph_output_width_mismatch.onnx": make_model(node_graph(), with_value(node_meta, "gnntrack.output_width", "3")),
        "graph_edge_width_without_input.onnx": make_model(node_graph(), with_value(node_meta, "gnntrack.edge_width", "2")),
        # the float32 inputs taken by order: the [E, 1] edge features as node features
        "graph_edge_unnamed.onnx": make_model(edge_graph(), without(edge_meta, "gnntrack.edge_input")),
        "graph_edge_input_without_width.onnx": make_model(edge_graph(), without(edge_meta, "gnntrack.edge_width")),
        "graph_edge_level_without_edges.onnx": make_model(node_solo_graph(), with_value(solo_meta, "gnntrack.output_level", "edge")),
        "graph_level_without_graph_index.onnx": make_model(node_graph(), with_value(node_meta, "gnntrack.output_level", "graph")),
        "graph_index_at_node_level.onnx": make_model(graph_graph(), with_value(graph_meta, "gnntrack.output_level", "node")),
        "graph_two_outputs.onnx": make_model(
            node_graph(
                outputs=[
                    helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", 2]),
                    helper.make_tensor_value_info("h", TensorProto.FLOAT, ["N", 2]),
                ]
            ),
            node_meta,
        ),
        "graph_double_features.onnx": make_model(node_graph(node_type=TensorProto.DOUBLE), node_meta),
        "graph_int32_graph_index.onnx": make_model(graph_graph(graph_type=TensorProto.INT32), graph_meta),
        "graph_int_output.onnx": make_model(
            node_graph(outputs=[helper.make_tensor_value_info("src", TensorProto.INT64, ["E"])]),
            with_value(node_meta, "gnntrack.output_width", "1"),
        ),
    }


# The embedding test model: the scaled projective coordinates (u / 0.3, v / 0.002) times these
# factors; the Rust tests hold the same numbers.
EMBEDDING_GAIN = [300.0, 2.0]
EMBEDDING_RADIUS = "0.5"


def embedding_metadata():
    return {
        "gnntrack.contract": "1",
        "gnntrack.model_name": "embedding-test",
        "gnntrack.model_version": "1.0.0",
        "gnntrack.output_level": "node",
        "gnntrack.output": "values",
        "gnntrack.node_width": "2",
        "gnntrack.output_width": "2",
        "gnntrack.node_features": "u,v",
        "gnntrack.node_scales": "0.3,0.002",
        "gnntrack.node_offsets": "0,0",
        "gnntrack.embedding.radius": EMBEDDING_RADIUS,
        "gnntrack.embedding.max_neighbours": "3",
    }


def embedding_graph():
    """A node-level model without edges: embedding = node_features * EMBEDDING_GAIN."""
    return helper.make_graph(
        [helper.make_node("Mul", ["node_features", "gain"], ["embedding"])],
        "embedding",
        [helper.make_tensor_value_info("node_features", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 2])],
        initializer=[const("gain", EMBEDDING_GAIN)],
    )


# The edge filter test model: logit = dy (scaled, the edge feature) + x (scaled, of the inner
# hit) - FILTER_SHIFT, cut 0.5 (logit 0); the Rust tests hold the same numbers.
FILTER_SHIFT = 0.4


def filter_metadata():
    return {
        "gnntrack.contract": "1",
        "gnntrack.model_name": "filter-test",
        "gnntrack.model_version": "1.0.0",
        "gnntrack.output_level": "edge",
        "gnntrack.output": "logits",
        "gnntrack.node_width": "1",
        "gnntrack.edge_width": "1",
        "gnntrack.node_features": "x",
        "gnntrack.node_scales": "500",
        "gnntrack.node_offsets": "0",
        "gnntrack.edge_features": "dy",
        "gnntrack.edge_scales": "0.5",
        "gnntrack.edge_offsets": "0",
        "gnntrack.edge_input": "edge_features",
        "gnntrack.filter.cut": "0.5",
    }


def filter_graph():
    """An edge-level model: logit [E, 1] = edge_features + node_features[src] - FILTER_SHIFT."""
    return helper.make_graph(
        [
            helper.make_node("Gather", ["edge_index", "zero"], ["src"], axis=0),
            helper.make_node("Gather", ["node_features", "src"], ["x_src"], axis=0),
            helper.make_node("Add", ["edge_features", "x_src"], ["sum"]),
            helper.make_node("Sub", ["sum", "shift"], ["logit"]),
        ],
        "edge_filter",
        [
            helper.make_tensor_value_info("node_features", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("edge_index", TensorProto.INT64, [2, "E"]),
            helper.make_tensor_value_info("edge_features", TensorProto.FLOAT, ["E", 1]),
        ],
        [helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["E", 1])],
        initializer=[const("zero", 0, np.int64), const("shift", [FILTER_SHIFT])],
    )


def make_model(graph, metadata, check=True):
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="gnntrack-test-models",
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, metadata)
    if check:
        onnx.checker.check_model(model, full_check=True)
    return model


def without(metadata, key):
    out = dict(metadata)
    del out[key]
    return out


def with_value(metadata, key, value):
    out = dict(metadata)
    out[key] = value
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    lm = linear_metadata()
    models = {
        # valid models
        "linear.onnx": make_model(linear_graph(), lm),
        "message_passing.onnx": make_model(message_passing_graph(), message_passing_metadata()),
        # the same, declaring its receptive field: one round of message passing
        "message_passing_local.onnx": make_model(
            message_passing_graph(), with_value(message_passing_metadata(), "gnntrack.receptive_hops", "1")
        ),
        # the same with its sum by ScatterND, right on one intra-op thread only, as it declares
        "message_passing_nd.onnx": make_model(
            message_passing_nd_graph(), with_value(message_passing_metadata(), "gnntrack.max_intra_threads", "1")
        ),
        # valid, but trained with other graph parameters than the tests' tracker
        "linear_other_graph.onnx": make_model(
            linear_graph(), with_value(lm, "gnntrack.graph", GRAPH_TOML.replace("2054.0", "2000.0"))
        ),
        # valid: the float inputs come edge features first, named by metadata
        "linear_swapped_named.onnx": make_model(
            linear_graph(swap_float_inputs=True),
            with_value(lm, "gnntrack.node_input", "node_features"),
        ),
        # broken interfaces
        # float inputs edge features first, not named: taken by order, column counts disagree
        "linear_swapped.onnx": make_model(linear_graph(swap_float_inputs=True), lm),
        "wrong_dtype.onnx": make_model(linear_graph(node_type=TensorProto.DOUBLE), lm),
        "wrong_rank.onnx": make_model(linear_graph(node_shape=(1, "N", 3)), lm),
        "edge_index_transposed.onnx": make_model(linear_graph(edge_index_transposed=True), lm),
        "too_many_inputs.onnx": make_model(
            linear_graph(
                extra_inputs=[helper.make_tensor_value_info("unused", TensorProto.FLOAT, ["N", 1])]
            ),
            lm,
        ),
        # three inputs, but two of them int64: which one is edge_index?
        "two_int64_inputs.onnx": make_model(linear_graph(edge_type=TensorProto.INT64), lm),
        "two_outputs.onnx": make_model(
            linear_graph(
                outputs=[
                    helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["E", 1]),
                    helper.make_tensor_value_info("wx", TensorProto.FLOAT, ["E", 1]),
                ]
            ),
            lm,
        ),
        "wrong_output_shape.onnx": make_model(
            linear_graph(outputs=[helper.make_tensor_value_info("cat", TensorProto.FLOAT, ["E", 8])]),
            lm,
        ),
        "wrong_feature_count.onnx": make_model(
            linear_graph(),
            with_value(
                with_value(with_value(lm, "gnntrack.node_features", "x,y"), "gnntrack.node_scales", "1000,10"),
                "gnntrack.node_offsets",
                "0,0",
            ),
        ),
        # broken metadata
        "unknown_feature.onnx": make_model(
            linear_graph(), with_value(lm, "gnntrack.node_features", "x,y,banana")
        ),
        "bad_output_kind.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.output", "logit")),
        "bad_edge_cut.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.edge_cut", "high")),
        "bad_scales.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.node_scales", "1000,0,5000")),
        "short_scales.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.node_scales", "1000,10")),
        "bad_offsets.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.node_offsets", "0,abc,0")),
        "short_offsets.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.node_offsets", "0,0")),
        "other_offsets.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.node_offsets", "0,5,0")),
        "node_offsets_only.onnx": make_model(linear_graph(), without(lm, "gnntrack.edge_offsets")),
        "bad_graph.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.graph", "reference_z = ")),
        "bad_contract.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.contract", "7")),
        "bad_receptive_hops.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.receptive_hops", "-1")),
        "bad_max_intra_threads.onnx": make_model(linear_graph(), with_value(lm, "gnntrack.max_intra_threads", "0")),
        "edge_features_without_input.onnx": make_model(
            message_passing_graph(),
            with_value(
                with_value(message_passing_metadata(), "gnntrack.edge_features", "dx"),
                "gnntrack.edge_scales",
                "100",
            ),
        ),
    }
    models.update(graph_models())
    models |= {
        # the gnntrack operators with decoy function bodies, and without any
        "gnntrack_ops.onnx": gnntrack_ops_model(),
        "gnntrack_ops_no_functions.onnx": gnntrack_ops_model(functions=False),
        # the dense operators with decoy function bodies
        "gnntrack_dense.onnx": gnntrack_dense_model(),
    }
    em = embedding_metadata()
    models |= {
        # the learned graph builder's embedding: valid, then with a feature the tracker does not
        # know, another scale than the tracker's, and without its search radius
        "embedding.onnx": make_model(embedding_graph(), em),
        "embedding_unknown_feature.onnx": make_model(
            embedding_graph(), with_value(em, "gnntrack.node_features", "u,banana")
        ),
        "embedding_other_scale.onnx": make_model(
            embedding_graph(), with_value(em, "gnntrack.node_scales", "0.3,0.004")
        ),
        "embedding_no_radius.onnx": make_model(embedding_graph(), without(em, "gnntrack.embedding.radius")),
    }
    fm = filter_metadata()
    models |= {
        # the graph stage's edge filter: valid, then without its cut, with a cut that is no
        # probability, a feature the tracker does not know, features not named, values out
        "filter.onnx": make_model(filter_graph(), fm),
        "filter_no_cut.onnx": make_model(filter_graph(), without(fm, "gnntrack.filter.cut")),
        "filter_bad_cut.onnx": make_model(filter_graph(), with_value(fm, "gnntrack.filter.cut", "1.5")),
        "filter_unknown_feature.onnx": make_model(filter_graph(), with_value(fm, "gnntrack.edge_features", "banana")),
        "filter_unnamed.onnx": make_model(
            filter_graph(),
            {k: v for k, v in fm.items() if not k.startswith("gnntrack.edge_") or k == "gnntrack.edge_width"}
            | {"gnntrack.edge_input": "edge_features"},
        ),
        "filter_values.onnx": make_model(filter_graph(), with_value(fm, "gnntrack.output", "values")),
    }
    models.update(candidate_models())
    required = [
        "gnntrack.contract",
        "gnntrack.model_name",
        "gnntrack.model_version",
        "gnntrack.node_features",
        "gnntrack.node_scales",
        "gnntrack.edge_features",
        "gnntrack.edge_scales",
        "gnntrack.output",
        "gnntrack.edge_cut",
        "gnntrack.graph",
    ]
    for key in required:
        models["missing_" + key.removeprefix("gnntrack.") + ".onnx"] = make_model(
            linear_graph(), without(lm, key)
        )
    for name, model in models.items():
        onnx.save_model(model, os.path.join(out_dir, name))
    with open(os.path.join(out_dir, "not_a_model.onnx"), "w") as f:
        f.write("this is not an ONNX model\n")
    print(f"wrote {len(models) + 1} test models to {out_dir}")


if __name__ == "__main__":
    main()
