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
use gnntrack_tools::eval::{
    BxCounts, MergedHits, Rate, TrackMetrics, bootstrap_rate, score_bx, score_bx_with_momenta,
    true_tracks,
};
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
        for kv in &self.overrides {
            let (k, v) = kv
                .split_once('=')
                .ok_or_else(|| format!("--set `{kv}`: expected KEY=VALUE"))?;
            config.set(k.trim(), v.trim())?;
        }
        Ok(config)
    }
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
        "times: graph {:.1} ms, features {:.1} ms, inference {:.1} ms, tracks {:.1} ms, total {:.1} ms",
        1e3 * t.graph,
        1e3 * t.features,
        1e3 * t.inference,
        1e3 * t.tracks,
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
fn edge_counts(
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

fn candidate_hits(r: &Reconstruction) -> Vec<Vec<u32>> {
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

/// Options of `gnntrack eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Intensities to simulate, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "3,5,7")]
    pub xi: Vec<u8>,
    /// Crossings per intensity.
    #[arg(long, default_value_t = 20)]
    pub bx: u64,
    /// Random seed of the simulated crossings.
    #[arg(long, default_value_t = 1000)]
    pub seed: u64,
    /// Dipole field of the simulated crossings, T.
    #[arg(long, default_value_t = 0.95)]
    pub field: f64,
    /// Hits of two particles on one chip closer than this many pixels merge in the simulated
    /// crossings; 0 keeps every hit.
    #[arg(long, default_value_t = 2.0)]
    pub merge_pixels: f64,
    /// Hit files to evaluate instead of (or beside, with --xi) simulated crossings; they form one
    /// more group named `files`.
    #[arg(long = "in", value_delimiter = ',')]
    pub files: Vec<PathBuf>,
    /// Folder for the JSON report.
    #[arg(long, default_value = "out/eval")]
    pub out: PathBuf,
    /// Whom a hit merged from two positrons belongs to: `majority` (the one with most parts: one
    /// particle per hit, the field's rule) or `shared` (both); the other rule is printed beside.
    #[arg(long, default_value = "majority", value_parser = parse_merged_hits)]
    pub merged_hits: MergedHits,
    /// Tracker options.
    #[command(flatten)]
    pub tracker: TrackerArgs,
}

fn parse_merged_hits(text: &str) -> Result<MergedHits, String> {
    match text {
        "shared" => Ok(MergedHits::Shared),
        "majority" => Ok(MergedHits::Majority),
        other => Err(format!("`{other}`: expected `shared` or `majority`")),
    }
}

#[derive(serde::Serialize)]
struct GroupReport {
    name: String,
    rule: &'static str,
    metrics: TrackMetrics,
    other_rule: &'static str,
    other_metrics: TrackMetrics,
    /// The truth's own tracks scored by `rule`: the rule's ceiling on these crossings.
    perfect_metrics: TrackMetrics,
    edge_efficiency: Rate,
    edge_purity: Rate,
    mean_hits: f64,
    mean_edges: f64,
    mean_times_ms: StageTimesMs,
}

#[derive(serde::Serialize, Default)]
struct StageTimesMs {
    graph: f64,
    features: f64,
    inference: f64,
    tracks: f64,
    total: f64,
}

fn evaluate_group(
    tracker: &Tracker,
    name: &str,
    events: &[Hits],
    merged_hits: MergedHits,
    bar: &indicatif::ProgressBar,
) -> Result<GroupReport, Box<dyn std::error::Error>> {
    let (mut counts, mut other_counts, mut perfect_counts) = (Vec::new(), Vec::new(), Vec::new());
    let (mut edge_eff, mut edge_pur) = (Vec::new(), Vec::new());
    let mut times = StageTimesMs::default();
    let (mut hits_sum, mut edges_sum) = (0usize, 0usize);
    if let Some(first) = events.first() {
        tracker.reconstruct(first)?; // warm-up, not timed
    }
    for hits in events {
        let r = tracker.reconstruct(hits)?;
        bar.inc(1);
        hits_sum += hits.len();
        edges_sum += r.graph.len();
        times.graph += 1e3 * r.times.graph;
        times.features += 1e3 * r.times.features;
        times.inference += 1e3 * r.times.inference;
        times.tracks += 1e3 * r.times.tracks;
        times.total += 1e3 * r.times.total();
        let momenta: Vec<f64> = r.candidates.iter().map(|c| c.fit.p_estimate).collect();
        let candidates = candidate_hits(&r);
        for (rule, out) in [
            (merged_hits, &mut counts),
            (merged_hits.other(), &mut other_counts),
        ] {
            let c = score_bx_with_momenta(hits, &candidates, Some(&momenta), rule)
                .ok_or("evaluation needs hits with truth")?;
            out.push(c);
        }
        let perfect = true_tracks(hits).ok_or("evaluation needs hits with truth")?;
        perfect_counts.push(score_bx(hits, &perfect, merged_hits).ok_or("no truth")?);
        if let Some((kept_true, kept, segments)) = edge_counts(hits, tracker.detector(), &r) {
            edge_eff.push((kept_true, segments));
            edge_pur.push((kept_true, kept));
        }
    }
    let n = events.len().max(1) as f64;
    for t in [
        &mut times.graph,
        &mut times.features,
        &mut times.inference,
        &mut times.tracks,
        &mut times.total,
    ] {
        *t /= n;
    }
    Ok(GroupReport {
        name: name.to_string(),
        rule: merged_hits.label(),
        metrics: TrackMetrics::from_counts(&counts),
        other_rule: merged_hits.other().label(),
        other_metrics: TrackMetrics::from_counts(&other_counts),
        perfect_metrics: TrackMetrics::from_counts(&perfect_counts),
        edge_efficiency: bootstrap_rate(&edge_eff, 1000, 2),
        edge_purity: bootstrap_rate(&edge_pur, 1000, 3),
        mean_hits: hits_sum as f64 / n,
        mean_edges: edges_sum as f64 / n,
        mean_times_ms: times,
    })
}

fn print_group(g: &GroupReport) {
    let m = &g.metrics;
    println!(
        "\n== {}: {} crossings, {:.0} hits and {:.0} edges per crossing, {} positrons with >= 3 hits ({})",
        g.name, m.n_bx, g.mean_hits, g.mean_edges, m.reconstructable, g.rule
    );
    println!("efficiency (double majority) {}", m.efficiency);
    println!("efficiency (all hits right)  {}", m.efficiency_strict);
    println!("fake rate                    {}", m.fake_rate);
    println!("duplicate rate               {}", m.duplicate_rate);
    let o = &g.other_metrics;
    println!(
        "{}: efficiency {:.3} %, strict {:.3} %, fake rate {:.3} %, duplicates {:.3} %",
        g.other_rule,
        100.0 * o.efficiency.value,
        100.0 * o.efficiency_strict.value,
        100.0 * o.fake_rate.value,
        100.0 * o.duplicate_rate.value
    );
    let p = &g.perfect_metrics;
    println!(
        "perfect reconstruction (every positron's true hits, {}): efficiency {:.3} %, fake rate {:.3} %",
        g.rule,
        100.0 * p.efficiency.value,
        100.0 * p.fake_rate.value
    );
    println!("edge efficiency after GNN    {}", g.edge_efficiency);
    println!("edge purity after GNN        {}", g.edge_purity);
    let t = &g.mean_times_ms;
    println!(
        "mean times: graph {:.1} ms, features {:.1} ms, inference {:.1} ms, tracks {:.1} ms, total {:.1} ms",
        t.graph, t.features, t.inference, t.tracks, t.total
    );
    print!("efficiency vs p:");
    let mut low = 0.0;
    for (edge, n, r) in &m.efficiency_by_momentum {
        if *n > 0 {
            print!("  {low:.0}-{edge:.0} GeV: {:.2} % (n={n})", 100.0 * r.value);
        }
        low = *edge;
    }
    println!();
}

/// Runs `gnntrack eval`.
pub fn eval(args: EvalArgs) -> CliResult {
    let mut groups: Vec<(String, Vec<Hits>, &'static str)> = Vec::new();
    if !args.files.is_empty() {
        let mut events = Vec::new();
        let mut geometry = SIMULATION_GEOMETRY;
        for f in &args.files {
            let (hits, format) = read_hits(f)?;
            geometry = default_geometry(format);
            events.push(hits);
        }
        groups.push(("files".to_string(), events, geometry));
    }
    let explicit_xi = !args.files.is_empty() && std::env::args().any(|a| a.starts_with("--xi"));
    if args.files.is_empty() || explicit_xi {
        for &xi in &args.xi {
            let mut sim = SimConfig::e_laser(xi)?;
            sim.magnet.field_t = args.field;
            sim.merge_distance_pixels = args.merge_pixels;
            sim.validate()?;
            let detector =
                Detector::from_name_or_path(&args.tracker.config(SIMULATION_GEOMETRY)?.geometry)?;
            let events = (0..args.bx)
                .map(|bx| {
                    simulate_bx(&detector, &sim, args.seed + u64::from(xi), bx).map(|e| e.hits)
                })
                .collect::<Result<Vec<_>, _>>()?;
            groups.push((format!("xi = {xi}"), events, SIMULATION_GEOMETRY));
        }
    }
    let mut reports = Vec::new();
    let mut trackers: Vec<(&str, Tracker)> = Vec::new();
    let crossings: usize = groups.iter().map(|(_, events, _)| events.len()).sum();
    let bar = super::progress(crossings as u64, "crossings");
    for (name, events, geometry) in &groups {
        let idx = match trackers.iter().position(|(g, _)| g == geometry) {
            Some(i) => i,
            None => {
                trackers.push((geometry, Tracker::new(args.tracker.config(geometry)?)?));
                trackers.len() - 1
            }
        };
        let report = evaluate_group(&trackers[idx].1, name, events, args.merged_hits, &bar)?;
        bar.suspend(|| print_group(&report));
        reports.push(report);
    }
    bar.finish_and_clear();
    std::fs::create_dir_all(&args.out)?;
    let path = args.out.join("eval.json");
    std::fs::write(&path, serde_json::to_string_pretty(&reports)?)?;
    println!("\nreport written to {}", path.display());
    match plots::ensure_font() {
        Ok(()) => {
            let eff: Vec<plots::Curve> = reports
                .iter()
                .map(|r| plots::Curve {
                    label: r.name.clone(),
                    bins: &r.metrics.efficiency_by_momentum,
                })
                .collect();
            // Zoom on the data: the lowest interval bound, a few points below.
            let lowest = reports
                .iter()
                .flat_map(|r| &r.metrics.efficiency_by_momentum)
                .filter(|(_, n, _)| *n > 0)
                .map(|(_, _, rate)| 100.0 * rate.low)
                .fold(100.0f64, f64::min);
            let p = args.out.join("efficiency_vs_p.png");
            plots::rate_vs_momentum(
                &p,
                "track efficiency (double majority; bars: 95 % intervals)",
                "efficiency [%]",
                &eff,
                ((lowest - 2.0).clamp(0.0, 95.0).floor(), 100.5),
            )?;
            let fake: Vec<plots::Curve> = reports
                .iter()
                .map(|r| plots::Curve {
                    label: r.name.clone(),
                    bins: &r.metrics.fake_rate_by_momentum,
                })
                .collect();
            let p2 = args.out.join("fake_rate_vs_p.png");
            plots::rate_vs_momentum(
                &p2,
                "fake rate vs estimated momentum",
                "fake rate [%]",
                &fake,
                (0.0, 30.0),
            )?;
            if let Some((name, events, geometry)) = groups.first()
                && let Some(hits) = events.first()
            {
                let tracker = &trackers
                    .iter()
                    .find(|(g, _)| g == geometry)
                    .expect("built above")
                    .1;
                let r = tracker.reconstruct(hits)?;
                let p3 = args.out.join("event_display.png");
                let title = format!(
                    "{name}: {} hits, {} track candidates",
                    hits.len(),
                    r.candidates.len()
                );
                plots::event_display(&p3, &title, hits, &r.candidates)?;
            }
            println!("plots written to {}", args.out.display());
        }
        Err(e) => println!("plots skipped: {e}"),
    }
    Ok(ExitCode::SUCCESS)
}

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
                peak_rss_bytes().unwrap_or(0) as f64 / (1 << 20) as f64
            )
        });
    }
    bar.finish_and_clear();
    println!(
        "peak RSS is the process high-water mark so far (intensities run in increasing order)"
    );
    Ok(ExitCode::SUCCESS)
}
