//! PNG plots of `gnntrack eval`: rates versus momentum and an event display.
//!
//! Text needs a TrueType font: DejaVu Sans from the system (Debian package `fonts-dejavu-core`)
//! or the file named by `GNNTRACK_FONT`. Without one the plots are skipped with a message.

use std::path::Path;

use plotters::prelude::*;

use gnntrack::hits::Hits;
use gnntrack::tracks::Candidate;
use gnntrack_tools::eval::Rate;

const FONT_CANDIDATES: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Registers a font for plot text once; returns why none could be found.
pub fn ensure_font() -> Result<(), String> {
    static FONT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    FONT.get_or_init(|| {
        let mut tried: Vec<String> = std::env::var("GNNTRACK_FONT").into_iter().collect();
        tried.extend(FONT_CANDIDATES.iter().map(|s| s.to_string()));
        for path in &tried {
            if let Ok(bytes) = std::fs::read(path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                    .map_err(|_| format!("{path} is not a usable TrueType font"));
            }
        }
        Err(format!(
            "no font for plot text (tried {}; install fonts-dejavu-core or set GNNTRACK_FONT)",
            tried.join(", ")
        ))
    })
    .clone()
}

type PlotResult = Result<(), Box<dyn std::error::Error>>;

/// One curve of a rate-versus-momentum plot: label and (upper bin edge, entries, rate) rows.
pub struct Curve<'a> {
    /// Legend text.
    pub label: String,
    /// Bins.
    pub bins: &'a [(f64, usize, Rate)],
}

/// Draws rates (in %) versus momentum with their 95 % intervals, one curve per group.
pub fn rate_vs_momentum(
    path: &Path,
    title: &str,
    y_label: &str,
    curves: &[Curve],
    y_range: (f64, f64),
) -> PlotResult {
    let root = BitMapBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0f64..14.0, y_range.0..y_range.1)?;
    chart
        .configure_mesh()
        .x_desc("momentum [GeV]")
        .y_desc(y_label)
        .draw()?;
    for (k, curve) in curves.iter().enumerate() {
        let colour = Palette99::pick(k).to_rgba();
        let mut low = 0.0;
        let mut points = Vec::new();
        for &(edge, n, rate) in curve.bins {
            let high = if edge.is_finite() { edge } else { 14.0 };
            if n > 0 {
                let x = 0.5 * (low + high);
                points.push((x, 100.0 * rate.value));
                // The 95 % interval as a bar with caps.
                let (lo, hi) = (100.0 * rate.low, 100.0 * rate.high);
                for segment in [
                    vec![(x, lo), (x, hi)],
                    vec![(x - 0.15, lo), (x + 0.15, lo)],
                    vec![(x - 0.15, hi), (x + 0.15, hi)],
                ] {
                    chart.draw_series(std::iter::once(PathElement::new(
                        segment,
                        colour.stroke_width(2),
                    )))?;
                }
            }
            low = high;
        }
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))?
            .label(curve.label.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Event display: hits (grey) and found candidates (coloured lines) in x-z and x-y.
pub fn event_display(
    path: &Path,
    title: &str,
    hits: &Hits,
    candidates: &[Candidate],
) -> PlotResult {
    let root = BitMapBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (left, right) = root.split_horizontally(600);
    let (z_min, z_max) = hits
        .z
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &z| {
            (a.min(z), b.max(z))
        });
    let (z_min, z_max) = if z_min.is_finite() {
        (z_min - 20.0, z_max + 20.0)
    } else {
        (3900.0, 4300.0)
    };
    let mut xz = ChartBuilder::on(&left)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(z_min..z_max, 0.0f64..600.0)?;
    xz.configure_mesh()
        .x_desc("z [mm]")
        .y_desc("x [mm]")
        .draw()?;
    let mut xy = ChartBuilder::on(&right)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0f64..600.0, -8.0f64..8.0)?;
    xy.configure_mesh()
        .x_desc("x [mm]")
        .y_desc("y [mm]")
        .draw()?;
    let grey = RGBColor(150, 150, 150);
    xz.draw_series((0..hits.len()).map(|i| Circle::new((hits.z[i], hits.x[i]), 1, grey.filled())))?;
    xy.draw_series((0..hits.len()).map(|i| Circle::new((hits.x[i], hits.y[i]), 1, grey.filled())))?;
    for (k, c) in candidates.iter().enumerate() {
        let colour = Palette99::pick(k).to_rgba();
        let z: Vec<f64> = c.hits.iter().map(|&h| hits.z[h as usize]).collect();
        let (z0, z1) = (
            z.iter().copied().fold(f64::INFINITY, f64::min),
            z.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        );
        xz.draw_series(std::iter::once(PathElement::new(
            vec![(z0, c.fit.x_at(z0)), (z1, c.fit.x_at(z1))],
            colour.stroke_width(1),
        )))?;
        xy.draw_series(std::iter::once(PathElement::new(
            vec![
                (c.fit.x_at(z0), c.fit.y_at(z0)),
                (c.fit.x_at(z1), c.fit.y_at(z1)),
            ],
            colour.stroke_width(1),
        )))?;
    }
    root.present()?;
    Ok(())
}

/// One series of a log-log plot: legend text, points and the fitted power law, if any.
pub type LogLogSeries = (
    String,
    Vec<(f64, f64)>,
    Option<gnntrack_tools::perf::PowerLaw>,
);

/// Two log-log panels side by side (title, y-axis label, series), both against the hits of a
/// crossing: points, and each series' power law as a line from `fit_from` hits on, labelled
/// with its exponent.
pub fn log_log(
    path: &Path,
    fit_from: f64,
    left: (&str, &str, &[LogLogSeries]),
    right: (&str, &str, &[LogLogSeries]),
) -> PlotResult {
    let root = BitMapBackend::new(path, (1400, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let (a, b) = root.split_horizontally(700);
    for (area, (title, y_label, series)) in [(a, left), (b, right)] {
        let positive = |v: f64| v > 0.0 && v.is_finite();
        let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
        let ys = series.iter().flat_map(|s| s.1.iter().map(|p| p.1));
        let range = |values: &mut dyn Iterator<Item = f64>| {
            let (lo, hi) = values
                .filter(|&v| positive(v))
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
                    (a.min(v), b.max(v))
                });
            if lo.is_finite() {
                (lo / 2.0, hi * 2.0)
            } else {
                (1.0, 10.0)
            }
        };
        let (x0, x1) = range(&mut xs.into_iter());
        let (y0, y1) = range(&mut ys.into_iter());
        let mut chart = ChartBuilder::on(&area)
            .caption(title, ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("hits in the crossing")
            .y_desc(y_label)
            .x_label_formatter(&|v| format!("{v:.0e}"))
            .y_label_formatter(&|&v| {
                if (1.0..1e5).contains(&v) {
                    format!("{v:.0}")
                } else {
                    format!("{v:.0e}")
                }
            })
            .draw()?;
        for (k, (name, points, fit)) in series.iter().enumerate() {
            let colour = Palette99::pick(k).to_rgba();
            let points: Vec<(f64, f64)> = points
                .iter()
                .copied()
                .filter(|&(x, y)| positive(x) && positive(y))
                .collect();
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))?;
            let label = match fit {
                Some(f) => format!("{name}: k = {:.2}", f.k),
                None => name.clone(),
            };
            let line: Vec<(f64, f64)> = match fit {
                Some(f) => (0..=50)
                    .map(|i| {
                        let from = fit_from.clamp(x0, x1);
                        let x = from * (x1 / from).powf(f64::from(i) / 50.0);
                        (x, f.at(x))
                    })
                    .filter(|&(_, y)| y >= y0 && y <= y1)
                    .collect(),
                None => points.clone(),
            };
            chart
                .draw_series(LineSeries::new(line, colour.stroke_width(2)))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    Ok(())
}
