//! A fast simulation of LUXE e-laser (and gamma-laser-like) bunch crossings.
//!
//! Positrons leave the interaction point with pz = 1 GeV + Gamma(3, 1.2 GeV) and small Gaussian
//! transverse momenta, bend in the dipole along an exact arc, fly straight to the tracker and
//! scatter in every stave (Highland). Each crossing of a chip's active area makes a hit with the
//! layer's efficiency; positions get the cluster-centroid resolution; hits of different particles
//! closer than about two pixels on one chip merge into one; noise hits are spread over all pixels.
//!
//! Every particle and every chip's noise draws from its own random stream derived from
//! (seed, bunch crossing, index), so the output is bit-identical whatever the thread count.

mod digitise;
pub mod transport;
pub mod validate;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, Normal, Poisson};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use gnntrack::geometry::Detector;
use gnntrack::hits::Hits;
pub use transport::{Magnet, TrackState};

/// Mean positrons per bunch crossing for the e-laser xi presets 3..7 (40 TW laser).
pub const XI_PRESETS: [(u8, f64); 5] = [
    (3, 138.0),
    (4, 2072.0),
    (5, 10580.0),
    (6, 31290.0),
    (7, 67314.0),
];

/// Mean positrons per crossing of the gamma-laser-like mode.
pub const GAMMA_LASER_MEAN: f64 = 2.0;

/// An invalid simulation setting.
#[derive(Debug, Error, PartialEq)]
#[error("simulation setting `{field}` = {value}: {reason}")]
pub struct SimError {
    /// Setting name.
    pub field: &'static str,
    /// Value given.
    pub value: String,
    /// Why it is rejected.
    pub reason: String,
}

/// How many positrons a bunch crossing holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum PositronCount {
    /// Poisson with the mean of an e-laser xi preset (3..7).
    Xi(u8),
    /// Poisson with this mean.
    Mean(f64),
    /// Exactly this many.
    Exact(usize),
}

impl PositronCount {
    /// The e-laser xi preset, checked.
    pub fn xi(xi: u8) -> Result<PositronCount, SimError> {
        if XI_PRESETS.iter().any(|&(x, _)| x == xi) {
            Ok(PositronCount::Xi(xi))
        } else {
            Err(SimError {
                field: "xi",
                value: xi.to_string(),
                reason: "presets exist for xi = 3, 4, 5, 6, 7".into(),
            })
        }
    }

    /// The mean number of positrons.
    pub fn mean(&self) -> f64 {
        match *self {
            PositronCount::Xi(xi) => XI_PRESETS
                .iter()
                .find(|&&(x, _)| x == xi)
                .map(|&(_, m)| m)
                .unwrap_or(0.0),
            PositronCount::Mean(m) => m,
            PositronCount::Exact(n) => n as f64,
        }
    }
}

/// Every knob of the simulation; `Default` is the LUXE e-laser set-up at xi = 5, 0.95 T.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimConfig {
    /// Positrons per crossing.
    pub positrons: PositronCount,
    /// Dipole.
    pub magnet: Magnet,
    /// Offset of the longitudinal momentum spectrum, GeV.
    pub pz_offset_gev: f64,
    /// Gamma shape k of the spectrum above the offset.
    pub pz_gamma_shape: f64,
    /// Gamma scale theta of the spectrum above the offset, GeV.
    pub pz_gamma_scale_gev: f64,
    /// Gaussian width of px at the interaction point, GeV.
    pub px_sigma_gev: f64,
    /// Gaussian width of py at the interaction point, GeV.
    pub py_sigma_gev: f64,
    /// Apply multiple scattering in the staves.
    pub multiple_scattering: bool,
    /// Probability that a chip crossing gives a hit.
    pub hit_efficiency: f64,
    /// Cluster-centroid resolution in x and y, mm.
    pub resolution_mm: f64,
    /// Hits of different particles on one chip closer than this many pixels merge.
    pub merge_distance_pixels: f64,
    /// Noise hits per pixel per crossing.
    pub noise_per_pixel: f64,
}

/// Width of px at the interaction point per unit of xi, GeV. Transverse momenta from the laser
/// field grow as m_e * xi; the factor is fitted to the real xi = 3 crossing (the spread of x * p on
/// the first layer and of the doublet variable; see `gnntrack validate-sim`).
pub const PX_SIGMA_PER_XI_GEV: f64 = 1.15e-3 / 3.0;
/// Width of py at the interaction point per unit of xi, GeV (fitted to the y spread of the real
/// xi = 3 crossing on the first layer).
pub const PY_SIGMA_PER_XI_GEV: f64 = 1.0e-3 / 3.0;

impl Default for SimConfig {
    /// The e-laser set-up at xi = 5.
    fn default() -> Self {
        SimConfig::e_laser(5).expect("xi = 5 is a preset")
    }
}

impl SimConfig {
    /// The e-laser set-up at intensity `xi` (3..7): the preset positron count and transverse
    /// momenta scaled with xi, at 0.95 T.
    pub fn e_laser(xi: u8) -> Result<SimConfig, SimError> {
        let positrons = PositronCount::xi(xi)?;
        Ok(SimConfig {
            positrons,
            magnet: Magnet::default(),
            pz_offset_gev: 1.0,
            pz_gamma_shape: 3.0,
            pz_gamma_scale_gev: 1.2,
            px_sigma_gev: PX_SIGMA_PER_XI_GEV * f64::from(xi),
            py_sigma_gev: PY_SIGMA_PER_XI_GEV * f64::from(xi),
            multiple_scattering: true,
            hit_efficiency: 0.99,
            resolution_mm: 0.005,
            merge_distance_pixels: 2.0,
            noise_per_pixel: 1e-6,
        })
    }

    /// The gamma-laser-like mode: a few positrons, so noise dominates.
    pub fn gamma_laser() -> SimConfig {
        SimConfig {
            positrons: PositronCount::Mean(GAMMA_LASER_MEAN),
            ..SimConfig::default()
        }
    }

    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |field: &'static str, value: f64, reason: &str| {
            Err(SimError {
                field,
                value: value.to_string(),
                reason: reason.to_string(),
            })
        };
        if let PositronCount::Mean(m) = self.positrons
            && !(m.is_finite() && m >= 0.0)
        {
            return bad("positrons", m, "the mean must be finite and >= 0");
        }
        if let PositronCount::Xi(xi) = self.positrons {
            PositronCount::xi(xi)?;
        }
        let m = &self.magnet;
        if !m.field_t.is_finite() {
            return bad("magnet.field_t", m.field_t, "must be finite");
        }
        if !(m.z_start.is_finite()
            && m.z_end.is_finite()
            && m.z_end > m.z_start
            && m.z_start >= 0.0)
        {
            return bad(
                "magnet.z_end",
                m.z_end,
                "the field region needs 0 <= z_start < z_end",
            );
        }
        let positive = [
            ("pz_gamma_shape", self.pz_gamma_shape),
            ("pz_gamma_scale_gev", self.pz_gamma_scale_gev),
        ];
        for (field, v) in positive {
            if !(v.is_finite() && v > 0.0) {
                return bad(field, v, "must be positive");
            }
        }
        let non_negative = [
            ("pz_offset_gev", self.pz_offset_gev),
            ("px_sigma_gev", self.px_sigma_gev),
            ("py_sigma_gev", self.py_sigma_gev),
            ("resolution_mm", self.resolution_mm),
            ("merge_distance_pixels", self.merge_distance_pixels),
            ("noise_per_pixel", self.noise_per_pixel),
        ];
        for (field, v) in non_negative {
            if !(v.is_finite() && v >= 0.0) {
                return bad(field, v, "must be finite and >= 0");
            }
        }
        if !(0.0..=1.0).contains(&self.hit_efficiency) {
            return bad("hit_efficiency", self.hit_efficiency, "must be within 0..1");
        }
        Ok(())
    }
}

/// A generated positron.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrueParticle {
    /// Particle id as used in the hits' truth (from 1; 0 is noise).
    pub id: u64,
    /// Momentum at the interaction point, GeV.
    pub px: f64,
    /// Momentum at the interaction point, GeV.
    pub py: f64,
    /// Momentum at the interaction point, GeV.
    pub pz: f64,
}

impl TrueParticle {
    /// Momentum magnitude, GeV.
    pub fn p(&self) -> f64 {
        (self.px * self.px + self.py * self.py + self.pz * self.pz).sqrt()
    }
}

/// One simulated bunch crossing.
#[derive(Debug, Clone)]
pub struct SimulatedBx {
    /// The hits, with truth, sorted by layer, stave and x; `hit_id` is the position.
    pub hits: Hits,
    /// Every generated positron, including those that miss the tracker.
    pub particles: Vec<TrueParticle>,
    /// Hits before close ones were merged (particle hits plus noise).
    pub unmerged_hits: usize,
}

/// Stream labels so that no two uses of the random generator share a stream.
#[derive(Clone, Copy)]
#[repr(u64)]
enum Stream {
    Count = 1,
    Particle = 2,
    Noise = 3,
}

/// An independent generator for (seed, crossing, purpose, index): SplitMix64 finalisers over the
/// four words, so that nearby inputs give unrelated seeds.
fn stream_rng(seed: u64, bx: u64, stream: Stream, index: u64) -> ChaCha8Rng {
    fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    let mut h = mix(seed.wrapping_add(0x9e37_79b9_7f4a_7c15));
    for word in [bx, stream as u64, index] {
        h = mix(h ^ word.wrapping_add(0x9e37_79b9_7f4a_7c15));
    }
    ChaCha8Rng::seed_from_u64(h)
}

/// Simulates bunch crossing number `bx` of a run with `seed`.
pub fn simulate_bx(
    detector: &Detector,
    config: &SimConfig,
    seed: u64,
    bx: u64,
) -> Result<SimulatedBx, SimError> {
    config.validate()?;
    let n = match config.positrons {
        PositronCount::Exact(n) => n,
        other => {
            let mean = other.mean();
            if mean > 0.0 {
                let poisson = Poisson::new(mean).map_err(|e| SimError {
                    field: "positrons",
                    value: mean.to_string(),
                    reason: e.to_string(),
                })?;
                poisson.sample(&mut stream_rng(seed, bx, Stream::Count, 0)) as usize
            } else {
                0
            }
        }
    };
    let planes = detector.planes_by_z();
    let gamma = Gamma::new(config.pz_gamma_shape, config.pz_gamma_scale_gev).expect("validated");
    let normal = Normal::new(0.0, 1.0).expect("unit normal");

    let per_particle: Vec<(TrueParticle, Vec<digitise::RawHit>)> = (0..n as u64)
        .into_par_iter()
        .map(|i| {
            let mut rng = stream_rng(seed, bx, Stream::Particle, i);
            let particle = TrueParticle {
                id: i + 1,
                px: config.px_sigma_gev * normal.sample(&mut rng),
                py: config.py_sigma_gev * normal.sample(&mut rng),
                pz: config.pz_offset_gev + gamma.sample(&mut rng),
            };
            let hits = digitise::particle_hits(detector, &planes, config, &particle, &mut rng);
            (particle, hits)
        })
        .collect();

    let mut raw = Vec::with_capacity(per_particle.iter().map(|(_, h)| h.len()).sum::<usize>() + 64);
    let mut particles = Vec::with_capacity(n);
    for (p, hits) in per_particle {
        particles.push(p);
        raw.extend(hits);
    }
    raw.extend(digitise::noise_hits(detector, config, |chip| {
        stream_rng(seed, bx, Stream::Noise, chip)
    }));
    let unmerged_hits = raw.len();
    let hits = digitise::merge_and_sort(detector, config, raw);
    Ok(SimulatedBx {
        hits,
        particles,
        unmerged_hits,
    })
}

/// Simulates `count` crossings numbered `first..first + count`, in parallel.
pub fn simulate_run(
    detector: &Detector,
    config: &SimConfig,
    seed: u64,
    first: u64,
    count: u64,
) -> Result<Vec<SimulatedBx>, SimError> {
    (first..first + count)
        .map(|bx| simulate_bx(detector, config, seed, bx))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_setting() {
        let mut c = SimConfig::e_laser(5).unwrap();
        c.hit_efficiency = 1.5;
        assert_eq!(c.validate().unwrap_err().field, "hit_efficiency");
        let mut c = SimConfig::e_laser(5).unwrap();
        c.magnet.z_end = 1000.0;
        assert_eq!(c.validate().unwrap_err().field, "magnet.z_end");
        assert_eq!(PositronCount::xi(9).unwrap_err().field, "xi");
        let mut c = SimConfig::e_laser(5).unwrap();
        c.positrons = PositronCount::Mean(f64::NAN);
        assert!(c.validate().unwrap_err().to_string().contains("NaN"));
    }

    #[test]
    fn streams_differ() {
        use rand::RngExt;
        let a: u64 = stream_rng(1, 0, Stream::Particle, 0).random();
        let b: u64 = stream_rng(1, 0, Stream::Particle, 1).random();
        let c: u64 = stream_rng(1, 1, Stream::Particle, 0).random();
        let d: u64 = stream_rng(2, 0, Stream::Particle, 0).random();
        assert!(a != b && a != c && a != d && b != c);
    }

    #[test]
    fn exact_count_and_ids() {
        let d = Detector::preset("luxe").unwrap();
        let mut c = SimConfig::e_laser(5).unwrap();
        c.positrons = PositronCount::Exact(50);
        c.noise_per_pixel = 0.0;
        let bx = simulate_bx(&d, &c, 3, 0).unwrap();
        assert_eq!(bx.particles.len(), 50);
        let t = bx.hits.truth.as_ref().unwrap();
        assert!(t.particle_id.iter().all(|&p| (1..=50).contains(&p)));
        assert_eq!(
            bx.hits.hit_id,
            (0..bx.hits.len() as u64).collect::<Vec<_>>()
        );
    }
}
