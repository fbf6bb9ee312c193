//! Graph pruning: shortcut edges and skip edges where no hit is missing.
//!
//! A positron that crosses the stave overlap leaves hits A (upstream stave) and B (downstream
//! stave) on layer L and usually C and D on layer L + 1; its path is A -> B -> C -> D. The windows
//! also accept A -> C, A -> D and B -> D: edges between hits of one positron that jump a hit on
//! its path. With shortcut removal on, the graph keeps a next-layer edge x -> y only if no
//! stave-overlap edge offers a path of two edges (x -> w overlap and w -> y next, or x -> w next
//! and w -> y overlap). Overlap and skip edges are never removed.
//!
//! The decision looks at the graph before any removal, so it does not depend on edge order.
//!
//! Removal of unneeded skip edges ([`keep_needed_skips`]) is the other pruning step. The two
//! are independent, so the builder removes the skip edges first (the window search finds about
//! twice as many of them as of all other edges): shortcut removal looks only at next-layer and
//! overlap edges, and it never leaves a hit without a non-skip edge out or in (the hit keeps the
//! overlap edge or the next-layer edge that made the removed edge a shortcut), which is all the
//! skip step looks at.

use super::{EdgeKind, Graph};

/// Work space kept from one crossing to the next.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    offsets: Vec<u32>,
    overlap_out: Vec<bool>,
    /// Whether each edge goes (both rules may find it).
    drop: Vec<bool>,
}

/// Edge positions of each source in a graph sorted by (src, dst).
struct Rows<'a> {
    graph: &'a Graph,
    /// The edges of node i are `offsets[i]..offsets[i + 1]`.
    offsets: &'a [u32],
}

impl<'a> Rows<'a> {
    fn new(graph: &'a Graph, offsets: &'a mut Vec<u32>) -> Rows<'a> {
        offsets.clear();
        offsets.resize(graph.n_nodes + 1, 0);
        for &s in &graph.src {
            offsets[s as usize + 1] += 1;
        }
        for i in 0..graph.n_nodes {
            offsets[i + 1] += offsets[i];
        }
        Rows { graph, offsets }
    }

    /// Positions of the edges leaving `node`.
    #[inline]
    fn of(&self, node: u32) -> std::ops::Range<usize> {
        let n = node as usize;
        self.offsets[n] as usize..self.offsets[n + 1] as usize
    }

    /// Position of the edge from -> to, if any.
    #[inline]
    fn find(&self, from: u32, to: u32) -> Option<usize> {
        let rows = self.of(from);
        let start = rows.start;
        self.graph.dst[rows]
            .binary_search(&to)
            .ok()
            .map(|k| start + k)
    }
}

/// Removes the shortcut edges from `graph`, which must be sorted by (src, dst), as built.
/// Costs two passes over the edges plus a few binary searches per overlap edge.
pub(super) fn drop_shortcuts(graph: &mut Graph, scratch: &mut Scratch) {
    if !graph.kind.contains(&EdgeKind::Overlap) {
        return;
    }
    let Scratch {
        offsets,
        overlap_out,
        drop,
    } = scratch;
    drop.clear();
    drop.resize(graph.len(), false);
    overlap_out.clear();
    overlap_out.resize(graph.n_nodes, false);
    let rows = Rows::new(graph, offsets);
    let edges = graph.src.iter().zip(&graph.dst).zip(&graph.kind);
    for ((&x, &y), &kind) in edges {
        if kind == EdgeKind::Overlap {
            // x -> y (overlap), y -> w (next): drop x -> w.
            overlap_out[x as usize] = true;
            for f in rows.of(y) {
                if graph.kind[f] == EdgeKind::Next
                    && let Some(g) = rows.find(x, graph.dst[f])
                    && graph.kind[g] == EdgeKind::Next
                {
                    drop[g] = true;
                }
            }
        }
    }
    // x -> w (next), w -> y (overlap): drop x -> y.
    let edges = graph.src.iter().zip(&graph.dst).zip(&graph.kind);
    for ((&x, &w), &kind) in edges {
        if kind == EdgeKind::Next && overlap_out[w as usize] {
            for f in rows.of(w) {
                if graph.kind[f] == EdgeKind::Overlap
                    && let Some(g) = rows.find(x, graph.dst[f])
                    && graph.kind[g] == EdgeKind::Next
                {
                    drop[g] = true;
                }
            }
        }
    }
    // Compact in place, a run of kept edges at a time.
    let Some(first) = drop.iter().position(|&d| d) else {
        return;
    };
    let mut write = first;
    let mut read = first;
    while read < graph.len() {
        // Skip the dropped run, then move the kept run after it.
        while read < graph.len() && drop[read] {
            read += 1;
        }
        let end = drop[read..]
            .iter()
            .position(|&d| d)
            .map_or(graph.len(), |k| read + k);
        graph.src.copy_within(read..end, write);
        graph.dst.copy_within(read..end, write);
        graph.kind.copy_within(read..end, write);
        write += end - read;
        read = end;
    }
    graph.truncate(write);
}

/// Keeps a skip edge a -> c only where a hit is missing: when `a` has no next-layer or overlap
/// edge out or `c` has none in. A positron with all its hits is already connected by its
/// next-layer edges; one that misses a middle hit leaves its neighbours without them (at low
/// occupancy), which is where a skip edge is needed.
pub(super) fn keep_needed_skips(graph: &mut Graph) {
    let n = graph.n_nodes;
    let mut has_out = vec![false; n];
    let mut has_in = vec![false; n];
    for e in 0..graph.len() {
        if graph.kind[e] != EdgeKind::Skip {
            has_out[graph.src[e] as usize] = true;
            has_in[graph.dst[e] as usize] = true;
        }
    }
    // Compact in place, in edge order.
    let mut write = 0;
    for e in 0..graph.len() {
        let (s, d, kind) = (graph.src[e], graph.dst[e], graph.kind[e]);
        if kind != EdgeKind::Skip || !has_out[s as usize] || !has_in[d as usize] {
            graph.src[write] = s;
            graph.dst[write] = d;
            graph.kind[write] = kind;
            write += 1;
        }
    }
    graph.truncate(write);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pruned(mut g: Graph) -> Graph {
        drop_shortcuts(&mut g, &mut Scratch::default());
        g
    }

    fn graph(n: usize, edges: &[(u32, u32, EdgeKind)]) -> Graph {
        let mut e = edges.to_vec();
        e.sort_by_key(|&(s, d, _)| (s, d));
        Graph {
            n_nodes: n,
            src: e.iter().map(|x| x.0).collect(),
            dst: e.iter().map(|x| x.1).collect(),
            kind: e.iter().map(|x| x.2).collect(),
        }
    }

    #[test]
    fn overlap_chain_keeps_only_consecutive_edges() {
        use EdgeKind::*;
        // A=0, B=1 on layer L; C=2, D=3 on layer L + 1; 4 on L + 2; 5 an unrelated hit on L + 1.
        let g = graph(
            6,
            &[
                (0, 1, Overlap),
                (2, 3, Overlap),
                (0, 2, Next),
                (0, 3, Next),
                (1, 2, Next),
                (1, 3, Next),
                (1, 5, Next),
                (3, 4, Next),
                (2, 4, Next),
                (0, 4, Skip),
            ],
        );
        let kept: Vec<(u32, u32)> = pruned(g).pairs().collect();
        // 0 -> 2, 0 -> 3, 1 -> 3 and 2 -> 4 jump an overlap hit; the skip edge stays.
        assert_eq!(kept, vec![(0, 1), (0, 4), (1, 2), (1, 5), (2, 3), (3, 4)]);
    }

    #[test]
    fn skip_edges_stay_only_where_a_hit_is_missing() {
        // 0 -> 1 -> 2 is a full chain with a parallel skip 0 -> 2; 3 -> 5 bridges a missing hit.
        let mut g = graph(
            6,
            &[
                (0, 1, EdgeKind::Next),
                (0, 2, EdgeKind::Skip),
                (1, 2, EdgeKind::Next),
                (3, 5, EdgeKind::Skip),
                (4, 5, EdgeKind::Next),
            ],
        );
        keep_needed_skips(&mut g);
        let kept: Vec<(u32, u32)> = g.pairs().collect();
        assert_eq!(kept, vec![(0, 1), (1, 2), (3, 5), (4, 5)]);
    }

    #[test]
    fn the_two_steps_give_the_same_graph_in_either_order() {
        use rand::{RngExt, SeedableRng};
        // Random graphs of hits on 4 layers x 2 staves, dense enough that overlap chains,
        // shortcuts and skip edges meet at the same hits.
        for seed in 0..300u64 {
            let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let n = r.random_range(4..40usize);
            let slot: Vec<(u32, u32)> = (0..n)
                .map(|_| (r.random_range(0..4u32), r.random_range(0..2u32)))
                .collect();
            let p = r.random_range(0.05..0.6);
            let mut edges = Vec::new();
            for a in 0..n {
                for b in 0..n {
                    let ((la, sa), (lb, sb)) = (slot[a], slot[b]);
                    let kind = if la == lb && sa == 0 && sb == 1 {
                        EdgeKind::Overlap
                    } else if lb == la + 1 {
                        EdgeKind::Next
                    } else if lb == la + 2 {
                        EdgeKind::Skip
                    } else {
                        continue;
                    };
                    if r.random_bool(p) {
                        edges.push((a as u32, b as u32, kind));
                    }
                }
            }
            let g = graph(n, &edges);
            let mut shortcuts_first = g.clone();
            drop_shortcuts(&mut shortcuts_first, &mut Scratch::default());
            keep_needed_skips(&mut shortcuts_first);
            let mut skips_first = g;
            keep_needed_skips(&mut skips_first);
            drop_shortcuts(&mut skips_first, &mut Scratch::default());
            assert_eq!(skips_first, shortcuts_first, "seed {seed}");
        }
    }

    #[test]
    fn large_graphs_lose_exactly_their_shortcuts() {
        use rand::{RngExt, SeedableRng};
        use std::collections::HashMap;
        // Hits on 4 layers x 2 staves along a line, edges to nearby hits of the next stave or
        // layer, checked against the rule itself on every edge.
        for seed in 0..4u64 {
            let mut r = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let n: usize = r.random_range(10_000..20_000);
            let slot: Vec<u32> = (0..n).map(|_| r.random_range(0..8u32)).collect();
            let mut edges = Vec::new();
            for a in 0..n {
                for b in a.saturating_sub(12)..(a + 12).min(n) {
                    let (la, sa, lb, sb) = (slot[a] / 2, slot[a] % 2, slot[b] / 2, slot[b] % 2);
                    let kind = if la == lb && sa == 0 && sb == 1 {
                        EdgeKind::Overlap
                    } else if lb == la + 1 {
                        EdgeKind::Next
                    } else {
                        continue;
                    };
                    if r.random_bool(0.5) {
                        edges.push((a as u32, b as u32, kind));
                    }
                }
            }
            let g = graph(n, &edges);
            // Each next edge x -> y goes when an overlap edge gives a path of two edges.
            let kind_of: HashMap<(u32, u32), EdgeKind> =
                edges.iter().map(|&(a, b, k)| ((a, b), k)).collect();
            let is = |a: u32, b: u32, k: EdgeKind| kind_of.get(&(a, b)) == Some(&k);
            let mut out = vec![Vec::new(); n];
            for &(a, b, k) in &edges {
                out[a as usize].push((b, k));
            }
            let shortcut = |x: u32, y: u32| {
                out[x as usize].iter().any(|&(w, k)| match k {
                    EdgeKind::Overlap => is(w, y, EdgeKind::Next),
                    _ => is(w, y, EdgeKind::Overlap),
                })
            };
            let expected: Vec<(u32, u32)> = g
                .pairs()
                .zip(&g.kind)
                .filter(|&((x, y), &k)| k != EdgeKind::Next || !shortcut(x, y))
                .map(|(p, _)| p)
                .collect();
            assert!(expected.len() < g.len(), "seed {seed}: no shortcut to drop");
            // Twice through the same scratch, whose tables are reused.
            let mut scratch = Scratch::default();
            for _ in 0..2 {
                let mut pruned = g.clone();
                drop_shortcuts(&mut pruned, &mut scratch);
                assert_eq!(pruned.pairs().collect::<Vec<_>>(), expected, "seed {seed}");
            }
        }
    }

    #[test]
    fn graphs_without_overlap_edges_are_unchanged() {
        use EdgeKind::*;
        let g = graph(4, &[(0, 2, Skip), (0, 1, Next), (1, 2, Next), (3, 2, Next)]);
        assert_eq!(pruned(g.clone()), g);
    }
}
