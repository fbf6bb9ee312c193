"""ONNX export of a trained edge classifier with the gnntrack model-contract metadata.

The model contract (inputs, output, metadata keys) is written down in models/README.md.
"""

import numpy as np
import onnx
import torch

# Metadata keys of the model contract (see models/README.md).
META_PREFIX = "gnntrack."


def metadata(manifest, name, version, description, edge_cut=0.5, receptive_hops=None):
    node = manifest["node_features"]
    edge = manifest["edge_features"]

    def names(fs):
        return ",".join(f["name"] if isinstance(f, dict) else f for f in fs)

    def scales(fs):
        return ",".join(str(f["scale"]) if isinstance(f, dict) else "1" for f in fs)

    def offsets(fs):
        return ",".join(str(f["offset"]) if isinstance(f, dict) else "0" for f in fs)

    meta = {
        "node_features": names(node),
        "node_scales": scales(node),
        "node_offsets": offsets(node),
        "edge_features": names(edge),
        "edge_scales": scales(edge),
        "edge_offsets": offsets(edge),
        "output": "logits",
        "edge_cut": str(edge_cut),
        "graph": manifest["graph_toml"],
        "contract": "1",
        "model_name": name,
        "model_version": version,
    }
    if receptive_hops is not None:
        # An edge's score depends only on the hits within this many edges of its two hits: the
        # tracker may then score a large graph in parts with the same result.
        meta["receptive_hops"] = str(receptive_hops)
    return meta


def strip_build_details(m):
    """Drops what the exporter records about the machine that built the model: per-node
    metadata (source stack traces with file paths) and doc strings. The computation is unchanged."""
    graphs = [m.graph] + [f for f in m.functions]
    for g in graphs:
        for node in g.node:
            del node.metadata_props[:]
            node.doc_string = ""
    for value in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        del value.metadata_props[:]
        value.doc_string = ""
    for init in m.graph.initializer:
        del init.metadata_props[:]
    m.graph.doc_string = ""
    m.doc_string = ""
    m.producer_name = m.producer_name or "gnntrack"


def to_onnx(model, example, manifest, path, name, version, description, edge_cut=0.5):
    """Exports `model` with the contract's metadata; a model with `receptive_hops()` (rounds of
    message passing) declares it."""
    x = torch.from_numpy(example["node_features"].astype(np.float32))
    ei = torch.from_numpy(example["edge_index"].astype(np.int64))
    ea = torch.from_numpy(example["edge_features"].astype(np.float32))
    n = torch.export.Dim("n_nodes", min=2)
    e = torch.export.Dim("n_edges", min=2)
    model.eval()
    torch.onnx.export(
        model,
        (x, ei, ea),
        str(path),
        dynamo=True,
        external_data=False,
        opset_version=18,
        input_names=["node_features", "edge_index", "edge_features"],
        output_names=["edge_logits"],
        dynamic_shapes=({0: n}, {1: e}, {0: e}),
    )
    hops = model.receptive_hops() if hasattr(model, "receptive_hops") else None
    finish(path, metadata(manifest, name, version, description, edge_cut, hops))


def finish(path, meta):
    """Rewrites a freshly exported model in place: refuses ScatterND, sets IR version 10, drops
    the build details and stores `meta` (keys without the `gnntrack.` prefix) as its metadata."""
    m = onnx.load(str(path))
    ops = {node.op_type for node in m.graph.node}
    if "ScatterND" in ops:
        raise SystemExit("exported graph uses ScatterND, which sums wrongly on several threads")
    if m.ir_version > 10:
        m.ir_version = 10
    strip_build_details(m)
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key = META_PREFIX + k
        p.value = v
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    print(f"wrote {path}: ops {sorted(ops)}")
