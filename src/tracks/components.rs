//! Connected components by union-find, for grouping hits joined by edges.

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
pub(crate) fn lowest_in_component(n: usize, edges: impl Iterator<Item = (u32, u32)>) -> Vec<u32> {
    let mut parent: Vec<u32> = (0..n as u32).collect();
    for (a, b) in edges {
        let (mut x, mut y) = (a as usize, b as usize);
        while parent[x] != parent[y] {
            if parent[x] < parent[y] {
                std::mem::swap(&mut x, &mut y);
            }
            // parent[x] > parent[y]: x's link moves down to y's parent, then on from x's old one.
            let up = parent[x] as usize;
            parent[x] = parent[y];
            if up == x {
                break;
            }
            x = up;
        }
    }
    // A node's parent is lower, so its root is known by the time the pass reaches the node.
    for i in 0..n {
        parent[i] = parent[parent[i] as usize];
    }
    parent
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

    #[test]
    fn the_lowest_node_of_each_component_is_its_label() {
        let mut r = rng(2);
        for trial in 0..200 {
            let n = r.random_range(1..300usize);
            let edges = random_edges(&mut r, n, 2 * n);
            let lowest = lowest_in_component(n, edges.iter().copied());
            let mut expected: Vec<u32> = (0..n as u32).collect();
            for c in connected_components(n, edges.iter().copied(), 1) {
                for &i in &c {
                    expected[i as usize] = c[0];
                }
            }
            assert_eq!(lowest, expected, "trial {trial}");
        }
    }
}
