//! The edge filter of the graph stage with the small models of
//! `tests/models/make_test_models.py` (`make test-models`): the edges it keeps against its
//! known function on the real xi = 3 crossing, the features it hands to the edge classifier,
//! and the errors of unusable models and settings. The bundled filter, end to end, is in the
//! tools package (`tools/tests/pipeline.rs`).
//!
//! onnxruntime is found by the library's own discovery (the `.venv` that `make test` creates).

mod common;

use std::path::PathBuf;

use gnntrack::error::ErrorKind;
use gnntrack::features::{GraphFeatures, graph_features};
use gnntrack::geometry::Detector;
use gnntrack::graph::{Graph, GraphBuilder, GraphConfig};
use gnntrack::hits::{HitTolerance, Hits, ValidatedHits, read_hits};
use gnntrack::pipeline::{Tracker, TrackerConfig};

/// Same number as in make_test_models.py: logit = dy / 0.5 + x(inner) / 500 - SHIFT.
const SHIFT: f64 = 0.4;

fn model(name: &str) -> PathBuf {
    common::test_model(name, "filter.onnx")
}

/// The filter `name` on every graph, however sparse (the real crossing has fewer edges than
/// hits).
fn filtered(name: &str) -> GraphConfig {
    GraphConfig {
        edge_filter: true,
        filter_min_edges_per_hit: 0.0,
        filter_model: Some(model(name)),
        ..GraphConfig::default()
    }
}

/// The graphs of the windows alone.
fn unfiltered() -> GraphConfig {
    let mut config = GraphConfig::default();
    config.without_edge_filter();
    config
}

/// The graph of the windows alone of `hits`.
fn windows_graph(hits: &ValidatedHits<'_>, d: &Detector) -> Graph {
    GraphBuilder::new(d, &unfiltered())
        .unwrap()
        .build(hits)
        .unwrap()
}

fn real_crossing() -> (Hits, Detector) {
    let (hits, _) = read_hits(&common::shared_data("luxe_xi3_sl.csv")).unwrap();
    (hits, Detector::preset("luxe-sl").unwrap())
}

/// The edges of `graph` whose known logit reaches `logit_cut`, in order.
fn expected(hits: &Hits, graph: &Graph, logit_cut: f64) -> Graph {
    let mut out = Graph {
        n_nodes: graph.n_nodes,
        ..Graph::default()
    };
    for e in 0..graph.len() {
        let (s, d) = (graph.src[e] as usize, graph.dst[e] as usize);
        let logit = (hits.y[d] - hits.y[s]) / 0.5 + hits.x[s] / 500.0 - SHIFT;
        if logit >= logit_cut {
            out.src.push(graph.src[e]);
            out.dst.push(graph.dst[e]);
            out.kind.push(graph.kind[e]);
        }
    }
    out
}

#[test]
fn the_filter_keeps_the_edges_scored_at_or_above_its_cut() {
    let (hits, d) = real_crossing();
    let valid = hits.validate(&d, &HitTolerance::default()).unwrap();
    let all = windows_graph(&valid, &d);
    let mut builder = GraphBuilder::new(&d, &filtered("filter.onnx")).unwrap();
    let (filter, cut) = builder.filter().unwrap();
    let filter = filter.clone();
    assert_eq!((filter.cut(), cut), (0.5, 0.5));
    let graph = builder.build(&valid).unwrap();
    let want = expected(&hits, &all, 0.0);
    assert_eq!(builder.dropped_by_filter(), Some(all.len() - want.len()));
    assert!(
        want.len() > all.len() / 10 && want.len() < all.len() * 9 / 10,
        "{} of {} edges kept",
        want.len(),
        all.len()
    );
    assert_eq!(graph, want);

    // The filter's probabilities, edge by edge.
    let p = filter
        .probabilities(&hits, &all, &GraphConfig::default().reference)
        .unwrap();
    assert_eq!(p.len(), all.len());
    assert!(p.iter().all(|p| (0.0..=1.0).contains(p)));

    // A cut in the configuration overrides the model's: 0.9 is a logit of ln 9.
    let config = GraphConfig {
        filter_cut: Some(0.9),
        ..filtered("filter.onnx")
    };
    let graph = GraphBuilder::new(&d, &config)
        .unwrap()
        .build(&valid)
        .unwrap();
    let want = expected(&hits, &all, 9f64.ln());
    assert_eq!(graph.len(), want.len());
    assert!(graph.len() < expected(&hits, &all, 0.0).len());
}

#[test]
fn the_filters_features_are_those_of_the_filtered_graph() {
    let (hits, d) = real_crossing();
    let valid = hits.validate(&d, &HitTolerance::default()).unwrap();
    let config = filtered("filter.onnx");
    let mut builder = GraphBuilder::new(&d, &config).unwrap();
    let graph = builder.build(&valid).unwrap();
    let fresh = graph_features(&hits, &graph, &["x"], &["dy"], &config.reference).unwrap();

    // Other features, or another order, are not handed over.
    let mut features = GraphFeatures::default();
    assert!(!builder.swap_filter_features(&mut features, &["x", "y"], &["dy"]));
    assert!(!builder.swap_filter_features(&mut features, &["x"], &["dx"]));
    assert_eq!(features, GraphFeatures::default());

    assert!(builder.swap_filter_features(&mut features, &["x"], &["dy"]));
    assert_eq!(features, fresh);
    // Handed over once per graph.
    assert!(!builder.swap_filter_features(&mut features, &["x"], &["dy"]));

    // The tracker with a filter gives the graph of the builder, and reconstructs tracks.
    let tracker = Tracker::new(TrackerConfig {
        geometry: "luxe-sl".into(),
        graph: config,
        ..TrackerConfig::default()
    })
    .unwrap();
    let r = tracker.reconstruct(&hits).unwrap();
    assert_eq!(r.graph, graph);
    assert!(!r.candidates.is_empty());
}

#[test]
fn the_filter_settings_are_not_compared_with_a_models_graph() {
    // The bundled filter with the bundled classifier, which was trained on cone graphs without
    // it: no mismatch, even where a mismatch is an error. A window still counts.
    let mut config = TrackerConfig::default();
    config.inference.graph_mismatch = gnntrack::inference::GraphMismatch::Error;
    config.set("graph.edge_filter", "true").unwrap();
    config.set("graph.filter_cut", "0.2").unwrap();
    let tracker = Tracker::new(config.clone()).unwrap();
    assert_eq!(tracker.config().graph.filter_cut, Some(0.2));
    config.set("graph.reference.z", "2000").unwrap();
    let e = Tracker::new(config).unwrap_err().to_string();
    assert!(e.contains("reference.z") && !e.contains("filter"), "{e}");
}

#[test]
fn unusable_filters_and_settings_are_errors_naming_the_problem() {
    let d = Detector::preset("luxe").unwrap();
    for (name, words, kind) in [
        (
            "filter_no_cut.onnx",
            &["gnntrack.filter.cut", "(not set)"][..],
            ErrorKind::ModelContract,
        ),
        (
            "filter_bad_cut.onnx",
            &["gnntrack.filter.cut", "1.5"],
            ErrorKind::ModelContract,
        ),
        (
            "filter_unknown_feature.onnx",
            &["banana"],
            ErrorKind::ModelContract,
        ),
        (
            "filter_unnamed.onnx",
            &["gnntrack.edge_features", "0 names for 1 columns"],
            ErrorKind::ModelContract,
        ),
        (
            "filter_values.onnx",
            &["gnntrack.output", "values"],
            ErrorKind::ModelContract,
        ),
        // A node-level model and an edge classifier are no edge filters.
        (
            "embedding.onnx",
            &["gnntrack.output_level", "node"],
            ErrorKind::ModelContract,
        ),
        (
            "linear.onnx",
            &["gnntrack.output_level"],
            ErrorKind::ModelContract,
        ),
        (
            "no_such_model.onnx",
            &["no_such_model.onnx"],
            ErrorKind::ModelUnreadable,
        ),
    ] {
        let e = GraphBuilder::new(&d, &filtered(name)).unwrap_err();
        common::assert_graph_error(&e, name, words, kind);
    }

    let mut config = TrackerConfig::default();
    config.set("graph.edge_filter", "false").unwrap();
    for (key, value, words) in [
        (
            "graph.filter_cut",
            "0.5",
            &["filter_cut", "edge_filter"][..],
        ),
        (
            "graph.filter_model",
            "f.onnx",
            &["filter_model", "f.onnx", "edge_filter"],
        ),
    ] {
        let e = config.set(key, value).unwrap_err().to_string();
        assert!(words.iter().all(|w| e.contains(w)), "{e}");
    }
    config.set("graph.edge_filter", "true").unwrap();
    for (key, value, words) in [
        (
            "graph.filter_cut",
            "1.5",
            &["filter_cut", "1.5", "probability"][..],
        ),
        (
            "graph.filter_min_edges_per_hit",
            "-1",
            &["filter_min_edges_per_hit", "-1", ">= 0"],
        ),
        (
            "graph.filter_min_edges_per_hit",
            "nan",
            &["filter_min_edges_per_hit", "NaN", "finite"],
        ),
    ] {
        let e = config.set(key, value).unwrap_err().to_string();
        assert!(words.iter().all(|w| e.contains(w)), "{key} = {value}: {e}");
    }
}

#[test]
fn the_filter_runs_only_on_graphs_dense_enough() {
    // On by default, from 1.5 edges per hit.
    let default = GraphConfig::default();
    assert!(default.edge_filter);
    assert_eq!(default.filter_min_edges_per_hit, 1.5);

    // The real crossing: its graph's density decides, the bound counting as dense enough.
    let (hits, d) = real_crossing();
    let valid = hits.validate(&d, &HitTolerance::default()).unwrap();
    let all = windows_graph(&valid, &d);
    let density = all.len() as f64 / hits.len() as f64;
    let kept = expected(&hits, &all, 0.0);
    assert!(kept.len() < all.len());
    for (bound, runs) in [
        (0.0, true),
        (density, true),
        (density * 1.001, false),
        (1.5, false),
    ] {
        let config = GraphConfig {
            filter_min_edges_per_hit: bound,
            ..filtered("filter.onnx")
        };
        let mut builder = GraphBuilder::new(&d, &config).unwrap();
        let graph = builder.build(&valid).unwrap();
        let mut features = GraphFeatures::default();
        let handed = builder.swap_filter_features(&mut features, &["x"], &["dy"]);
        if runs {
            assert_eq!(graph, kept, "bound {bound}");
            assert_eq!(builder.dropped_by_filter(), Some(all.len() - kept.len()));
        } else {
            assert_eq!(graph, all, "bound {bound}");
            assert_eq!(builder.dropped_by_filter(), None);
        }
        assert_eq!(handed, runs, "bound {bound}: features handed over");
        // The configuration reads back from its TOML with the bound.
        assert_eq!(
            GraphConfig::from_toml_str(&config.to_toml()).unwrap(),
            config
        );
    }
    // Off, the filter does not run whatever the density.
    let mut builder = GraphBuilder::new(&d, &unfiltered()).unwrap();
    assert_eq!(builder.build(&valid).unwrap(), all);
    assert_eq!(builder.dropped_by_filter(), None);
    assert!(builder.filter().is_none());
}

#[test]
fn a_relative_filter_model_is_taken_from_the_configuration_file_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model("filter.onnx"), dir.path().join("f.onnx")).unwrap();
    let graph_file = dir.path().join("graph.toml");
    std::fs::write(
        &graph_file,
        "edge_filter = true\nfilter_model = \"f.onnx\"\nfilter_cut = 0.7\n",
    )
    .unwrap();
    let config = GraphConfig::from_toml_file(&graph_file).unwrap();
    assert_eq!(config.filter_model, Some(dir.path().join("f.onnx")));
    assert_eq!(config.filter_cut, Some(0.7));
    assert_eq!(
        GraphConfig::from_toml_str(&config.to_toml()).unwrap(),
        config
    );
    let d = Detector::preset("luxe").unwrap();
    let builder = GraphBuilder::new(&d, &config).unwrap();
    assert_eq!(builder.filter().unwrap().1, 0.7);

    let tracker_file = dir.path().join("tracker.toml");
    std::fs::write(
        &tracker_file,
        "[graph]\nedge_filter = true\nfilter_model = \"f.onnx\"\n",
    )
    .unwrap();
    let config = TrackerConfig::from_toml_file(&tracker_file).unwrap();
    assert_eq!(config.graph.filter_model, Some(dir.path().join("f.onnx")));
    Tracker::new(config).unwrap();
}
