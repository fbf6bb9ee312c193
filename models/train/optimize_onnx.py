"""Rewrites an exported edge classifier into an equivalent graph that onnxruntime runs faster.

Seven rewrites, all exact in real arithmetic (float results differ in the last bits at most; the
last five give the same bits on onnxruntime's CPU kernels):

1. Row lookups `GatherND(data, Unsqueeze(index, 1))` become `Gather(data, index, axis=0)`, the
   same rows by a simpler and parallel kernel.
2. A dense layer on the concatenation of two gathered node rows and an edge row,
   `Gemm(Concat(h[src], h[dst], e), W) + b`, becomes `e Wc + ((h Wa + b)[src] + (h Wb)[dst])`
   with W = [Wa | Wb | Wc]: the node parts are multiplied once per node instead of once per
   edge (a graph has fewer nodes than edges), and the [E, 3H] concatenation disappears.
3. A sum of edge rows into node rows through flat indices, `ScatterElements(zeros[N K],
   (i K + [0..K-1]) flattened, X[E, K] flattened, reduction=add)`: onnxruntime spends as long on
   that index arithmetic (64-bit integers, a column broadcast over K) as on the sum. Rows of up
   to four columns are summed as rows, `ScatterElements(zeros[N, K], [i, .., i], X)` with the
   index column copied K times side by side; for wider rows, on which the row scatter is slower,
   the index is scaled as a vector before it becomes a column, `Unsqueeze(i K, 1)`. Every sum
   takes its terms in the same order.
4. A one-column gate broadcast over K columns, `Sigmoid(Gemm(h, w, b)) [E, 1] * X [E, K]`, becomes
   `Sigmoid(Gemm(h, [w; ..; w], [b, .., b])) [E, K] * X`: onnxruntime multiplies tensors of one
   shape several times faster than it broadcasts a column, and K - 1 more outputs of a dense
   layer cost little.

5. The row sums of rewrite 3, `ScatterElements(zeros[N, K], [i, .., i], X[E, K], reduction=add)`,
   become `ScatterND(zeros[N, K], i[E, 1], X, reduction=add)`: onnxruntime adds a whole row per
   index instead of finding each element's place, 2.2 times faster (the inference of the default
   model 8-12 % faster), and the [E, K] index disappears. The wider sums that rewrite 3 leaves
   flat become the same row sum over the zeros seen as [N, K], given back flat (the large
   model's inference 27 % faster). Its ScatterND sums race on more than
   one intra-op thread (onnxruntime issue 18048: updates of one row get lost), so the rewritten
   model declares `gnntrack.max_intra_threads = 1` and the tracker runs it on one intra-op thread
   per session. Only for a model that declares its receptive field (`gnntrack.receptive_hops`),
   which the tracker scores in parts side by side, one thread each, anyway; a model run in one
   piece (the candidate classifier) keeps sums that may use every thread. Another host must
   also run a rewritten model on one thread.
6. What is left of each round of message passing becomes two operators of the domain
   `gnntrack`: `Add(Gather(A, src), Gather(B, dst))`, the node parts of an edge layer, becomes
   `GatherPairSum(A, B, src, dst)`; the incoming and outgoing sums of one gated message beside
   the hits' states, `Concat(rows of ScatterND(zeros, dst, w * M[src]), rows of ScatterND(zeros,
   src, w * M[dst]), H)`, become `MessageSum(w, M, H, src, dst)`. onnxruntime spends about 10 ns
   per row on each lookup and scatter-add, whatever the row's width; the tracker's kernels for
   these operators (src/inference/kernels.rs) do the same work in one pass each, with the same
   float operations in the same order (the default model's inference 27-29 % faster, the same
   scores bit for bit). The model also carries both operators as ONNX functions in standard
   operators, which any other host (Python's onnxruntime, the CUDA provider) runs instead: the
   scores of rewrite 5's graph bit for bit. Only for a model scored in parts, as rewrite 5.
7. A dense layer of 1, 8 or 16 outputs, `Gemm(X, W, c, transB=1)` with W a weight and c a bias
   row or a matrix of the output's shape, becomes `Dense(X, W, c)` of the `gnntrack` domain, and
   with the ReLU that alone reads it `DenseRelu(X, W, c)`. onnxruntime's Gemm copies the bias
   into every output row before it adds the product, which for rows this short takes about a
   third as long as the product; the tracker's kernel (src/inference/dense.rs) computes each
   row in registers with the same float operations (the default model's inference 12-15 %
   faster on an AVX-512 machine, the same scores bit for bit). The function bodies are the
   Gemm and the Relu. A layer whose output only another activation reads (tanh, sigmoid, ...)
   stays a Gemm: onnxruntime computes that activation inside its Gemm, where a separate pass
   would cost more than the copy. For a model scored in parts, as rewrite 6, and with `--dense`
   for another model the tracker runs on one thread per session, the edge filter of the graph
   stage (the kernel is one thread's work where onnxruntime's Gemm may use several).

Only operators of the default ONNX domain are matched; the model's opset imports gain
`gnntrack` version 1 when rewrite 6 or 7 applies. The model's inputs, outputs and weights stay as
they are, and its metadata but for
`gnntrack.max_intra_threads` (and `--version`); `--check` runs the original and the rewritten
model on a random graph, one intra-op thread each, and fails if the scores differ by more than
1e-4.

    python3 models/train/optimize_onnx.py IN.onnx OUT.onnx [--version V] [--check] [--dense]
"""

import argparse
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference


def producers(graph):
    return {out: node for node in graph.node for out in node.output}


def consumers(graph):
    users = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def static_width(shapes, name):
    """The second dimension of a rank-2 value, when it is a fixed number."""
    t = shapes.get(name)
    if t is None or len(t.shape.dim) != 2 or not t.shape.dim[1].HasField("dim_value"):
        return None
    return t.shape.dim[1].dim_value


def constant(graph, name):
    """The value of an initializer or `Constant` node output, or None."""
    init = next((t for t in graph.initializer if t.name == name), None)
    if init is not None:
        return numpy_helper.to_array(init)
    node = producers(graph).get(name)
    if node is not None and node.op_type == "Constant":
        return numpy_helper.to_array(node.attribute[0].t)
    return None


def add_initializer(graph, name, value):
    """Adds an initializer unless one of that name exists; returns the name."""
    if not any(t.name == name for t in graph.initializer):
        graph.initializer.append(numpy_helper.from_array(value, name))
    return name


def replace_node(graph, old, new):
    """Puts the nodes `new` where `old` was."""
    at = list(graph.node).index(old)
    graph.node.remove(old)
    for k, n in enumerate(new):
        graph.node.insert(at + k, n)


def column_of(graph, unsq):
    """The vector i when `unsq` is `Unsqueeze(i, [1])` (axes as an input or, before opset 13, an
    attribute), otherwise None."""
    if unsq is None or unsq.op_type != "Unsqueeze":
        return None
    if len(unsq.input) > 1:
        axes_value = constant(graph, unsq.input[1])
        axes = None if axes_value is None else axes_value.tolist()
    else:
        axes = next((list(a.ints) for a in unsq.attribute if a.name == "axes"), None)
    return unsq.input[0] if axes in ([1], [-1]) else None


def gathernd_to_gather(graph):
    """Rewrite 1; returns how many lookups it replaced."""
    made = producers(graph)
    count = 0
    for i, node in enumerate(list(graph.node)):
        if node.op_type != "GatherND" or any(a.name == "batch_dims" and a.i != 0 for a in node.attribute):
            continue
        unsq = made.get(node.input[1])
        if column_of(graph, unsq) is None:
            continue
        gather = helper.make_node("Gather", [node.input[0], unsq.input[0]], list(node.output), axis=0,
                                  name=(node.name or f"gathernd_{i}") + "_as_gather")
        replace_node(graph, node, [gather])
        count += 1
    return count


def split_edge_layers(graph, shapes):
    """Rewrite 2; returns how many layers it split."""
    made = producers(graph)
    users = consumers(graph)
    inits = {t.name: t for t in graph.initializer}
    split_weights = {}
    count = 0
    for node in list(graph.node):
        if node.op_type != "Concat" or len(node.input) != 3:
            continue
        if not any(a.name == "axis" and a.i in (1, -1) for a in node.attribute):
            continue
        g_src, g_dst = (made.get(n) for n in node.input[:2])
        if not (g_src and g_dst and g_src.op_type == "Gather" and g_dst.op_type == "Gather"):
            continue
        if g_src.input[0] != g_dst.input[0]:
            continue
        gemms = users.get(node.output[0], [])
        if len(gemms) != 1 or gemms[0].op_type != "Gemm":
            continue
        gemm = gemms[0]
        attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
        if attrs.get("transB", 0) != 1 or attrs.get("transA", 0) != 0 or attrs.get("alpha", 1.0) != 1.0:
            continue
        if gemm.input[1] not in inits or (len(gemm.input) > 2 and gemm.input[2] not in inits):
            continue
        h_width = static_width(shapes, g_src.input[0])
        e_width = static_width(shapes, node.input[2])
        w = numpy_helper.to_array(inits[gemm.input[1]])
        if h_width is None or e_width is None or w.shape[1] != 2 * h_width + e_width:
            continue
        key = gemm.input[1]
        if key not in split_weights:
            parts = (w[:, :h_width], w[:, h_width:2 * h_width], w[:, 2 * h_width:])
            names = [f"{key}.src", f"{key}.dst", f"{key}.edge"]
            for name, part in zip(names, parts):
                graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(part), name))
            split_weights[key] = names
        w_src, w_dst, w_edge = split_weights[key]
        h, src, dst, e = g_src.input[0], g_src.input[1], g_dst.input[1], node.input[2]
        out = gemm.output[0]
        tag = out
        bias = list(gemm.input[2:3])
        new = [
            # The bias once per node, with the source part.
            helper.make_node("Gemm", [h, w_src] + bias, [f"{tag}.h_src"], transB=1,
                             beta=attrs.get("beta", 1.0)),
            helper.make_node("Gemm", [h, w_dst], [f"{tag}.h_dst"], transB=1),
            helper.make_node("Gather", [f"{tag}.h_src", src], [f"{tag}.at_src"], axis=0),
            helper.make_node("Gather", [f"{tag}.h_dst", dst], [f"{tag}.at_dst"], axis=0),
            helper.make_node("Add", [f"{tag}.at_src", f"{tag}.at_dst"], [f"{tag}.nodes"]),
            # The edge part, with the node parts as Gemm's C term.
            helper.make_node("Gemm", [e, w_edge, f"{tag}.nodes"], [out], transB=1),
        ]
        replace_node(graph, gemm, new)
        count += 1
    return count


# The widest rows summed as rows (rewrite 3): onnxruntime's ScatterElements takes longer per
# element on rows than on a flat vector, 1.1 times at 4 columns but 1.4 times at 8 and 2.8 at 16.
ROWS_MAX_WIDTH = 4


def flat_index_sum(graph, made, node, op):
    """For a scatter whose index and rows are both flattened, `Reshape(Add(scaled, columns),
    [-1])` and `Reshape(X, [-1])` with `scaled` made by an `op` node and constant `columns`: that
    node, the columns and the rows' Reshape; otherwise None."""
    index_view, rows_view = made.get(node.input[1]), made.get(node.input[2])
    for view in (index_view, rows_view):
        if view is None or view.op_type != "Reshape":
            return None
        flat = constant(graph, view.input[1])
        if flat is None or flat.tolist() != [-1]:
            return None
    add = made.get(index_view.input[0])
    if add is None or add.op_type != "Add":
        return None
    scaled, columns = made.get(add.input[0]), constant(graph, add.input[1])
    if scaled is None or scaled.op_type != op or columns is None:
        return None
    return scaled, columns, rows_view


def flat_sum_parts(graph, shapes, node):
    """For a sum of rows through flat indices (rewrite 3), its index column, the product node
    that scales it, the width K and the [E, K] rows; otherwise None."""
    made = producers(graph)
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    if node.op_type != "ScatterElements" or attrs.get("axis", 0) != 0 or attrs.get("reduction") != b"add":
        return None
    found = flat_index_sum(graph, made, node, "Mul")
    if found is None:
        return None
    mul, columns, rows_view = found
    width = constant(graph, mul.input[1])
    if width is None or width.size != 1 or width.ndim > 1:
        return None
    k, rows = int(width.reshape(-1)[0]), rows_view.input[0]
    if columns.reshape(-1).tolist() != list(range(k)) or static_width(shapes, rows) != k:
        return None
    if static_width(shapes, mul.input[0]) != 1:
        return None
    return mul.input[0], mul, k, rows


def sum_rows(graph, shapes):
    """Rewrite 3; returns how many sums it changed."""
    made = producers(graph)
    count = 0
    moved = set()
    made_here = set()
    for node in list(graph.node):
        found = flat_sum_parts(graph, shapes, node)
        if found is None:
            continue
        column, mul, k, rows = found
        if k > ROWS_MAX_WIDTH:
            unsqueeze = made.get(column)
            if mul.name in moved or unsqueeze is None or unsqueeze.op_type != "Unsqueeze":
                continue
            if len(consumers(graph).get(column, [])) != 1:
                continue
            scaled = f"{mul.output[0]}.vector"
            replace_node(graph, mul, [
                helper.make_node("Mul", [unsqueeze.input[0], mul.input[1]], [scaled]),
                helper.make_node("Unsqueeze", [scaled] + list(unsqueeze.input[1:]), list(mul.output),
                                 **{a.name: helper.get_attribute_value(a) for a in unsqueeze.attribute}),
            ])
            graph.node.remove(unsqueeze)
            moved.add(mul.name)
            count += 1
            continue
        zeros = node.input[0]
        new = []
        index = f"{column}.x{k}"
        if index not in made_here:
            new.append(helper.make_node("Concat", [column] * k, [index], axis=1))
            made_here.add(index)
        zero_rows = f"{zeros}.rows{k}"
        if zero_rows not in made_here:
            shape = add_initializer(graph, f"{zeros}.shape{k}", np.array([-1, k], dtype=np.int64))
            new.append(helper.make_node("Reshape", [zeros, shape], [zero_rows]))
            made_here.add(zero_rows)
        summed = f"{node.output[0]}.rows"
        flat = made[node.input[2]].input[1]
        new.append(helper.make_node("ScatterElements", [zero_rows, index, rows], [summed], axis=0,
                                    reduction="add"))
        new.append(helper.make_node("Reshape", [summed, flat], [node.output[0]]))
        replace_node(graph, node, new)
        count += 1
    return count


def row_width(graph, shapes, name):
    """The width of a rank-2 value: its inferred shape, or the K of `Reshape(x, [-1, K])`."""
    width = static_width(shapes, name)
    if width is not None:
        return width
    reshape = producers(graph).get(name)
    if reshape is None or reshape.op_type != "Reshape":
        return None
    target = constant(graph, reshape.input[1])
    if target is None or target.ndim != 1 or len(target) != 2 or target[0] != -1:
        return None
    return int(target[1])


# The metadata key that tells a host how many intra-op threads the model gives right results on.
MAX_INTRA_THREADS = "gnntrack.max_intra_threads"


def sums_by_scatter_nd(graph, shapes, opset):
    """Rewrite 5 (ScatterND takes a reduction from opset 16 on); returns how many sums it
    changed."""
    if opset < 16:
        return 0
    made = producers(graph)
    count = 0
    for node in list(graph.node):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type != "ScatterElements" or attrs.get("axis", 0) != 0 or attrs.get("reduction") != b"add":
            continue
        data, index, rows = node.input
        columns = made.get(index)
        if columns is not None and columns.op_type == "Concat" and len(set(columns.input)) == 1:
            # Rows of up to four columns: the index column copied K times.
            if {a.name: helper.get_attribute_value(a) for a in columns.attribute}.get("axis") not in (1, -1):
                continue
            column, k = columns.input[0], len(columns.input)
            if static_width(shapes, column) != 1 or row_width(graph, shapes, data) != k:
                continue
            replace_node(graph, node, [helper.make_node("ScatterND", [data, column, rows], list(node.output),
                                                        reduction="add")])
            count += 1
            continue
        wide = wide_sum_parts(graph, shapes, node)
        if wide is None:
            continue
        # Wider rows, summed flat (i K + [0..K-1]): the same sum as rows of the zeros, with the
        # flat shape given back for the nodes that read it.
        vector, k, rows = wide
        out = node.output[0]
        rows_shape = add_initializer(graph, f"rows{k}.shape", np.array([-1, k], dtype=np.int64))
        flat_shape = add_initializer(graph, "flat.shape", np.array([-1], dtype=np.int64))
        axis = add_initializer(graph, "axis.one", np.array([1], dtype=np.int64))
        replace_node(graph, node, [
            helper.make_node("Reshape", [data, rows_shape], [f"{out}.zero_rows"]),
            helper.make_node("Unsqueeze", [vector, axis], [f"{out}.column"]),
            helper.make_node("ScatterND", [f"{out}.zero_rows", f"{out}.column", rows], [f"{out}.rows"],
                             reduction="add"),
            helper.make_node("Reshape", [f"{out}.rows", flat_shape], [out]),
        ])
        made = producers(graph)
        count += 1
    return count


def wide_sum_parts(graph, shapes, node):
    """For rewrite 3's wide sum, `ScatterElements(zeros(N K), Reshape(Unsqueeze(i K, 1) +
    [0..K-1], [-1]), Reshape(X[E, K], [-1]))`: the index vector i, K and X; otherwise None."""
    made = producers(graph)
    data = node.input[0]
    zeros = made.get(data)
    if zeros is None or zeros.op_type not in ("Expand", "ConstantOfShape"):
        return None
    found = flat_index_sum(graph, made, node, "Unsqueeze")
    if found is None:
        return None
    unsqueeze, columns, rows_view = found
    axes = constant(graph, unsqueeze.input[1]) if len(unsqueeze.input) > 1 else None
    if axes is None or axes.reshape(-1).tolist() not in ([1], [-1]):
        return None
    mul = made.get(unsqueeze.input[0])
    if mul is None or mul.op_type != "Mul":
        return None
    width = constant(graph, mul.input[1])
    if width is None or width.size != 1:
        return None
    k = int(width.reshape(-1)[0])
    if columns.reshape(-1).tolist() != list(range(k)) or static_width(shapes, rows_view.input[0]) != k:
        return None
    return mul.input[0], k, rows_view.input[0]


def set_metadata(model, key, value):
    """Sets a metadata entry, replacing one of that key."""
    for p in model.metadata_props:
        if p.key == key:
            p.value = value
            return
    entry = model.metadata_props.add()
    entry.key, entry.value = key, value


def widen_gates(graph, shapes):
    """Rewrite 4; returns how many gates it widened."""
    made = producers(graph)
    users = consumers(graph)
    count = 0
    for sigmoid in list(graph.node):
        if sigmoid.op_type != "Sigmoid" or static_width(shapes, sigmoid.output[0]) != 1:
            continue
        gate = sigmoid.output[0]
        muls = [u for u in users.get(gate, []) if u.op_type == "Mul" and list(u.input).count(gate) == 1]
        widths = {static_width(shapes, next(i for i in m.input if i != gate)) for m in muls}
        if len(widths) != 1:
            continue
        k = widths.pop()
        if k is None or k < 2:
            continue
        gemm = made.get(sigmoid.input[0])
        if gemm is None or gemm.op_type != "Gemm" or len(gemm.input) != 3:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in gemm.attribute}
        w, b = constant(graph, gemm.input[1]), constant(graph, gemm.input[2])
        if attrs.get("transA", 0) != 0 or w is None or b is None or b.size != 1:
            continue
        wide_w = np.tile(w, (k, 1)) if attrs.get("transB", 0) == 1 else np.tile(w, (1, k))
        w_name = add_initializer(graph, f"{gemm.input[1]}.x{k}", np.ascontiguousarray(wide_w))
        b_name = add_initializer(graph, f"{gemm.input[2]}.x{k}", np.tile(b.reshape(-1), k))
        wide = f"{gate}.x{k}"
        at = list(graph.node).index(sigmoid) + 1
        graph.node.insert(at, helper.make_node("Gemm", [gemm.input[0], w_name, b_name], [f"{wide}.logit"], **attrs))
        graph.node.insert(at + 1, helper.make_node("Sigmoid", [f"{wide}.logit"], [wide]))
        for m in muls:
            m.input[:] = [wide if name == gate else name for name in m.input]
        count += 1
    return count


# The operator domain of rewrite 6; the tracker's onnxruntime sessions on the CPU register a
# kernel for each of its operators, any other host runs the operators' function bodies.
GNNTRACK_DOMAIN = "gnntrack"


def gnntrack_functions(opset):
    """The function bodies of rewrite 6's operators in standard operators of `opset`."""
    imports = [helper.make_opsetid("", opset)]
    pair_sum = helper.make_function(GNNTRACK_DOMAIN, "GatherPairSum", ["a", "b", "src", "dst"], ["sum"], [
        helper.make_node("Gather", ["a", "src"], ["a_src"], axis=0),
        helper.make_node("Gather", ["b", "dst"], ["b_dst"], axis=0),
        helper.make_node("Add", ["a_src", "b_dst"], ["sum"]),
    ], imports, doc_string="sum[e] = a[src[e]] + b[dst[e]]")
    zero = helper.make_tensor("zero", onnx.TensorProto.FLOAT, [], [0.0])
    column = helper.make_tensor("column", onnx.TensorProto.INT64, [1], [1])
    message_sum = helper.make_function(GNNTRACK_DOMAIN, "MessageSum", ["w", "m", "h", "src", "dst"], ["rows"], [
        helper.make_node("Constant", [], ["zero"], value=zero),
        helper.make_node("Constant", [], ["column"], value=column),
        helper.make_node("Shape", ["h"], ["n"], start=0, end=1),
        helper.make_node("Shape", ["m"], ["k"], start=1, end=2),
        helper.make_node("Concat", ["n", "k"], ["n_k"], axis=0),
        helper.make_node("Expand", ["zero", "n_k"], ["zeros"]),
        helper.make_node("Gather", ["m", "src"], ["m_src"], axis=0),
        helper.make_node("Mul", ["w", "m_src"], ["to_dst"]),
        helper.make_node("Unsqueeze", ["dst", "column"], ["dst_column"]),
        helper.make_node("ScatterND", ["zeros", "dst_column", "to_dst"], ["incoming"], reduction="add"),
        helper.make_node("Gather", ["m", "dst"], ["m_dst"], axis=0),
        helper.make_node("Mul", ["w", "m_dst"], ["to_src"]),
        helper.make_node("Unsqueeze", ["src", "column"], ["src_column"]),
        helper.make_node("ScatterND", ["zeros", "src_column", "to_src"], ["outgoing"], reduction="add"),
        helper.make_node("Concat", ["incoming", "outgoing", "h"], ["rows"], axis=1),
    ], imports, doc_string="rows[i] = [sum over dst[e] = i of w[e] m[src[e]], "
                           "sum over src[e] = i of w[e] m[dst[e]], h[i]], each sum in edge order")
    dense = helper.make_function(GNNTRACK_DOMAIN, "Dense", ["x", "w", "c"], ["y"], [
        helper.make_node("Gemm", ["x", "w", "c"], ["y"], transB=1),
    ], imports, doc_string="y = x w^T + c (c: a row for every row of y, or one row each)")
    dense_relu = helper.make_function(GNNTRACK_DOMAIN, "DenseRelu", ["x", "w", "c"], ["y"], [
        helper.make_node("Gemm", ["x", "w", "c"], ["xw_c"], transB=1),
        helper.make_node("Relu", ["xw_c"], ["y"]),
    ], imports, doc_string="y = max(0, x w^T + c)")
    return [pair_sum, message_sum, dense, dense_relu]


def is_zeros(graph, made, name):
    """Whether `name` is all zeros: a zero scalar expanded, a `ConstantOfShape` of zero, or a
    reshape of such (`made`: the producer of each value)."""
    node = made.get(name)
    while node is not None and node.op_type == "Reshape":
        node = made.get(node.input[0])
    if node is None:
        return False
    if node.op_type == "ConstantOfShape":
        value = next((numpy_helper.to_array(a.t) for a in node.attribute if a.name == "value"), np.zeros(1))
    elif node.op_type == "Expand":
        value = constant(graph, node.input[0])
    else:
        return False
    return value is not None and value.size == 1 and float(value.reshape(-1)[0]) == 0.0


def standard(node, op_type):
    """Whether `node` is the ONNX operator `op_type` (default domain)."""
    return node is not None and node.op_type == op_type and node.domain in ("", "ai.onnx")


def gated_row_sum(graph, made, shapes, name):
    """For the rows `Reshape(..(ScatterND(zeros[N, K], Unsqueeze(to, 1), w * m[via], add)), [-1,
    K])` (rewrite 5's row sum of a gated message): (w, m, via, to); otherwise None."""
    chain = []
    node = made.get(name)
    while standard(node, "Reshape"):
        chain.append(node)
        node = made.get(node.input[0])
    if not chain or not standard(node, "ScatterND"):
        return None
    if {a.name: helper.get_attribute_value(a) for a in node.attribute}.get("reduction") != b"add":
        return None
    data, column, updates = node.input
    k = row_width(graph, shapes, data)
    target = constant(graph, chain[0].input[1])
    if k is None or target is None or target.tolist() != [-1, k] or not is_zeros(graph, made, data):
        return None
    unsq = made.get(column)
    to = column_of(graph, unsq) if standard(unsq, "Unsqueeze") else None
    mul = made.get(updates)
    if to is None or not standard(mul, "Mul"):
        return None
    for w, rows in (mul.input, mul.input[::-1]):
        gather = made.get(rows)
        if standard(gather, "Gather") and all(
                a.i == 0 for a in gather.attribute if a.name == "axis"):
            return w, gather.input[0], gather.input[1], to
    return None


def rank(shapes, name):
    """The rank of a value as inferred, or None."""
    t = shapes.get(name)
    return len(t.shape.dim) if t is not None and t.HasField("shape") else None


def gnntrack_operators(model):
    """Rewrite 6; returns how many nodes it replaced by operators of the gnntrack domain."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: v.type.tensor_type for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    graph = model.graph
    made = producers(graph)
    users = consumers(graph)
    single_use = lambda n: all(len(users.get(o, [])) == 1 for o in n.output)
    count = 0
    for node in list(graph.node):
        if standard(node, "Add") and len(node.input) == 2:
            gathers = [made.get(i) for i in node.input]
            if all(standard(g, "Gather") and single_use(g)
                   and all(a.i == 0 for a in g.attribute if a.name == "axis") for g in gathers):
                (a, src), (b, dst) = (g.input for g in gathers)
                if [rank(shapes, x) for x in (a, b, src, dst)] != [2, 2, 1, 1]:
                    continue
                replace_node(graph, node, [helper.make_node(
                    "GatherPairSum", [a, b, src, dst], list(node.output), domain=GNNTRACK_DOMAIN,
                    name=f"{node.output[0]}.pair_sum")])
                count += 1
                made, users = producers(graph), consumers(graph)
        elif standard(node, "Concat") and len(node.input) == 3 and all(
                a.i in (1, -1) for a in node.attribute if a.name == "axis"):
            incoming = gated_row_sum(graph, made, shapes, node.input[0])
            outgoing = gated_row_sum(graph, made, shapes, node.input[1])
            if incoming is None or outgoing is None:
                continue
            (w, m, src, dst), (w2, m2, via, to) = incoming, outgoing
            if (w, m) != (w2, m2) or (via, to) != (dst, src):
                continue
            if [rank(shapes, x) for x in (w, m, node.input[2], src, dst)] != [2, 2, 2, 1, 1]:
                continue
            replace_node(graph, node, [helper.make_node(
                "MessageSum", [w, m, node.input[2], src, dst], list(node.output), domain=GNNTRACK_DOMAIN,
                name=f"{node.output[0]}.message_sum")])
            count += 1
            made, users = producers(graph), consumers(graph)
    if count:
        add_gnntrack_domain(model)
    return count


def add_gnntrack_domain(model):
    """Imports the gnntrack domain into `model` and adds the function bodies of the operators
    its graph uses that it lacks."""
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    if not any(o.domain == GNNTRACK_DOMAIN for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid(GNNTRACK_DOMAIN, 1))
    used = {n.op_type for n in model.graph.node if n.domain == GNNTRACK_DOMAIN}
    present = {(f.domain, f.name) for f in model.functions}
    model.functions.extend(f for f in gnntrack_functions(opset)
                           if f.name in used and (f.domain, f.name) not in present)


# The output widths rewrite 7 takes: those the tracker's dense kernel has fast code for.
DENSE_WIDTHS = (1, 8, 16)
# Activations onnxruntime fuses into the Gemm before them (computed while the rows are in the
# cache): a layer followed by one of these alone stays a Gemm.
FUSED_ACTIVATIONS = ("Tanh", "Sigmoid", "LeakyRelu", "HardSigmoid", "Elu", "Selu", "Softplus")


def dense_layers(model):
    """Rewrite 7; returns how many Gemm nodes became Dense or DenseRelu."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: v.type.tensor_type for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    outputs = {o.name for o in graph.output}
    users = consumers(graph)
    count = 0
    for node in list(graph.node):
        if not standard(node, "Gemm") or len(node.input) != 3:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if (attrs.get("transA", 0), attrs.get("transB", 0), attrs.get("alpha", 1.0), attrs.get("beta", 1.0)) != (0, 1, 1.0, 1.0):
            continue
        x, w, c = node.input
        if w not in weights or len(weights[w].dims) != 2 or weights[w].dims[0] not in DENSE_WIDTHS:
            continue
        n = weights[w].dims[0]
        if c in weights:
            if list(weights[c].dims) != [n]:
                continue
        elif rank(shapes, c) != 2 or rank(shapes, x) != 2:
            continue
        (out,) = node.output
        readers = users.get(out, [])
        alone = out not in outputs and len(readers) == 1
        if alone and any(standard(readers[0], a) for a in FUSED_ACTIVATIONS):
            continue
        relu = alone and standard(readers[0], "Relu")
        if relu:
            graph.node.remove(readers[0])
        replace_node(graph, node, [helper.make_node(
            "DenseRelu" if relu else "Dense", [x, w, c], list(readers[0].output if relu else node.output),
            domain=GNNTRACK_DOMAIN, name=f"{(readers[0].output if relu else node.output)[0]}.dense")])
        count += 1
        users = consumers(graph)
    if count:
        add_gnntrack_domain(model)
    return count


def drop_unused(graph):
    """Removes nodes and initializers nothing reads (the old concatenations and lookups)."""
    while True:
        needed = {o.name for o in graph.output}
        for node in graph.node:
            needed.update(node.input)
        dead = [n for n in graph.node if not any(o in needed for o in n.output)]
        if not dead:
            break
        for n in dead:
            graph.node.remove(n)
    for t in [t for t in graph.initializer if t.name not in needed]:
        graph.initializer.remove(t)


def optimize(model, version=None, operators=True, dense=False):
    """Rewrites `model` in place (rewrites 6 and 7 only with `operators`; rewrite 7 also in a
    model not scored in parts with `dense`); returns the count of each rewrite."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: v.type.tensor_type for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    g = model.graph
    lookups = gathernd_to_gather(g)
    layers = split_edge_layers(g, shapes)
    sums = sum_rows(g, shapes)
    gates = widen_gates(g, shapes)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    in_parts = any(p.key == "gnntrack.receptive_hops" for p in model.metadata_props)
    by_rows = sums_by_scatter_nd(g, shapes, opset) if in_parts else 0
    drop_unused(g)
    dense = dense_layers(model) if (in_parts or dense) and operators else 0
    operators = gnntrack_operators(model) if in_parts and operators else 0
    drop_unused(g)
    if by_rows:
        set_metadata(model, MAX_INTRA_THREADS, "1")
    if version:
        set_metadata(model, "gnntrack.model_version", version)
    onnx.checker.check_model(model)
    return lookups, layers, sums, gates, by_rows, operators, dense


def random_feeds(model, n_nodes=3000, n_edges=7000, seed=1):
    rng = np.random.default_rng(seed)
    feeds = {}
    float_inputs = [i for i in model.graph.input if i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT]
    meta = {p.key: p.value for p in model.metadata_props}
    node_input = meta.get("gnntrack.node_input", float_inputs[0].name if float_inputs else None)
    for i in model.graph.input:
        t = i.type.tensor_type
        if t.elem_type == onnx.TensorProto.INT64 and len(t.shape.dim) == 1:
            # The graph of each node (a model with graph outputs): consecutive runs of nodes.
            feeds[i.name] = np.arange(n_nodes, dtype=np.int64) // 60
        elif t.elem_type == onnx.TensorProto.INT64:
            feeds[i.name] = rng.integers(0, n_nodes, size=(2, n_edges), dtype=np.int64)
        else:
            rows = n_nodes if i.name == node_input else n_edges
            feeds[i.name] = rng.standard_normal((rows, t.shape.dim[1].dim_value)).astype(np.float32)
    return feeds


def single_thread_session(model):
    """An onnxruntime CPU session of `model` (an onnx model or a path) on one intra-op thread."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    source = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def check(original, rewritten):
    feeds = random_feeds(original)
    run = lambda m: single_thread_session(m).run(None, feeds)[0]
    a, b = run(original), run(rewritten)
    diff = float(np.max(np.abs(a - b)))
    print(f"max |score difference| on a random graph: {diff:.2e}")
    return diff <= 1e-4


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--version", help="new gnntrack.model_version")
    parser.add_argument("--check", action="store_true", help="compare the scores of both models")
    parser.add_argument("--dense", action="store_true",
                        help="rewrite 7 also in a model not scored in parts that the tracker runs on one "
                             "onnxruntime thread per session (the edge filter of the graph stage)")
    args = parser.parse_args()
    original = onnx.load(args.input)
    model = onnx.load(args.input)
    lookups, layers, sums, gates, by_rows, operators, dense = optimize(model, args.version, dense=args.dense)
    print(f"{args.input}: {lookups} row lookups as Gather, {layers} edge layers split, "
          f"{sums} sums rewritten, {gates} gates widened, {by_rows} sums by ScatterND, "
          f"{operators} nodes as gnntrack operators, {dense} dense layers as gnntrack operators")
    if args.check and not check(original, model):
        print("the rewritten model's scores differ", file=sys.stderr)
        return 1
    onnx.save(model, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
