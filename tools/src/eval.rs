//! Track-level evaluation against truth: efficiency, fake and duplicate rates, with bootstrap
//! intervals over bunch crossings.
//!
//! Definitions (per bunch crossing):
//! - a hit belongs to one particle ([`MergedHits::Majority`], the default and the field's rule,
//!   as in the LUXE, QUBO and TrackML studies): a hit merged from two positrons is the one's
//!   with most parts; [`MergedHits::Shared`] gives it to both, so a candidate through it is
//!   right for either (printed beside, labelled);
//! - a positron is *reconstructable* when it has at least [`MIN_TRUTH_HITS`] hits;
//! - a candidate *matches* a positron under the double-majority rule when more than half of the
//!   candidate's hits come from it and the candidate holds at least half of its hits;
//! - a positron is *found* when a candidate matches it; *strictly found* when a candidate holds
//!   exactly its hits (the rule of the LUXE QUBO studies). A candidate matches at most one
//!   positron, except where merged hits make it meet the rule for two: two positrons that merged
//!   on most layers leave one track, and that track is found for both;
//! - a *fake* is a candidate that matches no particle; a *duplicate* is a candidate whose
//!   particles were all matched by earlier candidates.
//!
//! Rates are ratios of sums over crossings; their 95 % intervals come from resampling the
//! crossings with replacement (percentile bootstrap).

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};

use gnntrack::hits::Hits;

/// A positron needs this many hits to count in the efficiency.
pub const MIN_TRUTH_HITS: usize = 3;

/// Upper edges of the momentum bins of the efficiency-vs-momentum table, GeV.
pub const MOMENTUM_BIN_EDGES: [f64; 8] = [2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, f64::INFINITY];

/// Counts of one bunch crossing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BxCounts {
    /// Reconstructable positrons.
    pub reconstructable: usize,
    /// Found under the double-majority rule.
    pub found: usize,
    /// Found with exactly their hits.
    pub found_strict: usize,
    /// Candidates.
    pub candidates: usize,
    /// Candidates matching no particle.
    pub fakes: usize,
    /// Candidates matching an already matched particle.
    pub duplicates: usize,
    /// Per momentum bin: (reconstructable, found).
    pub by_momentum: Vec<(usize, usize)>,
    /// Per bin of the candidates' estimated momentum: (candidates, fakes); empty when no
    /// estimates were given.
    pub fakes_by_momentum: Vec<(usize, usize)>,
}

fn momentum_bin(p: f64) -> usize {
    MOMENTUM_BIN_EDGES
        .iter()
        .position(|&edge| p < edge)
        .unwrap_or(MOMENTUM_BIN_EDGES.len() - 1)
}

/// Whom a hit merged from two positrons belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MergedHits {
    /// Only to the positron with most parts: one particle per hit (the field's rule).
    #[default]
    Majority,
    /// To both positrons (the hit lies on both paths).
    Shared,
}

impl MergedHits {
    /// The other rule.
    pub fn other(self) -> MergedHits {
        match self {
            MergedHits::Majority => MergedHits::Shared,
            MergedHits::Shared => MergedHits::Majority,
        }
    }

    /// Short label for reports.
    pub fn label(self) -> &'static str {
        match self {
            MergedHits::Majority => "one particle per hit",
            MergedHits::Shared => "merged hits shared",
        }
    }
}

/// The perfect reconstruction of a crossing: for every positron with at least
/// [`MIN_TRUTH_HITS`] hits, one candidate holding every hit it crossed (merged hits in each of
/// their positrons' candidates), ordered by particle id. Returns `None` without truth.
///
/// Scored with [`score_bx`] it gives the ceiling of a rule on that crossing: under
/// [`MergedHits::Majority`] a positron whose hits were merged into its neighbours' keeps fewer
/// hits of its own, so its physically right track can count as a fake.
pub fn true_tracks(hits: &Hits) -> Option<Vec<Vec<u32>>> {
    let truth = hits.truth.as_ref()?;
    let mut by_particle: HashMap<u64, Vec<u32>> = HashMap::new();
    for i in 0..truth.particle_id.len() {
        for pid in truth.particles_of(i) {
            by_particle.entry(pid).or_default().push(i as u32);
        }
    }
    let mut tracks: Vec<(u64, Vec<u32>)> = by_particle
        .into_iter()
        .filter(|(_, h)| h.len() >= MIN_TRUTH_HITS)
        .collect();
    tracks.sort_unstable_by_key(|(pid, _)| *pid);
    Some(tracks.into_iter().map(|(_, h)| h).collect())
}

/// The scores of a perfect edge classifier: 1 for an edge whose two hits share a particle
/// (merged hits count for both of theirs), 0 otherwise. Returns `None` without truth.
///
/// Track building on these scores separates its own losses from the classifier's.
pub fn truth_edge_scores(hits: &Hits, edges: &[(u32, u32)]) -> Option<Vec<f32>> {
    let truth = hits.truth.as_ref()?;
    Some(
        edges
            .iter()
            .map(|&(u, v)| f32::from(u8::from(truth.share_particle(u as usize, v as usize))))
            .collect(),
    )
}

/// Scores candidates (lists of hit indices) of one crossing against the hits' truth under
/// `rule`. Returns `None` when the hits carry no truth.
pub fn score_bx(hits: &Hits, candidates: &[Vec<u32>], rule: MergedHits) -> Option<BxCounts> {
    score_bx_with_momenta(hits, candidates, None, rule)
}

/// The truth of one crossing as the double-majority rule sees it: the hits of every positron
/// under a rule for merged hits, and the positrons a candidate matches. [`score_bx`] and the
/// candidate labels of the training export both use it.
#[derive(Debug, Clone)]
pub struct Matcher<'a> {
    hits: &'a Hits,
    shared: bool,
    /// Per positron: hits, and momentum (from a hit where it is the first particle).
    hits_of: HashMap<u64, (usize, f64)>,
}

impl<'a> Matcher<'a> {
    /// The matcher of a crossing; `None` when the hits carry no truth.
    pub fn new(hits: &'a Hits, merged: MergedHits) -> Option<Matcher<'a>> {
        let mut m = Matcher {
            hits,
            shared: merged == MergedHits::Shared,
            hits_of: HashMap::new(),
        };
        let truth = hits.truth.as_ref()?;
        for i in 0..truth.particle_id.len() {
            let pids: Vec<u64> = m.particles_of(i).collect();
            for pid in pids {
                let e = m.hits_of.entry(pid).or_insert((0, 0.0));
                e.0 += 1;
                if pid == truth.particle_id[i] {
                    e.1 = truth.particle_p[i];
                }
            }
        }
        Some(m)
    }

    /// The positrons hit `i` belongs to under the rule.
    fn particles_of(&self, i: usize) -> impl Iterator<Item = u64> + '_ {
        let truth = self.hits.truth.as_ref().expect("checked in new");
        truth
            .particles_of(i)
            .filter(move |&p| self.shared || p == truth.particle_id[i])
    }

    /// Every positron a candidate (hit indices) matches under the double-majority rule, sorted,
    /// each with whether the candidate holds exactly its hits: at most one, except through
    /// hits merged from two positrons. Empty for a fake.
    pub fn owners(&self, candidate: &[u32]) -> Vec<(u64, bool)> {
        let mut per: HashMap<u64, usize> = HashMap::new();
        for &h in candidate {
            for pid in self.particles_of(h as usize) {
                *per.entry(pid).or_default() += 1;
            }
        }
        let mut owners: Vec<(u64, bool)> = per
            .iter()
            .filter(|&(pid, &n)| 2 * n > candidate.len() && 2 * n >= self.hits_of[pid].0)
            .map(|(&pid, &n)| (pid, n == candidate.len() && n == self.hits_of[&pid].0))
            .collect();
        owners.sort_unstable();
        owners
    }

    /// The reconstructable positrons (at least [`MIN_TRUTH_HITS`] hits under the rule) with
    /// their momenta, in no particular order.
    pub fn reconstructable(&self) -> impl Iterator<Item = (u64, f64)> + '_ {
        self.hits_of
            .iter()
            .filter(|(_, (n, _))| *n >= MIN_TRUTH_HITS)
            .map(|(&pid, &(_, p))| (pid, p))
    }
}

/// Like [`score_bx`] with a choice for merged hits, also counting fakes per bin of the
/// candidates' estimated momenta (GeV, one per candidate) when given.
pub fn score_bx_with_momenta(
    hits: &Hits,
    candidates: &[Vec<u32>],
    momenta: Option<&[f64]>,
    merged: MergedHits,
) -> Option<BxCounts> {
    let matcher = Matcher::new(hits, merged)?;
    let mut counts = BxCounts {
        by_momentum: vec![(0, 0); MOMENTUM_BIN_EDGES.len()],
        fakes_by_momentum: if momenta.is_some() {
            vec![(0, 0); MOMENTUM_BIN_EDGES.len()]
        } else {
            Vec::new()
        },
        candidates: candidates.len(),
        ..BxCounts::default()
    };
    let mut matched: HashMap<u64, bool> = HashMap::new(); // particle -> strictly matched
    for (k, cand) in candidates.iter().enumerate() {
        let fake_bin = momenta.and_then(|m| m.get(k)).map(|&p| momentum_bin(p));
        if let Some(b) = fake_bin {
            counts.fakes_by_momentum[b].0 += 1;
        }
        let owners = matcher.owners(cand);
        if owners.is_empty() {
            counts.fakes += 1;
            if let Some(b) = fake_bin {
                counts.fakes_by_momentum[b].1 += 1;
            }
            continue;
        }
        if owners.iter().all(|(pid, _)| matched.contains_key(pid)) {
            counts.duplicates += 1;
        }
        for (pid, strict) in owners {
            *matched.entry(pid).or_insert(strict) |= strict;
        }
    }
    for (pid, p) in matcher.reconstructable() {
        counts.reconstructable += 1;
        let bin = momentum_bin(p);
        counts.by_momentum[bin].0 += 1;
        if let Some(&strict) = matched.get(&pid) {
            counts.found += 1;
            counts.found_strict += usize::from(strict);
            counts.by_momentum[bin].1 += 1;
        }
    }
    Some(counts)
}

/// A rate with its 95 % bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Rate {
    /// Ratio of the sums over all crossings.
    pub value: f64,
    /// 2.5 % quantile of the bootstrap distribution.
    pub low: f64,
    /// 97.5 % quantile.
    pub high: f64,
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.3} % [{:.3}, {:.3}]",
            100.0 * self.value,
            100.0 * self.low,
            100.0 * self.high
        )
    }
}

/// Ratio sum(num) / sum(den) over crossings with a percentile-bootstrap 95 % interval
/// (`resamples` resamplings of the crossings with replacement, fixed seed).
pub fn bootstrap_rate(per_bx: &[(usize, usize)], resamples: usize, seed: u64) -> Rate {
    let ratio = |it: &mut dyn Iterator<Item = (usize, usize)>| {
        let (n, d) = it.fold((0usize, 0usize), |(a, b), (n, d)| (a + n, b + d));
        if d == 0 { 0.0 } else { n as f64 / d as f64 }
    };
    let value = ratio(&mut per_bx.iter().copied());
    if per_bx.len() < 2 || resamples == 0 {
        return Rate {
            value,
            low: value,
            high: value,
        };
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut samples: Vec<f64> = (0..resamples)
        .map(|_| {
            let mut it = (0..per_bx.len()).map(|_| per_bx[rng.random_range(0..per_bx.len())]);
            ratio(&mut it)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let q = |f: f64| samples[((f * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    Rate {
        value,
        low: q(0.025),
        high: q(0.975),
    }
}

/// Rates over a set of crossings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrackMetrics {
    /// Crossings.
    pub n_bx: usize,
    /// Reconstructable positrons in all.
    pub reconstructable: usize,
    /// Candidates in all.
    pub candidates: usize,
    /// Double-majority efficiency.
    pub efficiency: Rate,
    /// All-hits-correct efficiency.
    pub efficiency_strict: Rate,
    /// Fakes per candidate.
    pub fake_rate: Rate,
    /// Duplicates per candidate.
    pub duplicate_rate: Rate,
    /// Per momentum bin: (upper edge GeV, reconstructable, efficiency).
    pub efficiency_by_momentum: Vec<(f64, usize, Rate)>,
    /// Per bin of estimated candidate momentum: (upper edge GeV, candidates, fake rate); empty
    /// without momentum estimates.
    pub fake_rate_by_momentum: Vec<(f64, usize, Rate)>,
}

/// Number of bootstrap resamplings used by [`TrackMetrics::from_counts`].
pub const BOOTSTRAP_RESAMPLES: usize = 1000;

impl TrackMetrics {
    /// Combines per-crossing counts.
    pub fn from_counts(counts: &[BxCounts]) -> TrackMetrics {
        let col =
            |f: &dyn Fn(&BxCounts) -> (usize, usize)| counts.iter().map(f).collect::<Vec<_>>();
        let rate = |f: &dyn Fn(&BxCounts) -> (usize, usize)| {
            bootstrap_rate(&col(f), BOOTSTRAP_RESAMPLES, 1)
        };
        let efficiency_by_momentum = MOMENTUM_BIN_EDGES
            .iter()
            .enumerate()
            .map(|(b, &edge)| {
                let r = rate(&|c| c.by_momentum.get(b).map_or((0, 0), |&(n, f)| (f, n)));
                (
                    edge,
                    counts
                        .iter()
                        .map(|c| c.by_momentum.get(b).map_or(0, |x| x.0))
                        .sum(),
                    r,
                )
            })
            .collect();
        let with_momenta =
            counts.iter().all(|c| !c.fakes_by_momentum.is_empty()) && !counts.is_empty();
        let fake_rate_by_momentum = if with_momenta {
            MOMENTUM_BIN_EDGES
                .iter()
                .enumerate()
                .map(|(b, &edge)| {
                    let r = rate(&|c| {
                        let (n, f) = c.fakes_by_momentum[b];
                        (f, n)
                    });
                    (
                        edge,
                        counts.iter().map(|c| c.fakes_by_momentum[b].0).sum(),
                        r,
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        TrackMetrics {
            fake_rate_by_momentum,
            n_bx: counts.len(),
            reconstructable: counts.iter().map(|c| c.reconstructable).sum(),
            candidates: counts.iter().map(|c| c.candidates).sum(),
            efficiency: rate(&|c| (c.found, c.reconstructable)),
            efficiency_strict: rate(&|c| (c.found_strict, c.reconstructable)),
            fake_rate: rate(&|c| (c.fakes, c.candidates)),
            duplicate_rate: rate(&|c| (c.duplicates, c.candidates)),
            efficiency_by_momentum,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnntrack::hits::{Hit, HitTruth};

    /// Hits of particles given as (particle id, number of hits); ids 0 are noise.
    fn hits(parts: &[(u64, usize)]) -> Hits {
        let mut h = Hits::new(true);
        for &(pid, n) in parts {
            for l in 0..n {
                let i = h.len() as u64;
                h.push(
                    Hit {
                        hit_id: i,
                        x: 100.0,
                        y: 0.0,
                        z: 3956.0 + 100.0 * l as f64,
                        layer: l as u8,
                        stave: 0,
                    },
                    Some(HitTruth {
                        particle_id: pid,
                        particle_p: 4.5,
                        merged: false,
                        other_particle_id: 0,
                    }),
                );
            }
        }
        h
    }

    #[test]
    fn double_majority_strict_fake_and_duplicate() {
        // Particle 1: hits 0-3, particle 2: hits 4-7, particle 3: hits 8-9 (not reconstructable),
        // noise: hits 10-12.
        let h = hits(&[(1, 4), (2, 4), (3, 2), (0, 3)]);
        let candidates = vec![
            vec![0, 1, 2, 3],  // particle 1, exact
            vec![4, 5, 6, 10], // particle 2: 3/4 of the candidate, 3/4 of its hits
            vec![4, 7, 11],    // particle 2 again: 2/3, holds 2/4 -> duplicate
            vec![10, 11, 12],  // noise only -> fake
            vec![0, 4, 8],     // no majority -> fake
        ];
        let c = score_bx(&h, &candidates, MergedHits::Shared).unwrap();
        assert_eq!(c.reconstructable, 2);
        assert_eq!(c.found, 2);
        assert_eq!(c.found_strict, 1);
        assert_eq!(c.candidates, 5);
        assert_eq!(c.fakes, 2);
        assert_eq!(c.duplicates, 1);
        let bin = momentum_bin(4.5);
        assert_eq!(c.by_momentum[bin], (2, 2));
        assert!(c.fakes_by_momentum.is_empty());
        let p = [4.5, 4.5, 4.5, 1.0, 12.0];
        let c = score_bx_with_momenta(&h, &candidates, Some(&p), MergedHits::Shared).unwrap();
        assert_eq!(c.fakes_by_momentum[momentum_bin(1.0)], (1, 1));
        assert_eq!(c.fakes_by_momentum[momentum_bin(12.0)], (1, 1));
        assert_eq!(c.fakes_by_momentum[momentum_bin(4.5)], (3, 0));
    }

    #[test]
    fn half_of_the_candidate_is_not_a_majority() {
        let h = hits(&[(1, 4), (2, 4)]);
        let c = score_bx(&h, &[vec![0, 1, 4, 5]], MergedHits::Shared).unwrap();
        assert_eq!(c.found, 0);
        assert_eq!(c.fakes, 1);
        // Holding exactly half of the particle's hits is enough.
        let c = score_bx(&h, &[vec![0, 1, 4]], MergedHits::Shared).unwrap();
        assert_eq!(c.found, 1);
    }

    /// Marks hit `i` as merged from its particle and `other`.
    fn merge(h: &mut Hits, i: usize, other: u64) {
        let t = h.truth.as_mut().unwrap();
        t.merged[i] = true;
        t.other_particle_id[i] = other;
    }

    #[test]
    fn a_merged_hit_belongs_to_both_positrons_unless_majority_is_asked() {
        // Particles 1 (hits 0-3) and 2 (hits 4-6, its layer-3 hit merged into hit 3).
        let mut h = hits(&[(1, 4), (2, 3)]);
        merge(&mut h, 3, 2);
        let candidates = vec![vec![0, 1, 2, 3], vec![4, 5, 6, 3]];
        let shared = score_bx(&h, &candidates, MergedHits::Shared).unwrap();
        assert_eq!((shared.found, shared.found_strict, shared.fakes), (2, 2, 0));
        let majority = score_bx_with_momenta(&h, &candidates, None, MergedHits::Majority).unwrap();
        // Particle 2 has only its three own hits; its candidate holds them and one of 1's.
        assert_eq!((majority.found, majority.found_strict), (2, 1));
        // Two halves of different positrons stay a fake under either rule.
        let halves = vec![vec![0, 1, 5, 6]];
        assert_eq!(score_bx(&h, &halves, MergedHits::Shared).unwrap().fakes, 1);
    }

    #[test]
    fn the_perfect_reconstruction_scores_fakes_only_through_merged_hits() {
        // Particles 1 (hits 0-3), 2 (hits 4-5 own, plus merged hits 2 and 3 of particle 1),
        // 3 (hits 6-8), noise (hit 9).
        let mut h = hits(&[(1, 4), (2, 2), (3, 3), (0, 1)]);
        merge(&mut h, 2, 2);
        merge(&mut h, 3, 2);
        let perfect = true_tracks(&h).unwrap();
        assert_eq!(
            perfect,
            vec![vec![0, 1, 2, 3], vec![2, 3, 4, 5], vec![6, 7, 8]]
        );
        let shared = score_bx(&h, &perfect, MergedHits::Shared).unwrap();
        assert_eq!(
            (shared.found, shared.reconstructable, shared.fakes),
            (3, 3, 0)
        );
        // One particle per hit: particle 2 keeps two hits, so it is not reconstructable and its
        // right track (half its hits are particle 1's) is a fake.
        let majority = score_bx(&h, &perfect, MergedHits::Majority).unwrap();
        assert_eq!((majority.found, majority.reconstructable), (2, 2));
        assert_eq!(majority.fakes, 1);
        let mut no_truth = h.clone();
        no_truth.truth = None;
        assert!(true_tracks(&no_truth).is_none());
    }

    #[test]
    fn a_perfect_classifier_keeps_exactly_the_edges_within_a_particle() {
        // Particles 1 (hits 0-3) and 2 (hits 4-6); hit 3 merged from both; hit 7 noise.
        let mut h = hits(&[(1, 4), (2, 3), (0, 1)]);
        merge(&mut h, 3, 2);
        let edges = [(0, 1), (1, 4), (2, 3), (6, 3), (5, 7), (7, 7)];
        let scores = truth_edge_scores(&h, &edges).unwrap();
        assert_eq!(scores, vec![1.0, 0.0, 1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn positrons_merged_on_every_layer_are_found_by_one_track() {
        // Particle 2's four hits all merged into particle 1's: one track is both positrons'.
        let mut h = hits(&[(1, 4)]);
        for i in 0..4 {
            merge(&mut h, i, 2);
        }
        let c = score_bx(&h, &[vec![0, 1, 2, 3]], MergedHits::Shared).unwrap();
        assert_eq!(c.reconstructable, 2);
        assert_eq!(
            (c.found, c.found_strict, c.fakes, c.duplicates),
            (2, 2, 0, 0)
        );
        // A second identical track is a duplicate.
        let c = score_bx(
            &h,
            &[vec![0, 1, 2, 3], vec![0, 1, 2, 3]],
            MergedHits::Shared,
        )
        .unwrap();
        assert_eq!((c.found, c.duplicates), (2, 1));
        let c = score_bx_with_momenta(&h, &[vec![0, 1, 2, 3]], None, MergedHits::Majority).unwrap();
        assert_eq!((c.reconstructable, c.found), (1, 1));
    }

    #[test]
    fn no_truth_no_score() {
        let mut h = hits(&[(1, 4)]);
        h.truth = None;
        assert!(score_bx(&h, &[], MergedHits::Shared).is_none());
    }

    #[test]
    fn bootstrap_interval_brackets_the_value_and_narrows_with_data() {
        let few: Vec<(usize, usize)> = (0..5).map(|i| (90 + i % 3, 100)).collect();
        let many: Vec<(usize, usize)> = (0..200).map(|i| (90 + i % 3, 100)).collect();
        let a = bootstrap_rate(&few, 1000, 1);
        let b = bootstrap_rate(&many, 1000, 1);
        assert!(a.low <= a.value && a.value <= a.high);
        assert!(b.low <= b.value && b.value <= b.high);
        assert!(b.high - b.low < a.high - a.low);
        assert!((b.value - 0.91).abs() < 0.001);
        let one = bootstrap_rate(&[(3, 4)], 1000, 1);
        assert_eq!((one.low, one.value, one.high), (0.75, 0.75, 0.75));
        assert_eq!(bootstrap_rate(&[(0, 0), (0, 0)], 10, 1).value, 0.0);
    }

    #[test]
    fn metrics_sum_over_crossings() {
        let h = hits(&[(1, 4), (2, 4)]);
        let a = score_bx(&h, &[vec![0, 1, 2, 3]], MergedHits::Shared).unwrap();
        let b = score_bx(
            &h,
            &[vec![0, 1, 2, 3], vec![4, 5, 6, 7]],
            MergedHits::Shared,
        )
        .unwrap();
        let m = TrackMetrics::from_counts(&[a, b]);
        assert_eq!(m.reconstructable, 4);
        assert!((m.efficiency.value - 0.75).abs() < 1e-12);
        assert_eq!(m.fake_rate.value, 0.0);
        assert_eq!(m.candidates, 3);
    }
}
