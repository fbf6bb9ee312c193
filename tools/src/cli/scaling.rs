//! `gnntrack bench scaling`: how the stages' times, the peak memory and the graph grow with the
//! crossing size, from xi = 3 to several times the xi = 7 positron count, with power-law fits
//! and a log-log plot.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use gnntrack::pipeline::{StageTimes, Tracker};
use gnntrack_tools::perf::{self, CpuPeak, PowerLaw, fit_power_law};
use gnntrack_tools::sim::{PositronCount, SimConfig, simulate_bx};

use super::bench::{FlopsArgs, describe_flops, median, mib, model_flops, print_columns};
use super::reconstruct::{TrackerArgs, check_output_folder};
use super::{CliResult, SIMULATION_GEOMETRY, alloc, markdown, plots};

/// Options of `gnntrack bench scaling`.
#[derive(Debug, Args)]
pub struct BenchScalingArgs {
    /// Intensities, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,4,5,6,7")]
    pub xi: Vec<u8>,
    /// Crossings of this many times the mean positron count of xi = 7 (an exact count, the
    /// transverse momenta of xi = 7), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "2,5")]
    pub multiples: Vec<f64>,
    /// Timed repetitions per crossing (the smallest crossing is run once before, to warm up).
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Crossings whose predicted peak resident memory passes this, GiB, are not run (nor
    /// larger ones).
    #[arg(long, default_value_t = 12.0)]
    pub memory_limit_gib: f64,
    /// Crossings with fewer hits are shown but not fitted: below about 10^4 hits fixed costs
    /// (starting onnxruntime's run, thread hand-offs) hide the growth.
    #[arg(long, default_value_t = 10_000)]
    pub fit_min_hits: usize,
    /// Folder of the log-log plot `scaling.png`.
    #[arg(long, default_value = "out/bench")]
    pub out: PathBuf,
    /// Model options.
    #[command(flatten)]
    pub flops: FlopsArgs,
    /// Write the tables into this Markdown file, in the section of this command line.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Tracker options.
    #[command(flatten)]
    pub tracker: TrackerArgs,
}

/// One crossing of the scaling measurement.
struct ScalingPoint {
    label: String,
    hits: usize,
    edges: usize,
    times: StageTimes,
    peak_bytes: u64,
}

/// A stage's time in a [`StageTimes`].
type StageTime = fn(&StageTimes) -> f64;

/// The stages of a fit, with their time.
const STAGES: [(&str, StageTime); 5] = [
    ("graph", |t| t.graph),
    ("features", |t| t.features),
    ("inference", |t| t.inference),
    ("tracks", |t| t.tracks),
    ("total", |t| t.total()),
];

/// Runs `gnntrack bench scaling`.
pub fn bench_scaling(args: BenchScalingArgs) -> CliResult {
    if let Some(md) = &args.markdown {
        check_output_folder(md)?;
    }
    if let Some(m) = args
        .multiples
        .iter()
        .find(|m| !(m.is_finite() && **m > 0.0))
    {
        return Err(format!("--multiples {m}: must be finite and > 0").into());
    }
    let mut config = args.tracker.config(SIMULATION_GEOMETRY)?;
    // The big crossings must run: the caps go to their largest values and the memory guard
    // below takes their place.
    config.max_hits = u32::MAX as usize;
    config.max_edges = u32::MAX as usize;
    let tracker = Tracker::new(config)?;
    let flops = model_flops(&tracker, &args.flops);
    let peak = CpuPeak::detect();

    // The crossings, smallest first.
    let xi7 = PositronCount::Xi(7).mean();
    let mut sizes: Vec<(String, SimConfig)> = Vec::new();
    for &xi in &args.xi {
        sizes.push((format!("xi = {xi}"), SimConfig::e_laser(xi)?));
    }
    for &m in &args.multiples {
        let mut c = SimConfig::e_laser(7)?;
        c.positrons = PositronCount::Exact((m * xi7).round() as usize);
        sizes.push((format!("{m} x xi = 7"), c));
    }
    sizes.sort_by(|a, b| a.1.positrons.mean().total_cmp(&b.1.positrons.mean()));
    if sizes.is_empty() {
        return Err("no crossings: give --xi or --multiples".into());
    }

    let rss_known = perf::reset_peak_rss() && perf::peak_rss_bytes().is_some();
    let memory_what = if rss_known {
        "peak RSS (high-water mark reset before each crossing)"
    } else {
        "peak Rust heap (the resident high-water mark cannot be reset here; onnxruntime's memory not included)"
    };
    let limit_bytes = args.memory_limit_gib * (1u64 << 30) as f64;
    let timing = match args.repeat.max(1) {
        1 => "times of one run".to_string(),
        n => format!("times are medians of {n} runs"),
    };
    println!(
        "model {} on {}, {} threads; {}; {memory_what}; {timing}",
        tracker.classifier().info().name,
        tracker.classifier().provider(),
        rayon::current_num_threads(),
        describe_flops(&flops),
    );
    println!(
        "{:>16} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>8}",
        "crossing",
        "hits",
        "edges",
        "graph ms",
        "feat ms",
        "infer ms",
        "track ms",
        "total ms",
        "peak MiB",
        "GFLOP/s"
    );
    let bar = super::progress(sizes.len() as u64, "crossings");
    let mut points: Vec<ScalingPoint> = Vec::new();
    let mut stopped = None;
    let mut start = 0;
    for (k, (label, sim)) in sizes.iter().enumerate() {
        let event = simulate_bx(tracker.detector(), sim, args.seed, 0)?;
        let hits = &event.hits;
        if k == 0 {
            tracker.reconstruct(hits)?; // warm-up
            start = memory_now(rss_known);
        }
        // The memory guard: the growth of the peak above the start, fitted on the three
        // largest crossings so far, extrapolated to this one.
        let recent = above_start(&points[points.len().saturating_sub(3)..], start);
        if let Some(fit) = fit_power_law(&recent) {
            let predicted = start as f64 + fit.at(hits.len() as f64);
            if predicted > limit_bytes {
                stopped = Some(format!(
                    "{label} ({} hits) and larger not run: predicted peak {:.1} GiB > --memory-limit-gib {}",
                    hits.len(),
                    predicted / (1u64 << 30) as f64,
                    args.memory_limit_gib
                ));
                break;
            }
        }
        let mut runs = Vec::new();
        let mut edges = 0;
        let mut peak_bytes = 0;
        for _ in 0..args.repeat.max(1) {
            if rss_known {
                perf::reset_peak_rss();
            } else {
                alloc::reset_peak();
            }
            let r = tracker.reconstruct(hits)?;
            edges = r.graph.len();
            runs.push(r.times);
            drop(r);
            let peak_now = if rss_known {
                perf::peak_rss_bytes().unwrap_or(0)
            } else {
                alloc::peak_bytes() as u64
            };
            peak_bytes = peak_bytes.max(peak_now);
        }
        let t = median(runs);
        let gflops = match &flops {
            Ok((f, _)) if t.inference > 0.0 => {
                format!("{:.2}", f.flops(hits.len(), edges) / t.inference / 1e9)
            }
            _ => "-".into(),
        };
        bar.inc(1);
        bar.suspend(|| {
            println!(
                "{:>16} {:>8} {:>9} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10.1} {:>10.0} {:>8}",
                label,
                hits.len(),
                edges,
                1e3 * t.graph,
                1e3 * t.features,
                1e3 * t.inference,
                1e3 * t.tracks,
                1e3 * t.total(),
                mib(peak_bytes),
                gflops
            )
        });
        points.push(ScalingPoint {
            label: label.clone(),
            hits: hits.len(),
            edges,
            times: t,
            peak_bytes,
        });
    }
    bar.finish_and_clear();
    if let Some(s) = &stopped {
        println!("{s}");
    }

    let fitted: Vec<&ScalingPoint> = points
        .iter()
        .filter(|p| p.hits >= args.fit_min_hits)
        .collect();
    let fit_of = |value: &dyn Fn(&ScalingPoint) -> f64| {
        let xy: Vec<(f64, f64)> = fitted.iter().map(|p| (p.hits as f64, value(p))).collect();
        fit_power_law(&xy)
    };
    let fits: Vec<(&str, Option<PowerLaw>)> = STAGES
        .iter()
        .map(|&(name, time)| (name, fit_of(&|p| 1e3 * time(&p.times))))
        .chain([
            (
                "peak memory above the start",
                fit_of(&|p| mib(p.peak_bytes.saturating_sub(start))),
            ),
            ("edges", fit_of(&|p| p.edges as f64)),
        ])
        .collect();
    // The same quantities against the edges: the stages that work per edge are linear there.
    let per_edge = |value: &dyn Fn(&ScalingPoint) -> f64| {
        let xy: Vec<(f64, f64)> = fitted.iter().map(|p| (p.edges as f64, value(p))).collect();
        fit_power_law(&xy)
    };
    let edge_fits: Vec<Option<PowerLaw>> = STAGES
        .iter()
        .map(|&(_, time)| per_edge(&|p| 1e3 * time(&p.times)))
        .chain([per_edge(&|p| mib(p.peak_bytes.saturating_sub(start))), None])
        .collect();
    let fit_header = ["quantity", "exponent k", "c", "exponent against edges"];
    let fit_rows: Vec<Vec<String>> = fits
        .iter()
        .zip(&edge_fits)
        .map(|((name, fit), edge_fit)| {
            let k = |f: &Option<PowerLaw>| f.map_or("-".into(), |f| format!("{:.3}", f.k));
            let c = fit.map_or("-".into(), |f| format!("{:.3e}", f.c));
            vec![name.to_string(), k(fit), c, k(edge_fit)]
        })
        .collect();
    println!(
        "\npower laws y = c * hits^k (least squares in log-log over the {} crossings of at least {} \
         hits; times in ms, memory in MiB above the {:.0} MiB at the start):",
        fitted.len(),
        args.fit_min_hits,
        mib(start)
    );
    print_columns(&fit_header, &fit_rows);

    std::fs::create_dir_all(&args.out)?;
    let plot = args.out.join("scaling.png");
    match plots::ensure_font() {
        Ok(()) => {
            scaling_plot(&plot, &points, start, args.fit_min_hits, &fits)?;
            println!("plot written to {}", plot.display());
        }
        Err(e) => println!("plot skipped: {e}"),
    }

    if let Some(md) = &args.markdown {
        let header = [
            "crossing",
            "hits",
            "edges",
            "graph ms",
            "features ms",
            "inference ms",
            "tracks ms",
            "total ms",
            "peak MiB",
            "inference GFLOP/s",
        ];
        let rows: Vec<Vec<String>> = points
            .iter()
            .map(|p| {
                let t = &p.times;
                vec![
                    p.label.clone(),
                    p.hits.to_string(),
                    p.edges.to_string(),
                    format!("{:.1}", 1e3 * t.graph),
                    format!("{:.1}", 1e3 * t.features),
                    format!("{:.1}", 1e3 * t.inference),
                    format!("{:.1}", 1e3 * t.tracks),
                    format!("{:.1}", 1e3 * t.total()),
                    format!("{:.0}", mib(p.peak_bytes)),
                    match &flops {
                        Ok((f, _)) if t.inference > 0.0 => {
                            format!("{:.2}", f.flops(p.hits, p.edges) / t.inference / 1e9)
                        }
                        _ => "-".into(),
                    },
                ]
            })
            .collect();
        let body = format!(
            "Model {} on {}; {}; peak f32 rate {}; {}; {memory_what}; {timing}; seed {}; \
             `max_hits` and `max_edges` lifted.{}\n\n{}\n\
             Power laws y = c * hits^k, least squares in log-log over the {} crossings of at \
             least {} hits (times in ms, memory in MiB above the {:.0} MiB at the start):\n\n{}",
            tracker.classifier().info().name,
            tracker.classifier().provider(),
            markdown::machine(),
            peak.describe(),
            describe_flops(&flops),
            args.seed,
            stopped.map(|s| format!(" {s}.")).unwrap_or_default(),
            markdown::table(&header, &rows),
            fitted.len(),
            args.fit_min_hits,
            mib(start),
            markdown::table(&fit_header, &fit_rows)
        );
        markdown::publish(md, &body)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// (hits, peak memory above `start` in MiB) of each crossing.
fn above_start(points: &[ScalingPoint], start: u64) -> Vec<(f64, f64)> {
    points
        .iter()
        .map(|p| (p.hits as f64, mib(p.peak_bytes.saturating_sub(start))))
        .collect()
}

/// The memory in use now: resident set (Linux, the high-water mark just reset) or live heap.
fn memory_now(rss_known: bool) -> u64 {
    if rss_known {
        perf::reset_peak_rss();
        perf::peak_rss_bytes().unwrap_or(0)
    } else {
        alloc::live_bytes() as u64
    }
}

/// Log-log plot of the stage times and the peak memory against the hits, with the fits.
fn scaling_plot(
    path: &Path,
    points: &[ScalingPoint],
    start: u64,
    fit_min_hits: usize,
    fits: &[(&str, Option<PowerLaw>)],
) -> Result<(), Box<dyn std::error::Error>> {
    let times: Vec<plots::LogLogSeries> = STAGES
        .iter()
        .zip(fits)
        .map(|(&(name, time), &(_, fit))| {
            let xy = points
                .iter()
                .map(|p| (p.hits as f64, 1e3 * time(&p.times)))
                .collect();
            (name.to_string(), xy, fit)
        })
        .collect();
    let memory = vec![(
        "peak above the start".to_string(),
        above_start(points, start),
        fits[STAGES.len()].1,
    )];
    plots::log_log(
        path,
        fit_min_hits as f64,
        ("time per stage", "time [ms]", &times),
        (
            "peak memory of a crossing",
            "memory above the start [MiB]",
            &memory,
        ),
    )
}
