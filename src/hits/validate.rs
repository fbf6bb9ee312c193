//! Hit validation: the one place where hits are checked against a geometry.
//!
//! [`Hits::validate`] (hits already held as [`Hits`]) and [`Hits::from_columns`] (a host's
//! columns, layer and stave as wide integers) run the same per-hit check and are the only ways
//! to make a [`ValidatedHits`], the type graph building takes. A hit is valid when its
//! coordinates are finite, its layer and stave exist in the geometry, it lies on its stave's
//! plane and inside the stave's extent (within a [`HitTolerance`]), and no other hit has its
//! id. The first invalid hit, in input order, is reported as a [`HitError`] naming the hit,
//! field and value.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Deref;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::Hits;
use crate::error::ErrorKind;
use crate::geometry::Detector;

/// How far a hit may lie from its stave before it is refused, mm. This is the `[hits]` table
/// of the tracker configuration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HitTolerance {
    /// Largest |z - z_stave|.
    pub plane_tolerance_mm: f64,
    /// Largest distance outside the stave's x and y extent.
    pub extent_tolerance_mm: f64,
}

impl Default for HitTolerance {
    fn default() -> Self {
        HitTolerance {
            plane_tolerance_mm: 1.0,
            extent_tolerance_mm: 0.5,
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
        /// Length of the first column (`hit_id`, or `x` for host columns).
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

impl HitError {
    /// The kind of the error: always [`ErrorKind::InvalidHit`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidHit
    }
}

/// Hits that passed validation against a geometry: the only input graph building takes.
///
/// Made only by [`Hits::validate`] (borrowing the hits) and [`Hits::from_columns`] (owning a
/// copy); it reads as [`Hits`] through `Deref` and cannot be changed.
#[derive(Debug, Clone)]
pub struct ValidatedHits<'a> {
    hits: Cow<'a, Hits>,
    /// Name of the geometry the hits were checked against.
    geometry: String,
    /// Staves per layer of that geometry.
    layout: Vec<usize>,
}

impl ValidatedHits<'_> {
    /// The hits.
    pub fn hits(&self) -> &Hits {
        &self.hits
    }

    /// The hits, owned (copied when they were borrowed).
    pub fn into_hits(self) -> Hits {
        self.hits.into_owned()
    }

    /// Name of the geometry the hits were checked against.
    pub fn geometry(&self) -> &str {
        &self.geometry
    }

    /// Whether the hits were checked against a geometry of this name and layout (layers and
    /// staves per layer), so that every layer and stave index is known to `detector`.
    pub fn matches_geometry(&self, detector: &Detector) -> bool {
        self.geometry == detector.name
            && self.layout.len() == detector.layers.len()
            && self
                .layout
                .iter()
                .zip(&detector.layers)
                .all(|(&n, l)| n == l.staves.len())
    }
}

impl Deref for ValidatedHits<'_> {
    type Target = Hits;
    fn deref(&self) -> &Hits {
        &self.hits
    }
}

/// A host's hits as borrowed columns, for [`Hits::from_columns`]. Layer and stave are wide
/// integers so that any value a host decodes can be passed and refused by validation.
#[derive(Debug, Clone, Copy)]
pub struct HitColumns<'a> {
    /// Caller's ids, unique within the crossing; `None` names each hit by its index.
    pub hit_id: Option<&'a [u64]>,
    /// x, mm.
    pub x: &'a [f64],
    /// y, mm.
    pub y: &'a [f64],
    /// z, mm.
    pub z: &'a [f64],
    /// Layer index from the readout.
    pub layer: &'a [i32],
    /// Stave index within the layer.
    pub stave: &'a [i32],
}

impl HitColumns<'_> {
    /// Number of hits (the length of `x`).
    pub fn len(&self) -> usize {
        self.x.len()
    }

    /// Whether there are no hits.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

/// One hit as the check reads it: layer and stave before they are known to fit a byte.
#[derive(Debug, Clone, Copy)]
struct RawHit {
    hit_id: u64,
    x: f64,
    y: f64,
    z: f64,
    layer: i64,
    stave: i64,
}

/// A stave's plane and extent.
#[derive(Debug, Clone, Copy)]
struct StaveBounds {
    z: f64,
    x: (f64, f64),
    y: (f64, f64),
}

/// The per-hit check against one geometry and tolerance, with the staves' bounds computed once.
struct Check<'d> {
    detector: &'d Detector,
    tolerance: HitTolerance,
    staves: Vec<Vec<StaveBounds>>,
}

impl<'d> Check<'d> {
    fn new(detector: &'d Detector, tolerance: &HitTolerance) -> Check<'d> {
        let staves = detector
            .layers
            .iter()
            .map(|l| {
                l.staves
                    .iter()
                    .map(|s| StaveBounds {
                        z: s.z,
                        x: (s.x_min(), s.x_max()),
                        y: (s.y_min(), s.y_max()),
                    })
                    .collect()
            })
            .collect();
        Check {
            detector,
            tolerance: *tolerance,
            staves,
        }
    }

    /// The problem of hit `index`, if any: every per-hit rule, in this one function.
    #[inline]
    fn hit(&self, index: usize, h: RawHit) -> Result<(), HitError> {
        for (field, value) in [("x", h.x), ("y", h.y), ("z", h.z)] {
            if !value.is_finite() {
                return Err(HitError::NonFinite {
                    index,
                    hit_id: h.hit_id,
                    field,
                    value,
                });
            }
        }
        let layer = usize::try_from(h.layer)
            .ok()
            .and_then(|l| self.staves.get(l))
            .ok_or_else(|| HitError::UnknownLayer {
                index,
                hit_id: h.hit_id,
                layer: h.layer,
                geometry: self.detector.name.clone(),
                n_layers: self.detector.n_layers(),
            })?;
        // The geometry has at most 255 layers and staves per layer: known indices fit a byte.
        let (l, s) = (h.layer as u8, h.stave as u8);
        let stave = usize::try_from(h.stave)
            .ok()
            .and_then(|s| layer.get(s))
            .ok_or_else(|| HitError::UnknownStave {
                index,
                hit_id: h.hit_id,
                layer: l,
                stave: h.stave,
                geometry: self.detector.name.clone(),
                n_staves: layer.len(),
            })?;
        let distance = (h.z - stave.z).abs();
        if distance > self.tolerance.plane_tolerance_mm {
            return Err(HitError::OffPlane {
                index,
                hit_id: h.hit_id,
                z: h.z,
                layer: l,
                stave: s,
                plane_z: stave.z,
                distance,
                tolerance: self.tolerance.plane_tolerance_mm,
            });
        }
        let margin = self.tolerance.extent_tolerance_mm;
        for (field, value, (min, max)) in [("x", h.x, stave.x), ("y", h.y, stave.y)] {
            if value < min - margin || value > max + margin {
                return Err(HitError::OutsideStave {
                    index,
                    hit_id: h.hit_id,
                    field,
                    value,
                    layer: l,
                    stave: s,
                    min,
                    max,
                    tolerance: margin,
                });
            }
        }
        Ok(())
    }

    /// The first invalid hit of `n`, in input order (checked in parallel).
    fn all(&self, n: usize, hit: impl Fn(usize) -> RawHit + Sync) -> Result<(), HitError> {
        // Blocks side by side, each checked in order by a plain loop: a parallel search item by
        // item cost more than the checks themselves.
        const BLOCK: usize = 4096;
        match (0..n.div_ceil(BLOCK)).into_par_iter().find_map_first(|b| {
            (b * BLOCK..n.min((b + 1) * BLOCK)).find_map(|i| self.hit(i, hit(i)).err())
        }) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The validated form of hits that passed.
    fn seal<'a>(&self, hits: Cow<'a, Hits>) -> ValidatedHits<'a> {
        ValidatedHits {
            hits,
            geometry: self.detector.name.clone(),
            layout: self.staves.iter().map(Vec::len).collect(),
        }
    }
}

/// Refuses a hit id used twice, naming both positions.
fn check_unique_ids(ids: &[u64]) -> Result<(), HitError> {
    // Fast paths: ids in increasing order, or no equal neighbours once sorted.
    if ids.windows(2).all(|w| w[0] < w[1]) {
        return Ok(());
    }
    let mut sorted = ids.to_vec();
    sorted.par_sort_unstable();
    if sorted.windows(2).all(|w| w[0] < w[1]) {
        return Ok(());
    }
    let mut seen: HashMap<u64, usize> = HashMap::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
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

impl Hits {
    /// Checks the hits against the geometry: equal column lengths (truth included), then every
    /// hit (finite coordinates, known layer and stave, on the stave's plane and inside its
    /// extent), then unique ids. Returns the validated hits, or the first problem found.
    pub fn validate(
        &self,
        detector: &Detector,
        tolerance: &HitTolerance,
    ) -> Result<ValidatedHits<'_>, HitError> {
        self.check_lengths()?;
        let check = Check::new(detector, tolerance);
        check.all(self.len(), |i| RawHit {
            hit_id: self.hit_id[i],
            x: self.x[i],
            y: self.y[i],
            z: self.z[i],
            layer: i64::from(self.layer[i]),
            stave: i64::from(self.stave[i]),
        })?;
        check_unique_ids(&self.hit_id)?;
        Ok(check.seal(Cow::Borrowed(self)))
    }

    /// Hits from a host's columns, validated as by [`Hits::validate`] (the same checks, the
    /// same messages; a layer or stave outside the geometry, negative or beyond a byte included).
    /// The columns are copied; they must all have the length of `x`.
    pub fn from_columns(
        columns: &HitColumns<'_>,
        detector: &Detector,
        tolerance: &HitTolerance,
    ) -> Result<ValidatedHits<'static>, HitError> {
        let n = columns.len();
        let lengths = [
            ("y", columns.y.len()),
            ("z", columns.z.len()),
            ("layer", columns.layer.len()),
            ("stave", columns.stave.len()),
            ("hit_id", columns.hit_id.map_or(n, <[u64]>::len)),
        ];
        if let Some(&(column, len)) = lengths.iter().find(|(_, len)| *len != n) {
            return Err(HitError::LengthMismatch {
                column,
                len,
                expected: n,
            });
        }
        let id = |i: usize| columns.hit_id.map_or(i as u64, |ids| ids[i]);
        let check = Check::new(detector, tolerance);
        check.all(n, |i| RawHit {
            hit_id: id(i),
            x: columns.x[i],
            y: columns.y[i],
            z: columns.z[i],
            layer: i64::from(columns.layer[i]),
            stave: i64::from(columns.stave[i]),
        })?;
        if let Some(ids) = columns.hit_id {
            check_unique_ids(ids)?;
        }
        // Every layer and stave is known to the geometry, so fits a byte.
        let hits = Hits {
            hit_id: (0..n).map(id).collect(),
            x: columns.x.to_vec(),
            y: columns.y.to_vec(),
            z: columns.z.to_vec(),
            layer: columns.layer.iter().map(|&l| l as u8).collect(),
            stave: columns.stave.iter().map(|&s| s as u8).collect(),
            truth: None,
        };
        Ok(check.seal(Cow::Owned(hits)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hits::Hit;
    use crate::hits::tests::one_hit;

    #[test]
    fn validation_reports_each_problem() {
        let d = Detector::preset("luxe").unwrap();
        let tol = HitTolerance::default();
        let good = one_hit(100.0, 0.0, 3950.0125, 0, 0);
        let valid = good.validate(&d, &tol).unwrap();
        assert_eq!(valid.hits(), &good);
        assert!(valid.matches_geometry(&d));
        assert!(!valid.matches_geometry(&Detector::preset("luxe-sl").unwrap()));

        let e = one_hit(f64::NAN, 0.0, 3950.0125, 0, 0)
            .validate(&d, &tol)
            .unwrap_err();
        assert!(matches!(e, HitError::NonFinite { field: "x", .. }));
        assert!(e.to_string().contains("`x` = NaN"), "{e}");
        assert_eq!(e.kind(), ErrorKind::InvalidHit);

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
    fn the_first_invalid_hit_in_input_order_is_reported() {
        let d = Detector::preset("luxe").unwrap();
        let mut hits = Hits::new(false);
        for i in 0..20_000u64 {
            hits.push(
                Hit {
                    hit_id: i,
                    x: 100.0,
                    y: 0.0,
                    z: 3950.0125,
                    layer: 0,
                    stave: 0,
                },
                None,
            );
        }
        // Two problems in one block of the parallel check, one in a later block.
        hits.layer[15_000] = 9;
        hits.x[12_345] = f64::NAN;
        hits.z[19_999] = 0.0;
        let e = hits.validate(&d, &HitTolerance::default()).unwrap_err();
        assert!(
            matches!(e, HitError::NonFinite { index: 12_345, .. }),
            "{e}"
        );
    }

    #[test]
    fn columns_give_the_same_hits_and_the_same_errors() {
        let d = Detector::preset("luxe").unwrap();
        let tol = HitTolerance::default();
        let hits = one_hit(100.0, 0.0, 3950.0125, 0, 0);
        let columns = |layer: &'static [i32], stave: &'static [i32]| HitColumns {
            hit_id: Some(&[7]),
            x: &[100.0],
            y: &[0.0],
            z: &[3950.0125],
            layer,
            stave,
        };
        let valid = Hits::from_columns(&columns(&[0], &[0]), &d, &tol).unwrap();
        assert_eq!(valid.hits(), &hits);
        // Values a byte cannot hold are refused like any unknown layer or stave.
        for (layer, stave, needle) in [
            (-1, 0, "`layer` = -1 is unknown to geometry luxe"),
            (300, 0, "`layer` = 300 is unknown"),
            (4, 0, "`layer` = 4 is unknown"),
            (0, -7, "`stave` = -7 is unknown to layer 0"),
            (0, 256, "`stave` = 256 is unknown"),
        ] {
            let e = Hits::from_columns(
                &HitColumns {
                    layer: &[layer],
                    stave: &[stave],
                    ..columns(&[0], &[0])
                },
                &d,
                &tol,
            )
            .unwrap_err();
            assert!(e.to_string().contains(needle), "{e}");
        }
        // The same message as the validation of the same hit held as `Hits`.
        let mut bad = hits.clone();
        bad.layer[0] = 4;
        assert_eq!(
            Hits::from_columns(&columns(&[4], &[0]), &d, &tol).unwrap_err(),
            bad.validate(&d, &tol).unwrap_err()
        );
        // Without ids each hit is named by its index.
        let no_ids = HitColumns {
            hit_id: None,
            ..columns(&[0], &[0])
        };
        assert_eq!(
            Hits::from_columns(&no_ids, &d, &tol).unwrap().hit_id,
            vec![0]
        );
        let short = HitColumns {
            y: &[],
            ..columns(&[0], &[0])
        };
        assert!(matches!(
            Hits::from_columns(&short, &d, &tol),
            Err(HitError::LengthMismatch { column: "y", .. })
        ));
    }

    #[test]
    fn tolerance_keys_are_those_of_the_configuration() {
        let t: HitTolerance = toml::from_str("plane_tolerance_mm = 2.0").unwrap();
        assert_eq!(t.plane_tolerance_mm, 2.0);
        assert_eq!(t.extent_tolerance_mm, 0.5);
        assert!(toml::from_str::<HitTolerance>("plane_mm = 2.0").is_err());
    }
}
