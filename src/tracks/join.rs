//! Recovery along straight lines: pieces and candidates take the loose hits their line passes
//! through on the layers they lack.

use rayon::prelude::*;

use super::components::UnionFind;
use super::fit::{LineFit, fit_hits, scattering_scale};
use super::{TrackConfig, layer_bit, layer_mask};
use crate::hits::Hits;

/// Share of the joining window inside which a short piece takes a candidate's hit: a merged hit
/// lies within a pixel of both positrons, so a narrower window keeps chance neighbours out
/// (measured: half the window keeps the gain and a third of the added fakes go away at xi = 7).
const BORROW_WINDOW: f64 = 0.5;

/// Hits of one kind (loose or taken) per layer, sorted by x, for window searches around a line.
struct LayerIndex {
    /// (x, hit) per layer, sorted by x.
    by_layer: Vec<Vec<(f64, u32)>>,
    /// Smallest and largest z of the hits of each layer.
    z_range: Vec<(f64, f64)>,
}

impl LayerIndex {
    fn new(hits: &Hits, n_layers: usize, keep: impl Fn(u32) -> bool) -> LayerIndex {
        let mut by_layer: Vec<Vec<(f64, u32)>> = vec![Vec::new(); n_layers];
        let mut z_range = vec![(f64::INFINITY, f64::NEG_INFINITY); n_layers];
        for h in 0..hits.len() as u32 {
            if keep(h) {
                let (l, z) = (hits.layer[h as usize] as usize, hits.z[h as usize]);
                by_layer[l].push((hits.x[h as usize], h));
                z_range[l] = (z_range[l].0.min(z), z_range[l].1.max(z));
            }
        }
        // Stable: hits at the same x stay in hit order. The layers side by side.
        by_layer
            .par_iter_mut()
            .for_each(|list| list.sort_by(|a, b| a.0.total_cmp(&b.0)));
        LayerIndex { by_layer, z_range }
    }

    /// The hit of `layer` nearest the line `fit` of a piece whose hits lie at `zs`, if one lies
    /// within `rad` times the z distance to the piece's nearest hit in x and in y; with its
    /// cost (squared distance over squared window).
    fn nearest(
        &self,
        hits: &Hits,
        layer: usize,
        fit: &LineFit,
        zs: &[f64],
        rad: f64,
    ) -> Option<(f64, u32)> {
        let list = self.by_layer.get(layer).filter(|l| !l.is_empty())?;
        let (z_lo, z_hi) = self.z_range[layer];
        let gap = |z: f64| zs.iter().map(|&zp| (z - zp).abs()).fold(f64::MAX, f64::min);
        let reach = rad * gap(z_lo).max(gap(z_hi));
        let (xa, xb) = (fit.x_at(z_lo), fit.x_at(z_hi));
        let (x_lo, x_hi) = (xa.min(xb) - reach, xa.max(xb) + reach);
        let start = list.partition_point(|&(x, _)| x < x_lo);
        let mut best: Option<(f64, u32)> = None;
        for &(x, h) in list[start..].iter().take_while(|&&(x, _)| x <= x_hi) {
            let z = hits.z[h as usize];
            let tol = rad * gap(z);
            let (dx, dy) = (x - fit.x_at(z), hits.y[h as usize] - fit.y_at(z));
            if dx.abs() < tol && dy.abs() < tol {
                let cost = (dx * dx + dy * dy) / (tol * tol);
                if best.is_none_or(|(c, _)| cost < c) {
                    best = Some((cost, h));
                }
            }
        }
        best
    }
}

/// Joins pieces of tracks along straight lines.
///
/// `groups` are hit sets (connected components, with shared hits added); those with hits on at
/// least `min_hits` layers are *candidates*, every other hit is *loose* (in a shorter piece or
/// alone).
/// Each group spanning two layers or more is fitted with a line and extrapolated to every layer it
/// lacks; there the loose hit nearest the line is proposed when it lies within the window
/// (`join_tolerance_rad` times the z distance to the group's nearest hit, in x and in y, widened
/// for low momenta, see `scattering_momentum_gev`).
/// Proposals are applied best first: the group takes the hit's whole piece, unless both already
/// have a hit on a common layer or both are candidates. This bridges a missing hit (no edge spans
/// it at high occupancy) and an edge the classifier cut between two halves of a track. Last, a
/// piece still short of a candidate borrows one candidate hit on a layer it lacks, within half
/// the window (hits merged from two positrons).
/// Returns the groups after joining, in no particular order.
pub fn join_pieces(hits: &Hits, groups: Vec<Vec<u32>>, config: &TrackConfig) -> Vec<Vec<u32>> {
    const NONE: u32 = u32::MAX;
    let n = hits.len();
    let layers_of = |g: &[u32]| layer_mask(hits, g.iter().copied());
    // A candidate has hits on min_hits layers at least; a piece with fewer (a stave-overlap
    // pair and one more hit) is still loose.
    let enough = |layers: u64| layers.count_ones() as usize >= config.min_hits;
    let complete = |g: &[u32]| enough(layers_of(g));
    // Node of each hit: the group of a loose hit in a short group, or a node of its own.
    let mut taken = vec![false; n];
    for g in groups.iter().filter(|g| complete(g)) {
        for &h in g {
            taken[h as usize] = true;
        }
    }
    let mut node_of = vec![NONE; n];
    let mut nodes: Vec<Vec<u32>> = groups;
    for (k, g) in nodes.iter().enumerate() {
        if !complete(g) {
            for &h in g {
                node_of[h as usize] = k as u32;
            }
        }
    }
    let n_groups = nodes.len();
    for h in 0..n as u32 {
        if !taken[h as usize] && node_of[h as usize] == NONE {
            node_of[h as usize] = nodes.len() as u32;
            nodes.push(vec![h]);
        }
    }
    // Loose hits per layer, sorted by x.
    let n_layers = hits
        .layer
        .iter()
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(0);
    // Loose hits for the joining and, on the other thread, taken hits for the borrowing below.
    let (loose, claimed) = rayon::join(
        || LayerIndex::new(hits, n_layers, |h| !taken[h as usize]),
        || LayerIndex::new(hits, n_layers, |h| taken[h as usize]),
    );
    // Proposals (cost, node, hit).
    let all_layers = (1u64 << n_layers) - 1;
    let mut proposals: Vec<(f64, u32, u32)> = nodes[..n_groups]
        .par_iter()
        .enumerate()
        .flat_map_iter(|(k, members)| {
            let mask = layers_of(members);
            // A short group whose hits all went to candidates (hit sharing) is theirs.
            let spent = !complete(members) && members.iter().all(|&h| taken[h as usize]);
            let fit = if mask.count_ones() < 2 || spent || mask & all_layers == all_layers {
                None
            } else {
                fit_hits(hits, members, config)
            };
            let loose = &loose;
            fit.into_iter().flat_map(move |(fit, zs)| {
                let rad = config.join_tolerance_rad * scattering_scale(&fit, config);
                (0..n_layers)
                    .filter(move |&l| mask & (1u64 << l) == 0)
                    .filter_map(move |l| loose.nearest(hits, l, &fit, &zs, rad))
                    .map(move |(cost, h)| (cost, k as u32, h))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    // (node, hit) pairs are unique (one hit per missing layer), so the order is total and an
    // unstable sort gives the same result as a stable one.
    proposals.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    // Union-find over nodes; the root of a set holds its hits, layers and whether it is a
    // candidate. Two sets may share a layer only through the same (shared) hits.
    let mut uf = UnionFind::new(nodes.len());
    let (mut mask, mut big): (Vec<u64>, Vec<bool>) = nodes
        .par_iter()
        .map(|m| {
            let layers = layers_of(m);
            (layers, enough(layers))
        })
        .unzip();
    let mut members: Vec<Vec<u32>> = nodes;
    for (_, k, h) in proposals {
        let (a, b) = (uf.find(k) as usize, uf.find(node_of[h as usize]) as usize);
        if a == b || (big[a] && big[b]) {
            continue;
        }
        let common = mask[a] & mask[b];
        if common != 0
            && !members[b]
                .iter()
                .filter(|&&x| layer_bit(hits, x) & common != 0)
                .all(|x| members[a].contains(x))
        {
            continue;
        }
        uf.union(a as u32, b as u32);
        let root = uf.find(a as u32) as usize;
        let other = if root == a { b } else { a };
        let mut moved = std::mem::take(&mut members[other]);
        moved.retain(|x| !members[root].contains(x));
        members[root].extend(moved);
        mask[root] = mask[a] | mask[b];
        big[root] = big[a] || big[b];
    }
    let mut joined: Vec<Vec<u32>> = members
        .into_iter()
        .enumerate()
        .filter(|&(k, ref m)| !m.is_empty() && uf.find(k as u32) as usize == k)
        .map(|(_, m)| m)
        .collect();
    // A piece still short of a candidate, with hits of its own on two layers, takes the nearest
    // hit of a candidate on a layer it lacks, inside a narrower window: where two positrons
    // merged, the hit is both positrons'. One hit at most: a track with two borrowed hits is
    // as much the other positron's as its own.
    // Each piece reads only the taken hits, which borrowing does not change: in parallel.
    joined.par_iter_mut().for_each(|group| {
        let mask = layers_of(group);
        if enough(mask) {
            return;
        }
        let own_layers = layer_mask(hits, group.iter().copied().filter(|&h| !taken[h as usize]));
        if own_layers.count_ones() < 2 {
            return;
        }
        let Some((fit, zs)) = fit_hits(hits, group, config) else {
            return;
        };
        let rad = BORROW_WINDOW * config.join_tolerance_rad * scattering_scale(&fit, config);
        let best = (0..n_layers)
            .filter(|&l| mask & (1u64 << l) == 0)
            .filter_map(|l| claimed.nearest(hits, l, &fit, &zs, rad))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        if let Some((_, h)) = best {
            group.push(h);
        }
    });
    joined
}
