//! Event-shape statistics that compare simulated crossings with a real one.
//!
//! The quantities are those that characterise LUXE positron tracks behind the dipole: x * p on
//! the first layer (the momentum-position relation), where straight lines through the first two
//! layers cross x = 0 (the magnet centre), the y spread on the first layer, the doublet variable
//! dx / (x1 dz) per layer pair (x1 = x on the first layer, dz in m) and hits per positron.

use std::collections::BTreeMap;

use gnntrack::geometry::Detector;
use gnntrack::hits::Hits;

use super::{Magnet, PositronCount, SimConfig, SimError, simulate_bx};

/// Field of the real single-layer events, T.
pub const REAL_EVENT_FIELD_T: f64 = 1.25;

/// Mean and standard deviation of a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Moments {
    /// Sample size.
    pub n: usize,
    /// Mean.
    pub mean: f64,
    /// Standard deviation.
    pub std: f64,
}

impl Moments {
    /// Moments of a sample; zero for an empty one.
    pub fn of(values: &[f64]) -> Moments {
        Self::weighted(values.iter().map(|&v| (v, 1.0)))
    }

    /// Moments of a weighted sample of (value, weight) pairs.
    pub fn weighted(sample: impl Iterator<Item = (f64, f64)> + Clone) -> Moments {
        let (mut n, mut sw, mut swx) = (0usize, 0.0, 0.0);
        for (v, w) in sample.clone() {
            n += 1;
            sw += w;
            swx += w * v;
        }
        if n == 0 || sw <= 0.0 {
            return Moments::default();
        }
        let mean = swx / sw;
        let var = sample.map(|(v, w)| w * (v - mean).powi(2)).sum::<f64>() / sw;
        Moments {
            n,
            mean,
            std: var.sqrt(),
        }
    }
}

/// The event-shape statistics of one or more crossings.
///
/// Spreads depend on the momentum spectrum; [`validate_against`] therefore reweights the
/// simulated positrons to the real crossing's spectrum before comparing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventShape {
    /// x * p on layer 0, mm GeV.
    pub x_times_p: Moments,
    /// z where the line through the layer-0 and layer-1 hits reaches x = 0, mm.
    pub z_at_x0: Moments,
    /// y on layer 0, mm.
    pub y_layer0: Moments,
    /// dx / (x1 dz) for layer pairs (0,1), (1,2), ..., in 1/m.
    pub doublet: Vec<Moments>,
    /// Hits from positrons per positron that left at least one hit.
    pub hits_per_positron: f64,
}

/// (x, y, z, p) of a particle's hit, one per layer.
type TrackHits = BTreeMap<u8, (f64, f64, f64, f64)>;

/// One hit per (particle, layer): the first one in input order (the upstream stave when a
/// positron crosses the stave overlap and hits are sorted).
fn tracks_by_particle(hits: &[&Hits]) -> Vec<TrackHits> {
    let mut out = Vec::new();
    for h in hits {
        let Some(t) = &h.truth else { continue };
        let mut by: BTreeMap<u64, TrackHits> = BTreeMap::new();
        for i in 0..h.len() {
            if t.particle_id[i] == 0 || t.merged[i] {
                continue;
            }
            by.entry(t.particle_id[i])
                .or_default()
                .entry(h.layer[i])
                .or_insert((h.x[i], h.y[i], h.z[i], t.particle_p[i]));
        }
        out.extend(by.into_values());
    }
    out
}

/// Momentum bins of the spectrum reweighting, GeV.
const SPECTRUM_BIN_GEV: f64 = 0.5;
const SPECTRUM_BINS: usize = 40;

fn spectrum_bin(p: f64) -> usize {
    ((p / SPECTRUM_BIN_GEV) as usize).min(SPECTRUM_BINS - 1)
}

/// Momenta (GeV) of the positrons that reach layer 0.
pub fn layer0_momenta(hits: &[&Hits]) -> Vec<f64> {
    tracks_by_particle(hits)
        .iter()
        .filter_map(|t| t.get(&0).map(|h| h.3))
        .collect()
}

/// Weights per momentum bin that give `sample` the momentum spectrum of `target`.
pub fn spectrum_weights(sample: &[f64], target: &[f64]) -> Vec<f64> {
    let histogram = |ps: &[f64]| {
        let mut h = vec![0.0; SPECTRUM_BINS];
        for &p in ps {
            h[spectrum_bin(p)] += 1.0 / ps.len().max(1) as f64;
        }
        h
    };
    let (hs, ht) = (histogram(sample), histogram(target));
    hs.iter()
        .zip(&ht)
        .map(|(&s, &t)| if s > 0.0 { t / s } else { 0.0 })
        .collect()
}

impl EventShape {
    /// Statistics over the truth-labelled hits of several crossings (merged hits are left out).
    pub fn measure(hits: &[&Hits]) -> EventShape {
        Self::measure_weighted(hits, None)
    }

    /// Like [`EventShape::measure`], with each positron weighted by `weights[bin(p)]` so that
    /// quantities depending on the spectrum compare at equal spectra.
    pub fn measure_weighted(hits: &[&Hits], weights: Option<&[f64]>) -> EventShape {
        let tracks = tracks_by_particle(hits);
        let mut xp = Vec::new();
        let mut z0 = Vec::new();
        let mut y0 = Vec::new();
        let weight = |p: f64| weights.map_or(1.0, |w| w[spectrum_bin(p)]);
        let n_pairs = tracks
            .iter()
            .filter_map(|t| t.keys().next_back())
            .max()
            .map_or(0, |&l| l as usize);
        let mut doublet = vec![Vec::new(); n_pairs];
        for t in &tracks {
            let Some(&(x1, y1, z1, p)) = t.get(&0) else {
                continue;
            };
            let w = weight(p);
            xp.push((x1 * p, w));
            y0.push((y1, w));
            if let Some(&(x2, _, z2, _)) = t.get(&1)
                && x2 != x1
            {
                z0.push((z1 - x1 * (z2 - z1) / (x2 - x1), w));
            }
            for (l, values) in doublet.iter_mut().enumerate() {
                if let (Some(a), Some(b)) = (t.get(&(l as u8)), t.get(&(l as u8 + 1))) {
                    values.push(((b.0 - a.0) / (x1 * (b.2 - a.2) / 1000.0), w));
                }
            }
        }
        let (mut positron_hits, mut positrons) = (0usize, 0usize);
        for h in hits {
            if let Some(t) = &h.truth {
                let ids: std::collections::HashSet<u64> =
                    t.particle_id.iter().copied().filter(|&p| p != 0).collect();
                positrons += ids.len();
                positron_hits += t.particle_id.iter().filter(|&&p| p != 0).count();
            }
        }
        EventShape {
            x_times_p: Moments::weighted(xp.iter().copied()),
            z_at_x0: Moments::weighted(z0.iter().copied()),
            y_layer0: Moments::weighted(y0.iter().copied()),
            doublet: doublet
                .iter()
                .map(|v| Moments::weighted(v.iter().copied()))
                .collect(),
            hits_per_positron: if positrons > 0 {
                positron_hits as f64 / positrons as f64
            } else {
                0.0
            },
        }
    }
}

/// One line of the comparison between a real and a simulated sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// What is compared.
    pub quantity: String,
    /// Value in the real crossing.
    pub real: f64,
    /// Value in the simulation.
    pub simulated: f64,
    /// Allowed relative difference.
    pub tolerance: f64,
}

impl Comparison {
    /// Relative difference (simulated - real) / |real|.
    pub fn relative_difference(&self) -> f64 {
        (self.simulated - self.real) / self.real.abs()
    }
    /// Whether the difference is within the tolerance.
    pub fn agrees(&self) -> bool {
        self.relative_difference().abs() <= self.tolerance
    }
}

/// Tolerance on means (relative).
pub const MEAN_TOLERANCE: f64 = 0.03;
/// Tolerance on spreads (relative): spreads depend on the spectrum and on transverse momenta.
pub const SPREAD_TOLERANCE: f64 = 0.20;

/// The comparison table for `gnntrack validate-sim`.
pub fn compare(real: &EventShape, simulated: &EventShape) -> Vec<Comparison> {
    let row = |q: &str, r: f64, s: f64, tol: f64| Comparison {
        quantity: q.to_string(),
        real: r,
        simulated: s,
        tolerance: tol,
    };
    let mut rows = vec![
        row(
            "x*p on layer 0, mean [mm GeV]",
            real.x_times_p.mean,
            simulated.x_times_p.mean,
            MEAN_TOLERANCE,
        ),
        row(
            "x*p on layer 0, spread [mm GeV]",
            real.x_times_p.std,
            simulated.x_times_p.std,
            SPREAD_TOLERANCE,
        ),
        row(
            "z at x = 0 (layers 0-1), mean [mm]",
            real.z_at_x0.mean,
            simulated.z_at_x0.mean,
            MEAN_TOLERANCE,
        ),
        row(
            "y on layer 0, spread [mm]",
            real.y_layer0.std,
            simulated.y_layer0.std,
            SPREAD_TOLERANCE,
        ),
    ];
    for (l, (r, s)) in real.doublet.iter().zip(&simulated.doublet).enumerate() {
        rows.push(row(
            &format!("dx/(x1 dz) layers {l}-{}, mean [1/m]", l + 1),
            r.mean,
            s.mean,
            MEAN_TOLERANCE,
        ));
        rows.push(row(
            &format!("dx/(x1 dz) layers {l}-{}, spread [1/m]", l + 1),
            r.std,
            s.std,
            SPREAD_TOLERANCE,
        ));
    }
    rows.push(row(
        "hits per positron",
        real.hits_per_positron,
        simulated.hits_per_positron,
        MEAN_TOLERANCE,
    ));
    rows
}

/// The simulation set-up of the real single-layer crossing: the xi = 3 configuration at the
/// real events' field, with as many positrons as `real` holds.
pub fn real_event_config(real: &Hits) -> SimConfig {
    let positrons = real
        .truth
        .as_ref()
        .map(|t| {
            t.particle_id
                .iter()
                .filter(|&&p| p != 0)
                .collect::<std::collections::HashSet<_>>()
                .len()
        })
        .unwrap_or(0);
    SimConfig {
        positrons: PositronCount::Exact(positrons.max(100)),
        magnet: Magnet {
            field_t: REAL_EVENT_FIELD_T,
            ..Magnet::default()
        },
        ..SimConfig::e_laser(3).expect("xi = 3 is a preset")
    }
}

/// Simulates `n_bx` crossings with `config` in the `luxe-sl` geometry (the layout of the real
/// events) and compares their event shape with `real`'s.
pub fn validate_against(
    real: &Hits,
    config: &SimConfig,
    n_bx: u64,
    seed: u64,
) -> Result<Vec<Comparison>, SimError> {
    let detector = Detector::preset("luxe-sl").expect("preset exists");
    let simulated = (0..n_bx)
        .map(|bx| simulate_bx(&detector, config, seed, bx).map(|b| b.hits))
        .collect::<Result<Vec<_>, _>>()?;
    let refs: Vec<&Hits> = simulated.iter().collect();
    let real_p = layer0_momenta(&[real]);
    let sim_p = layer0_momenta(&refs);
    let weights = spectrum_weights(&sim_p, &real_p);
    let mut rows = compare(
        &EventShape::measure(&[real]),
        &EventShape::measure_weighted(&refs, Some(&weights)),
    );
    // The generator's spectrum itself (not reweighted), for information: the real crossing
    // comes from a different laser set-up than the xi presets.
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    rows.push(Comparison {
        quantity: "median p on layer 0 (not reweighted) [GeV]".into(),
        real: median(&real_p),
        simulated: median(&sim_p),
        tolerance: SPREAD_TOLERANCE,
    });
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gnntrack::hits::{Hit, HitTruth};

    #[test]
    fn moments() {
        let m = Moments::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m.n, 4);
        assert!((m.mean - 2.5).abs() < 1e-12);
        assert!((m.std - 1.25f64.sqrt()).abs() < 1e-12);
        assert_eq!(Moments::of(&[]), Moments::default());
    }

    #[test]
    fn shape_of_an_ideal_track() {
        // A straight line from (x = 0, z = 2000) with slope 0.05, p = 4 GeV.
        let mut h = Hits::new(true);
        for l in 0..4u8 {
            let z = 4000.0 + 100.0 * l as f64;
            h.push(
                Hit {
                    hit_id: l as u64,
                    x: 0.05 * (z - 2000.0),
                    y: 0.5,
                    z,
                    layer: l,
                    stave: 0,
                },
                Some(HitTruth {
                    particle_id: 1,
                    particle_p: 4.0,
                    merged: false,
                    other_particle_id: 0,
                }),
            );
        }
        let s = EventShape::measure(&[&h]);
        assert!((s.x_times_p.mean - 400.0).abs() < 1e-9);
        assert!((s.z_at_x0.mean - 2000.0).abs() < 1e-9);
        assert_eq!(s.doublet.len(), 3);
        assert!((s.doublet[2].mean - 0.5).abs() < 1e-12);
        assert_eq!(s.hits_per_positron, 4.0);
    }
}
