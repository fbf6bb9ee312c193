//! Candidate classification: an optional stage after track building that scores each track
//! candidate with a graph-level model (attention over the candidate's hits) and drops or flags
//! the candidates scoring below a cut.
//!
//! Each candidate is one small graph: its hits are the nodes, with the per-hit features of
//! [`CANDIDATE_FEATURES`] (fixed offsets and scales, like the hit features of
//! [`crate::features`]), and consecutive hits (in z) are joined by an edge each way. All candidates of a
//! crossing go to the model in one batch, with the candidate of each hit as the graph index.
//! The model's output, one value per candidate, is the candidate's *quality*: the probability
//! that it is a genuine track.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::features::{FeatureSpec, UnknownFeature, lookup, static_name};
use crate::graph::Graph;
use crate::hits::Hits;
use crate::inference::contract::agree;
use crate::inference::{
    EdgeIndex, GraphInput, GraphModel, GraphOutputKind, InferenceError, OutputLevel,
};
use crate::tracks::Candidate;

/// Metadata key of the cut a candidate model recommends.
pub const KEY_CANDIDATE_CUT: &str = "gnntrack.candidate_cut";

/// Cut used when none is configured and the model recommends none.
pub const DEFAULT_CANDIDATE_CUT: f32 = 0.5;

/// What the stage does with a candidate scoring below the cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CandidateAction {
    /// Remove it from the result.
    #[default]
    Drop,
    /// Keep every candidate; each carries its quality, for the caller to cut on.
    Flag,
}

/// The candidate classifier: a graph-level model checked against [`CANDIDATE_FEATURES`], its
/// cut and what to do below it.
#[derive(Debug)]
pub struct CandidateClassifier {
    model: GraphModel,
    label: String,
    cut: f32,
    action: CandidateAction,
}

impl CandidateClassifier {
    /// Checks that `model` (named `label` in messages) is a graph-level model with one output
    /// per graph (logits or probabilities) over candidate features this library computes, with
    /// their offsets and scales. `cut` is the configured cut; `None` takes the model's
    /// recommended one (`gnntrack.candidate_cut`), else [`DEFAULT_CANDIDATE_CUT`].
    pub fn new(
        model: GraphModel,
        label: &str,
        cut: Option<f32>,
        action: CandidateAction,
    ) -> Result<CandidateClassifier, String> {
        let info = model.info();
        let fail = |why: String| Err(format!("candidate model {label}: {why}"));
        if info.level != OutputLevel::Graph {
            return fail(format!(
                "`gnntrack.output_level` is {:?}, but the candidate classifier needs a graph-level model (`graph`)",
                info.level
            ));
        }
        if info.output_width != 1 {
            return fail(format!(
                "`gnntrack.output_width` = {}: one value per candidate is needed",
                info.output_width
            ));
        }
        if info.output_kind == GraphOutputKind::Values {
            return fail("`gnntrack.output` = values: logits or probabilities are needed".into());
        }
        if info.edge_width > 0 {
            return fail(format!(
                "`gnntrack.edge_width` = {}: the candidate graphs have no edge features",
                info.edge_width
            ));
        }
        if info.node_features.is_empty() {
            return fail(
                "the model does not name its node features (`gnntrack.node_features`)".into(),
            );
        }
        for declared in &info.node_features {
            let known = candidate_feature_specs(&[declared.name.as_ref()])
                .map_err(|e| format!("candidate model {label}: {e}"))?;
            let ours = &known[0];
            if !agree(declared.offset, ours.offset, ours.scale)
                || !agree(declared.scale, ours.scale, ours.scale)
            {
                return fail(format!(
                    "feature `{}` has offset {} and scale {}, the tracker computes it with offset {} and scale {}",
                    declared.name, declared.offset, declared.scale, ours.offset, ours.scale
                ));
            }
        }
        let cut = match (cut, info.extra.get(KEY_CANDIDATE_CUT)) {
            (Some(c), _) => c,
            (None, Some(text)) => match text.trim().parse::<f32>() {
                Ok(c) => c,
                Err(_) => return fail(format!("`{KEY_CANDIDATE_CUT}` = `{text}` is not a number")),
            },
            (None, None) => DEFAULT_CANDIDATE_CUT,
        };
        if !(0.0..=1.0).contains(&cut) {
            return fail(format!("candidate cut {cut} is outside 0..1"));
        }
        Ok(CandidateClassifier {
            model,
            label: label.to_string(),
            cut,
            action,
        })
    }

    /// The cut in force: candidates of a lower quality are dropped or flagged.
    pub fn cut(&self) -> f32 {
        self.cut
    }

    /// What happens below the cut.
    pub fn action(&self) -> CandidateAction {
        self.action
    }

    /// The model.
    pub fn model(&self) -> &GraphModel {
        &self.model
    }

    /// The model's label (file or name) in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The quality (probability of being genuine) of each candidate, in order. `graph` and
    /// `scores` are the crossing's hit graph and edge scores.
    pub fn quality(
        &self,
        hits: &Hits,
        candidates: &[Candidate],
        graph: &Graph,
        scores: &[f32],
    ) -> Result<Vec<f32>, InferenceError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let info = self.model.info();
        let g = candidate_graphs(hits, candidates, graph, scores, &info.node_features);
        let out = self.model.run(&GraphInput {
            node_features: &g.node_features,
            n_nodes: g.n_nodes(),
            edges: info.takes_edges.then_some(EdgeIndex::Pairs {
                src: &g.src,
                dst: &g.dst,
            }),
            edge_features: None,
            graph_index: Some(&g.graph_index),
            n_graphs: g.n_graphs,
        })?;
        Ok(out.values)
    }

    /// Scores the candidates and applies the action: returns the candidates kept (all with
    /// [`CandidateAction::Flag`]) and the quality of each.
    pub fn apply(
        &self,
        hits: &Hits,
        candidates: Vec<Candidate>,
        graph: &Graph,
        scores: &[f32],
    ) -> Result<(Vec<Candidate>, Vec<f32>), InferenceError> {
        let quality = self.quality(hits, &candidates, graph, scores)?;
        if self.action == CandidateAction::Flag {
            return Ok((candidates, quality));
        }
        Ok(candidates
            .into_iter()
            .zip(quality)
            .filter(|&(_, q)| q >= self.cut)
            .unzip())
    }
}

/// Per-hit features of a candidate. Features of the candidate as a whole (its chi2 / ndf, hit
/// count, momentum) are repeated on each of its hits.
pub const CANDIDATE_FEATURES: &[FeatureSpec] = &[
    FeatureSpec::fixed("x", "mm", 0.0, 500.0, "hit x"),
    FeatureSpec::fixed("y", "mm", 0.0, 10.0, "hit y"),
    FeatureSpec::fixed("z", "mm", 4100.0, 200.0, "hit z"),
    FeatureSpec::fixed("layer", "", 0.0, 3.0, "layer index from the readout"),
    FeatureSpec::fixed(
        "res_x",
        "mm",
        0.0,
        0.02,
        "hit x minus the x of the candidate's fitted line at the hit's z",
    ),
    FeatureSpec::fixed(
        "res_y",
        "mm",
        0.0,
        0.02,
        "hit y minus the y of the candidate's fitted line at the hit's z",
    ),
    FeatureSpec::fixed(
        "score_in",
        "",
        0.0,
        1.0,
        "edge score between the candidate's previous hit (in z) and this one, 0 for the first hit or where the graph has no such edge",
    ),
    FeatureSpec::fixed(
        "score_out",
        "",
        0.0,
        1.0,
        "edge score between this hit and the candidate's next hit, 0 for the last hit or where the graph has no such edge",
    ),
    FeatureSpec::fixed(
        "shared",
        "",
        0.0,
        1.0,
        "number of other candidates of the crossing holding this hit",
    ),
    FeatureSpec::fixed(
        "chi2_ndf",
        "",
        0.0,
        5.0,
        "the candidate's chi2 / ndf (0 for ndf = 0)",
    ),
    FeatureSpec::fixed("n_hits", "", 4.0, 4.0, "the candidate's number of hits"),
    FeatureSpec::fixed(
        "p",
        "GeV",
        0.0,
        10.0,
        "the candidate's momentum estimate (0 where there is none)",
    ),
];

/// The specs of named candidate features, in the order given.
pub fn candidate_feature_specs(names: &[&str]) -> Result<Vec<FeatureSpec>, UnknownFeature> {
    lookup(CANDIDATE_FEATURES, "candidate", names)
}

/// Names of every candidate feature, in registry order.
pub fn all_candidate_feature_names() -> Vec<&'static str> {
    CANDIDATE_FEATURES.iter().map(static_name).collect()
}

/// The candidates of one crossing as one batch of graphs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidateGraphs {
    /// Node (candidate hit) features, `n_nodes x width`, row-major, scaled.
    pub node_features: Vec<f32>,
    /// Features per node.
    pub width: usize,
    /// The candidate of each node.
    pub graph_index: Vec<u32>,
    /// Edge sources (node indices): consecutive hits (in z) of one candidate, both ways.
    pub src: Vec<u32>,
    /// Edge targets.
    pub dst: Vec<u32>,
    /// Number of candidates (graphs).
    pub n_graphs: usize,
}

impl CandidateGraphs {
    /// Number of nodes (hits of all candidates together).
    pub fn n_nodes(&self) -> usize {
        self.graph_index.len()
    }
}

/// The raw value of the feature `name` of the `k`-th hit of a candidate.
struct HitContext<'a> {
    hits: &'a Hits,
    candidate: &'a Candidate,
    k: usize,
    score_in: f32,
    score_out: f32,
    shared: u32,
}

impl HitContext<'_> {
    fn raw(&self, name: &str) -> f64 {
        let h = self.candidate.hits[self.k] as usize;
        let fit = &self.candidate.fit;
        let (x, y, z) = (self.hits.x[h], self.hits.y[h], self.hits.z[h]);
        match name {
            "x" => x,
            "y" => y,
            "z" => z,
            "layer" => f64::from(self.hits.layer[h]),
            "res_x" => x - fit.x_at(z),
            "res_y" => y - fit.y_at(z),
            "score_in" => f64::from(self.score_in),
            "score_out" => f64::from(self.score_out),
            "shared" => f64::from(self.shared),
            "chi2_ndf" if fit.ndf > 0 => fit.chi2 / f64::from(fit.ndf),
            "chi2_ndf" => 0.0,
            "n_hits" => self.candidate.hits.len() as f64,
            "p" => fit.p_estimate,
            other => unreachable!("`{other}` is checked against the registry"),
        }
    }
}

/// The candidates of a crossing as a batch of graphs with the features `specs` (from
/// [`candidate_feature_specs`]). `graph` and `scores` are the crossing's hit graph and edge
/// scores: the scores of the edges joining consecutive hits of a candidate are features.
pub fn candidate_graphs(
    hits: &Hits,
    candidates: &[Candidate],
    graph: &Graph,
    scores: &[f32],
    specs: &[FeatureSpec],
) -> CandidateGraphs {
    // Scores of the edges between consecutive candidate hits (either direction, best of
    // parallel edges), found in one pass over the graph.
    let key = |a: u32, b: u32| if a < b { (a, b) } else { (b, a) };
    let mut pair_score: HashMap<(u32, u32), f32> = HashMap::new();
    let mut uses = vec![0u32; hits.len()];
    for c in candidates {
        for &h in &c.hits {
            uses[h as usize] += 1;
        }
        for w in c.hits.windows(2) {
            pair_score.insert(key(w[0], w[1]), 0.0);
        }
    }
    for ((&a, &b), &s) in graph.src.iter().zip(&graph.dst).zip(scores) {
        if uses[a as usize] > 0
            && uses[b as usize] > 0
            && let Some(v) = pair_score.get_mut(&key(a, b))
        {
            *v = v.max(s);
        }
    }
    let n_nodes: usize = candidates.iter().map(|c| c.hits.len()).sum();
    let n_edges: usize = candidates
        .iter()
        .map(|c| 2 * c.hits.len().saturating_sub(1))
        .sum();
    let mut out = CandidateGraphs {
        node_features: Vec::with_capacity(n_nodes * specs.len()),
        width: specs.len(),
        graph_index: Vec::with_capacity(n_nodes),
        src: Vec::with_capacity(n_edges),
        dst: Vec::with_capacity(n_edges),
        n_graphs: candidates.len(),
    };
    for (g, c) in candidates.iter().enumerate() {
        let first = out.graph_index.len() as u32;
        let n = c.hits.len();
        for k in 0..n {
            let between = |a: usize, b: usize| pair_score[&key(c.hits[a], c.hits[b])];
            let ctx = HitContext {
                hits,
                candidate: c,
                k,
                score_in: if k > 0 { between(k - 1, k) } else { 0.0 },
                score_out: if k + 1 < n { between(k, k + 1) } else { 0.0 },
                shared: uses[c.hits[k] as usize] - 1,
            };
            out.node_features
                .extend(specs.iter().map(|f| f.apply(ctx.raw(&f.name))));
            out.graph_index.push(g as u32);
        }
        for k in 1..n as u32 {
            out.src.extend([first + k - 1, first + k]);
            out.dst.extend([first + k, first + k - 1]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracks::{TrackConfig, fit_line};

    /// A candidate over `hits` with its plain line fit.
    fn candidate(h: &Hits, members: Vec<u32>) -> Candidate {
        let pick = |v: &[f64]| members.iter().map(|&i| v[i as usize]).collect::<Vec<_>>();
        let fit = fit_line(
            &pick(&h.x),
            &pick(&h.y),
            &pick(&h.z),
            0.01,
            &TrackConfig::default(),
        )
        .unwrap();
        Candidate { hits: members, fit }
    }

    /// Two four-hit lines on the LUXE layers; hit 1 is 30 um off its line in x.
    fn two_lines() -> Hits {
        let mut h = Hits::new(false);
        for (t, x0) in [(0u64, 150.0), (1, 300.0)] {
            for layer in 0..4u8 {
                let z = 3956.0 + 100.0 * f64::from(layer);
                let off = if t == 0 && layer == 1 { 0.03 } else { 0.0 };
                h.push(
                    crate::hits::Hit {
                        hit_id: 4 * t + u64::from(layer),
                        x: x0 + 0.04 * (z - 3956.0) + off,
                        y: 0.5,
                        z,
                        layer,
                        stave: 0,
                    },
                    None,
                );
            }
        }
        h
    }

    fn column(g: &CandidateGraphs, specs: &[FeatureSpec], name: &str) -> Vec<f32> {
        let c = specs.iter().position(|f| f.name == name).unwrap();
        (0..g.n_nodes())
            .map(|r| g.node_features[r * g.width + c])
            .collect()
    }

    #[test]
    fn features_edges_and_graph_index_of_two_candidates() {
        let h = two_lines();
        // Candidate 0: hits 0-3; candidate 1: hits 3 (shared), 5, 6 (layer 1 of line 1 is
        // skipped: no edge 3 -> 5 in the graph).
        let cands = vec![
            candidate(&h, vec![0, 1, 2, 3]),
            candidate(&h, vec![3, 5, 6]),
        ];
        // Edge 1 -> 2 appears twice; the better score counts.
        let pairs = [(0u32, 1u32), (1, 2), (2, 3), (5, 6), (4, 5), (1, 2)];
        let graph = Graph {
            n_nodes: h.len(),
            src: pairs.iter().map(|p| p.0).collect(),
            dst: pairs.iter().map(|p| p.1).collect(),
            kind: vec![crate::graph::EdgeKind::Next; pairs.len()],
        };
        let scores = [0.9, 0.6, 0.7, 0.8, 0.1, 0.65];
        let specs = candidate_feature_specs(&all_candidate_feature_names()).unwrap();
        let g = candidate_graphs(&h, &cands, &graph, &scores, &specs);
        assert_eq!((g.n_nodes(), g.n_graphs, g.width), (7, 2, specs.len()));
        assert_eq!(g.graph_index, vec![0, 0, 0, 0, 1, 1, 1]);
        // Consecutive hits of each candidate, both ways.
        let pairs: Vec<(u32, u32)> = g.src.iter().copied().zip(g.dst.iter().copied()).collect();
        assert_eq!(
            pairs,
            vec![
                (0, 1),
                (1, 0),
                (1, 2),
                (2, 1),
                (2, 3),
                (3, 2),
                (4, 5),
                (5, 4),
                (5, 6),
                (6, 5)
            ]
        );
        assert_eq!(
            column(&g, &specs, "score_in"),
            vec![0.0, 0.9, 0.65, 0.7, 0.0, 0.0, 0.8]
        );
        assert_eq!(
            column(&g, &specs, "score_out"),
            vec![0.9, 0.65, 0.7, 0.0, 0.0, 0.8, 0.0]
        );
        assert_eq!(
            column(&g, &specs, "shared"),
            vec![0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        );
        assert_eq!(
            column(&g, &specs, "n_hits"),
            vec![0.0, 0.0, 0.0, 0.0, -0.25, -0.25, -0.25]
        );
        // Hit 1 lies 30 um off the straight line through the others: its residual has the
        // largest size and the opposite sign of its neighbours'.
        let res = column(&g, &specs, "res_x");
        assert!(res[1] > 0.5 && res[1].abs() > res[0].abs().max(res[2].abs()));
        assert!(res[0] < 0.0 && res[2] < 0.0);
        assert!(column(&g, &specs, "res_y").iter().all(|r| r.abs() < 1e-3));
        // Candidate 1 mixes two lines: its chi2 / ndf, repeated on its hits, is far the larger.
        let chi2 = column(&g, &specs, "chi2_ndf");
        assert!(chi2[0] > 0.0 && chi2[0] == chi2[3] && chi2[4] > 100.0 * chi2[0]);
        let layer = column(&g, &specs, "layer");
        assert_eq!(layer[4..], [1.0, 1.0 / 3.0, 2.0 / 3.0]);
    }

    #[test]
    fn features_come_in_the_order_asked() {
        let h = two_lines();
        let cands = vec![candidate(&h, vec![4, 5, 6, 7])];
        let specs = candidate_feature_specs(&["n_hits", "z"]).unwrap();
        let g = candidate_graphs(&h, &cands, &Graph::default(), &[], &specs);
        assert_eq!(g.width, 2);
        assert_eq!(
            g.node_features,
            vec![0.0, -0.72, 0.0, -0.22, 0.0, 0.28, 0.0, 0.78]
        );
        let e = candidate_feature_specs(&["x", "curvature"]).unwrap_err();
        assert!(e.to_string().contains("curvature") && e.to_string().contains("res_x"));
    }

    #[test]
    fn no_candidates_give_an_empty_batch() {
        let h = two_lines();
        let specs = candidate_feature_specs(&["x"]).unwrap();
        let g = candidate_graphs(&h, &[], &Graph::default(), &[], &specs);
        assert_eq!((g.n_nodes(), g.n_graphs, g.src.len()), (0, 0, 0));
    }
}
