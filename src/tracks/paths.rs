//! Candidate paths: every chain of hits along scored edges that could be a track.
//!
//! Edges are followed from their inner to their outer hit, from every hit, so that each path and
//! each of its contiguous pieces with hits on at least `min_hits` layers is a candidate. From a
//! hit only its `max_branches` best edges scoring at least `path_cut` are followed; a path
//! holds at most one hit per (layer, stave). The straight-line fit is kept in running sums as
//! the path grows, and a path whose chi2 / ndf exceeds `path_chi2_ndf` is neither kept nor
//! extended, which keeps the search small in dense regions.

use rayon::prelude::*;

use super::fit::LineSums;
use super::{TrackConfig, layer_bit};
use crate::hits::Hits;

/// Candidate paths, stored flat.
#[derive(Debug, Clone, Default)]
pub(crate) struct Paths {
    /// Hits of all paths, each path ordered along its edges (inner to outer).
    pub hits: Vec<u32>,
    /// Path `k` is `hits[offsets[k]..offsets[k + 1]]`.
    pub offsets: Vec<u32>,
    /// Number of distinct layers of each path.
    pub layers: Vec<u8>,
    /// Quality cost of each path: lower is better (see [`path_cost`]).
    pub cost: Vec<f32>,
}

impl Paths {
    /// Number of paths.
    pub fn len(&self) -> usize {
        self.layers.len()
    }

    /// Hits of path `k`.
    pub fn path(&self, k: usize) -> &[u32] {
        &self.hits[self.offsets[k] as usize..self.offsets[k + 1] as usize]
    }

    /// [`trim`](super::trim) of each column.
    pub fn trim(&mut self) {
        super::trim(&mut self.hits);
        super::trim(&mut self.offsets);
        super::trim(&mut self.layers);
        super::trim(&mut self.cost);
    }

    /// No paths, the memory kept.
    fn clear(&mut self) {
        self.hits.clear();
        self.offsets.clear();
        self.offsets.push(0);
        self.layers.clear();
        self.cost.clear();
    }

    /// The paths in the order `order` (path `order[k]` becomes path `k`) into `out`, copied in
    /// parallel, so that a pass in that order reads them one after the other.
    pub fn permute_into(&self, order: &[u32], out: &mut Paths) {
        const PATHS_PER_BLOCK: usize = 4096;
        out.clear();
        let mut total = 0u32;
        out.offsets.extend(order.iter().map(|&p| {
            let p = p as usize;
            total += self.offsets[p + 1] - self.offsets[p];
            total
        }));
        out.hits.resize(total as usize, 0);
        let blocks = row_blocks(&mut out.hits, &out.offsets, PATHS_PER_BLOCK);
        blocks.into_par_iter().for_each(|(ranks, block)| {
            let mut at = 0;
            for &p in &order[ranks] {
                let path = self.path(p as usize);
                block[at..at + path.len()].copy_from_slice(path);
                at += path.len();
            }
        });
        out.layers
            .par_extend(order.par_iter().map(|&p| self.layers[p as usize]));
        out.cost
            .par_extend(order.par_iter().map(|&p| self.cost[p as usize]));
    }
}

/// The buffers of the path search, kept from one crossing to the next (at xi = 7 they hold
/// about 10 MB, which costs more to touch for the first time than to fill).
#[derive(Debug, Default)]
pub(crate) struct PathBuffers {
    /// The rows the search follows.
    pub adjacency: Adjacency,
    chunks: Vec<ChunkRows>,
    blocks: Vec<Paths>,
    /// The paths found, in order of their first hit.
    pub paths: Paths,
}

impl PathBuffers {
    /// Gives back the memory of buffers far larger than the last crossing needed
    /// ([`trim`](super::trim)).
    pub fn trim(&mut self) {
        super::trim(&mut self.adjacency.offsets);
        super::trim(&mut self.adjacency.targets);
        for chunk in &mut self.chunks {
            super::trim(&mut chunk.ends);
            super::trim(&mut chunk.targets);
        }
        self.blocks.iter_mut().for_each(Paths::trim);
        self.paths.trim();
    }

    /// Every candidate path along `edges` (inner hit, outer hit) with their `scores`: the rows
    /// of the [`Adjacency`] ([`rows`](Self::rows)), then the search
    /// ([`enumerate_paths_into`]).
    pub fn find(
        &mut self,
        hits: &Hits,
        edges: &[(u32, u32)],
        scores: &[f32],
        config: &TrackConfig,
    ) -> &Paths {
        let (cut, branches) = (config.path_cut, config.max_branches);
        self.rows(hits.len(), edges, scores, cut, branches, EDGES_PER_CHUNK);
        enumerate_paths_into(
            hits,
            &self.adjacency,
            config,
            &mut self.blocks,
            &mut self.paths,
        );
        &self.paths
    }

    /// The [`Adjacency`] rows of the edges into `self.adjacency`, from the edges ordered by inner
    /// hit (as the graph gives them; others are ordered first), in parallel chunks of whole
    /// rows (about `per_chunk` edges each): each chunk keeps its rows' edges scoring at least
    /// `cut`, best first (ties: lower hit index), at most `max_branches` of them, and the
    /// chunks are then joined.
    fn rows(
        &mut self,
        n_hits: usize,
        edges: &[(u32, u32)],
        scores: &[f32],
        cut: f32,
        max_branches: usize,
        per_chunk: usize,
    ) {
        if !edges.is_sorted_by_key(|&(a, _)| a) {
            let (edges, scores) = by_inner_hit(n_hits, edges, scores);
            return self.rows(n_hits, &edges, &scores, cut, max_branches, per_chunk);
        }
        // Chunk k holds edges bounds[k]..bounds[k + 1], each starting at a row's first edge.
        let step = per_chunk.max(1);
        let mut bounds = vec![0usize];
        let mut at = step;
        while at < edges.len() {
            while at < edges.len() && edges[at].0 == edges[at - 1].0 {
                at += 1;
            }
            if at < edges.len() {
                bounds.push(at);
            }
            at = at.saturating_add(step);
        }
        bounds.push(edges.len());
        let n_chunks = bounds.len() - 1;
        // The hits whose rows chunk k writes: from its first inner hit (0 for the first chunk)
        // to the next chunk's (n_hits for the last).
        let first_hit = |k: usize| {
            if k == 0 {
                0
            } else if k == n_chunks {
                n_hits
            } else {
                edges[bounds[k]].0 as usize
            }
        };
        self.chunks.resize_with(n_chunks, ChunkRows::default);
        self.chunks
            .par_iter_mut()
            .enumerate()
            .for_each(|(k, chunk)| {
                let (h0, h1) = (first_hit(k), first_hit(k + 1));
                // ends[i]: the chunk's kept edges up to the end of row h0 + i.
                let ends = &mut chunk.ends;
                ends.clear();
                ends.resize(h1 - h0, 0);
                let rows = bounds[k]..bounds[k + 1];
                let targets = &mut chunk.targets;
                targets.clear();
                targets.resize(rows.len(), (0, 0.0));
                let mut kept = 0usize;
                for (&(a, b), &s) in edges[rows.clone()].iter().zip(&scores[rows]) {
                    // Without a branch: about half the edges pass, in no pattern. A row's end is
                    // the number kept when its last edge is done.
                    targets[kept] = (b, s);
                    kept += usize::from(s >= cut);
                    ends[a as usize - h0] = kept as u32;
                }
                // Rows without edges end where the row before them ends.
                for i in 1..ends.len() {
                    ends[i] = ends[i].max(ends[i - 1]);
                }
                // Each row best first, then its first max_branches moved down, in place.
                let (mut start, mut write) = (0usize, 0usize);
                for end in ends.iter_mut() {
                    let row = start..*end as usize;
                    if row.len() > 1 {
                        targets[row.clone()]
                            .sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
                    }
                    // Element by element: rows are short, a memmove call per row costs more.
                    for k in row.start..row.start + row.len().min(max_branches) {
                        targets[write] = targets[k];
                        write += 1;
                    }
                    start = row.end;
                    *end = write as u32;
                }
                targets.truncate(write);
            });
        let Adjacency { offsets, targets } = &mut self.adjacency;
        offsets.clear();
        offsets.push(0u32);
        targets.clear();
        for chunk in &self.chunks {
            let base = targets.len() as u32;
            offsets.extend(chunk.ends.iter().map(|&end| base + end));
            targets.extend_from_slice(&chunk.targets);
        }
    }
}

/// Cost of a path from its fit and the mean score of its edges: chi2 / ndf plus
/// `score_weight` times (1 - mean score).
pub(crate) fn path_cost(chi2: f64, ndf: i32, mean_score: f64, config: &TrackConfig) -> f64 {
    chi2 / f64::from(ndf.max(1)) + config.score_weight * (1.0 - mean_score)
}

/// Outgoing edges per hit that the search follows: the `max_branches` best scoring at least
/// `path_cut`, best first, as (target hit, score), in compressed rows.
#[derive(Debug, Default)]
pub(crate) struct Adjacency {
    /// Row `h` is `targets[offsets[h]..offsets[h + 1]]`.
    pub offsets: Vec<u32>,
    /// (outer hit, score).
    pub targets: Vec<(u32, f32)>,
}

impl Adjacency {
    /// Rows of the edges scoring at least `cut`, at most `max_branches` per hit.
    #[cfg(test)]
    pub fn new(
        n_hits: usize,
        edges: &[(u32, u32)],
        scores: &[f32],
        cut: f32,
        max_branches: usize,
    ) -> Adjacency {
        let mut buffers = PathBuffers::default();
        buffers.rows(n_hits, edges, scores, cut, max_branches, EDGES_PER_CHUNK);
        buffers.adjacency
    }

    fn row(&self, h: u32) -> &[(u32, f32)] {
        &self.targets[self.offsets[h as usize] as usize..self.offsets[h as usize + 1] as usize]
    }
}

/// `data` in rows (row i is `data[offsets[i]..offsets[i + 1]]`, `offsets[0] = 0`) cut into
/// blocks of `per` rows: each block's range of rows and its stretch of `data`, to be filled
/// side by side.
fn row_blocks<'d, T>(
    data: &'d mut [T],
    offsets: &[u32],
    per: usize,
) -> Vec<(std::ops::Range<usize>, &'d mut [T])> {
    let n_rows = offsets.len() - 1;
    let mut blocks = Vec::with_capacity(n_rows.div_ceil(per));
    let mut rest = data;
    for first in (0..n_rows).step_by(per) {
        let last = (first + per).min(n_rows);
        let len = (offsets[last] - offsets[first]) as usize;
        let (block, tail) = rest.split_at_mut(len);
        blocks.push((first..last, block));
        rest = tail;
    }
    blocks
}

/// The rows of one chunk of [`PathBuffers::rows`]: where each of its rows ends in its kept
/// edges, and those edges.
#[derive(Debug, Default)]
struct ChunkRows {
    ends: Vec<u32>,
    targets: Vec<(u32, f32)>,
}

/// Edges per chunk of [`PathBuffers::rows`] (whole rows are added until a chunk holds this many).
const EDGES_PER_CHUNK: usize = 16_384;

/// Edges in any order and their scores, ordered by inner hit (a counting sort).
fn by_inner_hit(
    n_hits: usize,
    edges: &[(u32, u32)],
    scores: &[f32],
) -> (Vec<(u32, u32)>, Vec<f32>) {
    let mut fill = vec![0u32; n_hits + 1];
    for &(a, _) in edges {
        fill[a as usize + 1] += 1;
    }
    for i in 0..n_hits {
        fill[i + 1] += fill[i];
    }
    let mut sorted = vec![(0u32, 0u32); edges.len()];
    let mut sorted_scores = vec![0f32; edges.len()];
    for (&(a, b), &s) in edges.iter().zip(scores) {
        let at = &mut fill[a as usize];
        sorted[*at as usize] = (a, b);
        sorted_scores[*at as usize] = s;
        *at += 1;
    }
    (sorted, sorted_scores)
}

/// Bit of a hit's (layer, stave) slot; staves beyond 8 per layer share slots (never in LUXE).
fn slot_bit(hits: &Hits, h: u32) -> u64 {
    let (l, s) = (hits.layer[h as usize] as u64, hits.stave[h as usize] as u64);
    1u64 << ((l * 8 + s.min(7)) & 63)
}

/// Longest path searched: four layers with two staves each.
const MAX_PATH_HITS: usize = 8;

/// [`enumerate_paths_into`] in new buffers.
#[cfg(test)]
pub(crate) fn enumerate_paths(hits: &Hits, adjacency: &Adjacency, config: &TrackConfig) -> Paths {
    let mut out = Paths::default();
    enumerate_paths_into(hits, adjacency, config, &mut Vec::new(), &mut out);
    out
}

/// Every candidate path through `adjacency` (see the module docs) into `out`, in order of their
/// first hit, the paths of each block of start hits found in `blocks`; the search runs on the
/// current rayon thread pool and the result does not depend on the number of threads.
fn enumerate_paths_into(
    hits: &Hits,
    adjacency: &Adjacency,
    config: &TrackConfig,
    blocks: &mut Vec<Paths>,
    out: &mut Paths,
) {
    const BLOCK: usize = 4096;
    let n = hits.len();
    blocks.resize_with(n.div_ceil(BLOCK), Paths::default);
    blocks.par_iter_mut().enumerate().for_each(|(b, block)| {
        let starts = (b * BLOCK) as u32..((b + 1) * BLOCK).min(n) as u32;
        paths_from(hits, adjacency, config, starts, block);
    });
    out.clear();
    for block in blocks.iter() {
        let base = out.hits.len() as u32;
        out.hits.extend_from_slice(&block.hits);
        out.offsets
            .extend(block.offsets[1..].iter().map(|&o| o + base));
        out.layers.extend_from_slice(&block.layers);
        out.cost.extend_from_slice(&block.cost);
    }
}

/// The paths that start at the hits of `starts`, into `out`.
fn paths_from(
    hits: &Hits,
    adjacency: &Adjacency,
    config: &TrackConfig,
    starts: std::ops::Range<u32>,
    out: &mut Paths,
) {
    out.clear();
    let min_layers = config.min_hits as u32;
    // One frame per hit on the path: hit, next row index, running sums, slots, layers, score sum.
    struct Frame {
        hit: u32,
        next: u32,
        sums: LineSums,
        slots: u64,
        layers: u64,
        score_sum: f64,
    }
    let mut stack: Vec<Frame> = Vec::with_capacity(MAX_PATH_HITS);
    for start in starts {
        if adjacency.row(start).is_empty() {
            continue;
        }
        stack.clear();
        stack.push(Frame {
            hit: start,
            next: 0,
            sums: LineSums::start(hits, start),
            slots: slot_bit(hits, start),
            layers: layer_bit(hits, start),
            score_sum: 0.0,
        });
        while !stack.is_empty() {
            let depth = stack.len();
            let top = stack.last_mut().expect("non-empty");
            let row = adjacency.row(top.hit);
            if top.next as usize >= row.len() || depth >= MAX_PATH_HITS {
                stack.pop();
                continue;
            }
            let (v, score) = row[top.next as usize];
            top.next += 1;
            let slot = slot_bit(hits, v);
            if top.slots & slot != 0 {
                continue;
            }
            let mut sums = top.sums;
            sums.add(hits, v);
            let frame = Frame {
                hit: v,
                next: 0,
                sums,
                slots: top.slots | slot,
                layers: top.layers | layer_bit(hits, v),
                score_sum: top.score_sum + f64::from(score),
            };
            let n = depth + 1;
            if n >= 3 {
                let Some((chi2, ndf)) = frame.sums.chi2(config) else {
                    continue;
                };
                if chi2 / f64::from(ndf.max(1)) > config.path_chi2_ndf {
                    continue;
                }
                let layers = frame.layers.count_ones();
                if layers >= min_layers {
                    out.hits.extend(stack.iter().map(|f| f.hit));
                    out.hits.push(v);
                    out.offsets.push(out.hits.len() as u32);
                    out.layers.push(layers as u8);
                    let mean_score = frame.score_sum / (n - 1) as f64;
                    out.cost
                        .push(path_cost(chi2, ndf, mean_score, config) as f32);
                }
            }
            stack.push(frame);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hits::Hit;
    use crate::tracks::test_support::rng;
    use rand::RngExt;
    use std::collections::BTreeSet;

    /// A small random crossing: hits on 4 layers and 2 staves, random edges from each hit to
    /// hits further downstream (next layer or the other stave), random scores.
    fn random_crossing(seed: u64) -> (Hits, Vec<(u32, u32)>, Vec<f32>) {
        let mut r = rng(seed);
        let mut h = Hits::new(false);
        let n = r.random_range(4..14u32);
        for i in 0..n {
            let (layer, stave) = (r.random_range(0..4u8), r.random_range(0..2u8));
            let z = 3950.0 + 100.0 * f64::from(layer) + 12.0 * f64::from(stave);
            let x = 150.0 + 0.08 * (z - 3950.0) + r.random_range(-0.05..0.05);
            let y = r.random_range(-0.05..0.05);
            h.push(
                Hit {
                    hit_id: u64::from(i),
                    x,
                    y,
                    z,
                    layer,
                    stave,
                },
                None,
            );
        }
        let (mut edges, mut scores) = (vec![], vec![]);
        for a in 0..n {
            for b in 0..n {
                let (la, lb) = (h.layer[a as usize], h.layer[b as usize]);
                let (sa, sb) = (h.stave[a as usize], h.stave[b as usize]);
                let downstream = lb == la + 1 || (lb == la && sb > sa);
                if downstream && r.random_range(0.0..1.0) < 0.6 {
                    edges.push((a, b));
                    scores.push(r.random_range(0.0..1.0f32));
                }
            }
        }
        (h, edges, scores)
    }

    /// Every path along edges scoring at least `cut`, by recursion over all sequences.
    fn brute_paths(
        h: &Hits,
        edges: &[(u32, u32)],
        scores: &[f32],
        cut: f32,
        min_layers: usize,
    ) -> BTreeSet<Vec<u32>> {
        fn walk(
            h: &Hits,
            out_edges: &[Vec<u32>],
            path: &mut Vec<u32>,
            min_layers: usize,
            found: &mut BTreeSet<Vec<u32>>,
        ) {
            let layers: BTreeSet<u8> = path.iter().map(|&x| h.layer[x as usize]).collect();
            if path.len() >= 3 && layers.len() >= min_layers {
                found.insert(path.clone());
            }
            let last = *path.last().unwrap() as usize;
            for &v in &out_edges[last] {
                let slot = |x: u32| (h.layer[x as usize], h.stave[x as usize]);
                if path.iter().any(|&p| slot(p) == slot(v)) {
                    continue;
                }
                path.push(v);
                walk(h, out_edges, path, min_layers, found);
                path.pop();
            }
        }
        let mut out_edges = vec![vec![]; h.len()];
        for (&(a, b), &s) in edges.iter().zip(scores) {
            if s >= cut {
                out_edges[a as usize].push(b);
            }
        }
        let mut found = BTreeSet::new();
        for s in 0..h.len() as u32 {
            walk(h, &out_edges, &mut vec![s], min_layers, &mut found);
        }
        found
    }

    #[test]
    fn paths_match_brute_force_on_random_crossings() {
        let config = TrackConfig {
            path_chi2_ndf: f64::MAX,
            max_branches: usize::MAX,
            path_cut: 0.3,
            ..TrackConfig::default()
        };
        let mut total = 0;
        for seed in 0..300 {
            let (h, edges, scores) = random_crossing(seed);
            let adjacency = Adjacency::new(h.len(), &edges, &scores, 0.3, usize::MAX);
            let paths = enumerate_paths(&h, &adjacency, &config);
            let fast: Vec<Vec<u32>> = (0..paths.len()).map(|k| paths.path(k).to_vec()).collect();
            let fast_set: BTreeSet<Vec<u32>> = fast.iter().cloned().collect();
            assert_eq!(fast.len(), fast_set.len(), "seed {seed}: a path twice");
            assert_eq!(
                fast_set,
                brute_paths(&h, &edges, &scores, 0.3, 3),
                "seed {seed}"
            );
            total += fast.len();
        }
        assert!(total > 100, "the crossings have paths to compare ({total})");
    }

    #[test]
    fn a_hit_follows_only_its_best_branches() {
        let (h, edges, scores) = random_crossing(5);
        let adjacency = Adjacency::new(h.len(), &edges, &scores, 0.0, 2);
        for a in 0..h.len() as u32 {
            let mut all: Vec<f32> = edges
                .iter()
                .zip(&scores)
                .filter(|(e, _)| e.0 == a)
                .map(|(_, &s)| s)
                .collect();
            all.sort_by(|x, y| y.total_cmp(x));
            let kept: Vec<f32> = adjacency.row(a).iter().map(|&(_, s)| s).collect();
            assert_eq!(kept, all[..all.len().min(2)].to_vec(), "hit {a}");
        }
    }

    #[test]
    fn rows_do_not_depend_on_the_order_of_the_edges_or_the_chunks() {
        let mut compared = 0;
        let mut buffers = PathBuffers::default();
        for seed in 0..50 {
            let (h, edges, mut scores) = random_crossing(seed);
            // Scores right at a cut are kept.
            for s in scores.iter_mut().step_by(4) {
                *s = 0.5;
            }
            // The crossing's edges come sorted by inner hit; the same edges in a random order
            // take the other way to the rows.
            let mut shuffled: Vec<((u32, u32), f32)> =
                edges.iter().copied().zip(scores.iter().copied()).collect();
            let mut r = rng(1000 + seed);
            for i in (1..shuffled.len()).rev() {
                shuffled.swap(i, r.random_range(0..=i));
            }
            let (other_edges, other_scores): (Vec<_>, Vec<_>) = shuffled.into_iter().unzip();
            assert!(edges.is_sorted_by_key(|&(a, _)| a));
            for (cut, branches) in [(0.0, usize::MAX), (0.3, 2), (0.5, 1)] {
                let sorted = Adjacency::new(h.len(), &edges, &scores, cut, branches);
                let other = Adjacency::new(h.len(), &other_edges, &other_scores, cut, branches);
                assert_eq!(sorted.offsets, other.offsets, "seed {seed}");
                assert_eq!(sorted.targets, other.targets, "seed {seed}");
                // The rows are built in chunks of whole rows: any chunk size, the same rows, in
                // buffers kept from the crossings and chunk sizes before.
                buffers.rows(h.len(), &edges, &scores, cut, branches, usize::MAX);
                let whole = std::mem::take(&mut buffers.adjacency);
                for per_chunk in [1, 2, 5] {
                    buffers.rows(h.len(), &edges, &scores, cut, branches, per_chunk);
                    let chunked = &buffers.adjacency;
                    assert_eq!(chunked.offsets, whole.offsets, "seed {seed}, {per_chunk}");
                    assert_eq!(chunked.targets, whole.targets, "seed {seed}, {per_chunk}");
                }
                assert_eq!(whole.offsets, sorted.offsets, "seed {seed}");
                assert_eq!(whole.targets, sorted.targets, "seed {seed}");
                compared += sorted.targets.len();
            }
        }
        assert!(compared > 500, "rows to compare ({compared})");
    }
}
