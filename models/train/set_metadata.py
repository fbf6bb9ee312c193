"""Adds or replaces `gnntrack.*` metadata keys of an ONNX model in place; the computation and
the other keys stay as they are.

    python set_metadata.py MODEL.onnx KEY=VALUE [KEY=VALUE ...]

KEY is given without the `gnntrack.` prefix, e.g. `receptive_hops=3`.
"""

import sys

import onnx

META_PREFIX = "gnntrack."  # as in export.py, which needs PyTorch


def main(argv):
    if len(argv) < 2 or any("=" not in a for a in argv[1:]):
        raise SystemExit(__doc__)
    path = argv[0]
    model = onnx.load(path)
    meta = {p.key: p.value for p in model.metadata_props}
    for item in argv[1:]:
        key, value = item.split("=", 1)
        meta[META_PREFIX + key] = value
    del model.metadata_props[:]
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, path)
    print(f"{path}: " + ", ".join(argv[1:]))


if __name__ == "__main__":
    main(sys.argv[1:])
