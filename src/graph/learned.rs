//! The learned-space builder: edges between hits whose learned embeddings lie close together.
//!
//! An embedding model ([`Embedder`], a node-level ONNX graph model) maps the features of every
//! hit to a point in a small space where the hits of one positron land close together. For each
//! relation of the cone builder's plan (next layer, stave overlap and, when enabled, skip layer:
//! the same (layer, stave) pairs, layer and stave from the hit) an R*-tree (`rstar`) holds the
//! embeddings of the outer group, and every inner hit connects to the outer hits within the
//! radius, at most `max_neighbours` nearest of them. The tree indexes the leading
//! [`INDEXED_DIM`] coordinates, and a candidate found there is checked in all of them: in more
//! dimensions an R-tree's boxes overlap and it visits most of its nodes. The edges come sorted
//! by (inner, outer) in the same [`Graph`] as the cone builder's, so shortcut and skip-edge
//! pruning, features, the edge classifier and track building work unchanged.

use std::path::Path;

use rayon::prelude::*;
use rstar::RTree;
use rstar::primitives::GeomWithData;

use super::{EdgeKind, Graph, GraphError, Plan, Reference};
use crate::features::{FeatureKind, FeatureSpec, FeatureTable, node_features};
use crate::hits::Hits;
use crate::inference::contract::check_features;
use crate::inference::{
    GraphInput, GraphModel, GraphOutputKind, InferenceConfig, InferenceError, OutputLevel,
};

/// Leading embedding coordinates the R*-tree indexes; the distance in all of them then decides.
/// A model should give its coordinates in decreasing order of spread (the training script
/// rotates its output onto the principal axes), which makes the index selective.
pub const INDEXED_DIM: usize = 3;

/// Metadata key of the search radius in an embedding model.
pub const KEY_RADIUS: &str = "gnntrack.embedding.radius";
/// Metadata key of the most neighbours per inner hit and outer group.
pub const KEY_MAX_NEIGHBOURS: &str = "gnntrack.embedding.max_neighbours";

/// The neighbour search: which outer hits an inner hit connects to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmbeddingSearch {
    /// Largest Euclidean distance between the embeddings of connected hits.
    pub radius: f64,
    /// Most outer hits (the nearest) per inner hit and outer (layer, stave).
    pub max_neighbours: usize,
}

/// A point of the index: the leading coordinates of a hit's embedding (padded with zeros, which
/// change no distance), with the hit's index.
type Entry = GeomWithData<[f32; INDEXED_DIM], u32>;

fn indexed(row: &[f32]) -> [f32; INDEXED_DIM] {
    let mut p = [0.0f32; INDEXED_DIM];
    let n = row.len().min(INDEXED_DIM);
    p[..n].copy_from_slice(&row[..n]);
    p
}

/// Squared distance of two points, summed over the coordinates in order.
#[inline]
pub fn distance_2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Work space kept from one crossing to the next.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    members: Vec<Vec<u32>>,
}

/// The embeddings of the hits: `hits.len() x dim` values, row-major.
#[derive(Debug, Clone, Copy)]
pub(super) struct Points<'a> {
    pub values: &'a [f32],
    pub dim: usize,
}

/// Builds the edges of `hits` from their embeddings into `graph`, sorted by (inner, outer),
/// before any pruning. More than `max_edges` edges stop the build with `Err(edges found)`.
pub(super) fn build_into(
    hits: &Hits,
    plan: &Plan,
    points: Points<'_>,
    search: &EmbeddingSearch,
    scratch: &mut Scratch,
    graph: &mut Graph,
    max_edges: usize,
) -> Result<(), usize> {
    let Points {
        values: embedding,
        dim,
    } = points;
    assert!(dim > 0 && embedding.len() == hits.len() * dim);
    let row = |i: usize| &embedding[i * dim..(i + 1) * dim];
    let n = hits.len();
    let members = &mut scratch.members;
    members.iter_mut().for_each(Vec::clear);
    members.resize_with(plan.n_groups, Vec::new);
    for i in 0..n {
        members[plan.group(hits.layer[i], hits.stave[i])].push(i as u32);
    }
    let mut is_target = vec![false; plan.n_groups];
    for (g, relations) in plan.relations.iter().enumerate() {
        if !members[g].is_empty() {
            relations.iter().for_each(|r| is_target[r.target] = true);
        }
    }
    let trees: Vec<Option<RTree<Entry>>> = (0..plan.n_groups)
        .into_par_iter()
        .map(|g| {
            (is_target[g] && !members[g].is_empty()).then(|| {
                RTree::bulk_load(
                    members[g]
                        .iter()
                        .map(|&i| Entry::new(indexed(row(i as usize)), i))
                        .collect(),
                )
            })
        })
        .collect();
    let r2 = (search.radius * search.radius) as f32;
    let k = search.max_neighbours;
    const CHUNK: usize = 4096;
    let chunks: Vec<Vec<(u32, u32, EdgeKind)>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut out = Vec::new();
            let mut near: Vec<(f32, u32)> = Vec::new();
            for i in c * CHUNK..((c + 1) * CHUNK).min(n) {
                let start = out.len();
                let q = row(i);
                let z = hits.z[i];
                for rel in &plan.relations[plan.group(hits.layer[i], hits.stave[i])] {
                    let Some(tree) = &trees[rel.target] else {
                        continue;
                    };
                    near.clear();
                    // The leading coordinates are no farther apart than the whole embeddings.
                    near.extend(
                        tree.locate_within_distance(indexed(q), r2)
                            .map(|e| (distance_2(q, row(e.data as usize)), e.data))
                            .filter(|&(d2, _)| d2 <= r2),
                    );
                    if near.len() > k {
                        near.select_nth_unstable_by(k - 1, |a, b| a.0.total_cmp(&b.0));
                        near.truncate(k);
                    }
                    for &(_, j) in near.iter() {
                        // Overlap edges go downstream only, as in the cone builder.
                        if rel.kind != EdgeKind::Overlap || hits.z[j as usize] > z {
                            out.push((i as u32, j, rel.kind));
                        }
                    }
                }
                out[start..].sort_unstable_by_key(|&(_, d, _)| d);
            }
            out
        })
        .collect();
    let total: usize = chunks.iter().map(Vec::len).sum();
    if total > max_edges {
        return Err(total);
    }
    graph.n_nodes = n;
    graph.src.clear();
    graph.dst.clear();
    graph.kind.clear();
    for (s, d, kind) in chunks.into_iter().flatten() {
        graph.src.push(s);
        graph.dst.push(d);
        graph.kind.push(kind);
    }
    Ok(())
}

/// The embedding model of the learned builder, checked at load time: a node-level graph model
/// without an edge input whose output (`values`) is the embedding, with
/// node features the tracker computes (same scales and offsets) and the search in its metadata
/// ([`KEY_RADIUS`], [`KEY_MAX_NEIGHBOURS`]). `Sync`: many threads may embed at once.
#[derive(Debug)]
pub struct Embedder {
    model: GraphModel,
    label: String,
    features: Vec<FeatureSpec>,
    search: EmbeddingSearch,
}

impl Embedder {
    /// Loads and checks an embedding model file.
    pub fn load(path: impl AsRef<Path>, config: &InferenceConfig) -> Result<Embedder, GraphError> {
        let path = path.as_ref();
        let model = GraphModel::load(path, config)?;
        Self::checked(model, path.display().to_string())
    }

    /// Checks an embedding model held in memory; `label` names it in messages.
    pub fn from_bytes(
        bytes: impl Into<std::sync::Arc<[u8]>>,
        label: &str,
        config: &InferenceConfig,
    ) -> Result<Embedder, GraphError> {
        let model = GraphModel::from_bytes(bytes, label, config)?;
        Self::checked(model, label.to_string())
    }

    fn checked(model: GraphModel, label: String) -> Result<Embedder, GraphError> {
        let bad = |what: &str, value: &dyn std::fmt::Display, reason: &str| {
            Err(GraphError::Embedding {
                model: label.clone(),
                reason: format!("{what} = {value}: {reason}"),
            })
        };
        let info = model.info();
        if info.level != OutputLevel::Node {
            return bad(
                "gnntrack.output_level",
                &format!("{:?}", info.level).to_lowercase(),
                "an embedding model gives node-level outputs (`node`)",
            );
        }
        if info.output_kind != GraphOutputKind::Values {
            return bad(
                "gnntrack.output",
                &format!("{:?}", info.output_kind).to_lowercase(),
                "an embedding model outputs `values`",
            );
        }
        if info.takes_edges || info.edge_width > 0 {
            return bad(
                "inputs",
                &"an edge index or edge features",
                "an embedding model takes node features only (the graph does not exist yet)",
            );
        }
        let features = check_features(
            &info.node_features,
            FeatureKind::Node,
            &FeatureTable::tracker(),
        )
        .map_err(|problem| GraphError::Embedding {
            model: label.clone(),
            reason: problem.to_string(),
        })?;
        let text = |key: &str| info.extra.get(key).map(String::as_str);
        let radius = match text(KEY_RADIUS).map(|t| (t, t.trim().parse::<f64>())) {
            Some((_, Ok(r))) if r.is_finite() && r > 0.0 => r,
            Some((t, _)) => return bad(KEY_RADIUS, &t, "must be a finite number > 0"),
            None => return bad(KEY_RADIUS, &"(not set)", "the search radius is required"),
        };
        let max_neighbours = match text(KEY_MAX_NEIGHBOURS).map(|t| (t, t.trim().parse::<usize>()))
        {
            Some((_, Ok(k))) if k >= 1 => k,
            Some((t, _)) => return bad(KEY_MAX_NEIGHBOURS, &t, "must be an integer >= 1"),
            None => {
                return bad(
                    KEY_MAX_NEIGHBOURS,
                    &"(not set)",
                    "the most neighbours per hit are required",
                );
            }
        };
        Ok(Embedder {
            model,
            label,
            features,
            search: EmbeddingSearch {
                radius,
                max_neighbours,
            },
        })
    }

    /// The model's name for messages (file or label).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The underlying graph model.
    pub fn model(&self) -> &GraphModel {
        &self.model
    }

    /// Embedding dimensions.
    pub fn dim(&self) -> usize {
        self.model.info().output_width
    }

    /// The search recorded in the model.
    pub fn search(&self) -> EmbeddingSearch {
        self.search
    }

    /// The embeddings of the hits, `hits.len() x dim()` row-major; an output that is not
    /// finite is an error naming the hit.
    pub fn embed(&self, hits: &Hits, reference: &Reference) -> Result<Vec<f32>, GraphError> {
        let names: Vec<&str> = self.features.iter().map(|f| f.name.as_ref()).collect();
        let features =
            node_features(hits, &names, reference).map_err(|e| GraphError::Embedding {
                model: self.label.clone(),
                reason: e.to_string(),
            })?;
        let output = self.model.run(&GraphInput {
            node_features: &features.data,
            n_nodes: hits.len(),
            edges: None,
            edge_features: None,
            graph_index: None,
            n_graphs: 0,
        })?;
        let dim = self.dim();
        let output_error = |reason: String| {
            GraphError::from(InferenceError::Output {
                model: self.label.clone(),
                reason,
            })
        };
        if output.rows != hits.len() || output.values.len() != hits.len() * dim {
            return Err(output_error(format!(
                "{} output values for {} hits of {dim} dimensions",
                output.values.len(),
                hits.len()
            )));
        }
        if let Some(k) = output.values.iter().position(|v| !v.is_finite()) {
            return Err(output_error(format!(
                "embedding of hit {} (id {}) is {}",
                k / dim,
                hits.hit_id[k / dim],
                output.values[k]
            )));
        }
        Ok(output.values)
    }
}

impl From<InferenceError> for GraphError {
    fn from(e: InferenceError) -> GraphError {
        GraphError::Model(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::geometry::Detector;
    use crate::graph::GraphConfig;
    use crate::hits::Hit;

    /// Random hits on every stave of the detector.
    fn random_hits(detector: &Detector, n: usize, rng: &mut ChaCha8Rng) -> Hits {
        let mut hits = Hits::new(false);
        for id in 0..n {
            let layer = rng.random_range(0..detector.layers.len());
            let staves = &detector.layers[layer].staves;
            let stave = rng.random_range(0..staves.len());
            let s = &staves[stave];
            let x = rng.random_range(s.x_min()..s.x_max());
            hits.push(
                Hit {
                    hit_id: id as u64,
                    x,
                    y: rng.random_range(-5.0..5.0),
                    z: s.z,
                    layer: layer as u8,
                    stave: stave as u8,
                },
                None,
            );
        }
        hits
    }

    /// Every pair of the plan's relations compared: the outer hits within the radius, the
    /// `max_neighbours` nearest, overlap edges downstream only, sorted by (inner, outer).
    fn brute_force(
        hits: &Hits,
        plan: &Plan,
        embedding: &[f32],
        dim: usize,
        search: &EmbeddingSearch,
    ) -> Graph {
        let mut graph = Graph {
            n_nodes: hits.len(),
            ..Graph::default()
        };
        let r2 = (search.radius * search.radius) as f32;
        for i in 0..hits.len() {
            let a = &embedding[i * dim..(i + 1) * dim];
            let mut edges = Vec::new();
            for rel in &plan.relations[plan.group(hits.layer[i], hits.stave[i])] {
                let mut near: Vec<(f32, u32)> = (0..hits.len())
                    .filter(|&j| plan.group(hits.layer[j], hits.stave[j]) == rel.target)
                    .map(|j| (distance_2(a, &embedding[j * dim..(j + 1) * dim]), j as u32))
                    .filter(|&(d2, _)| d2 <= r2)
                    .collect();
                near.sort_by(|p, q| p.0.total_cmp(&q.0));
                near.truncate(search.max_neighbours);
                for (_, j) in near {
                    if rel.kind != EdgeKind::Overlap || hits.z[j as usize] > hits.z[i] {
                        edges.push((j, rel.kind));
                    }
                }
            }
            edges.sort_by_key(|&(j, _)| j);
            for (j, kind) in edges {
                graph.src.push(i as u32);
                graph.dst.push(j);
                graph.kind.push(kind);
            }
        }
        graph
    }

    #[test]
    fn neighbour_search_equals_brute_force() {
        let detector = Detector::preset("luxe").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut scratch = Scratch::default();
        for (case, (dim, radius, k, skip)) in [
            (2, 0.1, 3, false),
            (3, 0.25, 2, true),
            (8, 0.8, 5, false),
            (1, 0.02, 2, false),
            (5, 0.5, 1, true),
        ]
        .into_iter()
        .enumerate()
        {
            let config = GraphConfig {
                skip_edges: skip,
                ..GraphConfig::default()
            };
            let plan = Plan::new(&detector, &config);
            let hits = random_hits(&detector, 600, &mut rng);
            let embedding: Vec<f32> = (0..hits.len() * dim)
                .map(|_| rng.random_range(0.0..1.0f32))
                .collect();
            let search = EmbeddingSearch {
                radius,
                max_neighbours: k,
            };
            let mut graph = Graph::default();
            build_into(
                &hits,
                &plan,
                Points {
                    values: &embedding,
                    dim,
                },
                &search,
                &mut scratch,
                &mut graph,
                usize::MAX,
            )
            .unwrap();
            let expected = brute_force(&hits, &plan, &embedding, dim, &search);
            assert!(!expected.is_empty(), "case {case}: no edges to compare");
            assert_eq!(graph, expected, "case {case}");
            let kinds = graph.count_by_kind();
            assert!(kinds[0] > 0 && kinds[1] > 0, "case {case}: {kinds:?}");
            assert_eq!(kinds[2] > 0, skip, "case {case}: {kinds:?}");
            // At most k per inner hit and relation.
            let offsets = graph.offsets();
            let most = plan.relations.iter().map(Vec::len).max().unwrap() * k;
            assert!(offsets.windows(2).all(|w| w[1] - w[0] <= most));

            // The edge limit: one fewer than found is refused, the graph left as it was.
            let mut again = Graph::default();
            let found = build_into(
                &hits,
                &plan,
                Points {
                    values: &embedding,
                    dim,
                },
                &search,
                &mut scratch,
                &mut again,
                graph.len() - 1,
            )
            .unwrap_err();
            assert_eq!(found, graph.len());
            assert_eq!(again, Graph::default());
        }
    }
}
