//! `gnntrack export-candidates`: the track candidates of simulated crossings, with their
//! features and genuine / fake labels, for training a candidate classifier.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use gnntrack::candidates::{all_candidate_feature_names, candidate_feature_specs};
use gnntrack::geometry::Detector;
use gnntrack::pipeline::Tracker;
use gnntrack_tools::export::{candidate_arrays, feature_entries, write_npz};

use super::eval::simulate_crossings;
use super::reconstruct::TrackerArgs;
use super::{CliResult, SIMULATION_GEOMETRY};

/// Options of `gnntrack export-candidates`.
#[derive(Debug, Args)]
pub struct ExportCandidatesArgs {
    /// Intensities to simulate, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "5,7")]
    pub xi: Vec<u8>,
    /// Crossings per intensity.
    #[arg(long, default_value_t = 20)]
    pub bx: u64,
    /// Random seed (crossings of intensity xi use seed + xi). The default differs from the
    /// report seeds of `gnntrack eval` (1000).
    #[arg(long, default_value_t = 2000)]
    pub seed: u64,
    /// Dipole field of the simulated crossings, T.
    #[arg(long, default_value_t = 0.95)]
    pub field: f64,
    /// Hits of two particles on one chip closer than this many pixels merge.
    #[arg(long, default_value_t = 2.0)]
    pub merge_pixels: f64,
    /// Candidate features, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Output folder (created if missing): one `.npz` per crossing and `manifest.json`.
    #[arg(long)]
    pub out: PathBuf,
    /// Tracker options (the candidates are those of this tracker).
    #[command(flatten)]
    pub tracker: TrackerArgs,
}

/// Runs `gnntrack export-candidates`.
pub fn export_candidates(args: ExportCandidatesArgs) -> CliResult {
    let names: Vec<String> = args.features.clone().unwrap_or_else(|| {
        all_candidate_feature_names()
            .into_iter()
            .map(str::to_string)
            .collect()
    });
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let specs = candidate_feature_specs(&refs)?;
    let config = args.tracker.config(SIMULATION_GEOMETRY)?;
    let detector = Detector::from_name_or_path(&config.geometry)?;
    let tracker = Tracker::new(config)?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let mut files = Vec::new();
    for &xi in &args.xi {
        let events = simulate_crossings(
            &detector,
            xi,
            args.field,
            args.merge_pixels,
            args.seed,
            args.bx,
        )?;
        let (mut genuine, mut fakes) = (0usize, 0usize);
        for (bx, hits) in events.iter().enumerate() {
            let r = tracker.reconstruct(hits)?;
            let arrays =
                candidate_arrays(hits, &r, &specs).ok_or("the simulated hits carry no truth")?;
            let labels = arrays
                .iter()
                .find(|a| a.name == "label")
                .map(|a| a.data.clone())
                .unwrap_or_default();
            let g = labels.iter().filter(|&&l| l == 1).count();
            genuine += g;
            fakes += labels.len() - g;
            let file = format!("xi{xi}_bx{bx:04}.npz");
            write_npz(&args.out.join(&file), &arrays)?;
            files.push(serde_json::json!({
                "file": file, "xi": xi, "bx": bx, "candidates": labels.len(), "fakes": labels.len() - g,
            }));
        }
        println!(
            "xi = {xi}: {} crossings, {genuine} genuine and {fakes} fake candidates",
            events.len()
        );
    }
    let manifest = serde_json::json!({
        "format": "gnntrack-candidates",
        "gnntrack_version": gnntrack::VERSION,
        "seed": args.seed,
        "feature_transform": "(raw - offset) / scale",
        "node_features": feature_entries(&specs),
        "label": "1 when the candidate matches a positron under the double-majority rule with one particle per hit (merged hits belong to the positron with most parts), else 0",
        "arrays": {
            "node_features": "float32 [N, features]",
            "edge_index": "int64 [2, E]: consecutive hits (in z) of one candidate, both ways",
            "graph_index": "int64 [N]: candidate of each hit",
            "label": "uint8 [G]",
            "owner": "int64 [G, 2]: positrons the candidate matches, 0 = none",
            "reconstructable": "int64 [R]: positrons with at least 3 hits"
        },
        "files": files,
    });
    let path = args.out.join("manifest.json");
    std::fs::write(&path, serde_json::to_string_pretty(&manifest)?)?;
    println!(
        "{} crossings written to {}",
        files.len(),
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}
