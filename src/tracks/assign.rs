//! Exclusive assignment: the set of candidate paths in which each hit belongs to one track.
//!
//! 1. Best first: paths ordered by distinct layers (more first), hits (more first), then cost
//!    (lower first); a path is taken when none of its hits is taken yet. Paths with the same
//!    hits are one path.
//! 2. Sharing: an untaken, well-fitting path whose only conflicts are one or two hits of one
//!    taken path is taken too (two positrons whose hits merged): one common hit is shared, two
//!    are split between them.
//! 3. Tail exchange: two taken paths linked by an edge scoring at least `path_cut` swap their
//!    downstream parts where that lowers their summed chi2.

use rayon::prelude::*;

use super::fit::{FittedLine, LineSums};
use super::paths::Paths;
use super::{TrackConfig, layer_bit, layer_mask, radix_sort_by_bits, stable_counting_sort};
use crate::hits::Hits;

const FREE: u32 = u32::MAX;

/// How far (in scattering-widened hit uncertainties) the first hit of another track's tail
/// may lie from a track's line for the tail exchange to try it.
const SWAP_PULL: f64 = 10.0;

/// Taken paths as hit lists (the hits of a path in path order), their tails exchanged.
#[cfg(test)]
pub(crate) fn assign(
    hits: &Hits,
    paths: &Paths,
    edges: &[(u32, u32)],
    scores: &[f32],
    config: &TrackConfig,
) -> Vec<Vec<u32>> {
    let mut taken = take_paths(hits, paths, config, &mut AssignBuffers::default());
    exchange_tails(hits, &mut taken, edges, scores, config);
    taken.tracks
}

/// The paths that steps 1 and 2 took, as tracks.
pub(crate) struct Taken {
    /// Hit lists (the hits of a path in path order), numbered in the order of their first
    /// hits: the passes after the assignment go through the edges and look up the tracks of
    /// their hits, and tracks near each other in the detector then lie near each other in
    /// memory (best first, the numbers of neighbouring tracks are scattered over the crossing).
    pub(crate) tracks: Vec<Vec<u32>>,
    /// The track numbers best first, the order in which they were taken: the tail exchange
    /// breaks its ties in that order, so that its result does not depend on the numbering.
    pub(crate) best_first: Vec<u32>,
    /// The first hit of each track's path, in the order of the tracks.
    pub(crate) first_hits: Vec<u32>,
}

/// The buffers of the assignment, kept from one crossing to the next (at xi = 7 they hold
/// about 10 MB, which costs more to touch for the first time than to fill).
#[derive(Debug, Default)]
pub(crate) struct AssignBuffers {
    keys: Vec<u64>,
    spare: Vec<u64>,
    order: Vec<u32>,
    ranked: Paths,
    owner: Vec<u32>,
    second: Vec<u32>,
    is_taken: Vec<bool>,
    rank_of: Vec<u32>,
}

impl AssignBuffers {
    /// Gives back the memory of buffers far larger than the last crossing needed
    /// ([`trim`](super::trim)).
    pub(crate) fn trim(&mut self) {
        super::trim(&mut self.keys);
        super::trim(&mut self.spare);
        super::trim(&mut self.order);
        self.ranked.trim();
        super::trim(&mut self.owner);
        super::trim(&mut self.second);
        super::trim(&mut self.is_taken);
        super::trim(&mut self.rank_of);
    }
}

/// Steps 1 and 2 of the module docs.
pub(crate) fn take_paths(
    hits: &Hits,
    paths: &Paths,
    config: &TrackConfig,
    buffers: &mut AssignBuffers,
) -> Taken {
    let t0 = std::time::Instant::now();
    let AssignBuffers {
        keys,
        spare,
        order,
        ranked,
        owner,
        second,
        is_taken,
        rank_of,
    } = buffers;
    best_first_order(paths, keys, spare, order);
    let order = &*order;
    // The paths in that order: the passes below read them one after the other, and a path's
    // rank is its number from here on.
    paths.permute_into(order, ranked);
    let ranked = &*ranked;
    let t1 = std::time::Instant::now();
    let mut state = State::new(hits.len(), ranked, owner, second, is_taken);
    for p in 0..ranked.len() as u32 {
        if state.is_free(p) {
            state.take(p);
        }
    }
    let t2 = std::time::Instant::now();
    if config.share_hits {
        share(&mut state, hits, config);
    }
    let t3 = std::time::Instant::now();
    let state = &state;
    // The taken paths in the order of the search, which is that of their first hits: the hits
    // come from `paths`, read one after the other, and the k-th of them is track k.
    rank_of.clear();
    rank_of.resize(paths.len(), FREE);
    for r in 0..ranked.len() {
        if state.is_taken[r] {
            rank_of[order[r] as usize] = r as u32;
        }
    }
    let found: Vec<(u32, u32)> = (0..paths.len() as u32)
        .filter_map(|q| Some((q, rank_of[q as usize])).filter(|&(_, r)| r != FREE))
        .collect();
    let tracks: Vec<Vec<u32>> = found
        .par_iter()
        .map(|&(q, r)| state.held_of(paths.path(q as usize), r))
        .collect();
    // The track numbers in the order the paths were taken.
    let number_of = rank_of;
    for (k, &(q, _)) in found.iter().enumerate() {
        number_of[q as usize] = k as u32;
    }
    let best_first: Vec<u32> = (0..ranked.len())
        .filter(|&r| state.is_taken[r])
        .map(|r| number_of[order[r] as usize])
        .collect();
    let first_hits = found
        .iter()
        .map(|&(q, _)| paths.path(q as usize)[0])
        .collect();
    let ms = |a: std::time::Instant, b: std::time::Instant| (b - a).as_secs_f64() * 1e3;
    log::debug!(
        "assignment: order {:.1} ms, best first {:.1} ms, sharing {:.1} ms, collecting {:.1} ms",
        ms(t0, t1),
        ms(t1, t2),
        ms(t2, t3),
        ms(t3, std::time::Instant::now())
    );
    Taken {
        tracks,
        best_first,
        first_hits,
    }
}

/// Step 3 of the module docs, when `config.swap_tails`: the tracks exchange tails in place.
/// An exchange moves hits between two tracks and never frees or takes one, so the hits the
/// tracks hold together stay the same.
pub(crate) fn exchange_tails(
    hits: &Hits,
    taken: &mut Taken,
    edges: &[(u32, u32)],
    scores: &[f32],
    config: &TrackConfig,
) {
    if config.swap_tails {
        let start = std::time::Instant::now();
        let Taken {
            tracks, best_first, ..
        } = taken;
        swap_tails(hits, tracks, best_first, edges, scores, config, true);
        log::debug!(
            "tail exchange {:.1} ms",
            start.elapsed().as_secs_f64() * 1e3
        );
    }
}

/// The paths best first: more layers, then more hits (both hits of a stave overlap), then
/// lower cost, then the lower index. The paths are first grouped by (layers, hits), reading
/// them in order, then each group is sorted by (cost, index): a stable radix sort by cost in
/// three passes of 11 bits (the cost is not negative, so its bits sort as the value) for a
/// large group, a plain sort of the (cost, index) keys for a small one.
fn best_first_order(paths: &Paths, keys: &mut Vec<u64>, spare: &mut Vec<u64>, out: &mut Vec<u32>) {
    // At most 64 layers (a path's layers are bits of a u64) and 255 hits counted.
    const CLASSES: usize = 65 << 8;
    // Below this many paths a group is sorted by comparisons.
    const RADIX_FROM: usize = 4096;
    let class = |p: usize| {
        let layers = 64 - usize::from(paths.layers[p]).min(64);
        let n_hits = 255 - (paths.offsets[p + 1] - paths.offsets[p]).min(255) as usize;
        (layers << 8) | n_hits
    };
    let n = paths.len();
    // (cost bits, path), grouped by class: the grouping reads the paths in order, and each
    // group keeps them in that order.
    keys.clear();
    keys.extend((0..n).map(|p| (u64::from(paths.cost[p].max(0.0).to_bits()) << 32) | p as u64));
    spare.clear();
    spare.resize(n, 0);
    let class_of = |k: u64| class(k as u32 as usize);
    if stable_counting_sort(keys, spare, CLASSES, class_of) {
        std::mem::swap(keys, spare);
    }
    let mut start = 0;
    for group in keys.chunk_by_mut(|&a, &b| class_of(a) == class_of(b)) {
        let aside = &mut spare[start..start + group.len()];
        start += group.len();
        if group.len() < RADIX_FROM {
            // The keys are distinct (the path is part of each).
            group.sort_unstable();
            continue;
        }
        // The cost's 32 bits.
        radix_sort_by_bits(group, aside, 32..64);
    }
    out.clear();
    out.extend(keys.iter().map(|&k| k as u32));
}

/// Owners of the hits while paths are taken.
struct State<'a> {
    paths: &'a Paths,
    /// First owner of each hit (a path), or FREE.
    owner: &'a mut Vec<u32>,
    /// Second owner of a shared hit, or FREE.
    second: &'a mut Vec<u32>,
    is_taken: &'a mut Vec<bool>,
}

impl<'a> State<'a> {
    /// No path taken yet, in the memory of the three tables.
    fn new(
        n_hits: usize,
        paths: &'a Paths,
        owner: &'a mut Vec<u32>,
        second: &'a mut Vec<u32>,
        is_taken: &'a mut Vec<bool>,
    ) -> State<'a> {
        for table in [&mut *owner, &mut *second] {
            table.clear();
            table.resize(n_hits, FREE);
        }
        is_taken.clear();
        is_taken.resize(paths.len(), false);
        State {
            paths,
            owner,
            second,
            is_taken,
        }
    }

    /// Hits of path `p` that some taken path holds.
    fn conflicts(&self, p: u32) -> impl Iterator<Item = u32> + '_ {
        self.paths
            .path(p as usize)
            .iter()
            .copied()
            .filter(|&h| self.owner[h as usize] != FREE)
    }

    /// The hits that taken path `p` holds (a split may have given one away).
    fn held(&self, p: u32) -> impl Iterator<Item = u32> + '_ {
        self.paths
            .path(p as usize)
            .iter()
            .copied()
            .filter(move |&h| self.holds(p, h))
    }

    /// Whether taken path `p` holds hit `h`.
    fn holds(&self, p: u32, h: u32) -> bool {
        self.owner[h as usize] == p || self.second[h as usize] == p
    }

    /// [`held`](Self::held) as a list, for the hits of path `p` as `path` lists them (from
    /// the paths before ranking), allocated once at the path's length: a filtered collect would
    /// start small and grow.
    fn held_of(&self, path: &[u32], p: u32) -> Vec<u32> {
        let mut held = Vec::with_capacity(path.len());
        held.extend(path.iter().copied().filter(|&h| self.holds(p, h)));
        held
    }

    fn is_free(&self, p: u32) -> bool {
        self.conflicts(p).next().is_none()
    }

    fn take(&mut self, p: u32) {
        for &h in self.paths.path(p as usize) {
            let h = h as usize;
            if self.owner[h] == FREE {
                self.owner[h] = p;
            } else {
                self.second[h] = p;
            }
        }
        self.is_taken[p as usize] = true;
    }

    fn good_fit(&self, p: u32, limit: f64) -> bool {
        f64::from(self.paths.cost[p as usize]) <= limit
    }
}

/// Step 2 of the module docs: an untaken, well-fitting path whose conflicts are all with one
/// taken, well-fitting path is taken beside it when both keep hits of their own on two layers
/// at least. One common hit is shared. Two common hits are split, one to each (the path takes
/// the upstream one): a track holding two hits of a positron merged into another's would be
/// as much that positron's as its own. More common hits mean one track, not two.
fn share(state: &mut State, hits: &Hits, config: &TrackConfig) {
    let paths = state.paths;
    let layers = |members: &mut dyn Iterator<Item = u32>| layer_mask(hits, members).count_ones();
    for p in 0..paths.len() as u32 {
        if state.is_taken[p as usize] || !state.good_fit(p, config.share_chi2_ndf) {
            continue;
        }
        let mut common = [FREE; 2];
        let mut n_common = 0;
        let mut owners_ok = true;
        let mut q = FREE;
        for h in state.conflicts(p) {
            let o = state.owner[h as usize];
            if state.second[h as usize] != FREE || (q != FREE && o != q) || n_common == 2 {
                owners_ok = false;
                break;
            }
            q = o;
            common[n_common] = h;
            n_common += 1;
        }
        if !owners_ok || q == FREE || !state.good_fit(q, config.share_chi2_ndf) {
            continue;
        }
        let common = &common[..n_common];
        let own_p = layers(
            &mut paths
                .path(p as usize)
                .iter()
                .copied()
                .filter(|h| !common.contains(h)),
        );
        let own_q = layers(&mut state.held(q).filter(|h| !common.contains(h)));
        if own_p < 2 || own_q < 2 {
            continue;
        }
        match *common {
            [_] => state.take(p),
            [up, down] => {
                // q keeps the downstream hit; p gets the upstream one and leaves the other.
                let (up, down) = if hits.z[up as usize] <= hits.z[down as usize] {
                    (up, down)
                } else {
                    (down, up)
                };
                if own_q + 1 < config.min_hits as u32 || own_p + 1 < config.min_hits as u32 {
                    continue;
                }
                state.take(p);
                state.owner[up as usize] = p;
                state.second[up as usize] = FREE;
                state.second[down as usize] = FREE;
            }
            _ => {}
        }
    }
}

/// The line sums of `members`, if they lie on at least `min_hits` layers (a generic function,
/// not a closure over an iterator object: the tail exchange sums about 100 k hit lists at
/// xi = 7, and each hit would be a call through a pointer).
fn line_sums(hits: &Hits, members: impl Iterator<Item = u32>, min_hits: u32) -> Option<LineSums> {
    let mut sums: Option<LineSums> = None;
    let mut layers = 0u64;
    for h in members {
        layers |= layer_bit(hits, h);
        match &mut sums {
            None => sums = Some(LineSums::start(hits, h)),
            Some(s) => s.add(hits, h),
        }
    }
    sums.filter(|_| layers.count_ones() >= min_hits)
}

/// The hits of `keep` up to `z_cut` followed by those of `give` beyond it (`z`: the hits' z):
/// one side of a tail exchange.
fn exchanged<'t>(
    z: &'t [f64],
    keep: &'t [u32],
    give: &'t [u32],
    z_cut: f64,
) -> impl Iterator<Item = u32> + 't {
    let up = keep
        .iter()
        .copied()
        .filter(move |&h| z[h as usize] <= z_cut);
    let down = give.iter().copied().filter(move |&h| z[h as usize] > z_cut);
    up.chain(down)
}

/// Step 3 of the module docs: `tracks` are hit lists ordered inner to outer, `best_first` their
/// numbers in the order they were taken (of two tracks holding a hit, the one taken first is
/// tried first). The cut goes
/// after the inner hit of an edge from one track into the other; that hit may be one the two
/// share (a merged hit, after which the positrons' paths part).
///
/// `screen` false tries every edge in the sequential pass (the plain algorithm the screen must
/// reproduce; for the tests).
fn swap_tails(
    hits: &Hits,
    tracks: &mut [Vec<u32>],
    best_first: &[u32],
    edges: &[(u32, u32)],
    scores: &[f32],
    config: &TrackConfig,
    screen: bool,
) {
    // Up to two tracks per hit.
    let mut owners = vec![[FREE; 2]; hits.len()];
    let add = |owners: &mut Vec<[u32; 2]>, h: u32, t: u32| {
        let o = &mut owners[h as usize];
        if o[0] == FREE {
            o[0] = t;
        } else if o[1] == FREE && o[0] != t {
            o[1] = t;
        }
    };
    let remove = |owners: &mut Vec<[u32; 2]>, h: u32, t: u32| {
        let o = &mut owners[h as usize];
        if o[0] == t {
            *o = [o[1], FREE];
        } else if o[1] == t {
            o[1] = FREE;
        }
    };
    // The two tracks of each hit taken first, in that order: filled in the tracks' order (their
    // hits lie in memory that way), each hit keeping the two best ranks it has seen.
    debug_assert_eq!(best_first.len(), tracks.len());
    let mut rank = vec![0u32; tracks.len()];
    for (r, &t) in best_first.iter().enumerate() {
        rank[t as usize] = r as u32;
    }
    for (t, track) in tracks.iter().enumerate() {
        let t = t as u32;
        for &h in track {
            let o = &mut owners[h as usize];
            if o[0] == t || o[1] == t {
                continue;
            }
            if o[0] == FREE || rank[t as usize] < rank[o[0] as usize] {
                *o = [t, o[0]];
            } else if o[1] == FREE || rank[t as usize] < rank[o[1] as usize] {
                o[1] = t;
            }
        }
    }
    let min_hits = config.min_hits as u32;
    // A track's fitted line (its hits' pulls are measured against it) and chi2.
    let fit_of = |members: &[u32]| {
        let sums = line_sums(hits, members.iter().copied(), min_hits)?;
        let chi2 = sums.chi2(config)?.0;
        Some((sums.fitted(config)?, chi2))
    };
    // Each track's line and chi2, kept up to date.
    let mut current: Vec<Option<(FittedLine, f64)>> =
        tracks.par_iter().map(|t| fit_of(t)).collect();
    // Most edges join a track to itself or to no track: a test cheap enough to inline in the
    // screen before the call below (1.1 M pairs of owners at xi = 7, 0.1 M of two tracks).
    let two_tracks = |ta: u32, tb: u32| ta != FREE && tb != FREE && ta != tb;
    // Whether giving a the tail of b beyond u (v on) and b the tail of a lowers the summed chi2
    // (for two tracks).
    let gains = |tracks: &[Vec<u32>],
                 current: &[Option<(FittedLine, f64)>],
                 ta: u32,
                 tb: u32,
                 u: u32,
                 v: u32| {
        let (a, b) = (&tracks[ta as usize], &tracks[tb as usize]);
        let (Some((line_a, ca)), Some((_, cb))) = (&current[ta as usize], &current[tb as usize])
        else {
            return false;
        };
        let (ca, cb) = (*ca, *cb);
        // v must lie near a's line for a to take it (a quick test before the fits).
        if line_a.pull(hits, v) > SWAP_PULL {
            return false;
        }
        let z_cut = hits.z[u as usize];
        if a.contains(&v)
            || !a.iter().any(|&h| hits.z[h as usize] > z_cut)
            || !b.iter().any(|&h| hits.z[h as usize] <= z_cut)
        {
            return false;
        }
        // A chi2 is never negative, so a's new chi2 alone at or above both old ones settles it.
        let chi2 = |members| {
            line_sums(hits, members, min_hits)?
                .chi2(config)
                .map(|(c, _)| c)
        };
        let Some(na) = chi2(exchanged(&hits.z, a, b, z_cut)) else {
            return false;
        };
        if na >= ca + cb {
            return false;
        }
        let nb = chi2(exchanged(&hits.z, b, a, z_cut));
        nb.is_some_and(|nb| na + nb < ca + cb)
    };
    // Screen every edge in parallel against the tracks as they are. An edge whose two hits
    // and their tracks are untouched when the sequential pass reaches it gets the same answer
    // there, so only screened edges and edges near earlier exchanges are tried again: the
    // result is that of the plain sequential pass.
    // Only edges scoring at least path_cut take part (about half the edges): one byte per edge
    // says whether it takes part and whether the screen let it in.
    const OUT: u8 = 0;
    const LIVE: u8 = 1;
    const SCREENED_IN: u8 = 2;
    let screened: Vec<u8> = (0..edges.len())
        .into_par_iter()
        .map(|e| {
            if scores[e] < config.path_cut {
                return OUT;
            }
            let (u, v) = edges[e];
            let gain = !screen
                || owners[u as usize].iter().any(|&ta| {
                    owners[v as usize]
                        .iter()
                        .any(|&tb| two_tracks(ta, tb) && gains(tracks, &current, ta, tb, u, v))
                });
            if gain { SCREENED_IN } else { LIVE }
        })
        .collect();
    let t_screen = std::time::Instant::now();
    let mut changed_track = vec![false; tracks.len()];
    let mut changed_hit = vec![false; hits.len()];
    for (&(u, v), &state) in edges.iter().zip(&screened) {
        if state == OUT {
            continue;
        }
        // Every hit of a changed track is marked changed (its old and new hits both), so two
        // unchanged hits also mean unchanged tracks: owners[h] holds t only while h is in t.
        let untouched = !changed_hit[u as usize] && !changed_hit[v as usize];
        if untouched && state != SCREENED_IN {
            continue;
        }
        for ta in owners[u as usize] {
            for tb in owners[v as usize] {
                if !(two_tracks(ta, tb) && gains(tracks, &current, ta, tb, u, v)) {
                    continue;
                }
                let z_cut = hits.z[u as usize];
                let (a, b) = (&tracks[ta as usize], &tracks[tb as usize]);
                let new_a: Vec<u32> = exchanged(&hits.z, a, b, z_cut).collect();
                let new_b: Vec<u32> = exchanged(&hits.z, b, a, z_cut).collect();
                for (t, new) in [(ta, new_a), (tb, new_b)] {
                    let old = std::mem::replace(&mut tracks[t as usize], new);
                    for &h in &old {
                        remove(&mut owners, h, t);
                        changed_hit[h as usize] = true;
                    }
                    for &h in &tracks[t as usize] {
                        add(&mut owners, h, t);
                        changed_hit[h as usize] = true;
                    }
                    changed_track[t as usize] = true;
                    current[t as usize] = fit_of(&tracks[t as usize]);
                }
            }
        }
    }
    log::debug!(
        "tail exchange: {} of {} edges screened in, {} tracks changed; sequential pass {:.1} ms",
        screened.iter().filter(|&&b| b == SCREENED_IN).count(),
        edges.len(),
        changed_track.iter().filter(|&&b| b).count(),
        t_screen.elapsed().as_secs_f64() * 1e3
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracks::test_support::{rng, track_hits};
    use rand::RngExt;
    use rand::seq::SliceRandom;

    fn paths_of(lists: &[(Vec<u32>, u8, f32)]) -> Paths {
        let mut p = Paths {
            offsets: vec![0],
            ..Paths::default()
        };
        for (hits, layers, cost) in lists {
            p.hits.extend(hits);
            p.offsets.push(p.hits.len() as u32);
            p.layers.push(*layers);
            p.cost.push(*cost);
        }
        p
    }

    fn plain() -> TrackConfig {
        TrackConfig {
            share_hits: false,
            swap_tails: false,
            ..TrackConfig::default()
        }
    }

    #[test]
    fn best_first_matches_its_definition_on_random_paths() {
        // Brute-force check of the two properties that define best-first selection: taken
        // paths share no hit, and each path left out meets a taken path that ranks before it.
        let h = track_hits(&[(150.0, 0.08, 0.0, 0.0); 5], 0.0, 1); // 20 hits
        let mut r = rng(3);
        for trial in 0..200 {
            let lists: Vec<(Vec<u32>, u8, f32)> = (0..r.random_range(1..25))
                .map(|_| {
                    let n = r.random_range(3..6usize);
                    let mut hits: Vec<u32> = (0..n).map(|_| r.random_range(0..20u32)).collect();
                    hits.sort_unstable();
                    hits.dedup();
                    (hits, r.random_range(3..5u8), r.random_range(0..4) as f32)
                })
                .collect();
            let paths = paths_of(&lists);
            let taken = assign(&h, &paths, &[], &[], &plain());
            let rank = |k: usize| {
                let (hits, layers, cost) = &lists[k];
                (
                    std::cmp::Reverse(*layers),
                    std::cmp::Reverse(hits.len()),
                    *cost as i32,
                    k,
                )
            };
            let is_taken = |k: usize| taken.contains(&lists[k].0);
            for (i, a) in taken.iter().enumerate() {
                for b in &taken[i + 1..] {
                    assert!(
                        !a.iter().any(|x| b.contains(x)),
                        "trial {trial}: shared hit"
                    );
                }
            }
            for k in 0..lists.len() {
                if is_taken(k) {
                    continue;
                }
                let blocked = (0..lists.len()).any(|j| {
                    is_taken(j)
                        && rank(j) < rank(k)
                        && lists[j].0.iter().any(|x| lists[k].0.contains(x))
                });
                let duplicate = (0..k).any(|j| lists[j].0 == lists[k].0);
                assert!(
                    blocked || duplicate,
                    "trial {trial}: path {k} left out freely"
                );
            }
        }
    }

    /// Hits, tracks (hit lists), edges and their scores.
    type Bundle = (Hits, Vec<Vec<u32>>, Vec<(u32, u32)>, Vec<f32>);

    /// A dense bundle of nearly parallel lines whose tracks start with wrong tails: each track
    /// has its own line's two inner hits and the outer hits of a random line; edges join every
    /// hit to every hit of the next layer, with random scores.
    fn tangled_bundle(r: &mut impl rand::Rng, trial: u64) -> Bundle {
        let lines: Vec<(f64, f64, f64, f64)> = (0..r.random_range(2..12))
            .map(|_| {
                (
                    150.0 + r.random_range(0.0..2.0),
                    0.05 + r.random_range(-0.002..0.002),
                    r.random_range(-1.0..1.0),
                    r.random_range(-0.002..0.002),
                )
            })
            .collect();
        let h = track_hits(&lines, 0.005, trial);
        let n = lines.len() as u32;
        // Track t: its own two inner hits and the outer hits of a random line.
        let mut tracks: Vec<Vec<u32>> = (0..n)
            .map(|t| {
                let o = r.random_range(0..n);
                vec![4 * t, 4 * t + 1, 4 * o + 2, 4 * o + 3]
            })
            .collect();
        for t in &mut tracks {
            t.dedup();
        }
        let mut edges = Vec::new();
        for a in 0..n {
            for b in 0..n {
                for layer in 0..3 {
                    edges.push((4 * a + layer, 4 * b + layer + 1));
                }
            }
        }
        let scores: Vec<f32> = edges.iter().map(|_| r.random_range(0.0..1.0)).collect();
        (h, tracks, edges, scores)
    }

    #[test]
    fn the_screened_tail_exchange_is_the_sequential_one() {
        // The parallel screen must give exactly the tracks of trying every edge in order.
        let mut r = rng(11);
        let mut changed = 0;
        for trial in 0..300 {
            let (h, tracks, edges, scores) = tangled_bundle(&mut r, trial);
            let n = tracks.len() as u32;
            let config = TrackConfig::default();
            let (mut screened, mut plain) = (tracks.clone(), tracks.clone());
            let in_order: Vec<u32> = (0..n).collect();
            swap_tails(&h, &mut screened, &in_order, &edges, &scores, &config, true);
            swap_tails(&h, &mut plain, &in_order, &edges, &scores, &config, false);
            assert_eq!(screened, plain, "trial {trial}");
            // Track building looks for the pieces of the free hits beside the exchange.
            let held = |t: &[Vec<u32>]| t.iter().flatten().copied().collect::<Vec<u32>>();
            let (mut before, mut after) = (held(&tracks), held(&screened));
            before.sort_unstable();
            before.dedup();
            after.sort_unstable();
            after.dedup();
            assert_eq!(
                after, before,
                "trial {trial}: an exchange freed or took a hit"
            );
            changed += usize::from(screened != tracks);
        }
        assert!(changed >= 20, "only {changed} trials exchanged tails");
    }

    #[test]
    fn the_tail_exchange_does_not_depend_on_the_numbering_of_the_tracks() {
        // The same tracks under another numbering, with the same best-first order: the same
        // exchanges, track for track (tracks sharing a hit are tried in the best-first order).
        let mut r = rng(12);
        let mut changed = 0;
        for trial in 0..300 {
            let (h, mut tracks, edges, scores) = tangled_bundle(&mut r, trial);
            // Shared hits: some tracks also take the third hit of the next line.
            let n = tracks.len() as u32;
            for t in 0..n {
                if r.random_bool(0.3) {
                    tracks[t as usize][2] = 4 * ((t + 1) % n) + 2;
                }
            }
            let config = TrackConfig::default();
            let in_order: Vec<u32> = (0..n).collect();
            let mut renumbered_as: Vec<u32> = in_order.clone();
            renumbered_as.shuffle(&mut r);
            let mut renumbered = vec![Vec::new(); n as usize];
            for (t, &k) in renumbered_as.iter().enumerate() {
                renumbered[k as usize] = tracks[t].clone();
            }
            let mut plain = tracks.clone();
            swap_tails(&h, &mut plain, &in_order, &edges, &scores, &config, true);
            swap_tails(
                &h,
                &mut renumbered,
                &renumbered_as,
                &edges,
                &scores,
                &config,
                true,
            );
            for (t, &k) in renumbered_as.iter().enumerate() {
                assert_eq!(renumbered[k as usize], plain[t], "trial {trial}, track {t}");
            }
            changed += usize::from(plain != tracks);
        }
        assert!(changed >= 20, "only {changed} trials exchanged tails");
    }

    #[test]
    fn identical_paths_are_taken_once() {
        let h = track_hits(&[(150.0, 0.08, 0.0, 0.0)], 0.0, 1);
        let paths = paths_of(&[(vec![0, 1, 2, 3], 4, 1.0), (vec![0, 1, 2, 3], 4, 1.0)]);
        assert_eq!(
            assign(&h, &paths, &[], &[], &plain()),
            vec![vec![0, 1, 2, 3]]
        );
    }

    #[test]
    fn the_best_first_order_is_that_of_a_plain_sort() {
        // Few distinct layer counts and lengths; in even trials few costs (many ties, broken
        // by the index), in odd ones costs that differ in every bit of the radix passes. Every
        // fifth trial has two groups large enough for the radix sort, the others small ones.
        let mut r = rng(5);
        // The buffers go from one trial to the next, as from one crossing to the next.
        let (mut keys, mut spare, mut order) = (Vec::new(), Vec::new(), Vec::new());
        let mut ranked = Paths::default();
        for trial in 0..50 {
            let large = trial % 5 == 4;
            let n_paths = if large {
                r.random_range(10_000..20_000)
            } else {
                r.random_range(0..400)
            };
            let lists: Vec<(Vec<u32>, u8, f32)> = (0..n_paths)
                .map(|_| {
                    let n = if large {
                        r.random_range(4..6u32)
                    } else {
                        r.random_range(3..9u32)
                    };
                    let cost = if trial % 2 == 0 {
                        [0.0, 0.5, 1.0, 2.5, -1.0][r.random_range(0..5)]
                    } else {
                        r.random_range(-1e-3..1e4f32)
                    };
                    let layers = if large { 4 } else { r.random_range(2..5u8) };
                    ((0..n).collect(), layers, cost)
                })
                .collect();
            let paths = paths_of(&lists);
            let mut expected: Vec<u32> = (0..lists.len() as u32).collect();
            expected.sort_by(|&a, &b| {
                let key = |p: u32| {
                    let (hits, layers, cost) = &lists[p as usize];
                    (
                        std::cmp::Reverse(*layers),
                        std::cmp::Reverse(hits.len()),
                        cost.max(0.0),
                    )
                };
                key(a).partial_cmp(&key(b)).unwrap().then(a.cmp(&b))
            });
            best_first_order(&paths, &mut keys, &mut spare, &mut order);
            assert_eq!(order, expected, "trial {trial}");
            paths.permute_into(&expected, &mut ranked);
            assert_eq!(ranked.len(), paths.len(), "trial {trial}");
            for (k, &p) in expected.iter().enumerate() {
                assert_eq!(ranked.path(k), paths.path(p as usize), "trial {trial}");
                assert_eq!(ranked.layers[k], paths.layers[p as usize]);
                assert_eq!(ranked.cost[k], paths.cost[p as usize]);
            }
        }
    }
}
