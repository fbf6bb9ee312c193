//! Generic graph models on the small models written by `tests/models/make_test_models.py`
//! (`make test-models`): node-, edge- and graph-level outputs against Rust computations of the
//! same functions, empty inputs, every input error, every contract error, and the refusal of
//! a model of the other kind.

mod common;

use std::path::PathBuf;

use gnntrack::inference::{
    ActiveProvider, ContractError, EdgeClassifier, EdgeIndex, FeatureTable, GraphInput, GraphModel,
    GraphOutputKind, InferenceConfig, InferenceError, OutputLevel, Provider,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Same numbers as in make_test_models.py.
const NODE_W: [[f64; 2]; 3] = [[0.5, -1.0], [0.25, 2.0], [-0.75, 0.125]];
const NODE_SOLO_W: [f64; 2] = [1.5, -0.5];
const NODE_SOLO_B: f64 = 0.25;
const EDGE_W: [f64; 5] = [0.5, -0.25, -1.0, 0.75, 2.0];
const EDGE_B: f64 = -0.1;
const GRAPH_W: [f64; 2] = [2.0, -1.0];

fn model(name: &str) -> PathBuf {
    common::test_model(name, "graph_node.onnx")
}

fn cpu() -> InferenceConfig {
    InferenceConfig {
        intra_threads: 1,
        ..InferenceConfig::default()
    }
}

fn load(name: &str) -> GraphModel {
    GraphModel::load(model(name), &cpu()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn contract_err(name: &str) -> ContractError {
    match GraphModel::load(model(name), &cpu()) {
        Ok(m) => panic!("{name} loaded: {m:?}"),
        Err(InferenceError::Contract { model, problem }) => {
            assert!(model.ends_with(name), "{model}");
            problem
        }
        Err(other) => panic!("{name}: expected a contract error, got {other}"),
    }
}

fn input_err(m: &GraphModel, input: &GraphInput<'_>) -> String {
    match m.run(input) {
        Ok(out) => panic!("ran: {out:?}"),
        Err(InferenceError::Input(msg)) => msg,
        Err(other) => panic!("expected an input error, got {other}"),
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// `n` random values in [-1, 1).
fn random(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect()
}

/// `e` random edges between `n` nodes, packed as the model's `[2, E]` index.
fn random_edges(rng: &mut ChaCha8Rng, n: usize, e: usize) -> Vec<i64> {
    (0..2 * e).map(|_| rng.random_range(0..n as i64)).collect()
}

fn assert_close(got: &[f32], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= 1e-5 * w.abs().max(1.0),
            "value {k}: got {g}, want {w}"
        );
    }
}

/// out[i] = x[i] W + sum over edges s -> i of x[s] W
fn node_reference(x: &[f32], edges: &[i64]) -> Vec<f64> {
    let n = x.len() / 3;
    let h: Vec<[f64; 2]> = (0..n)
        .map(|i| {
            let mut row = [0.0; 2];
            for (c, out) in row.iter_mut().enumerate() {
                *out = (0..3).map(|k| x[3 * i + k] as f64 * NODE_W[k][c]).sum();
            }
            row
        })
        .collect();
    let mut out = h.clone();
    let e = edges.len() / 2;
    for k in 0..e {
        let (s, d) = (edges[k] as usize, edges[e + k] as usize);
        for c in 0..2 {
            out[d][c] += h[s][c];
        }
    }
    out.into_iter().flatten().collect()
}

#[test]
fn node_level_model_matches_its_function_and_declares_itself() {
    let m = load("graph_node.onnx");
    let info = m.info();
    assert_eq!(info.level, OutputLevel::Node);
    assert_eq!(
        (info.node_width, info.edge_width, info.output_width),
        (3, 0, 2)
    );
    assert_eq!(info.output_kind, GraphOutputKind::Values);
    assert!(info.takes_edges);
    assert_eq!(
        (info.name.as_str(), info.version.as_str()),
        ("node-test", "0.1")
    );
    let names: Vec<_> = info.node_features.iter().map(|f| f.name.as_ref()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(info.node_features[1].scale, 2.0);
    assert_eq!(info.node_features[1].offset, 0.5);
    assert!(info.edge_features.is_empty());
    assert_eq!(
        info.extra
            .get("gnntrack.embedding.radius")
            .map(String::as_str),
        Some("0.5")
    );
    assert_eq!(info.extra.len(), 1, "{:?}", info.extra);

    let mut rng = ChaCha8Rng::seed_from_u64(5);
    for (n, e) in [(1, 0), (7, 12), (200, 900)] {
        let x = random(&mut rng, 3 * n);
        let edges = random_edges(&mut rng, n, e);
        let input = GraphInput {
            edges: Some(EdgeIndex::Packed(&edges)),
            ..GraphInput::nodes(&x, n)
        };
        let out = m.run(&input).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((out.rows, out.width), (n, 2));
        assert_close(&out.values, &node_reference(&x, &edges));
        // The same edges as pairs give the same output.
        let src: Vec<u32> = edges[..e].iter().map(|&i| i as u32).collect();
        let dst: Vec<u32> = edges[e..].iter().map(|&i| i as u32).collect();
        let pairs = GraphInput {
            edges: Some(EdgeIndex::Pairs {
                src: &src,
                dst: &dst,
            }),
            ..GraphInput::nodes(&x, n)
        };
        assert_eq!(m.run(&pairs).unwrap(), out);
        if n == 7 {
            assert_eq!(out.row(3), &out.values[6..8]);
        }
    }
}

#[test]
fn node_level_model_without_edges_turns_logits_into_probabilities() {
    let m = load("graph_node_solo.onnx");
    assert!(!m.info().takes_edges);
    assert_eq!(m.info().output_kind, GraphOutputKind::Logits);
    assert!(m.info().node_features.is_empty());
    let mut rng = ChaCha8Rng::seed_from_u64(6);
    let x = random(&mut rng, 2 * 50);
    let out = m.run(&GraphInput::nodes(&x, 50)).unwrap();
    assert_eq!((out.rows, out.width), (50, 1));
    let want: Vec<f64> = (0..50)
        .map(|i| {
            sigmoid(
                x[2 * i] as f64 * NODE_SOLO_W[0]
                    + x[2 * i + 1] as f64 * NODE_SOLO_W[1]
                    + NODE_SOLO_B,
            )
        })
        .collect();
    assert_close(&out.values, &want);
}

#[test]
fn edge_level_model_matches_its_function() {
    let m = load("graph_edge.onnx");
    let info = m.info();
    assert_eq!(info.level, OutputLevel::Edge);
    assert_eq!((info.node_width, info.edge_width), (2, 1));
    // Inputs come edge index first and edge features before node features: the edge-feature
    // input is named by metadata.
    assert_eq!(info.inputs.node_features, "nodes");
    assert_eq!(info.inputs.edge_features.as_deref(), Some("edges"));
    assert_eq!(info.inputs.edge_index.as_deref(), Some("ei"));
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let (n, e) = (40, 100);
    let x = random(&mut rng, 2 * n);
    let f = random(&mut rng, e);
    let edges = random_edges(&mut rng, n, e);
    let out = m
        .run(&GraphInput {
            edges: Some(EdgeIndex::Packed(&edges)),
            edge_features: Some(&f),
            ..GraphInput::nodes(&x, n)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((out.rows, out.width), (e, 1));
    let want: Vec<f64> = (0..e)
        .map(|k| {
            let (s, d) = (edges[k] as usize, edges[e + k] as usize);
            let row = [x[2 * s], x[2 * s + 1], x[2 * d], x[2 * d + 1], f[k]];
            sigmoid(
                row.iter()
                    .zip(EDGE_W)
                    .map(|(&a, w)| a as f64 * w)
                    .sum::<f64>()
                    + EDGE_B,
            )
        })
        .collect();
    assert_close(&out.values, &want);
    // No edges: an empty output, without running the model.
    let none = m
        .run(&GraphInput {
            edges: Some(EdgeIndex::Packed(&[])),
            edge_features: Some(&[]),
            ..GraphInput::nodes(&x, n)
        })
        .unwrap();
    assert_eq!((none.rows, none.width, none.values.len()), (0, 1, 0));

    // In blocks of edges side by side: the same values, in edge order. Pairs are cut into
    // blocks (7 edges: 15 blocks, the last of 2), a packed index runs whole.
    let src: Vec<u32> = edges[..e].iter().map(|&i| i as u32).collect();
    let dst: Vec<u32> = edges[e..].iter().map(|&i| i as u32).collect();
    for (index, block) in [
        (
            EdgeIndex::Pairs {
                src: &src,
                dst: &dst,
            },
            7,
        ),
        (
            EdgeIndex::Pairs {
                src: &src,
                dst: &dst,
            },
            0,
        ),
        (EdgeIndex::Packed(&edges), 7),
    ] {
        let blocks = m
            .run_edge_blocks(
                &GraphInput {
                    edges: Some(index),
                    edge_features: Some(&f),
                    ..GraphInput::nodes(&x, n)
                },
                block,
            )
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((blocks.rows, blocks.width), (e, 1));
        assert_close(&blocks.values, &want);
    }
    // The input is checked as a whole: an edge out of range in the last block.
    let mut bad_dst = dst.clone();
    bad_dst[e - 1] = n as u32;
    let error = m
        .run_edge_blocks(
            &GraphInput {
                edges: Some(EdgeIndex::Pairs {
                    src: &src,
                    dst: &bad_dst,
                }),
                edge_features: Some(&f),
                ..GraphInput::nodes(&x, n)
            },
            7,
        )
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("edge {} refers to node {n}", e - 1)),
        "{error}"
    );
    // Blocks of edges need an edge-level model.
    let error = load("graph_node.onnx")
        .run_edge_blocks(
            &GraphInput {
                edges: Some(EdgeIndex::Pairs {
                    src: &src,
                    dst: &dst,
                }),
                ..GraphInput::nodes(&random(&mut rng, 3 * n), n)
            },
            7,
        )
        .unwrap_err()
        .to_string();
    assert!(error.contains("edge-level"), "{error}");
}

/// Several graphs at once: [mean over the graph's nodes of x . w, edges ending in the graph].
#[test]
fn graph_level_model_pools_each_graph() {
    let m = load("graph_graph.onnx");
    assert_eq!(m.info().level, OutputLevel::Graph);
    assert_eq!(m.info().inputs.graph_index.as_deref(), Some("graph_index"));
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    for (n, g, e) in [(1, 1, 0), (30, 4, 60), (300, 37, 700)] {
        let x = random(&mut rng, 2 * n);
        // every graph gets a node, the rest at random (not sorted)
        let mut graphs: Vec<u32> = (0..n).map(|i| (i % g) as u32).collect();
        for v in graphs.iter_mut().skip(g) {
            *v = rng.random_range(0..g as u32);
        }
        let edges = random_edges(&mut rng, n, e);
        let out = m
            .run(&GraphInput {
                edges: Some(EdgeIndex::Packed(&edges)),
                graph_index: Some(&graphs),
                n_graphs: g,
                ..GraphInput::nodes(&x, n)
            })
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((out.rows, out.width), (g, 2));
        let mut want = vec![0.0f64; 2 * g];
        let mut count = vec![0.0f64; g];
        for i in 0..n {
            let gi = graphs[i] as usize;
            want[2 * gi] += x[2 * i] as f64 * GRAPH_W[0] + x[2 * i + 1] as f64 * GRAPH_W[1];
            count[gi] += 1.0;
        }
        for k in 0..e {
            want[2 * graphs[edges[e + k] as usize] as usize + 1] += 1.0;
        }
        for gi in 0..g {
            want[2 * gi] /= count[gi];
        }
        assert_close(&out.values, &want);
    }
}

#[test]
fn no_nodes_give_an_empty_output_for_every_level() {
    for name in ["graph_node.onnx", "graph_edge.onnx", "graph_graph.onnx"] {
        let m = load(name);
        let input = GraphInput {
            edges: m.info().takes_edges.then_some(EdgeIndex::Packed(&[])),
            edge_features: (m.info().edge_width > 0).then_some(&[][..]),
            graph_index: (m.info().level == OutputLevel::Graph).then_some(&[][..]),
            ..GraphInput::nodes(&[], 0)
        };
        let out = m.run(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(out.rows, 0, "{name}");
        assert!(out.values.is_empty(), "{name}");
    }
    // Nodes without edges run the model: each node keeps its own term.
    let m = load("graph_node.onnx");
    let x = [1.0, 2.0, 3.0];
    let out = m
        .run(&GraphInput {
            edges: Some(EdgeIndex::Packed(&[])),
            ..GraphInput::nodes(&x, 1)
        })
        .unwrap();
    assert_close(&out.values, &node_reference(&x, &[]));
}

#[test]
fn bad_inputs_are_named_errors() {
    /// Nodes with the edges 0 -> 1, 1 -> 2.
    fn with_edges(x: &[f32], n: usize) -> GraphInput<'_> {
        GraphInput {
            edges: Some(EdgeIndex::Packed(&[0, 1, 1, 2])),
            ..GraphInput::nodes(x, n)
        }
    }
    let node = load("graph_node.onnx");
    let x = &[0.5f32; 30][..];
    let edges = [0i64, 1, 2, 3, 4, 5];
    assert_eq!(
        input_err(&node, &with_edges(&x[..29], 10)),
        "node_features has 29 values for 10 nodes x 3 (node_width)"
    );
    assert_eq!(
        input_err(
            &node,
            &GraphInput {
                edges: Some(EdgeIndex::Packed(&[0, 3, 12, 1])),
                ..GraphInput::nodes(x, 10)
            }
        ),
        "edge 0 refers to node 12, but there are 10 nodes"
    );
    assert_eq!(
        input_err(
            &node,
            &GraphInput {
                edges: Some(EdgeIndex::Packed(&[0, 3, 1, -1])),
                ..GraphInput::nodes(x, 10)
            }
        ),
        "edge 1 refers to node -1, but there are 10 nodes"
    );
    assert!(
        input_err(
            &node,
            &GraphInput {
                edges: Some(EdgeIndex::Packed(&edges[..5])),
                ..GraphInput::nodes(x, 10)
            }
        )
        .contains("even length, got 5")
    );
    assert_eq!(
        input_err(&node, &GraphInput::nodes(x, 10)),
        "the model takes an edge index, but no edges were given"
    );
    let mut nan = x.to_vec();
    nan[5] = f32::NAN;
    assert_eq!(
        input_err(&node, &with_edges(&nan, 10)),
        "node feature 2 of node 1 is NaN"
    );
    let mut inf = x.to_vec();
    inf[29] = f32::NEG_INFINITY;
    assert_eq!(
        input_err(&node, &with_edges(&inf, 10)),
        "node feature 2 of node 9 is -inf"
    );
    assert_eq!(
        input_err(
            &node,
            &GraphInput {
                edge_features: Some(&[1.0, 2.0]),
                ..with_edges(x, 10)
            }
        ),
        "edge_features given, but the model takes none (edge_width 0)"
    );
    assert!(
        input_err(
            &node,
            &GraphInput {
                graph_index: Some(&[0; 10]),
                n_graphs: 1,
                ..with_edges(x, 10)
            }
        )
        .starts_with("graph_index given, but the model's output level is node")
    );

    let solo = load("graph_node_solo.onnx");
    assert_eq!(
        input_err(&solo, &with_edges(&x[..20], 10)),
        "edges given, but the model takes no edge index"
    );

    let edge = load("graph_edge.onnx");
    let two = |f: &'static [f32]| GraphInput {
        edge_features: Some(f),
        ..with_edges(&x[..20], 10)
    };
    assert_eq!(
        input_err(&edge, &two(&[1.0, 2.0, 3.0])),
        "edge_features has 3 values for 2 edges x 1 (edge_width)"
    );
    assert_eq!(
        input_err(&edge, &two(&[1.0, f32::INFINITY])),
        "edge feature 0 of edge 1 is inf"
    );
    assert_eq!(
        input_err(
            &edge,
            &GraphInput {
                edge_features: None,
                ..two(&[])
            }
        ),
        "the model takes 1 edge features per edge (edge_width), but no edge_features were given"
    );

    let graph = load("graph_graph.onnx");
    let graphs = |g: &'static [u32], n_graphs: usize| GraphInput {
        edges: Some(EdgeIndex::Packed(&[0, 1])),
        graph_index: Some(g),
        n_graphs,
        ..GraphInput::nodes(&x[..8], 4)
    };
    assert_eq!(
        input_err(&graph, &graphs(&[0, 0, 1, 1], 3)),
        "graph 2 has no nodes"
    );
    assert_eq!(
        input_err(&graph, &graphs(&[0, 2, 2, 2], 3)),
        "graph 1 has no nodes"
    );
    assert_eq!(
        input_err(&graph, &graphs(&[0, 1, 2, 3], 1000)),
        "graph 4 has no nodes"
    );
    assert_eq!(
        input_err(&graph, &graphs(&[0, 1, 7, 1], 2)),
        "node 2 is in graph 7, but there are 2 graphs (n_graphs)"
    );
    assert_eq!(
        input_err(&graph, &graphs(&[0, 1, 1], 2)),
        "graph_index has 3 entries for 4 nodes"
    );
    assert_eq!(
        input_err(&graph, &graphs(&[], 0)),
        "graph_index has 0 entries for 4 nodes"
    );
    assert_eq!(
        input_err(&graph, &graphs(&[0, 0, 0, 0], 0)),
        "node 0 is in graph 0, but there are 0 graphs (n_graphs)"
    );
    assert!(
        input_err(
            &graph,
            &GraphInput {
                graph_index: None,
                ..graphs(&[], 0)
            }
        )
        .starts_with("the model is graph-level: give graph_index")
    );
    // Graphs without nodes at all.
    assert_eq!(
        input_err(
            &graph,
            &GraphInput {
                edges: Some(EdgeIndex::Packed(&[])),
                graph_index: Some(&[]),
                n_graphs: 2,
                ..GraphInput::nodes(&[], 0)
            }
        ),
        "graph 0 has no nodes"
    );
}

#[test]
fn output_outside_its_declared_range_is_an_error() {
    let m = load("graph_bad_probabilities.onnx");
    let x = [3.0f32, 0.0, -0.5, 0.0];
    match m.run(&GraphInput::nodes(&x, 2)) {
        Err(InferenceError::Output { model, reason }) => {
            assert!(model.ends_with("graph_bad_probabilities.onnx"), "{model}");
            assert_eq!(
                reason,
                "probability 4.75 in row 0, column 0 is outside [0, 1]"
            );
        }
        other => panic!("expected an output error, got {other:?}"),
    }
}

#[test]
fn contract_errors_name_the_key_or_input() {
    use ContractError as C;
    assert_eq!(
        contract_err("graph_missing_level.onnx"),
        C::MissingMetadata {
            key: "gnntrack.output_level"
        }
    );
    assert_eq!(
        contract_err("graph_missing_node_width.onnx"),
        C::MissingMetadata {
            key: "gnntrack.node_width"
        }
    );
    for (file, want_key, want_value) in [
        ("graph_bad_level.onnx", "gnntrack.output_level", "nodes"),
        ("graph_bad_node_width.onnx", "gnntrack.node_width", "0"),
        ("graph_bad_output_kind.onnx", "gnntrack.output", "scores"),
        ("graph_feature_count.onnx", "gnntrack.node_features", "a,b"),
        (
            "graph_scales_without_names.onnx",
            "gnntrack.node_scales",
            "1,1",
        ),
        (
            "graph_edge_width_without_input.onnx",
            "gnntrack.edge_width",
            "2",
        ),
        (
            "graph_edge_input_without_width.onnx",
            "gnntrack.edge_width",
            "(absent, 0)",
        ),
    ] {
        match contract_err(file) {
            C::BadMetadata { key, value, reason } => {
                assert_eq!(
                    (key, value.as_str()),
                    (want_key, want_value),
                    "{file}: {reason}"
                );
            }
            other => panic!("{file}: {other}"),
        }
    }
    match contract_err("graph_width_mismatch.onnx") {
        C::Width {
            input,
            columns,
            key,
            width,
        } => assert_eq!(
            (input.as_str(), columns, key, width),
            ("node_features", 3, "gnntrack.node_width", 4)
        ),
        other => panic!("{other}"),
    }
    let e = contract_err("graph_edge_unnamed.onnx");
    assert_eq!(
        e.to_string(),
        "input `edges` has 1 columns but `gnntrack.node_width` = 2"
    );
    match contract_err("graph_output_width_mismatch.onnx") {
        C::GraphOutput {
            output, expected, ..
        } => {
            assert_eq!(output, "out");
            assert_eq!(
                expected,
                "float32 tensor [N, 3] (`gnntrack.output_width` = 3)"
            );
        }
        other => panic!("{other}"),
    }
    match contract_err("graph_int_output.onnx") {
        C::GraphOutput { output, found, .. } => {
            assert_eq!(
                (output.as_str(), found.as_str()),
                ("src", "int64 tensor [E]")
            )
        }
        other => panic!("{other}"),
    }
    match contract_err("graph_two_outputs.onnx") {
        C::GraphOutputCount { names } => assert_eq!(names, ["out", "h"]),
        other => panic!("{other}"),
    }
    for (file, needle) in [
        (
            "graph_edge_level_without_edges.onnx",
            "an edge-level model needs an int64 edge index",
        ),
        (
            "graph_level_without_graph_index.onnx",
            "a graph-level model needs an int64 graph index [N]",
        ),
        (
            "graph_index_at_node_level.onnx",
            "`graph_index` [N] is a graph index, but `gnntrack.output_level` is `node`",
        ),
    ] {
        match contract_err(file) {
            C::InputRoles { reason, .. } => assert!(reason.contains(needle), "{file}: {reason}"),
            other => panic!("{file}: {other}"),
        }
    }
    for (file, input) in [
        ("graph_double_features.onnx", "node_features"),
        ("graph_int32_graph_index.onnx", "graph_index"),
    ] {
        match contract_err(file) {
            C::InputType { input: i, found } => assert_eq!(i, input, "{file}: {found}"),
            other => panic!("{file}: {other}"),
        }
    }
}

#[test]
fn a_model_of_the_other_kind_is_refused_with_a_clear_error() {
    let e = contract_err("linear.onnx");
    assert!(matches!(e, ContractError::WrongKind { .. }), "{e}");
    assert!(
        e.to_string().starts_with(
            "an edge classifier (`gnntrack.edge_cut` and no `gnntrack.output_level`), not a generic graph model"
        ),
        "{e}"
    );
    let features = FeatureTable::tracker();
    match EdgeClassifier::load(model("graph_edge.onnx"), &cpu(), &features, None) {
        Err(InferenceError::Contract {
            problem: p @ ContractError::WrongKind { .. },
            ..
        }) => assert!(
            p.to_string().starts_with(
                "a generic graph model (`gnntrack.output_level` = `edge`), not an edge classifier"
            ),
            "{p}"
        ),
        other => panic!("expected a wrong-kind error, got {other:?}"),
    }
    match GraphModel::load(model("not_a_model.onnx"), &cpu()) {
        Err(e @ InferenceError::ModelLoad { .. }) => assert!(e.to_string().contains("not_a_model")),
        other => panic!("{other:?}"),
    }
    match GraphModel::load(model("no_such_model.onnx"), &cpu()) {
        Err(e @ InferenceError::ModelIo { .. }) => assert!(e.to_string().contains("no_such_model")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn concurrent_runs_equal_serial_runs() {
    let m = GraphModel::load(
        model("graph_graph.onnx"),
        &InferenceConfig {
            pool_size: 3,
            ..cpu()
        },
    )
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let cases: Vec<(Vec<f32>, Vec<i64>, Vec<u32>)> = (0..6)
        .map(|k| {
            let n = 20 + 10 * k;
            let graphs = (0..n).map(|i| (i % (k + 1)) as u32).collect();
            (
                random(&mut rng, 2 * n),
                random_edges(&mut rng, n, 3 * n),
                graphs,
            )
        })
        .collect();
    let run = |(x, e, g): &(Vec<f32>, Vec<i64>, Vec<u32>)| {
        m.run(&GraphInput {
            edges: Some(EdgeIndex::Packed(e)),
            graph_index: Some(g),
            n_graphs: *g.iter().max().unwrap() as usize + 1,
            ..GraphInput::nodes(x, g.len())
        })
        .unwrap()
    };
    let serial: Vec<_> = cases.iter().map(run).collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|t| {
                let cases = &cases;
                let serial = &serial;
                let run = &run;
                s.spawn(move || {
                    for k in 0..cases.len() {
                        let c = (k + t) % cases.len();
                        assert_eq!(run(&cases[c]), serial[c]);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    assert!(m.sessions_created() <= 3);
}

#[test]
fn cuda_is_an_error_and_auto_falls_back_to_the_cpu_without_it() {
    let m = GraphModel::load(
        model("graph_node_solo.onnx"),
        &InferenceConfig {
            provider: Provider::Auto,
            ..cpu()
        },
    )
    .unwrap();
    if m.runtime().has_cuda() {
        // A CUDA build of onnxruntime: auto may run on the GPU, and the output stays the same.
        let x = [0.5f32, -0.5];
        let out = m.run(&GraphInput::nodes(&x, 1)).unwrap();
        let want = sigmoid(0.5 * NODE_SOLO_W[0] - 0.5 * NODE_SOLO_W[1] + NODE_SOLO_B);
        assert_close(&out.values, &[want]);
        return;
    }
    match m.provider() {
        ActiveProvider::Cpu {
            fallback_reason: Some(reason),
        } => assert!(
            reason.contains("without the CUDA execution provider"),
            "{reason}"
        ),
        other => panic!("expected a CPU fallback with its reason, got {other:?}"),
    }
    match GraphModel::load(
        model("graph_node_solo.onnx"),
        &InferenceConfig {
            provider: Provider::Cuda,
            ..cpu()
        },
    ) {
        Err(e @ InferenceError::Provider { .. }) => assert!(e.to_string().contains("cuda")),
        other => panic!("expected a provider error, got {other:?}"),
    }
}
