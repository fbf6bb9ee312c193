"""A toy calorimeter for the example graph models: simulated showers, one graph per cluster.

This is a toy, not physics: a sampling calorimeter of square cells (2 cm) and 24 layers, in
which an electron shower is compact and starts at the front (a gamma-shaped depth profile
peaking in the first layers, a narrow lateral core) and a hadron shower starts at a random
depth and is wider, deeper and patchy (a few sub-showers, strongly fluctuating deposits). Each
cluster also holds noise hits: isolated low-energy cells scattered over the cluster's window.

Per hit, the node features are (what a host computes from its own cells):

    log_e  ln(cell energy / 1 MeV)                      offset 4, scale 2
    dx     x - energy-weighted x of the cluster, cm      offset 0, scale 10
    dy     y - energy-weighted y of the cluster, cm      offset 0, scale 10
    depth  layer number (0 = front)                      offset 0, scale 10

Edges: each hit receives an edge from each of its K = 6 nearest hits in (x, y, 2 cm x layer),
edge_index[0] the neighbour, edge_index[1] the hit.
"""

import numpy as np

CELL_CM = 2.0
LAYERS = 24
THRESHOLD_MEV = 20.0
K = 6
FEATURES = ["log_e", "dx", "dy", "depth"]
OFFSETS = [4.0, 0.0, 0.0, 0.0]
SCALES = [2.0, 10.0, 10.0, 10.0]
ELECTRON, HADRON = 0, 1
# A clusterer forms no cluster of fewer cells: such showers are drawn again.
MIN_SIGNAL = 8


def electron(rng, energy):
    """Energy packets (x, y in cells, depth in layers, MeV) of an electron shower."""
    n = 400
    depth = rng.gamma(3.0, 1.3, n)
    core = rng.random(n) < 0.75
    sigma = np.where(core, 0.5, 1.8)
    x, y = rng.normal(0.0, sigma), rng.normal(0.0, sigma)
    e = np.full(n, energy / n)
    return x, y, depth, e


def hadron(rng, energy):
    """Energy packets of a hadron shower: late start, sub-showers, fluctuating deposits."""
    n = 400
    start = rng.exponential(2.0)
    n_clumps = 1 + rng.poisson(1.0)
    clump = rng.integers(n_clumps, size=n)
    cx, cy = rng.normal(0.0, 1.2, n_clumps), rng.normal(0.0, 1.2, n_clumps)
    cz = rng.exponential(2.0, n_clumps)
    depth = start + cz[clump] + rng.gamma(2.0, 2.0, n)
    spread = 0.6 + 0.06 * (depth - start)
    x = cx[clump] + rng.normal(0.0, spread)
    y = cy[clump] + rng.normal(0.0, spread)
    e = rng.gamma(0.7, 1.0, n)
    return x, y, depth, e * energy / e.sum()


def cluster(rng, label):
    """One cluster: dict of hit arrays (ix, iy, layer, e_mev, signal) and its label; None when
    fewer than MIN_SIGNAL cells pass the threshold."""
    energy = rng.uniform(2000.0, 20000.0)
    x, y, depth, e = (electron if label == ELECTRON else hadron)(rng, energy)
    # Sampling fraction with fluctuations: a fifth of the energy is seen.
    e = 0.2 * e * rng.gamma(4.0, 0.25, len(e))
    ix, iy, layer = np.rint(x).astype(int), np.rint(y).astype(int), np.floor(depth).astype(int)
    keep = layer < LAYERS
    cells = {}
    for key, de in zip(zip(ix[keep], iy[keep], layer[keep]), e[keep]):
        cells[key] = cells.get(key, 0.0) + de
    signal = {k: v for k, v in cells.items() if v > THRESHOLD_MEV}
    if len(signal) < MIN_SIGNAL:
        return None
    # Noise: isolated cells over the cluster's window, just above the threshold.
    n_noise = 2 + rng.poisson(0.3 * len(signal))
    noise = {}
    while len(noise) < n_noise:
        key = (int(rng.integers(-7, 8)), int(rng.integers(-7, 8)), int(rng.integers(0, LAYERS)))
        if key not in signal:
            noise[key] = THRESHOLD_MEV + rng.exponential(15.0)
    keys = list(signal) + list(noise)
    order = rng.permutation(len(keys))
    keys = [keys[i] for i in order]
    hits = np.array(keys, dtype=float)
    e_mev = np.array([signal.get(k, noise.get(k)) for k in keys])
    is_signal = np.array([k in signal for k in keys], dtype=np.int64)
    return {"ix": hits[:, 0], "iy": hits[:, 1], "layer": hits[:, 2], "e_mev": e_mev, "signal": is_signal, "label": label}


def features(c):
    """Node features [n, 4] of a cluster, scaled: (raw - offset) / scale."""
    x, y = c["ix"] * CELL_CM, c["iy"] * CELL_CM
    w = c["e_mev"] / c["e_mev"].sum()
    raw = np.stack([np.log(c["e_mev"]), x - (w * x).sum(), y - (w * y).sum(), c["layer"]], axis=1)
    return ((raw - OFFSETS) / SCALES).astype(np.float32)


def knn_edges(c):
    """Edge index [2, n * k] (int64): each hit receives an edge from its k nearest hits."""
    p = np.stack([c["ix"] * CELL_CM, c["iy"] * CELL_CM, 2.0 * c["layer"]], axis=1)
    n = len(p)
    k = min(K, n - 1)
    d = ((p[:, None, :] - p[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.stack([nearest.reshape(-1), np.repeat(np.arange(n), k)]).astype(np.int64)


def simulate(seed, count):
    """`count` clusters from `seed`, half electrons and half hadrons in random order; each
    with its features, edges, hit labels and label."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        label = int(rng.integers(2))
        c = None
        while c is None:
            c = cluster(rng, label)
        c["x"] = features(c)
        c["edges"] = knn_edges(c)
        out.append(c)
    return out


def batch(clusters):
    """Concatenates clusters into one input: features [N, 4], edge index [2, E] (offset to the
    concatenated rows), graph index [N], cluster labels [G], hit labels [N]."""
    xs, edges, graphs, offset = [], [], [], 0
    for g, c in enumerate(clusters):
        xs.append(c["x"])
        edges.append(c["edges"] + offset)
        graphs.append(np.full(len(c["x"]), g, dtype=np.int64))
        offset += len(c["x"])
    return (np.concatenate(xs), np.concatenate(edges, axis=1), np.concatenate(graphs),
            np.array([c["label"] for c in clusters]), np.concatenate([c["signal"] for c in clusters]))


def write_sample(clusters, path):
    """The sample file: one CSV row per hit, clusters one after another (see README.md)."""
    cols = ["cluster", "label", "signal"] + FEATURES + [f"n{j}" for j in range(K)]
    lines = [",".join(cols)]
    for g, c in enumerate(clusters):
        n = len(c["x"])
        if n <= K:
            raise ValueError(f"cluster {g} has {n} hits; the sample needs more than {K}")
        src = c["edges"][0].reshape(n, K)
        for i in range(n):
            vals = [str(g), str(c["label"]), str(int(c["signal"][i]))]
            vals += [f"{v:.6g}" for v in c["x"][i]]
            vals += [str(int(j)) for j in src[i]]
            lines.append(",".join(vals))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
