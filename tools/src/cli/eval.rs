//! `gnntrack eval`: efficiency, fake and duplicate rates with 95 % intervals over simulated
//! crossings or files.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use gnntrack::geometry::Detector;
use gnntrack::hits::{Hits, read_hits};
use gnntrack::pipeline::Tracker;
use gnntrack::tracks::build_candidates;
use gnntrack_tools::eval::{
    MergedHits, Rate, TrackMetrics, bootstrap_rate, score_bx, score_bx_with_momenta, true_tracks,
    truth_edge_scores,
};
use gnntrack_tools::sim::{SimConfig, simulate_bx};

use super::markdown;
use super::plots;
use super::reconstruct::{TrackerArgs, candidate_hits, check_output_folder, edge_counts};
use super::{CliResult, SIMULATION_GEOMETRY, default_geometry};

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
    /// Also build tracks from a perfect edge classifier's scores (truth) and report them: what
    /// track building loses by itself.
    #[arg(long)]
    pub truth_edges: bool,
    /// Write the results as a Markdown table into this file, in the section of this command
    /// line (replaced on a rerun, the rest of the file kept), e.g. `docs/results.md`.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
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
    /// Track building on a perfect classifier's edge scores, scored by `rule` (with
    /// `--truth-edges`).
    truth_edge_metrics: Option<TrackMetrics>,
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
    candidates: f64,
    total: f64,
}

fn evaluate_group(
    tracker: &Tracker,
    name: &str,
    events: &[Hits],
    merged_hits: MergedHits,
    truth_edges: bool,
    bar: &indicatif::ProgressBar,
) -> Result<GroupReport, Box<dyn std::error::Error>> {
    let (mut counts, mut other_counts, mut perfect_counts) = (Vec::new(), Vec::new(), Vec::new());
    let mut truth_edge_counts = Vec::new();
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
        times.candidates += 1e3 * r.times.candidates;
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
        if truth_edges {
            let pairs: Vec<(u32, u32)> = r.graph.pairs().collect();
            let scores = truth_edge_scores(hits, &pairs).ok_or("no truth")?;
            let built = build_candidates(hits, &pairs, &scores, &tracker.config().tracks);
            let built: Vec<Vec<u32>> = built.into_iter().map(|c| c.hits).collect();
            truth_edge_counts.push(score_bx(hits, &built, merged_hits).ok_or("no truth")?);
        }
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
        &mut times.candidates,
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
        truth_edge_metrics: truth_edges.then(|| TrackMetrics::from_counts(&truth_edge_counts)),
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
    if let Some(t) = &g.truth_edge_metrics {
        println!(
            "tracks from a perfect edge classifier ({}): efficiency {:.3} %, fake rate {:.3} %",
            g.rule,
            100.0 * t.efficiency.value,
            100.0 * t.fake_rate.value
        );
    }
    println!("edge efficiency after GNN    {}", g.edge_efficiency);
    println!("edge purity after GNN        {}", g.edge_purity);
    let t = &g.mean_times_ms;
    println!(
        "mean times: graph {:.1} ms, features {:.1} ms, inference {:.1} ms, tracks {:.1} ms, candidates {:.1} ms, total {:.1} ms",
        t.graph, t.features, t.inference, t.tracks, t.candidates, t.total
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

/// `bx` simulated crossings at intensity `xi` (seed `seed + xi`, as `gnntrack eval` draws them).
pub(super) fn simulate_crossings(
    detector: &Detector,
    xi: u8,
    field: f64,
    merge_pixels: f64,
    seed: u64,
    bx: u64,
) -> Result<Vec<Hits>, Box<dyn std::error::Error>> {
    let mut sim = SimConfig::e_laser(xi)?;
    sim.magnet.field_t = field;
    sim.merge_distance_pixels = merge_pixels;
    sim.validate()?;
    Ok((0..bx)
        .map(|b| simulate_bx(detector, &sim, seed + u64::from(xi), b).map(|e| e.hits))
        .collect::<Result<Vec<_>, _>>()?)
}

/// Runs `gnntrack eval`.
pub fn eval(args: EvalArgs) -> CliResult {
    if let Some(md) = &args.markdown {
        check_output_folder(md)?;
    }
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
            let detector =
                Detector::from_name_or_path(&args.tracker.config(SIMULATION_GEOMETRY)?.geometry)?;
            let events = simulate_crossings(
                &detector,
                xi,
                args.field,
                args.merge_pixels,
                args.seed,
                args.bx,
            )?;
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
        let report = evaluate_group(
            &trackers[idx].1,
            name,
            events,
            args.merged_hits,
            args.truth_edges,
            &bar,
        )?;
        bar.suspend(|| print_group(&report));
        reports.push(report);
    }
    bar.finish_and_clear();
    std::fs::create_dir_all(&args.out)?;
    let path = args.out.join("eval.json");
    std::fs::write(&path, serde_json::to_string_pretty(&reports)?)?;
    println!("\nreport written to {}", path.display());
    if let Some(md) = &args.markdown {
        markdown::publish(md, &markdown_report(&reports))?;
    }
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

/// The groups as a Markdown table: the figures by the chosen rule with their intervals, the
/// other rule's beside, the truth's own tracks (the rule's ceiling) and, when measured, track
/// building on a perfect classifier's scores. Times are left to `bench pipeline`.
fn markdown_report(reports: &[GroupReport]) -> String {
    let pct = |r: &Rate| {
        format!(
            "{:.2} % [{:.2}, {:.2}]",
            100.0 * r.value,
            100.0 * r.low,
            100.0 * r.high
        )
    };
    let pair = |m: &TrackMetrics| {
        format!(
            "{:.2} % / {:.2} %",
            100.0 * m.efficiency.value,
            100.0 * m.fake_rate.value
        )
    };
    let with_truth_edges = reports.iter().any(|g| g.truth_edge_metrics.is_some());
    let mut header = vec![
        "group",
        "crossings",
        "efficiency",
        "strict",
        "fake rate",
        "duplicates",
        "other rule: eff. / fakes",
        "truth's own tracks: eff. / fakes",
    ];
    if with_truth_edges {
        header.push("perfect edges: eff. / fakes");
    }
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|g| {
            let m = &g.metrics;
            let mut row = vec![
                g.name.clone(),
                m.n_bx.to_string(),
                pct(&m.efficiency),
                format!("{:.2} %", 100.0 * m.efficiency_strict.value),
                pct(&m.fake_rate),
                format!("{:.2} %", 100.0 * m.duplicate_rate.value),
                pair(&g.other_metrics),
                pair(&g.perfect_metrics),
            ];
            if with_truth_edges {
                row.push(g.truth_edge_metrics.as_ref().map_or("-".into(), pair));
            }
            row
        })
        .collect();
    let rule = reports.first().map_or("", |g| g.rule);
    let other = reports.first().map_or("", |g| g.other_rule);
    let mut text = format!(
        "Rule: {rule} (other rule: {other}); 95 % bootstrap intervals over crossings; times \
         are `gnntrack bench pipeline`'s.\n\n{}",
        markdown::table(&header, &rows)
    );
    if reports.iter().any(|g| g.mean_times_ms.candidates > 0.0) {
        let times: Vec<String> = reports
            .iter()
            .map(|g| {
                format!(
                    "{}: {:.1} ms of {:.1} ms",
                    g.name, g.mean_times_ms.candidates, g.mean_times_ms.total
                )
            })
            .collect();
        text.push_str(&format!(
            "\nCandidate classifier, mean time per crossing (of the whole reconstruction, this run): {}.\n",
            times.join(", ")
        ));
    }
    text
}
