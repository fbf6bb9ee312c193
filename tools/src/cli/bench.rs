//! `gnntrack bench pipeline`: per-stage times and peak memory of the whole chain.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use gnntrack::pipeline::{StageTimes, Tracker};
use gnntrack_tools::sim::{SimConfig, simulate_bx};

use super::markdown;
use super::reconstruct::{TrackerArgs, check_output_folder};
use super::{CliResult, SIMULATION_GEOMETRY};

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
    /// Write the table into this Markdown file, in the section of this command line (replaced
    /// on a rerun, the rest of the file kept), e.g. `docs/results.md`.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// Tracker options.
    #[command(flatten)]
    pub tracker: TrackerArgs,
}

/// Resident-set high-water mark of this process, bytes (Linux), if known.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Runs `gnntrack bench pipeline`.
pub fn bench_pipeline(args: BenchPipelineArgs) -> CliResult {
    if let Some(md) = &args.markdown {
        check_output_folder(md)?;
    }
    let tracker = Tracker::new(args.tracker.config(SIMULATION_GEOMETRY)?)?;
    println!(
        "model {} on {}, {} threads available; times are medians of {} warm runs",
        tracker.classifier().info().name,
        tracker.classifier().provider(),
        rayon::current_num_threads(),
        args.repeat
    );
    println!(
        "{:>4} {:>8} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "xi",
        "hits",
        "edges",
        "tracks",
        "graph ms",
        "feat ms",
        "infer ms",
        "track ms",
        "total ms",
        "peak RSS"
    );
    let mut xis = args.xi.clone();
    xis.sort_unstable();
    let bar = super::progress(xis.len() as u64, "intensities");
    let mut rows = Vec::new();
    for xi in xis {
        let event = simulate_bx(tracker.detector(), &SimConfig::e_laser(xi)?, args.seed, 0)?;
        let mut r = tracker.reconstruct(&event.hits)?;
        let mut runs: Vec<StageTimes> = Vec::new();
        for _ in 0..args.repeat.max(1) {
            r = tracker.reconstruct(&event.hits)?;
            runs.push(r.times);
        }
        runs.sort_by(|a, b| a.total().total_cmp(&b.total()));
        let t = runs[runs.len() / 2];
        let rss_mib = peak_rss_bytes().unwrap_or(0) as f64 / (1 << 20) as f64;
        rows.push(vec![
            xi.to_string(),
            event.hits.len().to_string(),
            r.graph.len().to_string(),
            r.candidates.len().to_string(),
            format!("{:.1}", 1e3 * t.graph),
            format!("{:.1}", 1e3 * t.features),
            format!("{:.1}", 1e3 * t.inference),
            format!("{:.1}", 1e3 * t.tracks),
            format!("{:.1}", 1e3 * t.total()),
            format!("{rss_mib:.0} MiB"),
        ]);
        bar.inc(1);
        bar.suspend(|| {
            println!(
                "{:>4} {:>8} {:>9} {:>7} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>7.0} MiB",
                xi,
                event.hits.len(),
                r.graph.len(),
                r.candidates.len(),
                1e3 * t.graph,
                1e3 * t.features,
                1e3 * t.inference,
                1e3 * t.tracks,
                1e3 * t.total(),
                rss_mib
            )
        });
    }
    bar.finish_and_clear();
    println!(
        "peak RSS is the process high-water mark so far (intensities run in increasing order)"
    );
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
            "peak RSS",
        ];
        let body = format!(
            "Model {} on {}; {}; medians of {} warm runs; peak RSS is the process high-water \
             mark so far (intensities in increasing order).\n\n{}",
            tracker.classifier().info().name,
            tracker.classifier().provider(),
            markdown::machine(),
            args.repeat.max(1),
            markdown::table(&header, &rows)
        );
        markdown::write_section(md, &markdown::command_line(), &body)
            .map_err(|e| format!("cannot write {}: {e}", md.display()))?;
        println!("table written to {}", md.display());
    }
    Ok(ExitCode::SUCCESS)
}
