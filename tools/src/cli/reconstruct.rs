//! `gnntrack reconstruct`, `demo`, `eval` and `bench pipeline`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use gnntrack::geometry::Detector;
use gnntrack::graph::metrics::TrueSegments;
use gnntrack::hits::{Hits, read_hits};
use gnntrack::pipeline::{Reconstruction, StageTimes, Tracker, TrackerConfig};
use gnntrack_tools::eval::{BxCounts, MergedHits, score_bx, true_tracks};
use gnntrack_tools::sim::{SimConfig, simulate_bx};

use super::plots;
use super::{CliResult, SIMULATION_GEOMETRY, default_geometry};

/// Options shared by every command that runs the tracker.
#[derive(Debug, Args)]
pub struct TrackerArgs {
    /// Tracker configuration TOML (geometry, graph, inference, tracks).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Geometry preset or TOML file (overrides the configuration).
    #[arg(long)]
    pub geometry: Option<String>,
    /// ONNX model (default: the bundled default model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Execution provider: cpu, cuda or auto.
    #[arg(long)]
    pub provider: Option<String>,
    /// Any configuration key, as KEY=VALUE (repeatable), e.g. --set tracks.min_hits=4.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl TrackerArgs {
    /// The configuration: file, then the explicit options, then --set overrides.
    pub fn config(
        &self,
        default_geometry: &str,
    ) -> Result<TrackerConfig, Box<dyn std::error::Error>> {
        let mut config = match &self.config {
            Some(path) => TrackerConfig::from_toml_file(path)?,
            None => TrackerConfig {
                geometry: default_geometry.to_string(),
                ..TrackerConfig::default()
            },
        };
        if let Some(g) = &self.geometry {
            config.geometry = g.clone();
        }
        if let Some(m) = &self.model {
            config.model = Some(m.clone());
        }
        if let Some(p) = &self.provider {
            config.set("inference.provider", p)?;
        }
        for (k, v) in key_values("--set", &self.overrides)? {
            config.set(k, v)?;
        }
        Ok(config)
    }
}

/// The `KEY=VALUE` arguments of `option`, trimmed; an argument without `=` is an error naming
/// the option and the argument.
pub(super) fn key_values<'a>(
    option: &str,
    arguments: &'a [String],
) -> Result<Vec<(&'a str, &'a str)>, String> {
    arguments
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim(), v.trim()))
                .ok_or_else(|| format!("{option} `{kv}`: expected KEY=VALUE"))
        })
        .collect()
}

/// Options of `gnntrack reconstruct`.
#[derive(Debug, Args)]
pub struct ReconstructArgs {
    /// Hit file (project or LUXE CSV format).
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Track file to write: `track_id,hit_id`, one row per hit.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Tracker options.
    #[command(flatten)]
    pub tracker: TrackerArgs,
}

fn print_times(t: &StageTimes) {
    println!(
        "times: graph {:.1} ms, features {:.1} ms, inference {:.1} ms, tracks {:.1} ms, {}total {:.1} ms",
        1e3 * t.graph,
        1e3 * t.features,
        1e3 * t.inference,
        1e3 * t.tracks,
        // The candidate classifier is optional: its time only when it ran.
        if t.candidates > 0.0 {
            format!("candidates {:.1} ms, ", 1e3 * t.candidates)
        } else {
            String::new()
        },
        1e3 * t.total()
    );
}

/// Writes `track_id,hit_id` rows.
fn write_tracks(path: &Path, hits: &Hits, r: &Reconstruction) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(w, "track_id,hit_id")?;
    for (t, c) in r.candidates.iter().enumerate() {
        for &h in &c.hits {
            writeln!(w, "{t},{}", hits.hit_id[h as usize])?;
        }
    }
    w.flush()
}

/// Edge efficiency and purity after the cut (true segments counted before any cut).
pub(super) fn edge_counts(
    hits: &Hits,
    detector: &Detector,
    r: &Reconstruction,
) -> Option<(usize, usize, usize)> {
    let segments = TrueSegments::from_hits(hits, detector)?;
    let labels = segments.edge_labels(&r.graph);
    let kept_true = labels
        .iter()
        .zip(&r.scores)
        .filter(|&(&l, &s)| l == 1 && s >= r.edge_cut)
        .count();
    Some((kept_true, r.kept_edges(), segments.iter().count()))
}

/// Fails when `path` cannot be written because its folder is missing or not a folder, before
/// any work is done.
pub fn check_output_folder(path: &Path) -> Result<(), String> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !folder.is_dir() {
        return Err(format!(
            "cannot write {}: the folder {} does not exist",
            path.display(),
            folder.display()
        ));
    }
    if path.is_dir() {
        return Err(format!("cannot write {}: it is a folder", path.display()));
    }
    Ok(())
}

/// Runs `gnntrack reconstruct`.
pub fn reconstruct(args: ReconstructArgs) -> CliResult {
    if let Some(out) = &args.out {
        check_output_folder(out)?;
    }
    let (hits, format) = read_hits(&args.input)?;
    let tracker = Tracker::new(args.tracker.config(default_geometry(format))?)?;
    let start = Instant::now();
    let r = tracker.reconstruct(&hits)?;
    let wall = start.elapsed().as_secs_f64();
    println!(
        "{}: {} hits, {} edges, {} kept, {} track candidates in {:.1} ms",
        args.input.display(),
        hits.len(),
        r.graph.len(),
        r.kept_edges(),
        r.candidates.len(),
        1e3 * wall
    );
    print_times(&r.times);
    report_both_rules(&hits, &r);
    if let Some(out) = &args.out {
        write_tracks(out, &hits, &r).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
        println!("tracks written to {}", out.display());
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn candidate_hits(r: &Reconstruction) -> Vec<Vec<u32>> {
    r.candidates.iter().map(|c| c.hits.clone()).collect()
}

fn pct(n: usize, d: usize) -> f64 {
    if d == 0 {
        0.0
    } else {
        100.0 * n as f64 / d as f64
    }
}

/// Prints the truth figures by the field's rule (one particle per hit) and, labelled, with
/// merged hits shared (nothing without truth).
fn report_both_rules(hits: &Hits, r: &Reconstruction) {
    let candidates = candidate_hits(r);
    for rule in [MergedHits::Majority, MergedHits::Shared] {
        if let Some(c) = score_bx(hits, &candidates, rule) {
            print!("truth ({}): ", rule.label());
            report_counts(&c);
        }
    }
    // What the rule gives the truth's own tracks: the ceiling where hits are merged.
    let perfect = true_tracks(hits).and_then(|t| score_bx(hits, &t, MergedHits::Majority));
    if let Some(c) = perfect.filter(|c| c.fakes > 0) {
        println!(
            "the truth's own tracks score {:.2} % / {:.2} % fakes under one particle per hit (merged hits)",
            pct(c.found, c.reconstructable),
            pct(c.fakes, c.candidates)
        );
    }
}

fn report_counts(c: &BxCounts) {
    println!(
        "efficiency {:.2} % ({} of {} positrons with >= 3 hits), strict {:.2} %, fake rate {:.2} % ({} of {} candidates), duplicates {:.2} %",
        pct(c.found, c.reconstructable),
        c.found,
        c.reconstructable,
        pct(c.found_strict, c.reconstructable),
        pct(c.fakes, c.candidates),
        c.fakes,
        c.candidates,
        pct(c.duplicates, c.candidates)
    );
}

/// Options of `gnntrack demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// e-laser intensity of the simulated crossing.
    #[arg(long, default_value_t = 5)]
    pub xi: u8,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Folder for the crossing's hits, its tracks and an event display (created if missing).
    #[arg(long, default_value = "out/demo")]
    pub out: PathBuf,
    /// Tracker options.
    #[command(flatten)]
    pub tracker: TrackerArgs,
}

/// Runs `gnntrack demo`: simulate one crossing, reconstruct it, score it, write the tracks
/// and an event display.
pub fn demo(args: DemoArgs) -> CliResult {
    let config = args.tracker.config(SIMULATION_GEOMETRY)?;
    let tracker = Tracker::new(config)?;
    let sim = SimConfig::e_laser(args.xi)?;
    let event = simulate_bx(tracker.detector(), &sim, args.seed, 0)?;
    println!(
        "simulated xi = {} crossing (seed {}): {} positrons, {} hits, geometry {}",
        args.xi,
        args.seed,
        event.particles.len(),
        event.hits.len(),
        tracker.detector().name
    );
    let info = tracker.classifier().info();
    println!(
        "model {} {} on {}, edge cut {}",
        info.name,
        info.version,
        tracker.classifier().provider(),
        tracker.track_config().edge_cut()
    );
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    // The first run of a new onnxruntime session is slow: time the second.
    let first = tracker.reconstruct(&event.hits)?;
    let r = tracker.reconstruct(&event.hits)?;
    println!(
        "{} edges, {} kept, {} track candidates",
        r.graph.len(),
        r.kept_edges(),
        r.candidates.len()
    );
    if let Some((kept_true, kept, segments)) = edge_counts(&event.hits, tracker.detector(), &r) {
        println!(
            "edges after the GNN: efficiency {:.2} %, purity {:.2} %",
            pct(kept_true, segments),
            pct(kept_true, kept)
        );
    }
    report_both_rules(&event.hits, &r);
    println!(
        "  efficiency: share of the positrons with >= 3 hits that a candidate matches (more than half of\n  \
         its hits are the positron's and it holds at least half of the positron's hits); strict: a\n  \
         candidate holds exactly the positron's hits; fake rate: share of candidates that match no\n  \
         positron; duplicates: candidates of positrons matched already. \"one particle per hit\" is the\n  \
         field's rule; \"merged hits shared\" gives a hit merged from two positrons to both."
    );
    print_times(&r.times);
    println!(
        "  (second run of the crossing; the first, which starts the onnxruntime session, took {:.1} ms)",
        1e3 * first.times.total()
    );
    let hits_path = args.out.join("hits.csv");
    let tracks_path = args.out.join("tracks.csv");
    gnntrack::hits::write_hits(&event.hits, &hits_path)
        .map_err(|e| format!("cannot write {}: {e}", hits_path.display()))?;
    write_tracks(&tracks_path, &event.hits, &r)
        .map_err(|e| format!("cannot write {}: {e}", tracks_path.display()))?;
    println!(
        "hits written to {}, tracks to {}",
        hits_path.display(),
        tracks_path.display()
    );
    match plots::ensure_font() {
        Ok(()) => {
            let display = args.out.join("event_display.png");
            let title = format!("xi = {} crossing, seed {}", args.xi, args.seed);
            plots::event_display(&display, &title, &event.hits, &r.candidates)?;
            println!("event display written to {}", display.display());
        }
        Err(e) => println!("event display skipped: {e}"),
    }
    println!(
        "next: gnntrack eval --xi 5,7 --bx 10 (rates with 95 % intervals), gnntrack reconstruct --in {} --out my_tracks.csv, gnntrack bench pipeline",
        hits_path.display()
    );
    Ok(ExitCode::SUCCESS)
}
