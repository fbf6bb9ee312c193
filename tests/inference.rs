//! ONNX inference on the small models written by `tests/models/make_test_models.py`
//! (`make test-models`): results against Rust computations of the same functions, two different
//! models through one code path, every model-contract error, bad call arguments, concurrency and
//! the execution-provider choice.
//!
//! onnxruntime is found by the library's own discovery (the `.venv` that `make test` creates).

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use gnntrack::inference::{
    ActiveProvider, CandidateSource, ContractError, EdgeClassifier, EdgeIndex, FeatureKind,
    FeatureTable, GraphMismatch, InferenceConfig, InferenceError, LibrarySearch, OutputKind,
    Provider, library_candidates, runtime,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Same numbers as in make_test_models.py.
const LINEAR_W: [f64; 8] = [0.5, -0.25, 0.125, -0.5, 0.75, -0.0625, 1.5, -2.0];
const LINEAR_B: f64 = 0.1;
const MP_W: [f64; 4] = [0.3, -0.7, 0.2, 0.45];
const MP_B: f64 = -0.05;
const GRAPH_TOML: &str =
    "reference_z = 2054.0\nwindow_x = [0.01, 0.012, 0.014]\nskip_layers = false\n";

fn model(name: &str) -> PathBuf {
    common::test_model(name, "linear.onnx")
}

fn registry() -> FeatureTable {
    FeatureTable::new(
        &[("x", 1000.0), ("y", 10.0), ("z", 5000.0), ("layer", 1.0)],
        &[("dx", 100.0), ("dy", 1.0)],
    )
}

fn graph() -> toml::Table {
    GRAPH_TOML.parse().unwrap()
}

fn cpu() -> InferenceConfig {
    InferenceConfig {
        intra_threads: 1,
        ..InferenceConfig::default()
    }
}

fn load(name: &str) -> EdgeClassifier {
    EdgeClassifier::load(model(name), &cpu(), &registry(), Some(&graph()))
        .unwrap_or_else(|e| panic!("{e}"))
}

fn load_err(name: &str, config: &InferenceConfig, features: &FeatureTable) -> InferenceError {
    match EdgeClassifier::load(model(name), config, features, Some(&graph())) {
        Ok(c) => panic!("{name} loaded: {c:?}"),
        Err(e) => e,
    }
}

fn contract_err(name: &str) -> ContractError {
    match load_err(name, &cpu(), &registry()) {
        InferenceError::Contract { model, problem } => {
            assert!(model.ends_with(name), "{model}");
            problem
        }
        other => panic!("{name}: expected a contract error, got {other}"),
    }
}

/// A random event: `n` nodes with `fn_` features, `e` edges (with repeated targets, so that
/// aggregation sees duplicates), `fe` edge features.
struct Event {
    n: usize,
    x: Vec<f32>,
    src: Vec<u32>,
    dst: Vec<u32>,
    e_feat: Vec<f32>,
}

fn event(seed: u64, n: usize, fn_: usize, e: usize, fe: usize) -> Event {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..n * fn_)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    let src = (0..e).map(|_| rng.random_range(0..n as u32)).collect();
    // targets drawn from a tenth of the nodes: many edges share a target
    let dst = (0..e)
        .map(|_| rng.random_range(0..(n as u32 / 10).max(1)))
        .collect();
    let e_feat = (0..e * fe)
        .map(|_| rng.random::<f32>() * 2.0 - 1.0)
        .collect();
    Event {
        n,
        x,
        src,
        dst,
        e_feat,
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// sigmoid(w . [x[src], x[dst], e] + b)
fn linear_reference(ev: &Event) -> Vec<f64> {
    (0..ev.src.len())
        .map(|k| {
            let (s, d) = (ev.src[k] as usize, ev.dst[k] as usize);
            let mut row = Vec::with_capacity(8);
            row.extend(ev.x[3 * s..3 * s + 3].iter().map(|&v| v as f64));
            row.extend(ev.x[3 * d..3 * d + 3].iter().map(|&v| v as f64));
            row.extend(ev.e_feat[2 * k..2 * k + 2].iter().map(|&v| v as f64));
            sigmoid(row.iter().zip(LINEAR_W).map(|(a, w)| a * w).sum::<f64>() + LINEAR_B)
        })
        .collect()
}

/// h = x + sum over edges into each node of x[src]; sigmoid(w . [h[src], h[dst]] + b)
fn message_passing_reference(ev: &Event) -> Vec<f64> {
    let mut h: Vec<f64> = ev.x.iter().map(|&v| v as f64).collect();
    for (&s, &d) in ev.src.iter().zip(&ev.dst) {
        for c in 0..2 {
            h[2 * d as usize + c] += ev.x[2 * s as usize + c] as f64;
        }
    }
    ev.src
        .iter()
        .zip(&ev.dst)
        .map(|(&s, &d)| {
            let (s, d) = (s as usize, d as usize);
            let row = [h[2 * s], h[2 * s + 1], h[2 * d], h[2 * d + 1]];
            sigmoid(row.iter().zip(MP_W).map(|(a, w)| a * w).sum::<f64>() + MP_B)
        })
        .collect()
}

fn assert_close(got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len());
    let (k, diff) = got
        .iter()
        .zip(want)
        .map(|(&g, &w)| (g as f64 - w).abs())
        .enumerate()
        .fold((0, 0.0), |acc, (k, d)| if d > acc.1 { (k, d) } else { acc });
    assert!(
        diff <= tol,
        "edge {k}: got {}, want {} (|diff| = {diff:e})",
        got[k],
        want[k]
    );
}

/// The one scoring path both models go through: only the model path changes.
fn score_event(classifier: &EdgeClassifier, ev: &Event) -> Vec<f32> {
    let edge_features = classifier
        .info()
        .inputs
        .edge_features
        .as_ref()
        .map(|_| ev.e_feat.as_slice());
    classifier
        .score(
            &ev.x,
            ev.n,
            EdgeIndex::Pairs {
                src: &ev.src,
                dst: &ev.dst,
            },
            edge_features,
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn runtime_is_found_and_reports_itself() {
    let rt = runtime(&LibrarySearch::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(rt.version().is_some(), "{rt:?}");
    assert!(
        rt.library().to_string_lossy().contains("onnxruntime"),
        "{rt:?}"
    );
    // A second call returns the same runtime, whatever it asks for.
    let again = runtime(&LibrarySearch {
        path: Some("/nonexistent/libonnxruntime.so".into()),
        search: false,
    })
    .unwrap();
    assert!(std::ptr::eq(rt, again));
}

#[test]
fn candidates_come_in_the_documented_order() {
    let search = LibrarySearch {
        path: Some("/opt/ort/libonnxruntime.so".into()),
        search: true,
    };
    let c = library_candidates(&search);
    assert_eq!(c[0].path, PathBuf::from("/opt/ort/libonnxruntime.so"));
    assert_eq!(c[0].source, CandidateSource::Config);
    let rank = |s: &CandidateSource| match s {
        CandidateSource::Config => 0,
        CandidateSource::EnvVar => 1,
        CandidateSource::Installed => 2,
        CandidateSource::Python(_) => 3,
        CandidateSource::System => 4,
    };
    assert!(
        c.windows(2)
            .all(|w| rank(&w[0].source) <= rank(&w[1].source)),
        "{c:?}"
    );
    let tail: Vec<_> = c
        .iter()
        .rev()
        .take(2)
        .map(|c| c.path.to_string_lossy().to_string())
        .collect();
    assert_eq!(tail, ["libonnxruntime.so.1", "libonnxruntime.so"]);
    // The test setup's virtual environment is found as a Python package.
    assert!(
        c.iter()
            .any(|c| matches!(c.source, CandidateSource::Python(_))
                && c.path.to_string_lossy().contains(".venv")),
        "{c:?}"
    );
    let explicit_only = library_candidates(&LibrarySearch {
        path: Some("/x.so".into()),
        search: false,
    });
    assert!(
        explicit_only
            .iter()
            .all(|c| matches!(c.source, CandidateSource::Config | CandidateSource::EnvVar))
    );
}

#[test]
fn linear_model_matches_its_rust_computation() {
    let c = load("linear.onnx");
    let ev = event(1, 400, 3, 3000, 2);
    let want = linear_reference(&ev);
    let got = score_event(&c, &ev);
    assert_close(&got, &want, 1e-5);
    // the model outputs logits: the scores are probabilities
    assert!(got.iter().all(|&p| (0.0..=1.0).contains(&p)));
    assert!(got.iter().any(|&p| p < 0.3) && got.iter().any(|&p| p > 0.7));

    // The packed [2, E] layout gives the same scores.
    let packed: Vec<i64> = ev.src.iter().chain(&ev.dst).map(|&i| i as i64).collect();
    let got_packed = c
        .score(&ev.x, ev.n, EdgeIndex::Packed(&packed), Some(&ev.e_feat))
        .unwrap();
    assert_eq!(got, got_packed);
}

#[test]
fn two_models_through_the_same_code_path() {
    let ev = event(2, 300, 3, 2000, 2);
    let linear = load("linear.onnx");
    assert_close(&score_event(&linear, &ev), &linear_reference(&ev), 1e-5);

    // Same event, node features x and layer only: two columns.
    let ev2 = Event {
        x: ev.x.chunks(3).flat_map(|r| [r[0], r[2]]).collect(),
        ..ev
    };
    let mp = load("message_passing.onnx");
    assert_close(
        &score_event(&mp, &ev2),
        &message_passing_reference(&ev2),
        1e-5,
    );

    let (a, b) = (linear.info(), mp.info());
    assert_eq!(
        (a.name.as_str(), a.version.as_str()),
        ("linear-test", "1.0.0")
    );
    assert_eq!(
        (b.name.as_str(), b.version.as_str()),
        ("message-passing-test", "2.1")
    );
    assert_eq!(
        (a.output_kind, b.output_kind),
        (OutputKind::Logits, OutputKind::Probabilities)
    );
    assert_eq!((a.edge_cut, b.edge_cut), (0.5, 0.3));
    // input names and order come from each model
    assert_eq!(a.inputs.edge_index, "edge_index");
    assert_eq!(b.inputs.edge_index, "edges");
    assert_eq!(b.inputs.node_features, "hits");
    assert_eq!(b.inputs.edge_features, None);
    assert_eq!(a.output, "logits");
    assert_eq!(b.output, "edge_probability");
}

#[test]
fn metadata_is_read_into_model_info() {
    let c = load("linear.onnx");
    let info = c.info();
    let names: Vec<_> = info
        .node_features
        .iter()
        .map(|f| (f.name.as_ref(), f.scale))
        .collect();
    assert_eq!(names, [("x", 1000.0), ("y", 10.0), ("z", 5000.0)]);
    let names: Vec<_> = info
        .edge_features
        .iter()
        .map(|f| (f.name.as_ref(), f.scale))
        .collect();
    assert_eq!(names, [("dx", 100.0), ("dy", 1.0)]);
    // The offsets the model declares are recorded with the features.
    assert!(info.offsets_declared);
    assert!(
        (info.node_features.iter())
            .chain(&info.edge_features)
            .all(|f| f.offset == 0.0)
    );
    assert!(!load("message_passing.onnx").info().offsets_declared);
    assert_eq!(info.graph, graph());
    assert_eq!(info.inputs.edge_features.as_deref(), Some("edge_features"));
    assert_eq!(
        c.provider(),
        &ActiveProvider::Cpu {
            fallback_reason: None
        }
    );
    assert_eq!(c.sessions_created(), 1);
}

#[test]
fn float_inputs_named_by_metadata_can_come_in_any_order() {
    let ev = event(3, 100, 3, 500, 2);
    let c = load("linear_swapped_named.onnx");
    assert_eq!(c.info().inputs.node_features, "node_features");
    assert_close(&score_event(&c, &ev), &linear_reference(&ev), 1e-5);
}

#[test]
fn missing_metadata_is_named() {
    for key in [
        "gnntrack.contract",
        "gnntrack.model_name",
        "gnntrack.model_version",
        "gnntrack.node_features",
        "gnntrack.node_scales",
        "gnntrack.edge_features",
        "gnntrack.edge_scales",
        "gnntrack.output",
        "gnntrack.edge_cut",
        "gnntrack.graph",
    ] {
        let file = format!("missing_{}.onnx", key.trim_start_matches("gnntrack."));
        let e = contract_err(&file);
        assert_eq!(e, ContractError::MissingMetadata { key }, "{file}");
        assert!(e.to_string().contains(key));
    }
}

#[test]
fn bad_metadata_values_are_named() {
    let cases = [
        ("bad_output_kind.onnx", "gnntrack.output", "logit"),
        ("bad_edge_cut.onnx", "gnntrack.edge_cut", "high"),
        ("bad_scales.onnx", "gnntrack.node_scales", "1000,0,5000"),
        ("short_scales.onnx", "gnntrack.node_scales", "1000,10"),
        ("bad_offsets.onnx", "gnntrack.node_offsets", "0,abc,0"),
        ("short_offsets.onnx", "gnntrack.node_offsets", "0,0"),
        ("node_offsets_only.onnx", "gnntrack.node_offsets", "0,0,0"),
        ("bad_graph.onnx", "gnntrack.graph", "reference_z = "),
        ("bad_contract.onnx", "gnntrack.contract", "7"),
        ("bad_receptive_hops.onnx", "gnntrack.receptive_hops", "-1"),
        (
            "bad_max_intra_threads.onnx",
            "gnntrack.max_intra_threads",
            "0",
        ),
        (
            "edge_features_without_input.onnx",
            "gnntrack.edge_features",
            "dx",
        ),
    ];
    for (file, want_key, want_value) in cases {
        match contract_err(file) {
            ContractError::BadMetadata { key, value, reason } => {
                assert_eq!(
                    (key, value.as_str()),
                    (want_key, want_value),
                    "{file}: {reason}"
                );
            }
            other => panic!("{file}: {other}"),
        }
    }
}

#[test]
fn unknown_features_and_scale_or_offset_mismatches_are_errors() {
    match contract_err("unknown_feature.onnx") {
        ContractError::UnknownFeature { kind, name, known } => {
            assert_eq!((kind, name.as_str()), (FeatureKind::Node, "banana"));
            assert!(known.contains(&"x".to_string()));
        }
        other => panic!("{other}"),
    }
    // The tracker computes y with another scale than the model was trained with.
    let other_scale = FeatureTable::new(
        &[("x", 1000.0), ("y", 20.0), ("z", 5000.0)],
        &[("dx", 100.0), ("dy", 1.0)],
    );
    match load_err("linear.onnx", &cpu(), &other_scale) {
        InferenceError::Contract {
            problem:
                ContractError::ScaleMismatch {
                    kind,
                    name,
                    model,
                    tracker,
                },
            ..
        } => {
            assert_eq!(
                (kind, name.as_str(), model, tracker),
                (FeatureKind::Node, "y", 10.0, 20.0)
            );
        }
        other => panic!("{other}"),
    }
    // The tracker computes y with an offset the model was not trained with, and a model that
    // declares another offset than the tracker's: both name the feature and both values.
    let mut other_offset = registry();
    other_offset.node[1].offset = 3.0;
    for (file, features, model, tracker) in [
        ("linear.onnx", &other_offset, 0.0, 3.0),
        ("other_offsets.onnx", &registry(), 5.0, 0.0),
    ] {
        match load_err(file, &cpu(), features) {
            InferenceError::Contract {
                problem: problem @ ContractError::OffsetMismatch { .. },
                ..
            } => {
                assert_eq!(
                    problem,
                    ContractError::OffsetMismatch {
                        kind: FeatureKind::Node,
                        name: "y".into(),
                        model,
                        tracker
                    },
                    "{file}"
                );
                let text = problem.to_string();
                assert!(
                    text.contains("node feature `y` has offset")
                        && text.contains(&format!("{model} in the model but {tracker}")),
                    "{text}"
                );
            }
            other => panic!("{file}: {other}"),
        }
    }
    // A model without offsets is taken to use the tracker's, whatever they are.
    let mut mp_registry = registry();
    mp_registry.node[0].offset = 7.0;
    let mp = EdgeClassifier::load(
        model("message_passing.onnx"),
        &cpu(),
        &mp_registry,
        Some(&graph()),
    )
    .unwrap();
    assert_eq!(mp.info().node_features[0].offset, 7.0);
    // An edge feature the tracker lacks.
    let no_dy = FeatureTable::new(
        &[("x", 1000.0), ("y", 10.0), ("z", 5000.0)],
        &[("dx", 100.0)],
    );
    match load_err("linear.onnx", &cpu(), &no_dy) {
        InferenceError::Contract {
            problem: ContractError::UnknownFeature { kind, name, .. },
            ..
        } => {
            assert_eq!((kind, name.as_str()), (FeatureKind::Edge, "dy"));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn wrong_interfaces_are_named() {
    match contract_err("wrong_dtype.onnx") {
        ContractError::InputType { input, found } => {
            assert_eq!(input, "node_features");
            assert!(found.contains("float64"), "{found}");
        }
        other => panic!("{other}"),
    }
    match contract_err("wrong_rank.onnx") {
        ContractError::InputShape { input, shape, .. } => {
            assert_eq!(input, "node_features");
            assert_eq!(shape, "[1, N, 3]");
        }
        other => panic!("{other}"),
    }
    match contract_err("edge_index_transposed.onnx") {
        ContractError::InputShape {
            role, input, shape, ..
        } => {
            assert_eq!(
                (role, input.as_str(), shape.as_str()),
                ("edge_index", "edge_index", "[E, 2]")
            );
        }
        other => panic!("{other}"),
    }
    match contract_err("too_many_inputs.onnx") {
        ContractError::InputCount { names } => assert_eq!(names.len(), 4),
        other => panic!("{other}"),
    }
    match contract_err("two_int64_inputs.onnx") {
        ContractError::InputRoles { inputs, reason } => {
            assert_eq!(inputs.len(), 3);
            assert!(reason.contains("int64"), "{reason}");
        }
        other => panic!("{other}"),
    }
    match contract_err("two_outputs.onnx") {
        ContractError::OutputCount { names } => assert_eq!(names, ["logits", "wx"]),
        other => panic!("{other}"),
    }
    match contract_err("wrong_output_shape.onnx") {
        ContractError::Output { output, found } => {
            assert_eq!(output, "cat");
            assert!(found.contains("[E, 8]"), "{found}");
        }
        other => panic!("{other}"),
    }
    match contract_err("wrong_feature_count.onnx") {
        ContractError::FeatureCount {
            kind,
            input,
            columns,
            listed,
        } => {
            assert_eq!(
                (kind, input.as_str(), columns, listed),
                (FeatureKind::Node, "node_features", 3, 2)
            );
        }
        other => panic!("{other}"),
    }
    // Float inputs in the other order without naming metadata: taken by order, so the edge
    // features land in the node role and the column counts disagree.
    match contract_err("linear_swapped.onnx") {
        ContractError::FeatureCount {
            kind,
            input,
            columns,
            listed,
        } => {
            assert_eq!(
                (kind, input.as_str(), columns, listed),
                (FeatureKind::Node, "edge_features", 2, 3)
            );
        }
        other => panic!("{other}"),
    }
}

#[test]
fn unreadable_models_are_errors() {
    match load_err("not_a_model.onnx", &cpu(), &registry()) {
        InferenceError::ModelLoad { model, reason } => {
            assert!(model.ends_with("not_a_model.onnx"));
            assert!(!reason.is_empty());
        }
        other => panic!("{other}"),
    }
    match load_err("does_not_exist.onnx", &cpu(), &registry()) {
        InferenceError::ModelIo { model, .. } => assert!(model.ends_with("does_not_exist.onnx")),
        other => panic!("{other}"),
    }
}

#[test]
fn graph_parameter_differences_warn_or_fail_as_configured() {
    // default policy: a warning, the model loads
    let c = EdgeClassifier::load(
        model("linear_other_graph.onnx"),
        &cpu(),
        &registry(),
        Some(&graph()),
    )
    .unwrap();
    assert_eq!(c.info().graph["reference_z"].as_float(), Some(2000.0));
    // without tracker parameters nothing is compared
    EdgeClassifier::load(model("linear_other_graph.onnx"), &cpu(), &registry(), None).unwrap();
    let strict = InferenceConfig {
        graph_mismatch: GraphMismatch::Error,
        ..cpu()
    };
    match load_err("linear_other_graph.onnx", &strict, &registry()) {
        InferenceError::Contract {
            problem: ContractError::GraphMismatch { differences },
            ..
        } => {
            assert_eq!(differences.len(), 1, "{differences:?}");
            assert!(differences[0].contains("reference_z"), "{differences:?}");
        }
        other => panic!("{other}"),
    }
    // the matching model passes the strict check
    EdgeClassifier::load(model("linear.onnx"), &strict, &registry(), Some(&graph())).unwrap();
}

#[test]
fn bad_arguments_are_errors_not_panics() {
    let c = load("linear.onnx");
    let ev = event(4, 50, 3, 200, 2);
    let pairs = EdgeIndex::Pairs {
        src: &ev.src,
        dst: &ev.dst,
    };
    let input_err = |r: Result<Vec<f32>, InferenceError>| match r {
        Err(InferenceError::Input(m)) => m,
        other => panic!("expected an input error, got {other:?}"),
    };
    let m = input_err(c.score(&ev.x[1..], ev.n, pairs, Some(&ev.e_feat)));
    assert!(m.contains("149 node feature values"), "{m}");
    let m = input_err(c.score(
        &ev.x,
        ev.n,
        EdgeIndex::Pairs {
            src: &ev.src,
            dst: &ev.dst[1..],
        },
        Some(&ev.e_feat),
    ));
    assert!(m.contains("200 edge sources but 199"), "{m}");
    let mut bad = ev.dst.clone();
    bad[17] = 50;
    let m = input_err(c.score(
        &ev.x,
        ev.n,
        EdgeIndex::Pairs {
            src: &ev.src,
            dst: &bad,
        },
        Some(&ev.e_feat),
    ));
    assert!(m.contains("edge 17 refers to node 50"), "{m}");
    let mut packed: Vec<i64> = ev.src.iter().chain(&ev.dst).map(|&i| i as i64).collect();
    packed[3] = -1;
    let m = input_err(c.score(&ev.x, ev.n, EdgeIndex::Packed(&packed), Some(&ev.e_feat)));
    assert!(m.contains("edge 3 refers to node -1"), "{m}");
    input_err(c.score(
        &ev.x,
        ev.n,
        EdgeIndex::Packed(&packed[1..]),
        Some(&ev.e_feat),
    ));
    let m = input_err(c.score(&ev.x, ev.n, pairs, None));
    assert!(m.contains("takes edge features (dx, dy)"), "{m}");
    input_err(c.score(&ev.x, ev.n, pairs, Some(&ev.e_feat[2..])));
    let mp = load("message_passing.onnx");
    let x2 = vec![0.0f32; 2 * ev.n];
    input_err(mp.score(&x2, ev.n, pairs, Some(&ev.e_feat)));

    // no edges: an empty result, not an error
    let none = c
        .score(
            &ev.x,
            ev.n,
            EdgeIndex::Pairs { src: &[], dst: &[] },
            Some(&[]),
        )
        .unwrap();
    assert!(none.is_empty());
    let none = c.score(&[], 0, EdgeIndex::Packed(&[]), Some(&[])).unwrap();
    assert!(none.is_empty());
}

#[test]
fn large_graphs_scored_in_parts_get_the_scores_of_one_run() {
    let whole = EdgeClassifier::load(
        model("message_passing_local.onnx"),
        &InferenceConfig {
            part_edges: 0,
            ..InferenceConfig::default()
        },
        &registry(),
        None,
    )
    .unwrap();
    assert_eq!(whole.info().receptive_hops, Some(1));
    assert_eq!(load("message_passing.onnx").info().receptive_hops, None);
    // One large component (targets drawn from a tenth of the hits) and, beyond hit 3000,
    // chains of a few hits: parts with halos and parts of whole components.
    let mut ev = event(7, 3000, 2, 6000, 0);
    for k in 0..400u32 {
        ev.src.push(3000 + k);
        ev.dst.push(3000 + k + 1 + k % 2);
    }
    ev.n = 3402;
    ev.x.resize(2 * ev.n, 0.25);
    let reference = score_event(&whole, &ev);
    assert_close(&reference, &message_passing_reference(&ev), 1e-5);
    for part_edges in [1, 7, 100, 1000, 5000] {
        for threads in [1, 3] {
            let config = InferenceConfig {
                part_edges,
                intra_threads: 0,
                ..InferenceConfig::default()
            };
            let parts = EdgeClassifier::load(
                model("message_passing_local.onnx"),
                &config,
                &registry(),
                None,
            )
            .unwrap();
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let got = pool.install(|| score_event(&parts, &ev));
            let first = got.iter().zip(&reference).position(|(a, b)| a != b);
            assert!(
                got.len() == reference.len() && first.is_none(),
                "{part_edges} edges per part, {threads} threads: first different edge {first:?}"
            );
        }
    }
}

/// Same numbers as in make_test_models.py (the model of `gnntrack_ops.onnx`).
const OPS_W: [f64; 6] = [0.5, -0.25, 0.75, -1.0, 0.3, -0.6];
const OPS_B: f64 = 0.05;

/// The model of `gnntrack_ops.onnx` in f64, with its gnntrack operators as defined (the
/// kernels) or as its decoy function bodies: p = x[src] + x[dst] (decoy: -), g = sigmoid(p),
/// rows = [sum into dst of g x[src], sum out of src of g x[dst], x] (decoy: the two sums
/// swapped), score = sigmoid(w . rows[src] + b).
fn gnntrack_ops_reference(ev: &Event, decoy: bool) -> Vec<f64> {
    let x: Vec<f64> = ev.x.iter().map(|&v| v as f64).collect();
    let mut rows = vec![0.0f64; 6 * ev.n];
    for i in 0..ev.n {
        rows[6 * i + 4..6 * i + 6].copy_from_slice(&x[2 * i..2 * i + 2]);
    }
    let (into, out_of) = if decoy { (2, 0) } else { (0, 2) };
    for (&s, &d) in ev.src.iter().zip(&ev.dst) {
        let (s, d) = (s as usize, d as usize);
        for c in 0..2 {
            let p = if decoy {
                x[2 * s + c] - x[2 * d + c]
            } else {
                x[2 * s + c] + x[2 * d + c]
            };
            let g = sigmoid(p);
            rows[6 * d + into + c] += g * x[2 * s + c];
            rows[6 * s + out_of + c] += g * x[2 * d + c];
        }
    }
    ev.src
        .iter()
        .map(|&s| {
            let r = &rows[6 * s as usize..6 * s as usize + 6];
            sigmoid(r.iter().zip(OPS_W).map(|(a, w)| a * w).sum::<f64>() + OPS_B)
        })
        .collect()
}

fn with_kernels(gnntrack_kernels: bool) -> InferenceConfig {
    InferenceConfig {
        gnntrack_kernels,
        ..cpu()
    }
}

/// Asserts that more than `at_least` scores of a test model with decoy function bodies differ
/// between its operators and its bodies: the two references tell which of them ran.
fn assert_decoys_differ(kernels: &[f64], bodies: &[f64], at_least: usize) {
    let apart = kernels
        .iter()
        .zip(bodies)
        .filter(|(a, b)| (*a - *b).abs() > 1e-3)
        .count();
    assert!(
        apart > at_least,
        "the decoy bodies should change the scores: {apart}"
    );
}

#[test]
fn gnntrack_kernels_run_in_place_of_the_function_bodies() {
    let ev = event(21, 300, 2, 2000, 0);
    let (kernels, bodies) = (
        gnntrack_ops_reference(&ev, false),
        gnntrack_ops_reference(&ev, true),
    );
    assert_decoys_differ(&kernels, &bodies, 1000);
    let score = |name: &str, on: bool| {
        let c = EdgeClassifier::load(model(name), &with_kernels(on), &registry(), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        score_event(&c, &ev)
    };
    assert_close(&score("gnntrack_ops.onnx", true), &kernels, 1e-5);
    assert_close(&score("gnntrack_ops.onnx", false), &bodies, 1e-5);
    // Without function bodies the model needs the kernels.
    assert_close(
        &score("gnntrack_ops_no_functions.onnx", true),
        &kernels,
        1e-5,
    );
    let err = load_err(
        "gnntrack_ops_no_functions.onnx",
        &with_kernels(false),
        &registry(),
    );
    assert!(
        matches!(err, InferenceError::ModelLoad { .. }) && err.to_string().contains("gnntrack"),
        "{err}"
    );
}

/// The scores of `gnntrack_dense.onnx` (tests/models/make_test_models.py, the DENSE_*
/// numbers) with its operators (the kernels) or its decoy bodies: h = relu(W1 x + b1) (decoy:
/// no ReLU), y = W2 h[src] + h[dst] (decoy: with a ReLU), score = sigmoid(v . y + b).
fn gnntrack_dense_reference(ev: &Event, decoy: bool) -> Vec<f64> {
    const W1: [[f64; 2]; 8] = [
        [0.5, -1.0],
        [-0.75, 0.25],
        [1.5, 0.5],
        [-0.25, -0.5],
        [0.125, 1.0],
        [-1.25, 0.75],
        [0.625, -0.375],
        [-0.5, 1.25],
    ];
    const B1: [f64; 8] = [0.1, -0.2, 0.0, 0.3, -0.4, 0.05, -0.15, 0.25];
    const V: [f64; 8] = [0.5, -0.5, 0.25, -0.25, 0.75, -0.75, 1.0, -1.0];
    const B: f64 = -0.05;
    let w2 = |i: usize, j: usize| 0.25 * (((3 * i + 5 * j) % 7) as f64 - 3.0);
    let h: Vec<[f64; 8]> = (0..ev.n)
        .map(|i| {
            let x = [ev.x[2 * i] as f64, ev.x[2 * i + 1] as f64];
            std::array::from_fn(|j| {
                let p = W1[j][0] * x[0] + W1[j][1] * x[1] + B1[j];
                if decoy { p } else { p.max(0.0) }
            })
        })
        .collect();
    ev.src
        .iter()
        .zip(&ev.dst)
        .map(|(&s, &d)| {
            let (hs, hd) = (&h[s as usize], &h[d as usize]);
            let z = (0..8)
                .map(|i| {
                    let y = (0..8).map(|j| w2(i, j) * hs[j]).sum::<f64>() + hd[i];
                    V[i] * if decoy { y.max(0.0) } else { y }
                })
                .sum::<f64>();
            sigmoid(z + B)
        })
        .collect()
}

#[test]
fn dense_kernels_run_in_place_of_the_function_bodies() {
    let ev = event(22, 300, 2, 2000, 0);
    let (kernels, bodies) = (
        gnntrack_dense_reference(&ev, false),
        gnntrack_dense_reference(&ev, true),
    );
    assert_decoys_differ(&kernels, &bodies, 500);
    let score = |on: bool| {
        let c = EdgeClassifier::load(
            model("gnntrack_dense.onnx"),
            &with_kernels(on),
            &registry(),
            None,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        score_event(&c, &ev)
    };
    assert_close(&score(true), &kernels, 1e-5);
    assert_close(&score(false), &bodies, 1e-5);
}

#[test]
fn bundled_models_score_the_same_with_and_without_the_gnntrack_kernels() {
    // The bundled edge classifiers are rewritten into the gnntrack operators: the kernels
    // must give the scores of the function bodies bit for bit, in one run and in parts.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models");
    let features = gnntrack::features::FeatureTable::tracker();
    let ev = event(23, 4000, 7, 15_000, 11);
    for name in [
        "gnntrack_in_small.onnx",
        "gnntrack_in_fast.onnx",
        "gnntrack_in_large.onnx",
        "gnntrack_gat.onnx",
    ] {
        for part_edges in [0, 4096] {
            let score = |on: bool| {
                let config = InferenceConfig {
                    part_edges,
                    ..with_kernels(on)
                };
                let c = EdgeClassifier::load(dir.join(name), &config, &features, None)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                score_event(&c, &ev)
            };
            let (on, off) = (score(true), score(false));
            let first = on
                .iter()
                .zip(&off)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert!(
                on.len() == ev.src.len() && first.is_none(),
                "{name}, {part_edges} edges per part: first different edge {first:?}"
            );
            let spread = on
                .iter()
                .fold((1.0f32, 0.0f32), |(lo, hi), &p| (lo.min(p), hi.max(p)));
            assert!(spread.1 - spread.0 > 0.1, "{name}: scores {spread:?}");
        }
    }
}

#[test]
fn a_model_right_on_one_thread_only_gets_one_thread() {
    // 2 M edges into 5 hits: onnxruntime's ScatterND sum loses updates of a hit when it runs
    // on several threads (about half of them on 2 cores); the model declares
    // `gnntrack.max_intra_threads = 1`. Small features keep the scores off the sigmoid's tails.
    let mut ev = event(11, 50, 2, 2_000_000, 0);
    ev.x.iter_mut().for_each(|v| *v *= 1e-6);
    for intra_threads in [0, 2, 3] {
        let config = InferenceConfig {
            intra_threads,
            part_edges: 0,
            ..InferenceConfig::default()
        };
        let c = EdgeClassifier::load(model("message_passing_nd.onnx"), &config, &registry(), None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_close(&score_event(&c, &ev), &message_passing_reference(&ev), 1e-5);
    }
}

#[test]
fn concurrent_scoring_from_8_threads_equals_serial() {
    let config = InferenceConfig {
        pool_size: 3,
        ..cpu()
    };
    let c = Arc::new(
        EdgeClassifier::load(model("message_passing.onnx"), &config, &registry(), None).unwrap(),
    );
    assert_eq!(c.pool_size(), 3);
    let events: Vec<Event> = (0..16)
        .map(|i| event(100 + i, 500 + 37 * i as usize, 2, 4000, 0))
        .collect();
    let serial: Vec<Vec<f32>> = events.iter().map(|ev| score_event(&c, ev)).collect();
    assert_eq!(c.sessions_created(), 1, "serial calls reuse one session");
    for (ev, s) in events.iter().zip(&serial) {
        assert_close(s, &message_passing_reference(ev), 1e-5);
    }
    let parallel: Vec<Vec<Vec<f32>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let (c, events) = (&c, &events);
                scope.spawn(move || {
                    // every thread scores every event, starting at a different one
                    (0..events.len())
                        .map(|i| score_event(c, &events[(i + 2 * t) % events.len()]))
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, results) in parallel.iter().enumerate() {
        for (i, got) in results.iter().enumerate() {
            assert_eq!(
                got,
                &serial[(i + 2 * t) % events.len()],
                "thread {t}, call {i}"
            );
        }
    }
    let created = c.sessions_created();
    assert!((2..=3).contains(&created), "{created} sessions");
}

#[test]
fn cuda_request_without_cuda_is_an_error_with_the_reason() {
    let rt = runtime(&LibrarySearch::default()).unwrap();
    if rt.has_cuda() {
        eprintln!("onnxruntime has the CUDA provider here; the CPU-only checks are skipped");
        return;
    }
    let cuda = InferenceConfig {
        provider: Provider::Cuda,
        ..cpu()
    };
    match load_err("linear.onnx", &cuda, &registry()) {
        InferenceError::Provider { requested, reason } => {
            assert_eq!(requested, Provider::Cuda);
            assert!(reason.contains("CUDA"), "{reason}");
        }
        other => panic!("{other}"),
    }
}

#[test]
fn auto_falls_back_to_the_cpu_and_says_why() {
    let auto = InferenceConfig {
        provider: Provider::Auto,
        ..cpu()
    };
    let c = EdgeClassifier::load(model("linear.onnx"), &auto, &registry(), Some(&graph())).unwrap();
    let rt = c.runtime();
    match c.provider() {
        ActiveProvider::Cpu {
            fallback_reason: Some(reason),
        } => {
            assert!(!rt.has_cuda() || !reason.is_empty());
            assert!(
                c.provider()
                    .to_string()
                    .starts_with("CPU (CUDA unavailable"),
                "{}",
                c.provider()
            );
        }
        ActiveProvider::Cuda { device_id } => {
            assert!(rt.has_cuda());
            assert_eq!(*device_id, 0);
        }
        other => panic!("auto gave {other:?}"),
    }
    assert_eq!(
        c.provider().kind() == Provider::Cuda,
        matches!(c.provider(), ActiveProvider::Cuda { .. })
    );
    let ev = event(5, 100, 3, 300, 2);
    assert_close(&score_event(&c, &ev), &linear_reference(&ev), 1e-5);
}

#[test]
fn provider_and_config_parse_from_text() {
    assert_eq!("CUDA".parse::<Provider>(), Ok(Provider::Cuda));
    assert!("tpu".parse::<Provider>().unwrap_err().contains("tpu"));
    let c: InferenceConfig = toml::from_str(
        "provider = \"auto\"\ndevice_id = 1\nintra_threads = 2\npool_size = 3\ngraph_mismatch = \"error\"\n[library]\npath = \"/opt/libonnxruntime.so\"\nsearch = false\n",
    )
    .unwrap();
    assert_eq!(c.provider, Provider::Auto);
    assert_eq!(c.effective_pool_size(), 3);
    assert_eq!(c.graph_mismatch, GraphMismatch::Error);
    assert_eq!(
        c.library,
        LibrarySearch {
            path: Some("/opt/libonnxruntime.so".into()),
            search: false
        }
    );
    assert!(toml::from_str::<InferenceConfig>("providr = \"cpu\"").is_err());
    assert!((1..=4).contains(&InferenceConfig::default().effective_pool_size()));
}
