//! The hits of one bunch crossing, stored as columns (structure of arrays).
//!
//! Every hit carries the caller's id, its position in mm, and the layer and stave it was
//! measured on, taken from the readout (never guessed from z). Simulated or labelled hits can
//! also carry truth: the particle that made the hit (0 for noise) and its momentum.

mod csv_io;
mod validate;

pub use csv_io::{HitFileFormat, ReadError, read_hits, read_hits_from, write_hits, write_hits_to};
pub use validate::{HitColumns, HitError, HitTolerance, ValidatedHits};

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
pub(crate) mod tests {
    use super::*;

    /// A crossing of one hit (id 7) without truth.
    pub(crate) fn one_hit(x: f64, y: f64, z: f64, layer: u8, stave: u8) -> Hits {
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
