//! The hits of one bunch crossing, stored as columns (structure of arrays).
//!
//! Every hit carries the caller's id, its position in mm, and the layer and stave it was
//! measured on, taken from the readout (never guessed from z). Simulated or labelled hits can
//! also carry truth: the particle that made the hit (0 for noise) and its momentum.

mod csv_io;

pub use csv_io::{HitFileFormat, ReadError, read_hits, read_hits_from, write_hits, write_hits_to};

use std::collections::HashMap;

use thiserror::Error;

use crate::geometry::Detector;

/// Truth information attached to simulated or labelled hits, one entry per hit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Truth {
    /// Particle that made the hit; 0 marks a noise hit.
    pub particle_id: Vec<u64>,
    /// Momentum of that particle in GeV (0 for noise).
    pub particle_p: Vec<f64>,
    /// Whether the hit is a merge of hits from more than one particle (the id is the majority).
    pub merged: Vec<bool>,
    /// For a merged hit, the particle with the next most parts (0 when there is none): a hit
    /// merged from two positrons lies on both paths and belongs to both.
    pub other_particle_id: Vec<u64>,
}

impl Truth {
    /// The particles of hit `i` (none for noise; two for a hit merged from two positrons). A
    /// truth without the `other_particle_id` column gives each hit its first particle only.
    pub fn particles_of(&self, i: usize) -> impl Iterator<Item = u64> + '_ {
        let first = self.particle_id[i];
        let second = self.other_particle_id.get(i).copied().unwrap_or(0);
        [first, second]
            .into_iter()
            .enumerate()
            .filter(move |&(k, p)| p != 0 && (k == 0 || p != first))
            .map(|(_, p)| p)
    }

    /// Whether hits `a` and `b` share a particle.
    pub fn share_particle(&self, a: usize, b: usize) -> bool {
        self.particles_of(a)
            .any(|p| self.particles_of(b).any(|q| q == p))
    }
}

/// Truth of a single hit, as passed to [`Hits::push`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HitTruth {
    /// Particle id, 0 for noise.
    pub particle_id: u64,
    /// Particle momentum, GeV.
    pub particle_p: f64,
    /// Merged from several particles.
    pub merged: bool,
    /// Second particle of a merged hit, 0 when none.
    pub other_particle_id: u64,
}

/// The hits of one bunch crossing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hits {
    /// Caller's hit identifier, unique within the crossing.
    pub hit_id: Vec<u64>,
    /// Position x, mm.
    pub x: Vec<f64>,
    /// Position y, mm.
    pub y: Vec<f64>,
    /// Position z, mm.
    pub z: Vec<f64>,
    /// Layer index from the readout, 0 nearest the interaction point.
    pub layer: Vec<u8>,
    /// Stave index within the layer (0 inner, 1 outer).
    pub stave: Vec<u8>,
    /// Optional truth, same length as the other columns when present.
    pub truth: Option<Truth>,
}

/// One hit, for building [`Hits`] row by row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// Caller's id.
    pub hit_id: u64,
    /// x, mm.
    pub x: f64,
    /// y, mm.
    pub y: f64,
    /// z, mm.
    pub z: f64,
    /// Layer index.
    pub layer: u8,
    /// Stave index.
    pub stave: u8,
}

/// How far a hit may lie from its stave before it is rejected, mm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HitTolerance {
    /// Largest |z - z_stave|.
    pub plane_mm: f64,
    /// Largest distance outside the stave's x and y extent.
    pub extent_mm: f64,
}

impl Default for HitTolerance {
    fn default() -> Self {
        HitTolerance {
            plane_mm: 1.0,
            extent_mm: 0.5,
        }
    }
}

/// A hit that fails validation; every variant names the hit (index and id), the field and value.
#[derive(Debug, Clone, Error, PartialEq)]
pub enum HitError {
    /// Columns of different lengths.
    #[error("column `{column}` has {len} entries, expected {expected}")]
    LengthMismatch {
        /// Column name.
        column: &'static str,
        /// Its length.
        len: usize,
        /// Length of `hit_id`.
        expected: usize,
    },
    /// NaN or infinite coordinate.
    #[error("hit {index} (id {hit_id}): `{field}` = {value} is not finite")]
    NonFinite {
        /// Position in the input.
        index: usize,
        /// Caller's id.
        hit_id: u64,
        /// `x`, `y` or `z`.
        field: &'static str,
        /// The value.
        value: f64,
    },
    /// Layer index beyond the geometry.
    #[error(
        "hit {index} (id {hit_id}): `layer` = {layer} is unknown to geometry {geometry} ({n_layers} layers)"
    )]
    UnknownLayer {
        /// Position in the input.
        index: usize,
        /// Caller's id.
        hit_id: u64,
        /// The layer given.
        layer: i64,
        /// Geometry name.
        geometry: String,
        /// Layers the geometry has.
        n_layers: usize,
    },
    /// Stave index beyond the layer's staves.
    #[error(
        "hit {index} (id {hit_id}): `stave` = {stave} is unknown to layer {layer} of geometry {geometry} ({n_staves} staves)"
    )]
    UnknownStave {
        /// Position in the input.
        index: usize,
        /// Caller's id.
        hit_id: u64,
        /// Layer of the hit.
        layer: u8,
        /// The stave given.
        stave: i64,
        /// Geometry name.
        geometry: String,
        /// Staves in the layer.
        n_staves: usize,
    },
    /// z too far from the stave's plane.
    #[error(
        "hit {index} (id {hit_id}): `z` = {z} mm is {distance:.3} mm from the plane of layer {layer} stave {stave} (z = {plane_z} mm, tolerance {tolerance} mm)"
    )]
    OffPlane {
        /// Position in the input.
        index: usize,
        /// Caller's id.
        hit_id: u64,
        /// Hit z.
        z: f64,
        /// Layer.
        layer: u8,
        /// Stave.
        stave: u8,
        /// Plane z.
        plane_z: f64,
        /// |z - plane_z|.
        distance: f64,
        /// Allowed distance.
        tolerance: f64,
    },
    /// x or y outside the stave's extent.
    #[error(
        "hit {index} (id {hit_id}): `{field}` = {value} mm is outside layer {layer} stave {stave} ({min}..{max} mm, tolerance {tolerance} mm)"
    )]
    OutsideStave {
        /// Position in the input.
        index: usize,
        /// Caller's id.
        hit_id: u64,
        /// `x` or `y`.
        field: &'static str,
        /// The value.
        value: f64,
        /// Layer.
        layer: u8,
        /// Stave.
        stave: u8,
        /// Stave low edge.
        min: f64,
        /// Stave high edge.
        max: f64,
        /// Allowed excess.
        tolerance: f64,
    },
    /// Two hits share an id.
    #[error("`hit_id` = {hit_id} appears twice (hits {first} and {second})")]
    DuplicateId {
        /// The repeated id.
        hit_id: u64,
        /// First position.
        first: usize,
        /// Second position.
        second: usize,
    },
}

impl Hits {
    /// An empty set of hits, with or without a truth block.
    pub fn new(with_truth: bool) -> Hits {
        Hits {
            truth: with_truth.then(Truth::default),
            ..Hits::default()
        }
    }

    /// An empty set with room for `n` hits.
    pub fn with_capacity(n: usize, with_truth: bool) -> Hits {
        Hits {
            hit_id: Vec::with_capacity(n),
            x: Vec::with_capacity(n),
            y: Vec::with_capacity(n),
            z: Vec::with_capacity(n),
            layer: Vec::with_capacity(n),
            stave: Vec::with_capacity(n),
            truth: with_truth.then(|| Truth {
                particle_id: Vec::with_capacity(n),
                particle_p: Vec::with_capacity(n),
                merged: Vec::with_capacity(n),
                other_particle_id: Vec::with_capacity(n),
            }),
        }
    }

    /// Number of hits.
    pub fn len(&self) -> usize {
        self.hit_id.len()
    }

    /// Whether there are no hits.
    pub fn is_empty(&self) -> bool {
        self.hit_id.is_empty()
    }

    /// Appends a hit; `truth` is stored only when the set has a truth block (and must be given then).
    pub fn push(&mut self, hit: Hit, truth: Option<HitTruth>) {
        self.hit_id.push(hit.hit_id);
        self.x.push(hit.x);
        self.y.push(hit.y);
        self.z.push(hit.z);
        self.layer.push(hit.layer);
        self.stave.push(hit.stave);
        if let Some(t) = &mut self.truth {
            let h = truth.unwrap_or_default();
            t.particle_id.push(h.particle_id);
            t.particle_p.push(h.particle_p);
            t.merged.push(h.merged);
            t.other_particle_id.push(h.other_particle_id);
        }
    }

    /// The hit at `i`.
    pub fn get(&self, i: usize) -> Hit {
        Hit {
            hit_id: self.hit_id[i],
            x: self.x[i],
            y: self.y[i],
            z: self.z[i],
            layer: self.layer[i],
            stave: self.stave[i],
        }
    }

    /// Truth of the hit at `i`, if the set carries truth.
    pub fn truth_of(&self, i: usize) -> Option<HitTruth> {
        self.truth.as_ref().map(|t| HitTruth {
            particle_id: t.particle_id[i],
            particle_p: t.particle_p[i],
            merged: t.merged[i],
            other_particle_id: t.other_particle_id[i],
        })
    }

    /// Checks the columns against the geometry: lengths, finite coordinates, known layer and
    /// stave, position on the stave's plane and inside its extent, unique ids.
    /// Returns the first problem found.
    pub fn validate(&self, detector: &Detector, tolerance: &HitTolerance) -> Result<(), HitError> {
        self.check_lengths()?;
        if !self.all_on_their_staves(detector, tolerance) {
            self.first_off_stave(detector, tolerance)?;
        }
        self.check_unique_ids()
    }

    /// Whether every hit passes the per-hit checks of [`Hits::validate`]: a fast parallel pass
    /// over the staves' bounds, computed once.
    fn all_on_their_staves(&self, detector: &Detector, tolerance: &HitTolerance) -> bool {
        use rayon::prelude::*;
        // (z, x_min, x_max, y_min, y_max) per stave, widened by the tolerances.
        let bounds: Vec<Vec<[f64; 5]>> = detector
            .layers
            .iter()
            .map(|l| {
                l.staves
                    .iter()
                    .map(|s| {
                        [
                            s.z,
                            s.x_min() - tolerance.extent_mm,
                            s.x_max() + tolerance.extent_mm,
                            s.y_min() - tolerance.extent_mm,
                            s.y_max() + tolerance.extent_mm,
                        ]
                    })
                    .collect()
            })
            .collect();
        (0..self.len()).into_par_iter().with_min_len(4096).all(|i| {
            let (x, y, z) = (self.x[i], self.y[i], self.z[i]);
            let Some(b) = bounds
                .get(self.layer[i] as usize)
                .and_then(|l| l.get(self.stave[i] as usize))
            else {
                return false;
            };
            // NaN fails every comparison.
            (z - b[0]).abs() <= tolerance.plane_mm
                && x >= b[1]
                && x <= b[2]
                && y >= b[3]
                && y <= b[4]
                && x.is_finite()
                && y.is_finite()
        })
    }

    /// The first hit that fails a per-hit check, as an error.
    fn first_off_stave(
        &self,
        detector: &Detector,
        tolerance: &HitTolerance,
    ) -> Result<(), HitError> {
        for i in 0..self.len() {
            let h = self.get(i);
            for (field, value) in [("x", h.x), ("y", h.y), ("z", h.z)] {
                if !value.is_finite() {
                    return Err(HitError::NonFinite {
                        index: i,
                        hit_id: h.hit_id,
                        field,
                        value,
                    });
                }
            }
            let layer =
                detector
                    .layers
                    .get(h.layer as usize)
                    .ok_or_else(|| HitError::UnknownLayer {
                        index: i,
                        hit_id: h.hit_id,
                        layer: h.layer as i64,
                        geometry: detector.name.clone(),
                        n_layers: detector.n_layers(),
                    })?;
            let stave =
                layer
                    .staves
                    .get(h.stave as usize)
                    .ok_or_else(|| HitError::UnknownStave {
                        index: i,
                        hit_id: h.hit_id,
                        layer: h.layer,
                        stave: h.stave as i64,
                        geometry: detector.name.clone(),
                        n_staves: layer.staves.len(),
                    })?;
            let distance = (h.z - stave.z).abs();
            if distance > tolerance.plane_mm {
                return Err(HitError::OffPlane {
                    index: i,
                    hit_id: h.hit_id,
                    z: h.z,
                    layer: h.layer,
                    stave: h.stave,
                    plane_z: stave.z,
                    distance,
                    tolerance: tolerance.plane_mm,
                });
            }
            for (field, value, min, max) in [
                ("x", h.x, stave.x_min(), stave.x_max()),
                ("y", h.y, stave.y_min(), stave.y_max()),
            ] {
                if value < min - tolerance.extent_mm || value > max + tolerance.extent_mm {
                    return Err(HitError::OutsideStave {
                        index: i,
                        hit_id: h.hit_id,
                        field,
                        value,
                        layer: h.layer,
                        stave: h.stave,
                        min,
                        max,
                        tolerance: tolerance.extent_mm,
                    });
                }
            }
        }
        Ok(())
    }

    /// Refuses a hit id used twice, naming both positions.
    fn check_unique_ids(&self) -> Result<(), HitError> {
        use rayon::prelude::*;
        let ids = &self.hit_id;
        // Fast paths: ids in increasing order, or no equal neighbours once sorted.
        if ids.windows(2).all(|w| w[0] < w[1]) {
            return Ok(());
        }
        let mut sorted = ids.clone();
        sorted.par_sort_unstable();
        if sorted.windows(2).all(|w| w[0] < w[1]) {
            return Ok(());
        }
        let mut seen: HashMap<u64, usize> = HashMap::with_capacity(self.len());
        for (i, &id) in self.hit_id.iter().enumerate() {
            if let Some(first) = seen.insert(id, i) {
                return Err(HitError::DuplicateId {
                    hit_id: id,
                    first,
                    second: i,
                });
            }
        }
        Ok(())
    }

    /// Checks that every column (truth included) has as many entries as `hit_id`.
    pub fn check_lengths(&self) -> Result<(), HitError> {
        let n = self.len();
        let mut columns: Vec<(&'static str, usize)> = vec![
            ("x", self.x.len()),
            ("y", self.y.len()),
            ("z", self.z.len()),
            ("layer", self.layer.len()),
            ("stave", self.stave.len()),
        ];
        if let Some(t) = &self.truth {
            columns.extend([
                ("particle_id", t.particle_id.len()),
                ("particle_p", t.particle_p.len()),
                ("merged", t.merged.len()),
                ("other_particle_id", t.other_particle_id.len()),
            ]);
        }
        match columns.into_iter().find(|&(_, len)| len != n) {
            Some((column, len)) => Err(HitError::LengthMismatch {
                column,
                len,
                expected: n,
            }),
            None => Ok(()),
        }
    }

    /// Number of hits on each (layer, stave), indexed `[layer][stave]`.
    pub fn count_by_layer_and_stave(&self) -> Vec<Vec<usize>> {
        let mut counts: Vec<Vec<usize>> = Vec::new();
        for (&l, &s) in self.layer.iter().zip(&self.stave) {
            let (l, s) = (l as usize, s as usize);
            if counts.len() <= l {
                counts.resize(l + 1, Vec::new());
            }
            if counts[l].len() <= s {
                counts[l].resize(s + 1, 0);
            }
            counts[l][s] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_hit(x: f64, y: f64, z: f64, layer: u8, stave: u8) -> Hits {
        let mut h = Hits::new(false);
        h.push(
            Hit {
                hit_id: 7,
                x,
                y,
                z,
                layer,
                stave,
            },
            None,
        );
        h
    }

    #[test]
    fn validation_reports_each_problem() {
        let d = Detector::preset("luxe").unwrap();
        let tol = HitTolerance::default();
        assert_eq!(
            one_hit(100.0, 0.0, 3950.0125, 0, 0).validate(&d, &tol),
            Ok(())
        );

        let e = one_hit(f64::NAN, 0.0, 3950.0125, 0, 0)
            .validate(&d, &tol)
            .unwrap_err();
        assert!(matches!(e, HitError::NonFinite { field: "x", .. }));
        assert!(e.to_string().contains("`x` = NaN"), "{e}");

        let e = one_hit(100.0, f64::INFINITY, 3950.0125, 0, 0)
            .validate(&d, &tol)
            .unwrap_err();
        assert!(e.to_string().contains("`y` = inf"), "{e}");

        let e = one_hit(100.0, 0.0, 3950.0, 4, 0)
            .validate(&d, &tol)
            .unwrap_err();
        assert!(e.to_string().contains("`layer` = 4"), "{e}");

        let e = one_hit(100.0, 0.0, 3950.0, 0, 2)
            .validate(&d, &tol)
            .unwrap_err();
        assert!(e.to_string().contains("`stave` = 2"), "{e}");

        let e = one_hit(100.0, 0.0, 3962.0125, 0, 0)
            .validate(&d, &tol)
            .unwrap_err();
        assert!(matches!(e, HitError::OffPlane { .. }), "{e}");

        let e = one_hit(400.0, 0.0, 3950.0125, 0, 0)
            .validate(&d, &tol)
            .unwrap_err();
        assert!(e.to_string().contains("`x` = 400"), "{e}");

        let e = one_hit(100.0, 9.0, 3950.0125, 0, 0)
            .validate(&d, &tol)
            .unwrap_err();
        assert!(e.to_string().contains("`y` = 9"), "{e}");

        let mut two = one_hit(100.0, 0.0, 3950.0125, 0, 0);
        two.push(two.get(0), None);
        let e = two.validate(&d, &tol).unwrap_err();
        assert_eq!(
            e,
            HitError::DuplicateId {
                hit_id: 7,
                first: 0,
                second: 1
            }
        );

        let mut short = one_hit(100.0, 0.0, 3950.0125, 0, 0);
        short.y.clear();
        assert!(matches!(
            short.validate(&d, &tol),
            Err(HitError::LengthMismatch { column: "y", .. })
        ));
    }

    #[test]
    fn counts_by_layer_and_stave() {
        let mut h = one_hit(100.0, 0.0, 3950.0125, 0, 0);
        h.push(
            Hit {
                hit_id: 8,
                x: 300.0,
                y: 0.0,
                z: 4162.0125,
                layer: 2,
                stave: 1,
            },
            None,
        );
        let c = h.count_by_layer_and_stave();
        assert_eq!(c[0], vec![1]);
        assert_eq!(c[2], vec![0, 1]);
    }
}
