//! `gnntrack bench pipeline`: per-stage times and peak memory of the whole chain, how far the
//! stages are from the machine's limits (FLOP rate, memory bandwidth) and the throughput of
//! many crossings (`gnntrack bench scaling` is in `scaling`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use rayon::prelude::*;

use gnntrack::hits::Hits;
use gnntrack::inference::ActiveProvider;
use gnntrack::pipeline::{DEFAULT_MODEL, StageTimes, Tracker, resolve_model};
use gnntrack_tools::perf::{self, CpuPeak, FlopsSource, ModelFlops};
use gnntrack_tools::sim::{SimConfig, simulate_bx};

use super::reconstruct::{TrackerArgs, check_output_folder};
use super::{CliResult, SIMULATION_GEOMETRY, markdown};

/// Options of `gnntrack bench pipeline`.
#[derive(Debug, Args)]
pub struct BenchPipelineArgs {
    /// Intensities, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,4,5,6,7")]
    pub xi: Vec<u8>,
    /// Timed repetitions per intensity (after one warm-up run).
    #[arg(long, default_value_t = 3)]
    pub repeat: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Intensity of the throughput measurement.
    #[arg(long, default_value_t = 5)]
    pub throughput_xi: u8,
    /// Crossings of the throughput measurement, run one after the other and then all at once
    /// on the thread pool (0: no throughput measurement).
    #[arg(long, default_value_t = 8)]
    pub throughput_crossings: usize,
    /// Size of each of the three arrays of the memory-bandwidth measurement, MiB.
    #[arg(long, default_value_t = 128)]
    pub stream_mib: usize,
    /// Model options.
    #[command(flatten)]
    pub flops: FlopsArgs,
    /// Write the tables into this Markdown file, in the section of this command line (replaced
    /// on a rerun, the rest of the file kept), e.g. `docs/results.md`.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Tracker options.
    #[command(flatten)]
    pub tracker: TrackerArgs,
}

/// Where the model's floating-point work comes from.
#[derive(Debug, Args)]
pub struct FlopsArgs {
    /// FLOPs of one inference per node (default: the model's `.flops.json` beside it, or the
    /// compiled-in count of a model of `models/`, written by `models/train/count_flops.py`).
    #[arg(long, requires = "flops_per_edge")]
    pub flops_per_node: Option<f64>,
    /// FLOPs of one inference per edge (with --flops-per-node).
    #[arg(long, requires = "flops_per_node")]
    pub flops_per_edge: Option<f64>,
}

/// A tracker is shared by the threads of the throughput measurement.
const _: () = {
    const fn shared<T: Sync + Send>() {}
    shared::<Tracker>()
};

/// The model's FLOP count: the command line's, else the one of its `.flops.json`; `Err` says
/// why there is none (the GFLOP/s columns are then left empty).
pub(super) fn model_flops(
    tracker: &Tracker,
    args: &FlopsArgs,
) -> Result<(ModelFlops, FlopsSource), String> {
    if let (Some(n), Some(e)) = (args.flops_per_node, args.flops_per_edge) {
        if !(n.is_finite() && e.is_finite() && n >= 0.0 && e >= 0.0) {
            return Err("--flops-per-node and --flops-per-edge must be finite and >= 0".into());
        }
        return Ok((ModelFlops::given(n, e), FlopsSource::Given));
    }
    let (bytes, path) = match &tracker.config().model {
        Some(path) => {
            let path = resolve_model(path);
            let bytes =
                std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            (bytes, Some(path))
        }
        None => (DEFAULT_MODEL.to_vec(), None),
    };
    ModelFlops::find(&bytes, path.as_deref())
}

pub(super) fn describe_flops(flops: &Result<(ModelFlops, FlopsSource), String>) -> String {
    match flops {
        Ok((f, source)) => format!(
            "inference work {:.0} FLOP per hit + {:.0} per edge ({})",
            f.flops_per_node,
            f.flops_per_edge,
            match source {
                FlopsSource::Given => source.to_string(),
                _ => format!("{source}, by models/train/count_flops.py"),
            }
        ),
        Err(e) => format!("inference GFLOP/s not shown: {e}"),
    }
}

/// The median of runs by total time.
pub(super) fn median(mut runs: Vec<StageTimes>) -> StageTimes {
    runs.sort_by(|a, b| a.total().total_cmp(&b.total()));
    runs[runs.len() / 2]
}

/// Achieved rate and its share of a limit, e.g. `12.3` and `8 %`.
fn rate_and_share(rate: f64, limit: f64) -> (String, String) {
    (
        format!("{rate:.2}"),
        format!("{:.1} %", 100.0 * rate / limit),
    )
}

pub(super) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

/// Runs `gnntrack bench pipeline`.
pub fn bench_pipeline(args: BenchPipelineArgs) -> CliResult {
    if let Some(md) = &args.markdown {
        check_output_folder(md)?;
    }
    let tracker = Tracker::new(args.tracker.config(SIMULATION_GEOMETRY)?)?;
    let info = tracker.classifier().info();
    let (n_node_features, n_edge_features) = (info.node_features.len(), info.edge_features.len());
    let flops = model_flops(&tracker, &args.flops);
    let peak = CpuPeak::detect();
    let on_cpu = matches!(tracker.classifier().provider(), ActiveProvider::Cpu { .. });
    // Measured first, then the high-water mark is reset, so the arrays do not count in the
    // peak RSS of the crossings.
    let bandwidth = perf::measure_bandwidth(args.stream_mib, 5);
    let rss_reset = perf::reset_peak_rss();
    let repeat = args.repeat.max(1);
    let model_line = format!(
        "model {} on {}, {} threads available, {}; times are medians of {repeat} warm runs",
        info.name,
        tracker.classifier().provider(),
        rayon::current_num_threads(),
        build_line(),
    );
    let limits_lines = [
        format!("peak f32 rate: {}", peak.describe()),
        format!(
            "memory bandwidth: copy {:.1} GB/s, triad {:.1} GB/s (3 x {} MiB of f64 on {} threads, best of 5)",
            bandwidth.copy_gbs,
            bandwidth.triad_gbs,
            bandwidth.array_mib,
            rayon::current_num_threads()
        ),
        describe_flops(&flops),
    ];
    println!("{model_line}");
    for line in &limits_lines {
        println!("{line}");
    }
    println!(
        "{:>4} {:>8} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7} {:>10}",
        "xi",
        "hits",
        "edges",
        "tracks",
        "graph ms",
        "feat ms",
        "infer ms",
        "track ms",
        "total ms",
        "CPU ms",
        "faults",
        "peak RSS"
    );
    let mut xis = args.xi.clone();
    xis.sort_unstable();
    let bar = super::progress(xis.len() as u64, "intensities");
    let mut rows = Vec::new();
    let mut limit_rows = Vec::new();
    // Time of the candidate classifier per intensity, when it is on (part of the total).
    let mut candidate_times: Vec<String> = Vec::new();
    for xi in xis {
        let event = simulate_bx(tracker.detector(), &SimConfig::e_laser(xi)?, args.seed, 0)?;
        // Each result is dropped before the next run, as a host does from one crossing to the
        // next, so the peak memory is that of one crossing in flight.
        let mut r = tracker.reconstruct(&event.hits)?;
        let mut runs: Vec<StageTimes> = Vec::new();
        let mut cpu: Vec<f64> = Vec::new();
        let mut faults: Vec<f64> = Vec::new();
        for _ in 0..repeat {
            drop(r);
            let before = perf::process_cpu_seconds();
            let faults_before = perf::minor_page_faults();
            r = tracker.reconstruct(&event.hits)?;
            if let (Some(a), Some(b)) = (before, perf::process_cpu_seconds()) {
                cpu.push(b - a);
            }
            if let (Some(a), Some(b)) = (faults_before, perf::minor_page_faults()) {
                faults.push(b.saturating_sub(a) as f64);
            }
            runs.push(r.times);
        }
        let t = median(runs);
        let cpu_ms = median_of(cpu).map_or("-".into(), |s| format!("{:.1}", 1e3 * s));
        let faults = median_of(faults).map_or("-".into(), |f| format!("{f:.0}"));
        if tracker.candidate_classifier().is_some() {
            candidate_times.push(format!("xi = {xi}: {:.1} ms", 1e3 * t.candidates));
        }
        let rss_mib = mib(perf::peak_rss_bytes().unwrap_or(0));
        let (hits, edges) = (event.hits.len(), r.graph.len());
        rows.push(vec![
            xi.to_string(),
            hits.to_string(),
            edges.to_string(),
            r.candidates.len().to_string(),
            format!("{:.1}", 1e3 * t.graph),
            format!("{:.1}", 1e3 * t.features),
            format!("{:.1}", 1e3 * t.inference),
            format!("{:.1}", 1e3 * t.tracks),
            format!("{:.1}", 1e3 * t.total()),
            cpu_ms.clone(),
            faults.clone(),
            format!("{rss_mib:.0} MiB"),
        ]);
        let (gflop, gflops, gflops_share) = match &flops {
            Ok((f, _)) if t.inference > 0.0 => {
                let work = f.flops(hits, edges) / 1e9;
                let (rate, share) = rate_and_share(work / t.inference, peak.gflops());
                // The processor's peak says nothing of a run on a GPU.
                (
                    format!("{work:.3}"),
                    rate,
                    if on_cpu { share } else { "-".into() },
                )
            }
            _ => ("-".into(), "-".into(), "-".into()),
        };
        let gbs = |bytes: f64, seconds: f64| {
            if seconds > 0.0 {
                rate_and_share(bytes / seconds / 1e9, bandwidth.triad_gbs)
            } else {
                ("-".into(), "-".into())
            }
        };
        let (graph_gbs, graph_share) = gbs(perf::graph_bytes(hits, edges), t.graph);
        let (feat_gbs, feat_share) = gbs(
            perf::feature_bytes(hits, edges, n_node_features, n_edge_features),
            t.features,
        );
        limit_rows.push(vec![
            xi.to_string(),
            gflop,
            gflops,
            gflops_share,
            graph_gbs,
            graph_share,
            feat_gbs,
            feat_share,
        ]);
        bar.inc(1);
        bar.suspend(|| {
            println!(
                "{:>4} {:>8} {:>9} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9} {:>7} {:>6.0} MiB",
                xi,
                hits,
                edges,
                r.candidates.len(),
                1e3 * t.graph,
                1e3 * t.features,
                1e3 * t.inference,
                1e3 * t.tracks,
                1e3 * t.total(),
                cpu_ms,
                faults,
                rss_mib
            )
        });
    }
    bar.finish_and_clear();
    let candidate_note = if candidate_times.is_empty() {
        String::new()
    } else {
        format!(
            "Candidate classifier (included in the total): {}.\n\n",
            candidate_times.join(", ")
        )
    };
    print!("{candidate_note}");
    let rss_note = format!(
        "CPU ms is the process's CPU time per crossing, all threads (median); page faults are \
         those of a crossing that read no disk (median: memory touched for the first time); peak \
         RSS is the process high-water mark so far (intensities run in increasing order){}",
        if rss_reset {
            ""
        } else {
            ", the bandwidth arrays included"
        }
    );
    println!("{rss_note}");

    let limits_header = [
        "xi",
        "inference GFLOP",
        "inference GFLOP/s",
        "of peak",
        "graph GB/s",
        "of triad",
        "features GB/s",
        "of triad",
    ];
    println!(
        "\nhow far from the machine's limits (peak {:.0} GFLOP/s, triad {:.1} GB/s):",
        peak.gflops(),
        bandwidth.triad_gbs
    );
    print_columns(&limits_header, &limit_rows);

    let throughput = if args.throughput_crossings > 0 {
        let t = measure_throughput(
            &tracker,
            args.throughput_xi,
            args.throughput_crossings,
            args.seed,
        )?;
        println!(
            "\nthroughput at xi = {}, {} crossings, {} threads:",
            args.throughput_xi,
            args.throughput_crossings,
            rayon::current_num_threads()
        );
        print_columns(&THROUGHPUT_HEADER, std::slice::from_ref(&t));
        Some(t)
    } else {
        None
    };

    if let Some(md) = &args.markdown {
        let header = [
            "xi",
            "hits",
            "edges",
            "tracks",
            "graph ms",
            "features ms",
            "inference ms",
            "tracks ms",
            "total ms",
            "CPU ms",
            "page faults",
            "peak RSS",
        ];
        let mut body = format!(
            "Model {} on {}; {}; medians of {repeat} warm runs; {rss_note}.\n\n{}\n{candidate_note}\
             How far from the machine's limits:\n\n- {}\n- {}\n- {}\n\n{}",
            info.name,
            tracker.classifier().provider(),
            markdown::machine(),
            markdown::table(&header, &rows),
            limits_lines[0],
            limits_lines[1],
            limits_lines[2],
            markdown::table(&limits_header, &limit_rows),
        );
        if let Some(t) = &throughput {
            body.push_str(&format!(
                "\nThroughput: {} crossings at xi = {} one after the other, then all at once on {} threads.\n\n{}",
                args.throughput_crossings,
                args.throughput_xi,
                rayon::current_num_threads(),
                markdown::table(&THROUGHPUT_HEADER, std::slice::from_ref(t))
            ));
        }
        markdown::publish(md, &body)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Columns of the throughput table.
const THROUGHPUT_HEADER: [&str; 8] = [
    "crossings",
    "latency ms",
    "sequential crossings/s",
    "sequential CPU ms per crossing",
    "concurrent crossings/s",
    "concurrent latency ms",
    "concurrent CPU ms per crossing",
    "speed-up",
];

/// The median of some values; `None` when there are none.
fn median_of(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

/// Crossings per second at intensity `xi`: `n` crossings reconstructed one after the other,
/// then all at once on the rayon pool through the one tracker. Returns the throughput row:
/// crossings, median latency alone, sequential rate and CPU time per crossing, concurrent rate,
/// median latency and CPU time per crossing, and the ratio of the rates.
fn measure_throughput(
    tracker: &Tracker,
    xi: u8,
    n: usize,
    seed: u64,
) -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let config = SimConfig::e_laser(xi)?;
    let crossings: Vec<Hits> = (0..n as u64)
        .into_par_iter()
        .map(|bx| simulate_bx(tracker.detector(), &config, seed, bx).map(|e| e.hits))
        .collect::<Result<_, _>>()?;
    tracker.reconstruct(&crossings[0])?; // warm-up
    // CPU ms per crossing between two readings of the process clock.
    let cpu_per_crossing = |before: Option<f64>| match (before, perf::process_cpu_seconds()) {
        (Some(a), Some(b)) => format!("{:.1}", 1e3 * (b - a) / n as f64),
        _ => "-".into(),
    };
    let (start, cpu) = (Instant::now(), perf::process_cpu_seconds());
    let mut alone = Vec::with_capacity(n);
    for hits in &crossings {
        alone.push(tracker.reconstruct(hits)?.times.total());
    }
    let sequential = start.elapsed().as_secs_f64();
    let sequential_cpu = cpu_per_crossing(cpu);
    let all_at_once = || -> Result<Vec<f64>, gnntrack::pipeline::TrackerError> {
        crossings
            .par_iter()
            .map(|hits| tracker.reconstruct(hits).map(|r| r.times.total()))
            .collect()
    };
    // Warm-up: crossings in flight together each take a work space of the tracker, which the
    // first of them allocate (as the one crossing before the sequential run did for one).
    all_at_once()?;
    let (start, cpu) = (Instant::now(), perf::process_cpu_seconds());
    let together = all_at_once()?;
    let concurrent = start.elapsed().as_secs_f64();
    let concurrent_cpu = cpu_per_crossing(cpu);
    let ms = |v: Vec<f64>| median_of(v).map_or("-".into(), |m| format!("{:.1}", 1e3 * m));
    Ok(vec![
        n.to_string(),
        ms(alone),
        format!("{:.2}", n as f64 / sequential),
        sequential_cpu,
        format!("{:.2}", n as f64 / concurrent),
        ms(together),
        concurrent_cpu,
        format!("{:.2}", sequential / concurrent),
    ])
}

/// Prints a table as right-aligned columns.
pub(super) fn print_columns(header: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            rows.iter()
                .map(|r| r[c].len())
                .chain(std::iter::once(header[c].len()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    println!("{}", line(header.to_vec()));
    for r in rows {
        println!("{}", line(r.iter().map(String::as_str).collect()));
    }
}

/// What the library was compiled for: the portable x86-64 baseline, or the extensions of
/// `GNNTRACK_TARGET_CPU`.
fn build_line() -> String {
    let features = gnntrack::build_cpu_features();
    if features.is_empty() {
        "portable build".to_string()
    } else {
        format!("build for {}", features.join(", "))
    }
}
