//! The learned-space graph builder with the small embedding models of
//! `tests/models/make_test_models.py` (`make test-models`): its edges against a brute-force
//! radius search of the same known embedding on the real xi = 3 crossing, and the errors of
//! unusable models and settings. A simulated crossing with the bundled model is in the tools
//! package (`tools/tests/pipeline.rs`).
//!
//! onnxruntime is found by the library's own discovery (the `.venv` that `make test` creates).

mod common;

use std::path::PathBuf;

use gnntrack::error::ErrorKind;
use gnntrack::geometry::Detector;
use gnntrack::graph::{BuilderKind, Graph, GraphBuilder, GraphConfig, Reference};
use gnntrack::hits::{HitTolerance, Hits, read_hits};
use gnntrack::pipeline::{Tracker, TrackerConfig};

/// Same numbers as in make_test_models.py: embedding = (u / 0.3 * 300, v / 0.002 * 2).
const GAIN: [f32; 2] = [300.0, 2.0];
const RADIUS: f64 = 0.5;
const MAX_NEIGHBOURS: usize = 3;

fn model(name: &str) -> PathBuf {
    common::test_model(name, "embedding.onnx")
}

/// The learned builder's graph, without the edge filter (the filter takes the cone windows'
/// edges; its tests are in filter.rs).
fn learned(name: &str) -> GraphConfig {
    let mut config = GraphConfig {
        builder: BuilderKind::Learned,
        embedding_model: Some(model(name)),
        skip_edges: false,
        ..GraphConfig::default()
    };
    config.without_edge_filter();
    config
}

/// Next-layer edges of the single-stave geometry by comparing every pair: the outer hits of the
/// next layer within `radius` of the known embedding, the `k` nearest of them.
fn brute_force(hits: &Hits, radius: f64, k: usize) -> Graph {
    let r = Reference::default();
    let e: Vec<[f32; 2]> = (0..hits.len())
        .map(|i| {
            let u = (r.u(hits.x[i], hits.z[i]) / 0.3) as f32;
            let v = (r.v(hits.y[i], hits.z[i]) / 0.002) as f32;
            [u * GAIN[0], v * GAIN[1]]
        })
        .collect();
    let mut graph = Graph {
        n_nodes: hits.len(),
        ..Graph::default()
    };
    let r2 = (radius * radius) as f32;
    for i in 0..hits.len() {
        let mut near: Vec<(f32, u32)> = (0..hits.len())
            .filter(|&j| hits.layer[j] == hits.layer[i] + 1)
            .map(|j| {
                let d = [e[i][0] - e[j][0], e[i][1] - e[j][1]];
                (d[0] * d[0] + d[1] * d[1], j as u32)
            })
            .filter(|&(d2, _)| d2 <= r2)
            .collect();
        near.sort_by(|a, b| a.0.total_cmp(&b.0));
        near.truncate(k);
        let mut outer: Vec<u32> = near.into_iter().map(|(_, j)| j).collect();
        outer.sort();
        for j in outer {
            graph.src.push(i as u32);
            graph.dst.push(j);
            graph.kind.push(gnntrack::graph::EdgeKind::Next);
        }
    }
    graph
}

#[test]
fn edges_equal_a_brute_force_radius_search_of_the_embedding() {
    let (hits, _) = read_hits(&common::shared_data("luxe_xi3_sl.csv")).unwrap();
    let d = Detector::preset("luxe-sl").unwrap();
    let valid = hits.validate(&d, &HitTolerance::default()).unwrap();
    let mut builder = GraphBuilder::new(&d, &learned("embedding.onnx")).unwrap();
    let (embedder, search) = builder.embedder().unwrap();
    assert_eq!(embedder.dim(), 2);
    assert_eq!(
        (search.radius, search.max_neighbours),
        (RADIUS, MAX_NEIGHBOURS)
    );
    let graph = builder.build(&valid).unwrap();
    let expected = brute_force(&hits, RADIUS, MAX_NEIGHBOURS);
    assert!(expected.len() > hits.len() / 2, "{} edges", expected.len());
    assert_eq!(graph, expected);

    // The configuration overrides the model's search.
    let config = GraphConfig {
        embedding_radius: Some(0.2),
        embedding_max_neighbours: Some(1),
        ..learned("embedding.onnx")
    };
    let graph = GraphBuilder::new(&d, &config)
        .unwrap()
        .build(&valid)
        .unwrap();
    assert_eq!(graph, brute_force(&hits, 0.2, 1));
    assert!(graph.len() < expected.len());
}

#[test]
fn unusable_models_and_settings_are_errors_naming_the_problem() {
    let d = Detector::preset("luxe").unwrap();
    for (name, words, kind) in [
        (
            "embedding_unknown_feature.onnx",
            &["banana", "the tracker knows"][..],
            ErrorKind::ModelContract,
        ),
        (
            "embedding_other_scale.onnx",
            &["`v`", "0.004", "0.002"],
            ErrorKind::ModelContract,
        ),
        (
            "embedding_no_radius.onnx",
            &["gnntrack.embedding.radius"],
            ErrorKind::ModelContract,
        ),
        // An edge classifier is not an embedding model.
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
        let e = GraphBuilder::new(&d, &learned(name)).unwrap_err();
        common::assert_graph_error(&e, name, words, kind);
    }

    // Through the tracker's configuration: the builder by name, and a model required.
    let mut config = TrackerConfig::default();
    let e = config.set("graph.builder", "knn").unwrap_err().to_string();
    assert!(e.contains("graph.builder") && e.contains("knn"), "{e}");
    let e = config
        .set("graph.builder", "learned")
        .unwrap_err()
        .to_string();
    assert!(e.contains("embedding_model"), "{e}");
    config
        .set(
            "graph.embedding_model",
            &model("embedding_unknown_feature.onnx")
                .display()
                .to_string(),
        )
        .unwrap();
    config.set("graph.builder", "learned").unwrap();
    let e = Tracker::new(config).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ModelContract);
    assert!(e.to_string().contains("banana"), "{e}");
}

#[test]
fn a_relative_embedding_model_is_taken_from_the_configuration_file_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(model("embedding.onnx"), dir.path().join("e.onnx")).unwrap();
    let graph_file = dir.path().join("graph.toml");
    std::fs::write(
        &graph_file,
        "builder = \"learned\"\nembedding_model = \"e.onnx\"\n",
    )
    .unwrap();
    let config = GraphConfig::from_toml_file(&graph_file).unwrap();
    assert_eq!(config.embedding_model, Some(dir.path().join("e.onnx")));
    let d = Detector::preset("luxe").unwrap();
    assert!(GraphBuilder::new(&d, &config).unwrap().embedder().is_some());

    let tracker_file = dir.path().join("tracker.toml");
    std::fs::write(
        &tracker_file,
        "[graph]\nbuilder = \"learned\"\nembedding_model = \"e.onnx\"\n",
    )
    .unwrap();
    let config = TrackerConfig::from_toml_file(&tracker_file).unwrap();
    assert_eq!(
        config.graph.embedding_model,
        Some(dir.path().join("e.onnx"))
    );
    Tracker::new(config).unwrap();
}
