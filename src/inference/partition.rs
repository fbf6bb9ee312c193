//! Scoring a large graph in parts, with the same scores as one run over the whole graph.
//!
//! A model that declares `gnntrack.receptive_hops = k` promises that an edge's score depends
//! only on the hits within `k` edges of its two hits and on the edges among those hits (an
//! interaction network or attention network with `k` rounds of message passing). A [`Part`] holds
//! some *core* edges, every hit within `k` edges of their hits (the halo) and every edge among the
//! hits it holds; a run over the part gives the core edges their whole-graph scores. Each edge is
//! the core edge of exactly one part.
//!
//! Why: onnxruntime computes a graph network one operator at a time over all edges, so at
//! xi = 7 (half a million edges) every intermediate tensor is tens of MB and each operator
//! streams it from memory; on a part of a few ten thousand edges they stay in the caches, and
//! parts run side by side with one thread each, which also spreads the single-threaded scatter
//! operators over the cores.
//!
//! How the parts are cut: connected components are packed whole into parts of up to `target`
//! edges (they need no halo); a larger component is cut into consecutive slices of its
//! breadth-first order, a banded order in which each slice touches few others, so the halos
//! stay thin (about 14 % more edges in all at xi = 7 with 8 k edges per part). In denser
//! graphs the halos grow (a hit has more neighbours within k edges), and the caller takes
//! larger parts (see [`Plan::halo_ratio`]).

use std::sync::Mutex;

/// One part: its hits and edges (global ids, ascending) and the local edge index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    /// Global ids of the part's hits, ascending; local hit `i` is `nodes[i]`.
    pub nodes: Vec<u32>,
    /// Global ids of the part's edges, ascending, so that every hit sums its messages in the
    /// whole graph's order.
    pub edges: Vec<u32>,
    /// The `[2, E]` index of the part's edges in local hit numbers: sources, then targets.
    pub index: Vec<i64>,
    /// Whether each edge of the part is one of its core edges (whose score it gives).
    pub core: Vec<bool>,
}

/// Adjacency of a graph in compressed rows: out-edges by source, neighbours in both directions.
struct Adjacency {
    out_offsets: Vec<u32>,
    out_edges: Vec<u32>,
    nb_offsets: Vec<u32>,
    neighbours: Vec<u32>,
}

impl Adjacency {
    /// The adjacency of the graph, with its hits that have edges in breadth-first order,
    /// component after component, and each component's range of that order and its number of
    /// edges. The neighbour table and its walk, the longer chain, start at once on this thread;
    /// the out-edge table waits for the other thread (which may be busy with the caller's work
    /// beside the plan).
    fn with_order(n_nodes: usize, src: &[u32], dst: &[u32]) -> (Adjacency, Vec<u32>, Components) {
        let ((nb_offsets, neighbours, order, components), (out_offsets, out_edges)) = rayon::join(
            || {
                let mut offsets = vec![0u32; n_nodes + 1];
                for (&s, &d) in src.iter().zip(dst) {
                    offsets[s as usize + 1] += 1;
                    offsets[d as usize + 1] += 1;
                }
                prefix_sum(&mut offsets);
                let mut fill = offsets.clone();
                let mut neighbours = vec![0u32; 2 * src.len()];
                for (&s, &d) in src.iter().zip(dst) {
                    for (a, b) in [(s, d), (d, s)] {
                        let k = &mut fill[a as usize];
                        neighbours[*k as usize] = b;
                        *k += 1;
                    }
                }
                let (order, components) = breadth_first(&offsets, &neighbours);
                (offsets, neighbours, order, components)
            },
            || {
                let mut offsets = vec![0u32; n_nodes + 1];
                for &s in src {
                    offsets[s as usize + 1] += 1;
                }
                prefix_sum(&mut offsets);
                let mut fill = offsets.clone();
                let mut out_edges = vec![0u32; src.len()];
                for (e, &s) in src.iter().enumerate() {
                    let o = &mut fill[s as usize];
                    out_edges[*o as usize] = e as u32;
                    *o += 1;
                }
                (offsets, out_edges)
            },
        );
        let adjacency = Adjacency {
            out_offsets,
            out_edges,
            nb_offsets,
            neighbours,
        };
        (adjacency, order, components)
    }

    fn out(&self, node: u32) -> &[u32] {
        let n = node as usize;
        &self.out_edges[self.out_offsets[n] as usize..self.out_offsets[n + 1] as usize]
    }

    fn out_degree(&self, node: u32) -> usize {
        let n = node as usize;
        (self.out_offsets[n + 1] - self.out_offsets[n]) as usize
    }

    fn n_nodes(&self) -> usize {
        self.out_offsets.len() - 1
    }

    fn neighbours(&self, node: u32) -> &[u32] {
        let n = node as usize;
        &self.neighbours[self.nb_offsets[n] as usize..self.nb_offsets[n + 1] as usize]
    }
}

/// Each connected component: its range of the breadth-first order and its number of edges.
type Components = Vec<(std::ops::Range<usize>, usize)>;

/// The hits with neighbours (row i of the table is `neighbours[offsets[i]..offsets[i + 1]]`)
/// in breadth-first order, component after component from the lowest hit: a banded order, in
/// which a slice meets few other slices. A component's edges are half its neighbour entries
/// (an edge is an entry at both ends, a loop two at its one).
fn breadth_first(offsets: &[u32], neighbours: &[u32]) -> (Vec<u32>, Components) {
    let n_nodes = offsets.len() - 1;
    let row = |node: u32| {
        &neighbours[offsets[node as usize] as usize..offsets[node as usize + 1] as usize]
    };
    let mut seen = vec![false; n_nodes];
    let mut order: Vec<u32> = Vec::with_capacity(n_nodes);
    let mut components = Vec::new();
    for root in 0..n_nodes as u32 {
        if seen[root as usize] || row(root).is_empty() {
            continue;
        }
        let start = order.len();
        seen[root as usize] = true;
        order.push(root);
        let mut head = start;
        let mut entries = 0;
        while head < order.len() {
            let node = order[head];
            head += 1;
            let nbs = row(node);
            entries += nbs.len();
            for &nb in nbs {
                if !seen[nb as usize] {
                    seen[nb as usize] = true;
                    order.push(nb);
                }
            }
        }
        components.push((start..order.len(), entries / 2));
    }
    (order, components)
}

/// Counts per row (`counts[i + 1]` for row i) into row offsets, in place.
fn prefix_sum(counts: &mut [u32]) {
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
}

/// Marks of one thread building parts, stamped with a counter so that nothing is cleared.
struct Scratch {
    /// `stamp[i] == epoch`: hit i belongs to the part being built.
    stamp: Vec<u32>,
    /// `core_stamp[i] == epoch`: hit i is a core hit of the part being built.
    core_stamp: Vec<u32>,
    epoch: u32,
    /// Global to local hit number, valid for the hits of the part being built.
    local: Vec<u32>,
}

impl Scratch {
    fn new(n_nodes: usize) -> Scratch {
        Scratch {
            stamp: vec![0; n_nodes],
            core_stamp: vec![0; n_nodes],
            epoch: 0,
            local: vec![0; n_nodes],
        }
    }
}

/// How a graph is cut: the hits with edges in breadth-first order, component after component,
/// and the parts as ranges of that order. Parts are built on demand ([`Plan::part`]), from any
/// thread, so that they can be built and run side by side.
pub(crate) struct Plan<'a> {
    adj: Adjacency,
    src: &'a [u32],
    dst: &'a [u32],
    hops: u32,
    order: Vec<u32>,
    /// Each component: its range of `order` and its edges.
    components: Components,
    /// Each part: a range of `order`, and whether it needs a halo (a slice of a large
    /// component) or holds whole components.
    parts: Vec<(std::ops::Range<usize>, bool)>,
    scratch: Mutex<Vec<Scratch>>,
}

impl<'a> Plan<'a> {
    /// Plans the parts of the graph of `n_nodes` hits and edges `src[k] -> dst[k]` (indices
    /// below `n_nodes`): about `target` core edges each (at least 1), halos of `hops` edges.
    /// Hits without edges are in no part. The plan depends only on the graph.
    pub(crate) fn new(
        n_nodes: usize,
        src: &'a [u32],
        dst: &'a [u32],
        hops: u32,
        target: usize,
    ) -> Plan<'a> {
        let (adj, order, components) = Adjacency::with_order(n_nodes, src, dst);
        let mut plan = Plan {
            adj,
            src,
            dst,
            hops,
            order,
            components,
            parts: Vec::new(),
            scratch: Mutex::new(Vec::new()),
        };
        plan.cut(target);
        plan
    }

    /// Cuts the parts anew for about `target` core edges each (the components and their order
    /// stay).
    pub(crate) fn cut(&mut self, target: usize) {
        self.cut_sized(target, target);
    }

    /// Cuts the parts anew: components of more than `slice` edges into slices of about `slice`
    /// core edges each, the others packed whole into parts of up to `pack` edges (a component
    /// larger than that alone).
    pub(crate) fn cut_sized(&mut self, pack: usize, slice: usize) {
        let (pack, slice) = (pack.max(1), slice.max(1));
        let parts = &mut self.parts;
        parts.clear();
        // The open part of whole components: where it starts in `order`, its edges.
        let mut open = (0usize, 0usize);
        for (range, edges) in &self.components {
            let (start, end, edges) = (range.start, range.end, *edges);
            if edges > slice {
                // Slices of about `slice` edges by source; a short remainder joins the last.
                // The component sits between the open pack and what follows: close the pack.
                if open.0 < start {
                    parts.push((open.0..start, false));
                }
                let mut from = start;
                let mut left = edges;
                while from < end {
                    let mut to = from;
                    let mut taken = 0;
                    while to < end && taken < slice {
                        taken += self.adj.out_degree(self.order[to]);
                        to += 1;
                    }
                    left -= taken;
                    // A short remainder, or hits without out-edges, join this slice: every part
                    // has core edges.
                    if left < slice.div_ceil(4) {
                        to = end;
                    }
                    parts.push((from..to, true));
                    from = to;
                }
                open = (end, 0);
                continue;
            }
            if open.1 + edges > pack && open.0 < start {
                parts.push((open.0..start, false));
                open = (start, 0);
            }
            open.1 += edges;
        }
        if open.0 < self.order.len() {
            parts.push((open.0..self.order.len(), false));
        }
    }

    /// Number of parts.
    pub(crate) fn len(&self) -> usize {
        self.parts.len()
    }

    /// Edges over core edges of the middle part with a halo (built to measure it), or `None`
    /// when every component fits whole into a part.
    pub(crate) fn halo_ratio(&self) -> Option<f64> {
        let sliced: Vec<usize> = (0..self.parts.len()).filter(|&k| self.parts[k].1).collect();
        let part = self.part(*sliced.get(sliced.len() / 2)?);
        let core = part.core.iter().filter(|&&c| c).count().max(1);
        Some(part.edges.len() as f64 / core as f64)
    }

    /// Builds part `k` (below [`len`](Self::len)).
    pub(crate) fn part(&self, k: usize) -> Part {
        let taken = self.scratch.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut scratch = taken.unwrap_or_else(|| Scratch::new(self.adj.n_nodes()));
        let (range, halo) = self.parts[k].clone();
        let part = if halo {
            self.halo_part(&self.order[range], &mut scratch)
        } else {
            self.whole(&self.order[range], &mut scratch)
        };
        self.scratch
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(scratch);
        part
    }

    /// A part of whole components: all their edges are core edges.
    fn whole(&self, members: &[u32], scratch: &mut Scratch) -> Part {
        let mut nodes = members.to_vec();
        nodes.sort_unstable();
        let mut edges: Vec<u32> = nodes
            .iter()
            .flat_map(|&n| self.adj.out(n).iter().copied())
            .collect();
        sort_if_needed(&mut edges);
        let core = vec![true; edges.len()];
        self.assemble(nodes, edges, core, scratch)
    }

    /// A part whose core edges are the out-edges of `core_nodes`, with the hits within `hops`
    /// edges of their hits and every edge among those.
    fn halo_part(&self, core_nodes: &[u32], scratch: &mut Scratch) -> Part {
        scratch.epoch += 1;
        let epoch = scratch.epoch;
        let Scratch {
            stamp, core_stamp, ..
        } = &mut *scratch;
        let mut nodes: Vec<u32> = Vec::new();
        let mut mark = |n: u32, nodes: &mut Vec<u32>| {
            if stamp[n as usize] != epoch {
                stamp[n as usize] = epoch;
                nodes.push(n);
            }
        };
        for &n in core_nodes {
            core_stamp[n as usize] = epoch;
            mark(n, &mut nodes);
            for &e in self.adj.out(n) {
                mark(self.dst[e as usize], &mut nodes);
            }
        }
        let mut ring = 0..nodes.len();
        for _ in 0..self.hops {
            let before = nodes.len();
            for k in ring {
                for &nb in self.adj.neighbours(nodes[k]) {
                    mark(nb, &mut nodes);
                }
            }
            ring = before..nodes.len();
            if ring.is_empty() {
                break;
            }
        }
        nodes.sort_unstable();
        let mut edges: Vec<u32> = Vec::new();
        for &n in &nodes {
            edges.extend(
                self.adj
                    .out(n)
                    .iter()
                    .copied()
                    .filter(|&e| stamp[self.dst[e as usize] as usize] == epoch),
            );
        }
        sort_if_needed(&mut edges);
        let core = edges
            .iter()
            .map(|&e| core_stamp[self.src[e as usize] as usize] == epoch)
            .collect();
        self.assemble(nodes, edges, core, scratch)
    }

    fn assemble(
        &self,
        nodes: Vec<u32>,
        edges: Vec<u32>,
        core: Vec<bool>,
        scratch: &mut Scratch,
    ) -> Part {
        for (i, &n) in nodes.iter().enumerate() {
            scratch.local[n as usize] = i as u32;
        }
        let local = |ends: &[u32]| {
            edges
                .iter()
                .map(|&e| i64::from(scratch.local[ends[e as usize] as usize]))
                .collect::<Vec<i64>>()
        };
        let mut index = local(self.src);
        index.extend(local(self.dst));
        Part {
            nodes,
            edges,
            index,
            core,
        }
    }
}

/// Sorts ids that are usually sorted already (edges listed by source, ascending, in a graph
/// whose edges are ordered by source).
fn sort_if_needed(ids: &mut [u32]) {
    if !ids.is_sorted() {
        ids.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(n_nodes: usize, src: &[u32], dst: &[u32], hops: u32, target: usize) -> Vec<Part> {
        let plan = Plan::new(n_nodes, src, dst, hops, target);
        (0..plan.len()).map(|k| plan.part(k)).collect()
    }

    /// A chain 0 -> 1 -> ... -> n-1 plus two separate small components.
    fn chain_and_pairs(n: u32) -> (usize, Vec<u32>, Vec<u32>) {
        let mut src: Vec<u32> = (0..n - 1).collect();
        let mut dst: Vec<u32> = (1..n).collect();
        src.extend([n, n + 2]);
        dst.extend([n + 1, n + 3]);
        // One hit without edges at the end.
        ((n + 5) as usize, src, dst)
    }

    #[test]
    fn every_edge_is_core_in_exactly_one_part() {
        let (n, src, dst) = chain_and_pairs(100);
        for target in [1, 3, 10, 50, 1000] {
            for hops in [0, 1, 3] {
                let parts = parts(n, &src, &dst, hops, target);
                let mut count = vec![0; src.len()];
                for p in &parts {
                    for (&e, &c) in p.edges.iter().zip(&p.core) {
                        if c {
                            count[e as usize] += 1;
                        }
                    }
                }
                assert!(count.iter().all(|&c| c == 1), "target {target} hops {hops}");
            }
        }
    }

    #[test]
    fn small_components_are_packed_whole_and_isolated_hits_left_out() {
        let (n, src, dst) = chain_and_pairs(5);
        let parts = parts(n, &src, &dst, 2, 100);
        assert_eq!(parts.len(), 1);
        let p = &parts[0];
        assert_eq!(p.nodes, (0..9).collect::<Vec<u32>>());
        assert_eq!(p.edges, (0..6).collect::<Vec<u32>>());
        assert!(p.core.iter().all(|&c| c));
        assert_eq!(p.index[..6], [0, 1, 2, 3, 5, 7]);
        assert_eq!(p.index[6..], [1, 2, 3, 4, 6, 8]);
    }

    #[test]
    fn halos_reach_hops_edges_beyond_the_core_edges() {
        // A chain of 40 hits in parts of 10 core edges: the part of edges 10..20 (hits 10..=20)
        // holds the hits within 2 edges: 8..=22, and every edge among them.
        let (n, src, dst) = chain_and_pairs(40);
        let parts = parts(n, &src, &dst, 2, 10);
        let part = parts
            .iter()
            .find(|p| p.core.iter().zip(&p.edges).any(|(&c, &e)| c && e == 15))
            .unwrap();
        let core: Vec<u32> = part
            .edges
            .iter()
            .zip(&part.core)
            .filter(|&(_, &c)| c)
            .map(|(&e, _)| e)
            .collect();
        let lo = *core.first().unwrap();
        let hi = *core.last().unwrap() + 1;
        let expected_nodes: Vec<u32> = (lo.saturating_sub(2)..=(hi + 2).min(39)).collect();
        assert_eq!(part.nodes, expected_nodes);
        let expected_edges: Vec<u32> =
            (expected_nodes[0]..*expected_nodes.last().unwrap()).collect();
        assert_eq!(part.edges, expected_edges);
        // The local index points at the same hits as the global one.
        let e = part.edges.len();
        for (k, &g) in part.edges.iter().enumerate() {
            assert_eq!(part.nodes[part.index[k] as usize], src[g as usize]);
            assert_eq!(part.nodes[part.index[e + k] as usize], dst[g as usize]);
        }
    }

    #[test]
    fn the_halo_ratio_is_measured_on_a_sliced_part() {
        // Slices of 10 core edges of a chain with halos of 2 edges on each side: 14 edges.
        let (n, src, dst) = chain_and_pairs(100);
        let plan = Plan::new(n, &src, &dst, 2, 10);
        assert_eq!(plan.halo_ratio(), Some(1.4));
        // Everything fits whole: no halo.
        assert_eq!(Plan::new(n, &src, &dst, 2, 1000).halo_ratio(), None);
    }

    #[test]
    fn small_components_are_packed_by_one_size_and_large_ones_sliced_by_another() {
        // A chain of 99 edges and two components of one edge each.
        let (n, src, dst) = chain_and_pairs(100);
        let mut plan = Plan::new(n, &src, &dst, 2, 10);
        let sliced = |plan: &Plan| (0..plan.len()).filter(|&k| plan.parts[k].1).count();
        let edges_of = |plan: &Plan, k: usize| {
            let part = plan.part(k);
            part.core.iter().filter(|&&c| c).count()
        };
        // Slices of 40 edges, the pairs in one pack.
        plan.cut_sized(2, 40);
        assert_eq!((sliced(&plan), plan.len()), (3, 4));
        let core: Vec<usize> = (0..4).map(|k| edges_of(&plan, k)).collect();
        assert_eq!(core, [40, 40, 19, 2]);
        assert_eq!(plan.halo_ratio(), Some(44.0 / 40.0));
        // A remainder under a quarter of a slice joins the last slice.
        plan.cut_sized(2, 45);
        let core: Vec<usize> = (0..plan.len()).map(|k| edges_of(&plan, k)).collect();
        assert_eq!(core, [45, 54, 2]);
        // Slices larger than the chain: the chain is a part of its own, without a halo.
        plan.cut_sized(2, 100);
        assert_eq!((sliced(&plan), plan.len()), (0, 2));
        assert_eq!(edges_of(&plan, 0) + edges_of(&plan, 1), 101);
        // Packs of one edge: each pair alone.
        plan.cut_sized(1, 100);
        assert_eq!(plan.len(), 3);
    }

    #[test]
    fn no_edges_no_parts() {
        assert!(parts(5, &[], &[], 3, 10).is_empty());
        assert!(parts(0, &[], &[], 3, 10).is_empty());
    }
}
