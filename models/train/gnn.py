"""Edge-classifier GNNs for gnntrack: an interaction network and a graph-attention network.

Both take node features [N, Fn], edge_index [2, E] (int64, inner -> outer hit) and edge
features [E, Fe], and return one logit per edge [E].

Message aggregation uses `scatter_add` on a flattened 1-D view. It exports to ONNX
ScatterElements with add reduction, which onnxruntime computes correctly at any thread count
(ScatterND with add does not: onnxruntime issue 18048).
"""

import torch
from torch import nn


ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "hardtanh": nn.Hardtanh}


def mlp(n_in, n_hidden, n_out, layers=2, final_activation=True, activation="tanh",
        inner_activation=None):
    """Dense layers; `inner_activation` (default: `activation`) follows the hidden layers."""
    act = ACTIVATIONS[activation]
    inner = ACTIVATIONS[inner_activation or activation]
    mods = []
    d = n_in
    for _ in range(layers - 1):
        mods += [nn.Linear(d, n_hidden), inner()]
        d = n_hidden
    mods.append(nn.Linear(d, n_out))
    if final_activation:
        mods.append(act())
    return nn.Sequential(*mods)


def scatter_sum(values, index, n_rows):
    """Sums rows of values [E, H] into [n_rows, H] at index [E] via a flat 1-D scatter_add."""
    h = values.shape[1]
    flat_index = (index.unsqueeze(1) * h + torch.arange(h, device=values.device)).reshape(-1)
    out = torch.zeros(n_rows * h, dtype=values.dtype, device=values.device)
    out = out.scatter_add(0, flat_index, values.reshape(-1))
    return out.reshape(n_rows, h)


class InteractionNetwork(nn.Module):
    """Interaction-network edge classifier.

    Input networks embed nodes and edges; each iteration scores the edges from
    [h_src, h_dst, e], then updates nodes from [score-weighted sum over incoming edges,
    score-weighted sum over outgoing edges, h]. The last edge network gives the logits.
    A message is a projection of the sending hit's state (`messages="node"`), gathered for
    every edge, or of the edge's new state (`messages="edge"`), which needs no gather.
    """

    def __init__(self, n_node, n_edge, hidden=32, iterations=3, shared=True, message=None,
                 activation="tanh", messages="node", node_activation=None, node_layers=2,
                 inner_activation=None):
        super().__init__()
        if messages not in ("node", "edge"):
            raise ValueError(f"messages={messages!r}: expected 'node' or 'edge'")
        self.iterations = iterations
        self.shared = shared
        self.edge_messages = messages == "edge"
        message = message or hidden
        act = {"activation": activation, "inner_activation": inner_activation}
        node_act = {"activation": node_activation or activation, "inner_activation": inner_activation}
        self.node_in = mlp(n_node, hidden, hidden, **node_act)
        self.edge_in = mlp(n_edge, hidden, hidden, **act)
        n_nets = 1 if shared else iterations
        self.edge_nets = nn.ModuleList(mlp(3 * hidden, hidden, hidden, **act) for _ in range(n_nets))
        self.score_nets = nn.ModuleList(nn.Linear(hidden, 1) for _ in range(n_nets))
        # Messages are projected to `message` features before aggregation: the scatter is the
        # costly op on CPU, so its width is kept small.
        self.message_nets = nn.ModuleList(nn.Linear(hidden, message) for _ in range(n_nets))
        self.node_nets = nn.ModuleList(mlp(hidden + 2 * message, hidden, hidden, layers=node_layers, **node_act)
                                       for _ in range(n_nets))
        self.out = mlp(3 * hidden, hidden, 1, final_activation=False, **act)

    def receptive_hops(self):
        """An edge's score depends on the hits within this many edges of its hits."""
        return self.iterations

    def forward(self, x, edge_index, edge_attr):
        src, dst = edge_index[0], edge_index[1]
        n = x.shape[0]
        h = self.node_in(x)
        e = self.edge_in(edge_attr)
        for it in range(self.iterations):
            k = 0 if self.shared else it
            e = self.edge_nets[k](torch.cat([h[src], h[dst], e], dim=1))
            w = torch.sigmoid(self.score_nets[k](e))
            if self.edge_messages:
                sent = w * self.message_nets[k](e)
                incoming = scatter_sum(sent, dst, n)
                outgoing = scatter_sum(sent, src, n)
            else:
                m = self.message_nets[k](h)
                incoming = scatter_sum(w * m[src], dst, n)
                outgoing = scatter_sum(w * m[dst], src, n)
            h = h + self.node_nets[k](torch.cat([incoming, outgoing, h], dim=1))
        return self.out(torch.cat([h[src], h[dst], e], dim=1)).squeeze(1)


class GraphAttentionNetwork(nn.Module):
    """Multi-head graph-attention edge classifier.

    Each layer computes per-head attention logits from [h_src, h_dst, e], normalises them over
    each node's incoming and outgoing edges (softmax via exp and scatter sums, stabilised by a
    tanh bound on the logits), and updates nodes from the attention-weighted neighbour states.
    The edge score comes from the final node states and the edge features.
    """

    def __init__(self, n_node, n_edge, hidden=32, heads=4, layers=3):
        super().__init__()
        assert hidden % heads == 0
        self.heads = heads
        self.layers = layers
        self.node_in = mlp(n_node, hidden, hidden)
        self.edge_in = mlp(n_edge, hidden, hidden)
        self.attn = nn.ModuleList(nn.Linear(3 * hidden, 2 * heads) for _ in range(layers))
        self.value = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))
        self.update = nn.ModuleList(mlp(3 * hidden, hidden, hidden) for _ in range(layers))
        self.out = mlp(3 * hidden, hidden, 1, final_activation=False)

    def receptive_hops(self):
        """An edge's score depends on the hits within this many edges of its hits."""
        return self.layers

    def _attend(self, logits, values, index, n):
        # logits [E, heads] bounded to [-5, 5] so exp never overflows; values [E, hidden].
        a = torch.exp(5.0 * torch.tanh(logits / 5.0))
        denom = scatter_sum(a, index, n)[index] + 1e-6
        alpha = (a / denom).repeat_interleave(values.shape[1] // self.heads, dim=1)
        return scatter_sum(alpha * values, index, n)

    def forward(self, x, edge_index, edge_attr):
        src, dst = edge_index[0], edge_index[1]
        n = x.shape[0]
        h = self.node_in(x)
        e = self.edge_in(edge_attr)
        for k in range(self.layers):
            logits = self.attn[k](torch.cat([h[src], h[dst], e], dim=1))
            a_in, a_out = logits[:, : self.heads], logits[:, self.heads :]
            incoming = self._attend(a_in, self.value[k](h[src]), dst, n)
            outgoing = self._attend(a_out, self.value[k](h[dst]), src, n)
            h = h + self.update[k](torch.cat([incoming, outgoing, h], dim=1))
        return self.out(torch.cat([h[src], h[dst], e], dim=1)).squeeze(1)


def build(arch, n_node, n_edge, **kw):
    if arch == "in":
        return InteractionNetwork(n_node, n_edge, **kw)
    if arch == "gat":
        return GraphAttentionNetwork(n_node, n_edge, **kw)
    raise ValueError(f"unknown architecture {arch!r}: expected 'in' or 'gat'")
