//! Window calibration from simulated truth.
//!
//! For every true segment the slope deviations (x and y) from the cone axis of its inner hit are
//! collected per edge kind and layer pair. A window *shape* fixes how the half-width varies with
//! the inner hit's distance d from the x reference; its scale per axis and pair is the smallest
//! that keeps the requested fraction of the segments inside both half-widths at once. Each
//! candidate shape is then applied to the calibration crossings, and per edge kind the shape
//! with the best purity at the requested efficiency wins.

use std::fmt;

use super::metrics::{Counts, GraphMetrics, NO_SUCCESSOR, TrueSegments};
use super::{EdgeKind, GraphConfig, GraphError, HalfWidth, PairWindow, Reference, build_graph};
use crate::geometry::Detector;
use crate::hits::{Hits, ValidatedHits};

/// How a half-width varies with the inner hit's distance d (mm) from the x reference.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum WindowShape {
    /// The same half-width everywhere.
    Constant,
    /// Proportional to `floor_mm + d`: grows like 1/p (p ~ 1/x behind the dipole), with a floor
    /// for the hit resolution.
    Linear {
        /// The floor, mm.
        floor_mm: f64,
    },
    /// Proportional to `1 + knee_mm / d`: grows towards small x.
    Inverse {
        /// Distance where the half-width doubles, mm.
        knee_mm: f64,
    },
}

impl WindowShape {
    /// The shapes tried by [`calibrate`].
    pub const CANDIDATES: [WindowShape; 9] = [
        WindowShape::Constant,
        WindowShape::Linear { floor_mm: 0.0 },
        WindowShape::Linear { floor_mm: 10.0 },
        WindowShape::Linear { floor_mm: 25.0 },
        WindowShape::Linear { floor_mm: 50.0 },
        WindowShape::Linear { floor_mm: 100.0 },
        WindowShape::Inverse { knee_mm: 30.0 },
        WindowShape::Inverse { knee_mm: 100.0 },
        WindowShape::Inverse { knee_mm: 300.0 },
    ];

    /// The profile at distance `d` (the half-width is a scale times this).
    pub fn profile(&self, d: f64) -> f64 {
        let d = d.abs().max(1.0);
        match *self {
            WindowShape::Constant => 1.0,
            WindowShape::Linear { floor_mm } => floor_mm + d,
            WindowShape::Inverse { knee_mm } => 1.0 + knee_mm / d,
        }
    }

    /// The half-width `scale * profile(d)` in the configuration's terms.
    pub fn half_width(&self, scale: f64) -> HalfWidth {
        match *self {
            WindowShape::Constant => HalfWidth::constant(scale),
            WindowShape::Linear { floor_mm } => HalfWidth {
                base: scale * floor_mm,
                per_mm: scale,
                inv_mm: 0.0,
            },
            WindowShape::Inverse { knee_mm } => HalfWidth {
                base: scale,
                per_mm: 0.0,
                inv_mm: scale * knee_mm,
            },
        }
    }
}

impl fmt::Display for WindowShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowShape::Constant => write!(f, "constant"),
            WindowShape::Linear { floor_mm } => write!(f, "linear (floor {floor_mm} mm)"),
            WindowShape::Inverse { knee_mm } => write!(f, "1/x (knee {knee_mm} mm)"),
        }
    }
}

/// The slope deviations of one true pair of hits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deviation {
    /// Inner hit's distance from the x reference, mm.
    pub d: f64,
    /// Deviation of the x slope from the cone axis, rad.
    pub x: f64,
    /// Deviation of the y slope, rad.
    pub y: f64,
}

/// Deviations per edge kind and inner layer: `samples[kind.code()][layer]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deviations {
    /// The samples.
    pub samples: [Vec<Vec<Deviation>>; 3],
}

impl Deviations {
    /// Adds the true pairs of one crossing (nothing without truth): next-layer and overlap
    /// segments, and for skip windows every positron's last hit on a layer L with its first hit
    /// on L + 2, whether or not it has a hit between.
    pub fn add(&mut self, hits: &Hits, detector: &Detector, reference: &Reference) {
        let Some(segments) = TrueSegments::from_hits(hits, detector) else {
            return;
        };
        let xyz = |i: usize| [hits.x[i], hits.y[i], hits.z[i]];
        let mut push = |kind: EdgeKind, a: usize, b: usize| {
            let (x, y) = reference.slope_deviation(xyz(a), xyz(b));
            let list = &mut self.samples[kind.code() as usize];
            let layer = hits.layer[a] as usize;
            if list.len() <= layer {
                list.resize(layer + 1, Vec::new());
            }
            list[layer].push(Deviation {
                d: hits.x[a] - reference.x,
                x,
                y,
            });
        };
        for (a, b, kind) in segments.iter() {
            let (a, b) = (a as usize, b as usize);
            if kind != EdgeKind::Skip {
                push(kind, a, b);
            }
            if hits.layer[b] == hits.layer[a] {
                continue; // a is not the positron's last hit on its layer
            }
            let target = hits.layer[a] + 2;
            let mut c = b;
            while hits.layer[c] < target {
                let next = segments.successor[c];
                if next == NO_SUCCESSOR {
                    break;
                }
                c = next as usize;
            }
            if hits.layer[c] == target {
                push(EdgeKind::Skip, a, c);
            }
        }
    }

    /// Number of samples of one kind and layer.
    pub fn count(&self, kind: EdgeKind, layer: usize) -> usize {
        self.samples[kind.code() as usize]
            .get(layer)
            .map_or(0, Vec::len)
    }
}

/// The smallest window of the given shape that keeps a fraction `efficiency` of `samples`
/// inside both axes, with the loss shared equally between x and y.
pub fn fit_pair(samples: &[Deviation], shape: WindowShape, efficiency: f64) -> PairWindow {
    if samples.is_empty() {
        return PairWindow::default();
    }
    let per_axis = 1.0 - (1.0 - efficiency) / 2.0;
    let quantile = |f: &dyn Fn(&Deviation) -> f64| -> f64 {
        let mut r: Vec<f64> = samples.iter().map(f).collect();
        r.sort_unstable_by(f64::total_cmp);
        let k = ((per_axis * r.len() as f64).ceil() as usize).clamp(1, r.len()) - 1;
        r[k]
    };
    let cx = quantile(&|s| s.x.abs() / shape.profile(s.d));
    let cy = quantile(&|s| s.y.abs() / shape.profile(s.d));
    let inside = |lambda: f64| {
        samples
            .iter()
            .filter(|s| {
                let p = shape.profile(s.d);
                s.x.abs() <= lambda * cx * p && s.y.abs() <= lambda * cy * p
            })
            .count() as f64
            / samples.len() as f64
    };
    // Shrink both axes together while the joint efficiency stays reached.
    let (mut lo, mut hi) = (0.5, 1.0);
    if inside(hi) >= efficiency {
        for _ in 0..24 {
            let mid = 0.5 * (lo + hi);
            if inside(mid) >= efficiency {
                hi = mid;
            } else {
                lo = mid;
            }
        }
    }
    // The last sample kept lies on the edge: widen by a hair so that rounding in the builders'
    // (division-free) test cannot drop it.
    let scale = hi * (1.0 + 1e-9);
    PairWindow {
        x: shape.half_width(scale * cx),
        y: shape.half_width(scale * cy),
    }
}

/// Windows of one shape for every kind and layer with samples; a layer without samples takes
/// the nearest layer before it (or `fallback`'s list when the kind has no samples at all).
pub fn fit_windows(
    deviations: &Deviations,
    shape: WindowShape,
    efficiency: f64,
    fallback: &super::Windows,
) -> super::Windows {
    let mut windows = fallback.clone();
    for kind in EdgeKind::ALL {
        let per_layer = &deviations.samples[kind.code() as usize];
        if per_layer.iter().all(Vec::is_empty) {
            continue;
        }
        let mut list: Vec<PairWindow> = Vec::with_capacity(per_layer.len());
        for samples in per_layer {
            let w = if samples.is_empty() {
                None
            } else {
                Some(fit_pair(samples, shape, efficiency))
            };
            list.push(w.unwrap_or_default());
        }
        // Fill empty layers from their neighbours.
        let first = per_layer
            .iter()
            .position(|s| !s.is_empty())
            .expect("some samples");
        for k in 0..list.len() {
            if per_layer[k].is_empty() {
                list[k] = if k < first { list[first] } else { list[k - 1] };
            }
        }
        *windows.of_mut(kind) = list;
    }
    windows
}

/// One candidate shape for one edge kind, scored on the calibration crossings.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Edge kind.
    pub kind: EdgeKind,
    /// The shape.
    pub shape: WindowShape,
    /// Segments and edges of that kind, summed over the crossings.
    pub counts: Counts,
}

/// The result of [`calibrate`].
#[derive(Debug, Clone)]
pub struct Calibration {
    /// The base configuration with the calibrated windows.
    pub config: GraphConfig,
    /// Chosen shape per edge kind, indexed by [`EdgeKind::code`].
    pub chosen: [WindowShape; 3],
    /// Every candidate that was scored.
    pub candidates: Vec<Candidate>,
    /// Samples per kind and layer used for the fit.
    pub samples: Vec<(EdgeKind, usize, usize)>,
}

/// Calibrates the windows of `base` on crossings with truth so that a fraction `efficiency` of
/// the true segments of every layer pair is kept, choosing per edge kind the shape with the best
/// purity. Skip windows take the shape chosen for next-layer pairs.
pub fn calibrate(
    events: &[ValidatedHits<'_>],
    detector: &Detector,
    base: &GraphConfig,
    efficiency: f64,
) -> Result<Calibration, GraphError> {
    if !(efficiency > 0.0 && efficiency < 1.0) {
        return Err(GraphError::config(
            "efficiency",
            efficiency,
            "must be between 0 and 1 (exclusive)",
        ));
    }
    base.validate()?;
    let mut deviations = Deviations::default();
    for hits in events {
        super::check_hits(hits, detector, &base.reference)?;
        deviations.add(hits, detector, &base.reference);
    }
    let mut candidates = Vec::new();
    let mut fitted = Vec::new();
    for shape in WindowShape::CANDIDATES {
        let mut config = base.clone();
        config.window = fit_windows(&deviations, shape, efficiency, &base.window);
        // Score the windows alone: no skip edges, no shortcut removal, no edge filter.
        config.skip_edges = false;
        config.drop_shortcuts = false;
        config.without_edge_filter();
        let mut per_kind = [Counts::default(), Counts::default(), Counts::default()];
        for hits in events {
            let Some(segments) = TrueSegments::from_hits(hits, detector) else {
                continue;
            };
            let graph = build_graph(hits, detector, &config)?;
            let m = GraphMetrics::compute(hits, &graph, &segments);
            for kind in [EdgeKind::Next, EdgeKind::Overlap] {
                let c = m.of_kind(kind);
                let t = &mut per_kind[kind.code() as usize];
                t.true_segments += c.true_segments;
                t.found_segments += c.found_segments;
                t.edges += c.edges;
                t.true_edges += c.true_edges;
            }
        }
        for kind in [EdgeKind::Next, EdgeKind::Overlap] {
            candidates.push(Candidate {
                kind,
                shape,
                counts: per_kind[kind.code() as usize].clone(),
            });
        }
        fitted.push((shape, config.window));
    }
    let best = |kind: EdgeKind| -> WindowShape {
        let of_kind: Vec<&Candidate> = candidates.iter().filter(|c| c.kind == kind).collect();
        let reaching: Vec<&&Candidate> = of_kind
            .iter()
            .filter(|c| c.counts.efficiency() >= efficiency)
            .collect();
        if reaching.is_empty() {
            of_kind
                .iter()
                .max_by(|a, b| a.counts.efficiency().total_cmp(&b.counts.efficiency()))
                .map_or(WindowShape::Constant, |c| c.shape)
        } else {
            reaching
                .iter()
                .max_by(|a, b| a.counts.purity().total_cmp(&b.counts.purity()))
                .map_or(WindowShape::Constant, |c| c.shape)
        }
    };
    let chosen_next = best(EdgeKind::Next);
    let chosen = [chosen_next, best(EdgeKind::Overlap), chosen_next];
    let mut config = base.clone();
    for kind in EdgeKind::ALL {
        let (_, windows) = fitted
            .iter()
            .find(|(s, _)| *s == chosen[kind.code() as usize])
            .expect("chosen among the fitted shapes");
        *config.window.of_mut(kind) = windows.of(kind).to_vec();
    }
    config.window = config.window.rounded_up(3);
    let samples = EdgeKind::ALL
        .iter()
        .flat_map(|&kind| {
            let n = deviations.samples[kind.code() as usize].len();
            let deviations = &deviations;
            (0..n).map(move |l| (kind, l, deviations.count(kind, l)))
        })
        .collect();
    Ok(Calibration {
        config,
        chosen,
        candidates,
        samples,
    })
}
