//! Detector geometry: an ordered list of layers, each made of planar staves of chips.
//!
//! Units are millimetres. Layers are numbered from the interaction point outwards (0..3 for
//! LUXE); within a layer, stave 0 is the inner (low-x) stave and stave 1 the outer one.
//! Each stave is a plane at fixed z holding chips side by side along x; the gaps between
//! chips are dead.
//!
//! Size: a little over 600 lines of code. The types, the LUXE presets built from the chip tables
//! and the TOML reader with its checks stay together: a preset is the same detector a geometry
//! file describes, and both go through the same private constructors and checks.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::error::ErrorKind;

/// Names accepted by [`Detector::preset`].
pub const PRESET_NAMES: [&str; 3] = ["luxe", "luxe-key4hep", "luxe-sl"];

/// An error in a geometry description, naming the offending field and value.
#[derive(Debug, Error)]
pub enum GeometryError {
    /// The TOML text could not be parsed or has fields of the wrong type.
    #[error("geometry TOML: {0}")]
    Toml(String),
    /// A field has a value that does not describe a valid detector.
    #[error("geometry field `{field}` = {value}: {reason}")]
    Invalid {
        /// Path of the field, for example `layers[1].staves[0].z`.
        field: String,
        /// The value found, as written.
        value: String,
        /// Why it is rejected.
        reason: String,
    },
    /// A geometry file is invalid (its TOML or a value).
    #[error("geometry file {path}: {error}")]
    InFile {
        /// The file.
        path: String,
        /// What is wrong.
        error: Box<GeometryError>,
    },
    /// The file could not be read.
    #[error("cannot read geometry file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// No preset of that name exists.
    #[error("unknown geometry `{0}`: expected one of {presets} or a path to a .toml file", presets = PRESET_NAMES.join(", "))]
    UnknownPreset(String),
}

impl GeometryError {
    /// The kind of the error: always [`ErrorKind::Geometry`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Geometry
    }
}

/// The active area of one chip on a stave, in mm.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Chip {
    /// Low edge in x.
    pub x_min: f64,
    /// High edge in x.
    pub x_max: f64,
    /// Low edge in y.
    pub y_min: f64,
    /// High edge in y.
    pub y_max: f64,
}

impl Chip {
    /// Whether (x, y) lies on the active area (edges included).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        x >= self.x_min && x <= self.x_max && y >= self.y_min && y <= self.y_max
    }
}

/// A planar stave at fixed z with chips ordered by x.
#[derive(Debug, Clone, PartialEq)]
pub struct Stave {
    /// Plane position along the beam, mm.
    pub z: f64,
    /// Chips sorted by `x_min`, non-overlapping.
    pub chips: Vec<Chip>,
}

impl Stave {
    /// Lowest x covered by any chip.
    pub fn x_min(&self) -> f64 {
        self.chips[0].x_min
    }
    /// Highest x covered by any chip.
    pub fn x_max(&self) -> f64 {
        self.chips[self.chips.len() - 1].x_max
    }
    /// Lowest y covered by any chip.
    pub fn y_min(&self) -> f64 {
        self.chips
            .iter()
            .map(|c| c.y_min)
            .fold(f64::INFINITY, f64::min)
    }
    /// Highest y covered by any chip.
    pub fn y_max(&self) -> f64 {
        self.chips
            .iter()
            .map(|c| c.y_max)
            .fold(f64::NEG_INFINITY, f64::max)
    }
    /// Index of the chip whose active area contains (x, y), if any (gaps return `None`).
    pub fn chip_at(&self, x: f64, y: f64) -> Option<usize> {
        // Chips are sorted and disjoint in x: the candidate is the last one starting at or before x.
        let i = self.chips.partition_point(|c| c.x_min <= x);
        if i == 0 {
            return None;
        }
        self.chips[i - 1].contains(x, y).then_some(i - 1)
    }
}

/// One detector layer: one or more staves (two for LUXE, one in the single-layer geometry).
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Staves by index: 0 is the inner (low-x) stave.
    pub staves: Vec<Stave>,
}

impl Layer {
    /// Index of the stave nearest the interaction point (smallest z).
    pub fn upstream_stave(&self) -> usize {
        (0..self.staves.len())
            .min_by(|&a, &b| self.staves[a].z.total_cmp(&self.staves[b].z))
            .unwrap_or(0)
    }
    /// Mean z of the layer's staves.
    pub fn z_mean(&self) -> f64 {
        self.staves.iter().map(|s| s.z).sum::<f64>() / self.staves.len() as f64
    }
}

/// A whole tracking detector (one LUXE arm).
#[derive(Debug, Clone, PartialEq)]
pub struct Detector {
    /// Name of the preset or of the loaded description.
    pub name: String,
    /// Layers ordered from the interaction point outwards.
    pub layers: Vec<Layer>,
    /// Pixel pitch along x, mm.
    pub pixel_pitch_x: f64,
    /// Pixel pitch along y, mm.
    pub pixel_pitch_y: f64,
    /// Material per stave in radiation lengths (x / X0).
    pub material_x0: f64,
}

/// A plane crossed by a particle: a stave identified by layer and stave index.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaneRef {
    /// Layer index.
    pub layer: u8,
    /// Stave index within the layer.
    pub stave: u8,
    /// Plane z, mm.
    pub z: f64,
}

// LUXE ALPIDE layout (see the chip tables of the LUXE positron arm): 9 chips per stave,
// 29.94176 mm active width at a 30.10 mm pitch, +-6.88128 mm in y.
const LUXE_CHIP_WIDTH: f64 = 29.94176;
const LUXE_CHIP_PITCH: f64 = 30.10;
const LUXE_CHIP_HALF_HEIGHT: f64 = 6.88128;
const LUXE_CHIPS_PER_STAVE: usize = 9;
const LUXE_INNER_X_START: f64 = 52.75912;
const LUXE_OUTER_X_START: f64 = 283.55912;
const LUXE_SL_X_END: f64 = 554.30088;
const LUXE_PIXEL_PITCH_X: f64 = 0.02924;
const LUXE_PIXEL_PITCH_Y: f64 = 0.02688;
const LUXE_MATERIAL_X0: f64 = 0.00357;

fn chip_row(x_start: f64, count: usize, width: f64, pitch: f64, half_height: f64) -> Vec<Chip> {
    (0..count)
        .map(|i| {
            let x_min = x_start + i as f64 * pitch;
            Chip {
                x_min,
                x_max: x_min + width,
                y_min: -half_height,
                y_max: half_height,
            }
        })
        .collect()
}

impl Detector {
    /// A preset by name: `luxe` (full arm, inner stave upstream), `luxe-key4hep` (inner stave
    /// downstream, as placed in the key4hep description) or `luxe-sl` (one continuous plane per
    /// layer, the layout of the real single-layer events).
    pub fn preset(name: &str) -> Result<Detector, GeometryError> {
        match name {
            "luxe" => Ok(Self::luxe_full(name, [3950.0125, 3962.0125])),
            "luxe-key4hep" => Ok(Self::luxe_full(name, [3962.0, 3950.0])),
            "luxe-sl" => Ok(Self::luxe_single_layer()),
            other => Err(GeometryError::UnknownPreset(other.to_string())),
        }
    }

    /// A preset name or a path to a TOML file (anything ending in `.toml`).
    pub fn from_name_or_path(spec: &str) -> Result<Detector, GeometryError> {
        if spec.ends_with(".toml") {
            Self::from_toml_file(Path::new(spec))
        } else {
            Self::preset(spec)
        }
    }

    /// The full LUXE positron arm; `stave_z` is (inner, outer) z of layer 0.
    fn luxe_full(name: &str, stave_z: [f64; 2]) -> Detector {
        let layers = (0..4)
            .map(|k| {
                let dz = 100.0 * k as f64;
                let stave = |x_start: f64, z: f64| Stave {
                    z: z + dz,
                    chips: chip_row(
                        x_start,
                        LUXE_CHIPS_PER_STAVE,
                        LUXE_CHIP_WIDTH,
                        LUXE_CHIP_PITCH,
                        LUXE_CHIP_HALF_HEIGHT,
                    ),
                };
                Layer {
                    staves: vec![
                        stave(LUXE_INNER_X_START, stave_z[0]),
                        stave(LUXE_OUTER_X_START, stave_z[1]),
                    ],
                }
            })
            .collect();
        Detector {
            name: name.to_string(),
            layers,
            pixel_pitch_x: LUXE_PIXEL_PITCH_X,
            pixel_pitch_y: LUXE_PIXEL_PITCH_Y,
            material_x0: LUXE_MATERIAL_X0,
        }
    }

    fn luxe_single_layer() -> Detector {
        let layers = (0..4)
            .map(|k| Layer {
                staves: vec![Stave {
                    z: 3956.0125 + 100.0 * k as f64,
                    chips: vec![Chip {
                        x_min: LUXE_INNER_X_START,
                        x_max: LUXE_SL_X_END,
                        y_min: -LUXE_CHIP_HALF_HEIGHT,
                        y_max: LUXE_CHIP_HALF_HEIGHT,
                    }],
                }],
            })
            .collect();
        Detector {
            name: "luxe-sl".to_string(),
            layers,
            pixel_pitch_x: LUXE_PIXEL_PITCH_X,
            pixel_pitch_y: LUXE_PIXEL_PITCH_Y,
            material_x0: LUXE_MATERIAL_X0,
        }
    }

    /// Loads a geometry from a TOML file (format in the README).
    pub fn from_toml_file(path: &Path) -> Result<Detector, GeometryError> {
        let text = std::fs::read_to_string(path).map_err(|source| GeometryError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| GeometryError::InFile {
            path: path.display().to_string(),
            error: Box::new(e),
        })
    }

    /// Parses and validates a geometry from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Detector, GeometryError> {
        let raw: RawDetector =
            toml::from_str(text).map_err(|e| GeometryError::Toml(crate::clip(&e.to_string())))?;
        raw.into_detector()
    }

    /// Writes the geometry as TOML that [`Detector::from_toml_str`] reads back.
    pub fn to_toml(&self) -> String {
        let raw = RawDetector {
            name: Some(self.name.clone()),
            pixel_pitch_x: Some(self.pixel_pitch_x),
            pixel_pitch_y: Some(self.pixel_pitch_y),
            material_x0: Some(self.material_x0),
            layers: self
                .layers
                .iter()
                .map(|l| RawLayer {
                    staves: l
                        .staves
                        .iter()
                        .map(|s| RawStave {
                            z: s.z,
                            y_min: None,
                            y_max: None,
                            chips: Some(s.chips.clone()),
                            x_start: None,
                            chip_count: None,
                            chip_width: None,
                            chip_pitch: None,
                        })
                        .collect(),
                })
                .collect(),
        };
        toml::to_string(&raw).expect("a detector always serialises")
    }

    /// The stave with this layer and stave index, if the geometry has it.
    pub fn stave(&self, layer: u8, stave: u8) -> Option<&Stave> {
        self.layers.get(layer as usize)?.staves.get(stave as usize)
    }

    /// Number of layers.
    pub fn n_layers(&self) -> usize {
        self.layers.len()
    }

    /// Every stave plane, sorted by z (the order a particle from the interaction point crosses them).
    pub fn planes_by_z(&self) -> Vec<PlaneRef> {
        let mut planes: Vec<PlaneRef> = self
            .layers
            .iter()
            .enumerate()
            .flat_map(|(l, layer)| {
                layer
                    .staves
                    .iter()
                    .enumerate()
                    .map(move |(s, st)| PlaneRef {
                        layer: l as u8,
                        stave: s as u8,
                        z: st.z,
                    })
            })
            .collect();
        planes.sort_by(|a, b| a.z.total_cmp(&b.z));
        planes
    }

    /// Number of pixels on one chip (whole pixels that fit in the active area).
    pub fn pixels_on_chip(&self, chip: &Chip) -> u64 {
        let nx = ((chip.x_max - chip.x_min) / self.pixel_pitch_x + 1e-6).floor() as u64;
        let ny = ((chip.y_max - chip.y_min) / self.pixel_pitch_y + 1e-6).floor() as u64;
        nx * ny
    }

    /// Total number of pixels in the detector.
    pub fn total_pixels(&self) -> u64 {
        self.layers
            .iter()
            .flat_map(|l| &l.staves)
            .flat_map(|s| &s.chips)
            .map(|c| self.pixels_on_chip(c))
            .sum()
    }
}

impl fmt::Display for Detector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "detector {} ({} layers)", self.name, self.layers.len())?;
        for (l, layer) in self.layers.iter().enumerate() {
            for (s, st) in layer.staves.iter().enumerate() {
                writeln!(
                    f,
                    "  layer {l} stave {s}: z = {:.4} mm, x {:.3}..{:.3} mm, y {:.3}..{:.3} mm, {} chips",
                    st.z,
                    st.x_min(),
                    st.x_max(),
                    st.y_min(),
                    st.y_max(),
                    st.chips.len()
                )?;
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// TOML description

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDetector {
    name: Option<String>,
    pixel_pitch_x: Option<f64>,
    pixel_pitch_y: Option<f64>,
    material_x0: Option<f64>,
    layers: Vec<RawLayer>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLayer {
    staves: Vec<RawStave>,
}

/// A stave either lists its chips or describes a regular row of them.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStave {
    z: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    y_min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    y_max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chips: Option<Vec<Chip>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    x_start: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chip_count: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chip_width: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chip_pitch: Option<f64>,
}

fn invalid(field: impl Into<String>, value: impl fmt::Display, reason: &str) -> GeometryError {
    GeometryError::Invalid {
        field: field.into(),
        value: value.to_string(),
        reason: reason.to_string(),
    }
}

fn positive(field: &str, value: Option<f64>, default: f64) -> Result<f64, GeometryError> {
    let v = value.unwrap_or(default);
    if v.is_finite() && v > 0.0 {
        Ok(v)
    } else {
        Err(invalid(field, v, "must be a positive finite number"))
    }
}

impl RawDetector {
    fn into_detector(self) -> Result<Detector, GeometryError> {
        let pixel_pitch_x = positive("pixel_pitch_x", self.pixel_pitch_x, LUXE_PIXEL_PITCH_X)?;
        let pixel_pitch_y = positive("pixel_pitch_y", self.pixel_pitch_y, LUXE_PIXEL_PITCH_Y)?;
        let material_x0 = self.material_x0.unwrap_or(LUXE_MATERIAL_X0);
        if !(material_x0.is_finite() && material_x0 >= 0.0) {
            return Err(invalid(
                "material_x0",
                material_x0,
                "must be finite and >= 0",
            ));
        }
        if self.layers.is_empty() {
            return Err(invalid(
                "layers",
                "[]",
                "a detector needs at least one layer",
            ));
        }
        if self.layers.len() > u8::MAX as usize {
            return Err(invalid("layers", self.layers.len(), "at most 255 layers"));
        }
        let mut layers = Vec::with_capacity(self.layers.len());
        let mut previous_z = f64::NEG_INFINITY;
        for (l, raw_layer) in self.layers.into_iter().enumerate() {
            if raw_layer.staves.is_empty() || raw_layer.staves.len() > u8::MAX as usize {
                return Err(invalid(
                    format!("layers[{l}].staves"),
                    raw_layer.staves.len(),
                    "a layer needs 1 to 255 staves",
                ));
            }
            let mut staves = Vec::with_capacity(raw_layer.staves.len());
            for (s, raw) in raw_layer.staves.into_iter().enumerate() {
                staves.push(raw.into_stave(&format!("layers[{l}].staves[{s}]"))?);
            }
            let layer = Layer { staves };
            let z_min = layer
                .staves
                .iter()
                .map(|s| s.z)
                .fold(f64::INFINITY, f64::min);
            if z_min <= previous_z {
                return Err(invalid(
                    format!("layers[{l}].staves[*].z"),
                    z_min,
                    "layers must be ordered from the interaction point outwards (every stave beyond the previous layer)",
                ));
            }
            previous_z = layer
                .staves
                .iter()
                .map(|s| s.z)
                .fold(f64::NEG_INFINITY, f64::max);
            layers.push(layer);
        }
        Ok(Detector {
            name: self.name.unwrap_or_else(|| "custom".to_string()),
            layers,
            pixel_pitch_x,
            pixel_pitch_y,
            material_x0,
        })
    }
}

impl RawStave {
    fn into_stave(self, path: &str) -> Result<Stave, GeometryError> {
        if !self.z.is_finite() {
            return Err(invalid(format!("{path}.z"), self.z, "must be finite"));
        }
        let regular = self.x_start.is_some()
            || self.chip_count.is_some()
            || self.chip_width.is_some()
            || self.chip_pitch.is_some();
        let chips = match (self.chips, regular) {
            (Some(_), true) => {
                return Err(invalid(
                    format!("{path}.chips"),
                    "[...]",
                    "give either `chips` or `x_start`/`chip_count`/`chip_width`/`chip_pitch`, not both",
                ));
            }
            (Some(chips), false) => chips,
            (None, true) => {
                let need = |name: &str, v: Option<f64>| {
                    v.ok_or_else(|| {
                        invalid(
                            format!("{path}.{name}"),
                            "missing",
                            "required for a regular chip row",
                        )
                    })
                };
                let x_start = need("x_start", self.x_start)?;
                let width = need("chip_width", self.chip_width)?;
                let count = self.chip_count.ok_or_else(|| {
                    invalid(
                        format!("{path}.chip_count"),
                        "missing",
                        "required for a regular chip row",
                    )
                })?;
                let pitch = self.chip_pitch.unwrap_or(width);
                if count == 0 {
                    return Err(invalid(
                        format!("{path}.chip_count"),
                        count,
                        "must be at least 1",
                    ));
                }
                if !(width.is_finite() && width > 0.0) {
                    return Err(invalid(
                        format!("{path}.chip_width"),
                        width,
                        "must be positive",
                    ));
                }
                if !(pitch.is_finite() && pitch >= width) {
                    return Err(invalid(
                        format!("{path}.chip_pitch"),
                        pitch,
                        "must be at least chip_width (chips may not overlap)",
                    ));
                }
                let (y_min, y_max) = match (self.y_min, self.y_max) {
                    (Some(a), Some(b)) => (a, b),
                    _ => {
                        return Err(invalid(
                            format!("{path}.y_min/y_max"),
                            "missing",
                            "required for a regular chip row",
                        ));
                    }
                };
                let mut chips = chip_row(x_start, count, width, pitch, 0.0);
                for c in &mut chips {
                    c.y_min = y_min;
                    c.y_max = y_max;
                }
                chips
            }
            (None, false) => {
                return Err(invalid(
                    format!("{path}.chips"),
                    "missing",
                    "a stave needs `chips` or a regular row (`x_start`, `chip_count`, `chip_width`)",
                ));
            }
        };
        if chips.is_empty() {
            return Err(invalid(
                format!("{path}.chips"),
                "[]",
                "a stave needs at least one chip",
            ));
        }
        for (i, c) in chips.iter().enumerate() {
            let field = format!("{path}.chips[{i}]");
            let all = [c.x_min, c.x_max, c.y_min, c.y_max];
            if all.iter().any(|v| !v.is_finite()) {
                return Err(invalid(field, format!("{c:?}"), "edges must be finite"));
            }
            if c.x_max <= c.x_min {
                return Err(invalid(
                    format!("{field}.x_max"),
                    c.x_max,
                    "must be above x_min",
                ));
            }
            if c.y_max <= c.y_min {
                return Err(invalid(
                    format!("{field}.y_max"),
                    c.y_max,
                    "must be above y_min",
                ));
            }
            if i > 0 && c.x_min < chips[i - 1].x_max {
                return Err(invalid(
                    format!("{field}.x_min"),
                    c.x_min,
                    "chips must be ordered by x and must not overlap",
                ));
            }
        }
        Ok(Stave { z: self.z, chips })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luxe_preset_matches_published_layout() {
        let d = Detector::preset("luxe").unwrap();
        assert_eq!(d.n_layers(), 4);
        for (k, layer) in d.layers.iter().enumerate() {
            assert_eq!(layer.staves.len(), 2);
            assert_eq!(layer.upstream_stave(), 0, "inner stave upstream");
            assert!((layer.staves[1].z - layer.staves[0].z - 12.0).abs() < 1e-9);
            assert!((layer.z_mean() - (3956.0125 + 100.0 * k as f64)).abs() < 1e-9);
        }
        let s = &d.layers[0].staves;
        assert!((s[0].x_min() - 52.75912).abs() < 1e-9);
        assert!((s[0].x_max() - 323.50088).abs() < 1e-6);
        assert!((s[1].x_min() - 283.55912).abs() < 1e-9);
        assert!((s[1].x_max() - 554.30088).abs() < 1e-6);
        // 37.7 M pixels per arm.
        assert_eq!(d.total_pixels(), 72 * 1024 * 512);
    }

    #[test]
    fn key4hep_ordering_puts_inner_stave_downstream() {
        let d = Detector::preset("luxe-key4hep").unwrap();
        for layer in &d.layers {
            assert_eq!(layer.upstream_stave(), 1);
        }
    }

    #[test]
    fn chip_lookup_respects_gaps() {
        let d = Detector::preset("luxe").unwrap();
        let s = &d.layers[0].staves[0];
        assert_eq!(s.chip_at(60.0, 0.0), Some(0));
        let gap_centre = (s.chips[0].x_max + s.chips[1].x_min) / 2.0;
        assert_eq!(s.chip_at(gap_centre, 0.0), None);
        assert_eq!(s.chip_at(60.0, 7.0), None);
        assert_eq!(s.chip_at(10.0, 0.0), None);
        assert_eq!(s.chip_at(323.0, 0.0), Some(8));
        assert_eq!(s.chip_at(324.0, 0.0), None);
    }

    #[test]
    fn toml_round_trip() {
        for name in PRESET_NAMES {
            let d = Detector::preset(name).unwrap();
            let back = Detector::from_toml_str(&d.to_toml()).unwrap();
            assert_eq!(d, back, "{name}");
        }
    }

    #[test]
    fn regular_row_toml() {
        let text = r#"
            name = "two-layer"
            [[layers]]
            [[layers.staves]]
            z = 100.0
            y_min = -5.0
            y_max = 5.0
            x_start = 10.0
            chip_count = 3
            chip_width = 20.0
            chip_pitch = 20.5
            [[layers]]
            [[layers.staves]]
            z = 200.0
            chips = [{ x_min = 0.0, x_max = 50.0, y_min = -5.0, y_max = 5.0 }]
        "#;
        let d = Detector::from_toml_str(text).unwrap();
        assert_eq!(d.layers[0].staves[0].chips.len(), 3);
        assert!((d.layers[0].staves[0].x_max() - 71.0).abs() < 1e-12);
        assert_eq!(d.name, "two-layer");
    }

    fn err(text: &str) -> String {
        Detector::from_toml_str(text).unwrap_err().to_string()
    }

    #[test]
    fn toml_errors_name_field_and_value() {
        let e = err(
            "pixel_pitch_x = -1.0\n[[layers]]\n[[layers.staves]]\nz = 1.0\nchips = [{x_min=0.0,x_max=1.0,y_min=0.0,y_max=1.0}]",
        );
        assert!(e.contains("pixel_pitch_x") && e.contains("-1"), "{e}");

        let e = err(
            "[[layers]]\n[[layers.staves]]\nz = 1.0\nchips = [{x_min=2.0,x_max=1.0,y_min=0.0,y_max=1.0}]",
        );
        assert!(
            e.contains("layers[0].staves[0].chips[0].x_max") && e.contains("= 1"),
            "{e}"
        );

        let e = err(
            "[[layers]]\n[[layers.staves]]\nz = 5.0\nchips = [{x_min=0.0,x_max=1.0,y_min=0.0,y_max=1.0}]\n[[layers]]\n[[layers.staves]]\nz = 4.0\nchips = [{x_min=0.0,x_max=1.0,y_min=0.0,y_max=1.0}]",
        );
        assert!(e.contains("layers[1]") && e.contains('4'), "{e}");

        let e = err(
            "[[layers]]\n[[layers.staves]]\nz = 1.0\nx_start = 0.0\nchip_count = 0\nchip_width = 1.0\ny_min=0.0\ny_max=1.0",
        );
        assert!(e.contains("chip_count") && e.contains('0'), "{e}");

        let e = err("[[layers]]\n[[layers.staves]]\nz = 1.0");
        assert!(e.contains("layers[0].staves[0].chips"), "{e}");

        let e = err("layers = []");
        assert!(e.contains("layers"), "{e}");

        // Unknown keys and wrong types come from the TOML parser with their location.
        let e = err("[[layers]]\n[[layers.staves]]\nz = \"far\"\nchips = []");
        assert!(e.contains("z"), "{e}");
        let e = err("colour = 1\nlayers = []");
        assert!(e.contains("colour"), "{e}");

        assert!(matches!(
            Detector::preset("atlas"),
            Err(GeometryError::UnknownPreset(_))
        ));
    }
}
