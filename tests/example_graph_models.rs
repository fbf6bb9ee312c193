//! The example graph models of `models/examples` (a toy cluster classifier and hit tagger on
//! simulated calorimeter showers) on their sample file through [`GraphModel`]: the declared
//! features, the accuracies measured when the models were made (with margin), one row per
//! cluster or hit, and the same values from one run per cluster as from one run of all.

use std::path::PathBuf;

use gnntrack::inference::{
    EdgeIndex, GraphInput, GraphModel, GraphOutputKind, InferenceConfig, OutputLevel,
};

/// Measured on the sample when the models were made: 100 % of the clusters, 97.4 % of the hits.
const MIN_CLUSTER_ACCURACY: f64 = 0.90;
const MIN_HIT_ACCURACY: f64 = 0.93;
const FEATURES: usize = 4;
const NEIGHBOURS: usize = 6;

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/examples")
}

/// The sample's clusters: features, edges (neighbour -> hit, inside the cluster), hit labels,
/// cluster label.
struct Cluster {
    features: Vec<f32>,
    src: Vec<u32>,
    dst: Vec<u32>,
    signal: Vec<bool>,
    hadron: bool,
}

fn sample() -> Vec<Cluster> {
    let text = std::fs::read_to_string(examples().join("showers_sample.csv")).expect("sample file");
    let mut clusters: Vec<Cluster> = Vec::new();
    for (row, line) in text.lines().enumerate().skip(1) {
        let v: Vec<f64> = line
            .split(',')
            .map(|s| s.parse().unwrap_or_else(|e| panic!("row {row}: {s}: {e}")))
            .collect();
        assert_eq!(v.len(), 3 + FEATURES + NEIGHBOURS, "row {row}");
        let c = v[0] as usize;
        if c == clusters.len() {
            clusters.push(Cluster {
                features: vec![],
                src: vec![],
                dst: vec![],
                signal: vec![],
                hadron: v[1] == 1.0,
            });
        }
        assert_eq!(
            c + 1,
            clusters.len(),
            "row {row}: clusters one after another"
        );
        let cl = &mut clusters[c];
        let hit = cl.signal.len() as u32;
        cl.signal.push(v[2] == 1.0);
        cl.features
            .extend(v[3..3 + FEATURES].iter().map(|&x| x as f32));
        for &n in &v[3 + FEATURES..] {
            cl.src.push(n as u32);
            cl.dst.push(hit);
        }
    }
    clusters
}

/// All clusters in one input: features, sources, targets (offset to the concatenated rows) and
/// the graph index.
fn joined(clusters: &[Cluster]) -> (Vec<f32>, Vec<u32>, Vec<u32>, Vec<u32>) {
    let (mut x, mut src, mut dst, mut graph) = (vec![], vec![], vec![], vec![]);
    for (g, c) in clusters.iter().enumerate() {
        let offset = graph.len() as u32;
        x.extend_from_slice(&c.features);
        src.extend(c.src.iter().map(|s| s + offset));
        dst.extend(c.dst.iter().map(|d| d + offset));
        graph.extend(std::iter::repeat_n(g as u32, c.signal.len()));
    }
    (x, src, dst, graph)
}

fn input<'a>(
    x: &'a [f32],
    src: &'a [u32],
    dst: &'a [u32],
    graph: Option<&'a [u32]>,
    n_graphs: usize,
) -> GraphInput<'a> {
    GraphInput {
        edges: Some(EdgeIndex::Pairs { src, dst }),
        graph_index: graph,
        n_graphs,
        ..GraphInput::nodes(x, x.len() / FEATURES)
    }
}

fn load(name: &str) -> GraphModel {
    GraphModel::load(examples().join(name), &InferenceConfig::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn cluster_classifier_on_the_sample() {
    let model = load("shower_cluster.onnx");
    let info = model.info();
    assert_eq!(info.level, OutputLevel::Graph);
    assert_eq!(info.output_kind, GraphOutputKind::Logits);
    let names: Vec<&str> = info.node_features.iter().map(|f| f.name.as_ref()).collect();
    assert_eq!(names, ["log_e", "dx", "dy", "depth"]);
    assert_eq!(info.node_features[0].offset, 4.0);
    assert_eq!(info.node_features[1].scale, 10.0);

    let clusters = sample();
    let (x, src, dst, graph) = joined(&clusters);
    let out = model
        .run(&input(&x, &src, &dst, Some(&graph), clusters.len()))
        .unwrap();
    assert_eq!((out.rows, out.width), (clusters.len(), 1));
    let right = clusters
        .iter()
        .zip(&out.values)
        .filter(|&(c, &p)| (p > 0.5) == c.hadron)
        .count();
    let accuracy = right as f64 / clusters.len() as f64;
    assert!(
        accuracy >= MIN_CLUSTER_ACCURACY,
        "{right} of {} clusters right",
        clusters.len()
    );

    for (g, c) in clusters.iter().enumerate() {
        let zeros = vec![0u32; c.signal.len()];
        let one = model
            .run(&input(&c.features, &c.src, &c.dst, Some(&zeros), 1))
            .unwrap();
        assert_eq!(one.rows, 1);
        assert!(
            (one.values[0] - out.values[g]).abs() <= 1e-5,
            "cluster {g}: {} alone, {} with the others",
            one.values[0],
            out.values[g]
        );
    }
}

#[test]
fn hit_tagger_on_the_sample() {
    let model = load("shower_hits.onnx");
    assert_eq!(model.info().level, OutputLevel::Node);
    let clusters = sample();
    let (x, src, dst, _) = joined(&clusters);
    let out = model.run(&input(&x, &src, &dst, None, 0)).unwrap();
    let signal: Vec<bool> = clusters
        .iter()
        .flat_map(|c| c.signal.iter().copied())
        .collect();
    assert_eq!(out.rows, signal.len(), "one row per hit");
    let right = signal
        .iter()
        .zip(&out.values)
        .filter(|&(&s, &p)| (p > 0.5) == s)
        .count();
    let accuracy = right as f64 / signal.len() as f64;
    assert!(
        accuracy >= MIN_HIT_ACCURACY,
        "{right} of {} hits right",
        signal.len()
    );

    let mut first = 0;
    for (g, c) in clusters.iter().enumerate() {
        let one = model
            .run(&input(&c.features, &c.src, &c.dst, None, 0))
            .unwrap();
        assert_eq!(one.rows, c.signal.len());
        for (r, v) in one.values.iter().enumerate() {
            assert!(
                (v - out.values[first + r]).abs() <= 1e-5,
                "cluster {g} hit {r}"
            );
        }
        first += c.signal.len();
    }
}
