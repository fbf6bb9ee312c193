//! Connected components by union-find, for grouping hits joined by edges.

use std::sync::atomic::{AtomicU32, Ordering};

use rayon::prelude::*;

/// Union-find with path halving and union by size.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    /// `n` singletons.
    pub fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }
    /// Representative of `i`'s set.
    pub fn find(&mut self, mut i: u32) -> u32 {
        while self.parent[i as usize] != i {
            let grand = self.parent[self.parent[i as usize] as usize];
            self.parent[i as usize] = grand;
            i = grand;
        }
        i
    }
    /// Joins the sets of `a` and `b`.
    pub fn union(&mut self, a: u32, b: u32) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a as usize] < self.size[b as usize] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b as usize] = a;
        self.size[a as usize] += self.size[b as usize];
    }
}

/// Connected components of an undirected graph on `n` nodes with at least `min_size` nodes,
/// each sorted, ordered by their smallest node.
pub fn connected_components(
    n: usize,
    edges: impl Iterator<Item = (u32, u32)>,
    min_size: usize,
) -> Vec<Vec<u32>> {
    let mut uf = UnionFind::new(n);
    let mut touched = vec![false; n];
    for (a, b) in edges {
        uf.union(a, b);
        touched[a as usize] = true;
        touched[b as usize] = true;
    }
    let mut slot = vec![u32::MAX; n];
    let mut components: Vec<Vec<u32>> = Vec::new();
    for i in 0..n as u32 {
        if !touched[i as usize] {
            continue;
        }
        let root = uf.find(i) as usize;
        if slot[root] == u32::MAX {
            slot[root] = components.len() as u32;
            components.push(Vec::new());
        }
        components[slot[root] as usize].push(i);
    }
    components.retain(|c| c.len() >= min_size.max(1));
    components
}

/// The lowest node of each node's connected component (a node without edges is its own),
/// by Rem's union-find: each node points to a lower node of its component or to itself, so one
/// ascending pass then finds every root, and the root of a component is its lowest node.
/// Faster than [`UnionFind`] on the crossings' edge lists, which are ordered by inner hit.
/// Only the edges `kept(e)` count; they are linked in chunks side by side on the current rayon
/// pool, every change of a link a compare-and-swap, and the labels are the same whatever the
/// thread count (the components do not depend on the order of the links).
pub(crate) fn lowest_in_component(
    n: usize,
    edges: &[(u32, u32)],
    kept: impl Fn(usize) -> bool + Sync,
) -> Vec<u32> {
    const EDGES_PER_TASK: usize = 16_384;
    let parent: Vec<AtomicU32> = (0..n as u32).map(AtomicU32::new).collect();
    edges
        .par_chunks(EDGES_PER_TASK)
        .enumerate()
        .for_each(|(chunk, pairs)| {
            let first = chunk * EDGES_PER_TASK;
            for (e, &(a, b)) in (first..).zip(pairs) {
                if kept(e) {
                    link(&parent, a, b);
                }
            }
        });
    let mut parent: Vec<u32> = parent.into_iter().map(AtomicU32::into_inner).collect();
    // A node's parent is lower, so its root is known by the time the pass reaches the node.
    for i in 0..n {
        parent[i] = parent[parent[i] as usize];
    }
    parent
}

/// Joins the components of `a` and `b` in the forest of [`lowest_in_component`] (Rem's
/// algorithm with splicing): of the two nodes, the one with the higher parent moves its link
/// down to the other's parent and goes on from its old parent, until both have one parent or
/// a root was linked. A link only ever moves down within what becomes one component, so a
/// node's parent stays at or below it; where another thread changed a link in between, the
/// compare-and-swap fails and the step is read again.
fn link(parent: &[AtomicU32], a: u32, b: u32) {
    let (mut x, mut y) = (a as usize, b as usize);
    loop {
        let mut px = parent[x].load(Ordering::Acquire);
        let mut py = parent[y].load(Ordering::Acquire);
        if px == py {
            return;
        }
        if px < py {
            std::mem::swap(&mut x, &mut y);
            std::mem::swap(&mut px, &mut py);
        }
        // px > py: x's link moves down to y's parent.
        let moved = parent[x]
            .compare_exchange(px, py, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if px as usize == x {
            // x was a root: linked, or read again.
            if moved {
                return;
            }
            continue;
        }
        // Then on from x's old parent (whether or not another thread moved x meanwhile).
        x = px as usize;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracks::test_support::{random_edges, rng};
    use rand::RngExt;

    /// Components by depth-first search over an adjacency matrix.
    fn brute_components(n: usize, edges: &[(u32, u32)], min_size: usize) -> Vec<Vec<u32>> {
        let mut adj = vec![vec![false; n]; n];
        let mut touched = vec![false; n];
        for &(a, b) in edges {
            adj[a as usize][b as usize] = true;
            adj[b as usize][a as usize] = true;
            touched[a as usize] = true;
            touched[b as usize] = true;
        }
        let mut seen = vec![false; n];
        let mut out = Vec::new();
        for s in 0..n {
            if seen[s] || !touched[s] {
                continue;
            }
            let mut comp = vec![];
            let mut stack = vec![s];
            seen[s] = true;
            while let Some(v) = stack.pop() {
                comp.push(v as u32);
                for w in 0..n {
                    if adj[v][w] && !seen[w] {
                        seen[w] = true;
                        stack.push(w);
                    }
                }
            }
            comp.sort();
            if comp.len() >= min_size {
                out.push(comp);
            }
        }
        out
    }

    #[test]
    fn components_match_brute_force_on_random_graphs() {
        let mut r = rng(1);
        for trial in 0..200 {
            let n = r.random_range(1..60usize);
            let edges = random_edges(&mut r, n, 2 * n);
            let min = 1 + trial % 4;
            assert_eq!(
                connected_components(n, edges.iter().copied(), min),
                brute_components(n, &edges, min),
                "trial {trial}"
            );
        }
    }

    /// Each node's lowest component member, from the sequential union-find.
    fn lowest_by_union_find(
        n: usize,
        edges: &[(u32, u32)],
        kept: impl Fn(usize) -> bool,
    ) -> Vec<u32> {
        let kept_edges = edges.iter().enumerate().filter(|&(e, _)| kept(e));
        let mut expected: Vec<u32> = (0..n as u32).collect();
        for c in connected_components(n, kept_edges.map(|(_, &p)| p), 1) {
            for &i in &c {
                expected[i as usize] = c[0];
            }
        }
        expected
    }

    #[test]
    fn links_made_side_by_side_give_the_components_of_the_kept_edges() {
        // Many chunks of edges on four threads, so that links race; long chains (edges
        // between neighbours) and random edges, some of them left out.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(4)
            .build()
            .unwrap();
        let mut r = rng(3);
        for trial in 0..6 {
            let n = 20_000 + 10_000 * trial;
            let mut edges = random_edges(&mut r, n, n);
            edges.extend((0..n as u32 - 1).map(|i| (i + 1, i)));
            edges.extend((0..n as u32 / 2).map(|i| (i, n as u32 - 1 - i)));
            let skip = 2 + trial % 3;
            let kept = |e: usize| !e.is_multiple_of(skip);
            let lowest = pool.install(|| lowest_in_component(n, &edges, kept));
            assert_eq!(
                lowest,
                lowest_by_union_find(n, &edges, kept),
                "trial {trial}"
            );
        }
    }

    #[test]
    fn the_lowest_node_of_each_component_is_its_label() {
        let mut r = rng(2);
        for trial in 0..200 {
            let n = r.random_range(1..300usize);
            let edges = random_edges(&mut r, n, 2 * n);
            let lowest = lowest_in_component(n, &edges, |_| true);
            assert_eq!(
                lowest,
                lowest_by_union_find(n, &edges, |_| true),
                "trial {trial}"
            );
        }
    }
}
