//! The candidate classifier stage on simulated crossings: the known-function test model of
//! `tests/models/make_test_models.py` (`make test-models`) drops exactly the candidates it
//! should and flags the rest with their quality; models the tracker must refuse; the bundled
//! candidate model runs in the pipeline.

use std::path::PathBuf;

use gnntrack::candidates::{CandidateAction, candidate_feature_specs, candidate_graphs};
use gnntrack::geometry::Detector;
use gnntrack::hits::Hits;
use gnntrack::pipeline::{Tracker, TrackerConfig, TrackerError};
use gnntrack_tools::eval::{MergedHits, score_bx};
use gnntrack_tools::export::candidate_arrays;
use gnntrack_tools::sim::{SimConfig, simulate_bx};

mod common;

/// Same numbers as in make_test_models.py: logit = 20 (n_hits - 4) / 4 + 1.
fn known_quality(n_hits: usize) -> f32 {
    let logit = 20.0 * (n_hits as f64 - 4.0) / 4.0 + 1.0;
    (1.0 / (1.0 + (-logit).exp())) as f32
}

fn test_model(name: &str) -> PathBuf {
    let dir = std::env::var_os("GNNTRACK_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-models"));
    assert!(
        dir.join("candidate.onnx").exists(),
        "candidate test models not found in {}: run `make test-models` (or `make test`)",
        dir.display()
    );
    dir.join(name)
}

fn crossing(xi: u8, seed: u64) -> Hits {
    let detector = Detector::from_name_or_path("luxe").unwrap();
    simulate_bx(&detector, &SimConfig::e_laser(xi).unwrap(), seed, 0)
        .unwrap()
        .hits
}

fn tracker(model: Option<PathBuf>, action: CandidateAction, cut: Option<f32>) -> Tracker {
    let mut config = TrackerConfig::default();
    config.inference.intra_threads = 1;
    config.tracks.candidate_model = model;
    config.tracks.candidate_action = action;
    config.tracks.candidate_cut = cut;
    Tracker::new(config).unwrap()
}

#[test]
fn the_known_model_drops_exactly_the_three_hit_candidates() {
    let hits = crossing(3, 31);
    let plain = tracker(None, CandidateAction::Drop, None)
        .reconstruct(&hits)
        .unwrap();
    assert!(plain.candidate_quality.is_empty() && plain.candidate_cut.is_none());
    assert_eq!(plain.times.candidates, 0.0);
    let short = plain
        .candidates
        .iter()
        .filter(|c| c.hits.len() == 3)
        .count();
    assert!(
        short > 0 && short < plain.candidates.len(),
        "the crossing needs 3-hit and longer candidates: {short} of {}",
        plain.candidates.len()
    );

    let model = Some(test_model("candidate.onnx"));
    let dropped = tracker(model.clone(), CandidateAction::Drop, None)
        .reconstruct(&hits)
        .unwrap();
    // The model's recommended cut (0.5) is in force.
    assert_eq!(dropped.candidate_cut, Some(0.5));
    let expected: Vec<&Vec<u32>> = plain
        .candidates
        .iter()
        .filter(|c| c.hits.len() >= 4)
        .map(|c| &c.hits)
        .collect();
    let kept: Vec<&Vec<u32>> = dropped.candidates.iter().map(|c| &c.hits).collect();
    assert_eq!(kept, expected);
    assert_eq!(dropped.candidate_quality.len(), kept.len());
    assert!(dropped.times.candidates > 0.0);

    let flagged = tracker(model.clone(), CandidateAction::Flag, None)
        .reconstruct(&hits)
        .unwrap();
    assert_eq!(flagged.candidates, plain.candidates);
    for (c, &q) in flagged.candidates.iter().zip(&flagged.candidate_quality) {
        assert!(
            (q - known_quality(c.hits.len())).abs() < 1e-5,
            "{} hits: quality {q}",
            c.hits.len()
        );
    }
    // A configured cut overrides the model's: above the quality of 4 hits (0.73), only
    // candidates of 5 and more hits stay.
    let strict = tracker(model, CandidateAction::Drop, Some(0.9))
        .reconstruct(&hits)
        .unwrap();
    assert_eq!(strict.candidate_cut, Some(0.9));
    assert!(strict.candidates.iter().all(|c| c.hits.len() >= 5));
    assert_eq!(
        strict.candidates.len(),
        plain
            .candidates
            .iter()
            .filter(|c| c.hits.len() >= 5)
            .count()
    );
}

#[test]
fn the_batch_features_of_the_known_model_give_its_quality() {
    // The features the stage computes are those of `candidate_graphs` in the model's order.
    let hits = crossing(3, 32);
    let r = tracker(None, CandidateAction::Drop, None)
        .reconstruct(&hits)
        .unwrap();
    let specs = candidate_feature_specs(&["n_hits", "chi2_ndf"]).unwrap();
    let g = candidate_graphs(&hits, &r.candidates, &r.graph, &r.scores, &specs);
    assert_eq!(g.n_graphs, r.candidates.len());
    for (row, &c) in g.graph_index.iter().enumerate() {
        let n = r.candidates[c as usize].hits.len();
        assert_eq!(g.node_features[2 * row], (n as f32 - 4.0) / 4.0);
    }
}

fn refusal(model: &str, set: &[(&str, &str)]) -> String {
    let mut config = TrackerConfig::default();
    config.tracks.candidate_model = Some(test_model(model));
    for (k, v) in set {
        if let Err(e) = config.set(k, v) {
            return e.to_string();
        }
    }
    match Tracker::new(config) {
        Ok(_) => panic!("{model} with {set:?} was accepted"),
        Err(e) => {
            assert!(matches!(e, TrackerError::Config(_)), "{e}");
            e.to_string()
        }
    }
}

#[test]
fn models_and_values_the_stage_cannot_use_are_refused_with_the_reason() {
    let e = refusal("graph_node.onnx", &[]);
    assert!(e.contains("graph-level"), "{e}");
    let e = refusal("graph_graph.onnx", &[]);
    assert!(e.contains("output_width"), "{e}");
    let e = refusal("candidate_unknown_feature.onnx", &[]);
    assert!(e.contains("curvature") && e.contains("res_x"), "{e}");
    let e = refusal("candidate_other_scale.onnx", &[]);
    assert!(e.contains("n_hits") && e.contains("scale 8"), "{e}");
    let e = refusal("candidate_bad_cut.onnx", &[]);
    assert!(e.contains("1.5") && e.contains("0..1"), "{e}");
    let e = refusal("candidate.onnx", &[("tracks.candidate_cut", "-0.1")]);
    assert!(
        e.contains("tracks.candidate_cut") && e.contains("-0.1"),
        "{e}"
    );
    let e = refusal("candidate.onnx", &[("tracks.candidate_action", "hide")]);
    assert!(
        e.contains("tracks.candidate_action") && e.contains("hide"),
        "{e}"
    );
    // An empty path is the stage turned off.
    let mut config = TrackerConfig::default();
    config.set("tracks.candidate_model", "\"\"").unwrap();
    assert!(
        Tracker::new(config)
            .unwrap()
            .candidate_classifier()
            .is_none()
    );
}

#[test]
fn the_bundled_candidate_model_runs_in_the_pipeline() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/gnntrack_candidates.onnx");
    let hits = crossing(5, 33);
    let plain = tracker(None, CandidateAction::Drop, None)
        .reconstruct(&hits)
        .unwrap();
    let flagged = tracker(Some(path.clone()), CandidateAction::Flag, None)
        .reconstruct(&hits)
        .unwrap();
    assert_eq!(flagged.candidates, plain.candidates);
    assert_eq!(flagged.candidate_quality.len(), plain.candidates.len());
    assert!(
        flagged
            .candidate_quality
            .iter()
            .all(|q| (0.0..=1.0).contains(q))
    );
    let cut = flagged.candidate_cut.unwrap();
    let dropped = tracker(Some(path), CandidateAction::Drop, None)
        .reconstruct(&hits)
        .unwrap();
    let above = flagged
        .candidate_quality
        .iter()
        .filter(|&&q| q >= cut)
        .count();
    assert_eq!(dropped.candidates.len(), above);
    assert!(dropped.candidate_quality.iter().all(|&q| q >= cut));
}

#[test]
fn exported_labels_are_the_fakes_of_the_evaluation() {
    let hits = crossing(5, 34);
    let r = tracker(None, CandidateAction::Drop, None)
        .reconstruct(&hits)
        .unwrap();
    let specs = candidate_feature_specs(&["x", "res_x", "n_hits"]).unwrap();
    let arrays = candidate_arrays(&hits, &r, &specs).unwrap();
    let get = |name: &str| arrays.iter().find(|a| a.name == name).unwrap();
    let labels = &get("label").data;
    assert_eq!(labels.len(), r.candidates.len());
    let lists: Vec<Vec<u32>> = r.candidates.iter().map(|c| c.hits.clone()).collect();
    let counts = score_bx(&hits, &lists, MergedHits::Majority).unwrap();
    assert!(counts.fakes > 0, "the crossing needs fakes");
    assert_eq!(labels.iter().filter(|&&l| l == 0).count(), counts.fakes);
    // A genuine candidate has an owner, a fake none.
    let owner: Vec<i64> = get("owner")
        .data
        .chunks(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    for (k, &l) in labels.iter().enumerate() {
        assert_eq!(l == 1, owner[2 * k] > 0, "candidate {k}");
    }
    assert_eq!(get("reconstructable").shape, vec![counts.reconstructable]);
    let nodes: usize = r.candidates.iter().map(|c| c.hits.len()).sum();
    assert_eq!(get("node_features").shape, vec![nodes, 3]);
    assert_eq!(
        get("edge_index").shape,
        vec![2, 2 * (nodes - r.candidates.len())]
    );
}

#[test]
fn export_candidates_writes_archives_and_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::gnntrack_ok(
        dir.path(),
        &[
            "export-candidates",
            "--xi",
            "3",
            "--bx",
            "2",
            "--features",
            "x,score_in,p",
            "--out",
            "cands",
        ],
    );
    assert!(out.contains("xi = 3: 2 crossings"), "{out}");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("cands/manifest.json")).unwrap(),
    )
    .unwrap();
    let names: Vec<&str> = manifest["node_features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["x", "score_in", "p"]);
    assert_eq!(manifest["node_features"][2]["scale"].as_f64(), Some(10.0));
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    for f in files {
        assert!(f["candidates"].as_u64().unwrap() > 0);
        assert!(
            dir.path()
                .join("cands")
                .join(f["file"].as_str().unwrap())
                .is_file()
        );
    }
}
