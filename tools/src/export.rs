//! Training export: one NumPy `.npz` archive per bunch crossing and a JSON manifest.
//!
//! Arrays of one archive (N hits, E edges; `np.load(path)` reads them):
//!
//! | name | dtype | shape | content |
//! |---|---|---|---|
//! | `node_features` | float32 | `[N, Fn]` | the manifest's node features, scaled |
//! | `edge_index` | int64 | `[2, E]` | inner and outer hit (row into the node arrays) |
//! | `edge_features` | float32 | `[E, Fe]` | the manifest's edge features, scaled |
//! | `edge_kind` | uint8 | `[E]` | 0 next layer, 1 stave overlap, 2 skip layer |
//! | `hit_id` | uint64 | `[N]` | the caller's hit ids |
//! | `edge_labels` | uint8 | `[E]` | 1 when the edge is a true segment (with truth only) |
//! | `particle_id` | int64 | `[N]` | true particle, 0 for noise (with truth only) |
//! | `other_particle_id` | int64 | `[N]` | second positron of a merged hit, 0 if none (with truth only) |
//! | `particle_p` | float32 | `[N]` | its momentum in GeV (with truth only) |

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use gnntrack::candidates::candidate_graphs;
use gnntrack::features::{FeatureSpec, UnknownFeature, edge_specs, graph_features, node_specs};
use gnntrack::geometry::Detector;
use gnntrack::graph::metrics::{GraphMetrics, TrueSegments};
use gnntrack::graph::{Graph, GraphConfig, GraphError, build_graph};
use gnntrack::hits::{HitError, HitTolerance, Hits};
use gnntrack::pipeline::Reconstruction;

use crate::eval::{Matcher, MergedHits};

/// An error while exporting.
#[derive(Debug, Error)]
pub enum ExportError {
    /// A hit is invalid for the geometry.
    #[error("invalid hit: {0}")]
    Hit(#[from] HitError),
    /// Building the graph failed.
    #[error(transparent)]
    Graph(#[from] GraphError),
    /// A feature name is unknown.
    #[error(transparent)]
    Feature(#[from] UnknownFeature),
    /// Writing failed.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
}

/// One array of an `.npz` archive: its name, NumPy dtype string, shape and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyArray {
    /// Name inside the archive (without `.npy`).
    pub name: String,
    /// NumPy type string, for example `<f4`.
    pub descr: &'static str,
    /// Shape.
    pub shape: Vec<usize>,
    /// Data, C order, little-endian.
    pub data: Vec<u8>,
}

impl NpyArray {
    /// A float32 array.
    pub fn f32(name: &str, shape: Vec<usize>, values: &[f32]) -> NpyArray {
        Self::from_le(
            name,
            "<f4",
            shape,
            values.iter().flat_map(|v| v.to_le_bytes()),
        )
    }
    /// An int64 array.
    pub fn i64(name: &str, shape: Vec<usize>, values: impl Iterator<Item = i64>) -> NpyArray {
        Self::from_le(name, "<i8", shape, values.flat_map(|v| v.to_le_bytes()))
    }
    /// A uint64 array.
    pub fn u64(name: &str, shape: Vec<usize>, values: &[u64]) -> NpyArray {
        Self::from_le(
            name,
            "<u8",
            shape,
            values.iter().flat_map(|v| v.to_le_bytes()),
        )
    }
    /// A uint8 array.
    pub fn u8(name: &str, shape: Vec<usize>, values: Vec<u8>) -> NpyArray {
        NpyArray {
            name: name.to_string(),
            descr: "|u1",
            shape,
            data: values,
        }
    }

    fn from_le(
        name: &str,
        descr: &'static str,
        shape: Vec<usize>,
        bytes: impl Iterator<Item = u8>,
    ) -> NpyArray {
        NpyArray {
            name: name.to_string(),
            descr,
            shape,
            data: bytes.collect(),
        }
    }

    /// The array as an `.npy` file (format version 1.0): magic, header, data.
    pub fn to_npy(&self) -> Vec<u8> {
        let shape = match self.shape.as_slice() {
            [n] => format!("({n},)"),
            dims => format!(
                "({})",
                dims.iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let mut header = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}",
            self.descr
        );
        // Magic (6) + version (2) + length (2) + header + newline, padded to 64 bytes.
        let unpadded = 10 + header.len() + 1;
        header.push_str(&" ".repeat(unpadded.next_multiple_of(64) - unpadded));
        header.push('\n');
        let mut out = Vec::with_capacity(10 + header.len() + self.data.len());
        out.extend_from_slice(b"\x93NUMPY\x01\x00");
        out.extend_from_slice(&(header.len() as u16).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(&self.data);
        out
    }
}

/// Writes arrays as an uncompressed `.npz` archive.
pub fn write_npz(path: &Path, arrays: &[NpyArray]) -> Result<(), ExportError> {
    let error = |message: String| ExportError::Write {
        path: path.display().to_string(),
        message,
    };
    let file = File::create(path).map_err(|e| error(e.to_string()))?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    for a in arrays {
        zip.start_file(format!("{}.npy", a.name), options)
            .map_err(|e| error(e.to_string()))?;
        zip.write_all(&a.to_npy())
            .map_err(|e| error(e.to_string()))?;
    }
    let mut inner = zip.finish().map_err(|e| error(e.to_string()))?;
    inner.flush().map_err(|e| error(e.to_string()))?;
    Ok(())
}

/// Summary of one exported crossing, as listed in the manifest.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ExportedFile {
    /// Archive file name.
    pub file: String,
    /// Hit file it came from.
    pub source: String,
    /// Hits.
    pub hits: usize,
    /// Edges.
    pub edges: usize,
    /// Whether labels and particle ids are included.
    pub truth: bool,
    /// Edges labelled true (with truth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub true_edges: Option<usize>,
    /// Edge efficiency (with truth).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub efficiency: Option<f64>,
}

/// The arrays of one crossing; also returns the graph and its truth metrics (when there is truth).
pub fn graph_arrays(
    hits: &Hits,
    detector: &Detector,
    config: &GraphConfig,
    node_names: &[&str],
    edge_names: &[&str],
) -> Result<(Vec<NpyArray>, Graph, Option<GraphMetrics>), ExportError> {
    let graph = build_graph(
        &hits.validate(detector, &HitTolerance::default())?,
        detector,
        config,
    )?;
    let features = graph_features(hits, &graph, node_names, edge_names, &config.reference)?;
    let (nodes, edges) = (features.nodes, features.edges);
    let (n, e) = (hits.len(), graph.len());
    let mut arrays = vec![
        NpyArray::f32("node_features", vec![n, nodes.cols()], &nodes.data),
        NpyArray::i64(
            "edge_index",
            vec![2, e],
            graph.src.iter().chain(&graph.dst).map(|&i| i64::from(i)),
        ),
        NpyArray::f32("edge_features", vec![e, edges.cols()], &edges.data),
        NpyArray::u8(
            "edge_kind",
            vec![e],
            graph.kind.iter().map(|k| k.code()).collect(),
        ),
        NpyArray::u64("hit_id", vec![n], &hits.hit_id),
    ];
    let mut metrics = None;
    if let (Some(truth), Some(segments)) = (&hits.truth, TrueSegments::from_hits(hits, detector)) {
        arrays.push(NpyArray::u8(
            "edge_labels",
            vec![e],
            segments.edge_labels(&graph),
        ));
        arrays.push(NpyArray::i64(
            "particle_id",
            vec![n],
            truth.particle_id.iter().map(|&p| p as i64),
        ));
        arrays.push(NpyArray::i64(
            "other_particle_id",
            vec![n],
            truth.other_particle_id.iter().map(|&p| p as i64),
        ));
        let p: Vec<f32> = truth.particle_p.iter().map(|&p| p as f32).collect();
        arrays.push(NpyArray::f32("particle_p", vec![n], &p));
        metrics = Some(GraphMetrics::compute(hits, &graph, &segments));
    }
    Ok((arrays, graph, metrics))
}

/// Builds the graph of one crossing and writes its archive to `path`.
pub fn export_bx(
    hits: &Hits,
    detector: &Detector,
    config: &GraphConfig,
    node_names: &[&str],
    edge_names: &[&str],
    path: &Path,
    source: &str,
) -> Result<ExportedFile, ExportError> {
    let (arrays, graph, metrics) = graph_arrays(hits, detector, config, node_names, edge_names)?;
    write_npz(path, &arrays)?;
    Ok(ExportedFile {
        file: path
            .file_name()
            .map_or_else(String::new, |f| f.to_string_lossy().into_owned()),
        source: source.to_string(),
        hits: hits.len(),
        edges: graph.len(),
        truth: metrics.is_some(),
        true_edges: metrics.as_ref().map(|m| m.total.true_edges),
        efficiency: metrics.as_ref().map(GraphMetrics::efficiency),
    })
}

/// A feature as a manifest lists it.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureEntry {
    /// Name.
    pub name: String,
    /// Unit of the raw value.
    pub unit: &'static str,
    /// Subtracted from the raw value.
    pub offset: f64,
    /// Divides the raw value minus the offset.
    pub scale: f64,
    /// What the raw value is.
    pub description: &'static str,
}

impl From<&FeatureSpec> for FeatureEntry {
    fn from(f: &FeatureSpec) -> Self {
        FeatureEntry {
            name: f.name.to_string(),
            unit: f.unit,
            offset: f.offset,
            scale: f.scale,
            description: f.description,
        }
    }
}

/// The candidates of one reconstructed crossing for training a candidate classifier: the
/// batch of [`candidate_graphs`] with the features `specs`, and per candidate its label under
/// the double-majority rule with one particle per hit ([`Matcher`]). Arrays (N candidate hits,
/// E edges, G candidates, R reconstructable positrons):
///
/// | name | dtype | shape | content |
/// |---|---|---|---|
/// | `node_features` | float32 | `[N, F]` | the candidate features, scaled |
/// | `edge_index` | int64 | `[2, E]` | consecutive hits of one candidate, both ways |
/// | `graph_index` | int64 | `[N]` | candidate of each hit |
/// | `label` | uint8 | `[G]` | 1 genuine (matches a positron), 0 fake |
/// | `owner` | int64 | `[G, 2]` | the positrons it matches, 0 for none |
/// | `reconstructable` | int64 | `[R]` | positrons with at least 3 hits of their own |
///
/// Returns `None` for hits without truth.
pub fn candidate_arrays(
    hits: &Hits,
    r: &Reconstruction,
    specs: &[FeatureSpec],
) -> Option<Vec<NpyArray>> {
    let matcher = Matcher::new(hits, MergedHits::Majority)?;
    let g = candidate_graphs(hits, &r.candidates, &r.graph, &r.scores, specs);
    let mut owners = Vec::with_capacity(2 * g.n_graphs);
    let mut labels = Vec::with_capacity(g.n_graphs);
    for c in &r.candidates {
        let o = matcher.owners(&c.hits);
        labels.push(u8::from(!o.is_empty()));
        owners.extend((0..2).map(|k| o.get(k).map_or(0, |&(pid, _)| pid as i64)));
    }
    let mut reconstructable: Vec<i64> = matcher.reconstructable().map(|(p, _)| p as i64).collect();
    reconstructable.sort_unstable();
    let (n, e) = (g.n_nodes(), g.src.len());
    Some(vec![
        NpyArray::f32("node_features", vec![n, g.width], &g.node_features),
        NpyArray::i64(
            "edge_index",
            vec![2, e],
            g.src.iter().chain(&g.dst).map(|&i| i64::from(i)),
        ),
        NpyArray::i64(
            "graph_index",
            vec![n],
            g.graph_index.iter().map(|&i| i64::from(i)),
        ),
        NpyArray::u8("label", vec![g.n_graphs], labels),
        NpyArray::i64("owner", vec![g.n_graphs, 2], owners.into_iter()),
        NpyArray::i64(
            "reconstructable",
            vec![reconstructable.len()],
            reconstructable.into_iter(),
        ),
    ])
}

/// The features of a manifest.
pub fn feature_entries(specs: &[FeatureSpec]) -> Vec<FeatureEntry> {
    specs.iter().map(Into::into).collect()
}

/// Version of the manifest layout.
pub const MANIFEST_VERSION: u32 = 1;

/// The manifest of an export as JSON: feature names, offsets and scales, the graph settings
/// (reference points and windows), the geometry and one entry per archive.
pub fn manifest(
    detector: &Detector,
    config: &GraphConfig,
    node_names: &[&str],
    edge_names: &[&str],
    files: &[ExportedFile],
) -> Result<String, ExportError> {
    let nodes = feature_entries(&node_specs(node_names)?);
    let edges = feature_entries(&edge_specs(edge_names)?);
    let value = serde_json::json!({
        "format": "gnntrack-graphs",
        "version": MANIFEST_VERSION,
        "gnntrack_version": gnntrack::VERSION,
        "geometry": detector.name,
        "feature_transform": "(raw - offset) / scale",
        "node_features": nodes,
        "edge_features": edges,
        "edge_kinds": {"0": "next layer", "1": "stave overlap", "2": "skip layer"},
        "edge_label": "1 when the two hits are consecutive on one positron's path (next layer, stave overlap, or across a layer without its hit); a hit merged from two positrons is on both paths",
        "graph": config,
        "graph_toml": toml::to_string(config).expect("the graph configuration serialises"),
        "arrays": {
            "node_features": "float32 [N, node_features]",
            "edge_index": "int64 [2, E]: inner hit, outer hit",
            "edge_features": "float32 [E, edge_features]",
            "edge_kind": "uint8 [E]",
            "hit_id": "uint64 [N]",
            "edge_labels": "uint8 [E] (files with truth)",
            "particle_id": "int64 [N], 0 = noise (files with truth)",
            "other_particle_id": "int64 [N], second positron of a merged hit, 0 = none (files with truth)",
            "particle_p": "float32 [N], GeV (files with truth)"
        },
        "files": files,
    });
    Ok(serde_json::to_string_pretty(&value).expect("JSON values serialise"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_describes_the_array() {
        let a = NpyArray::f32("a", vec![2, 3], &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let bytes = a.to_npy();
        assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + header_len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
        assert!(header.contains("'descr': '<f4'"), "{header}");
        assert!(header.contains("'shape': (2, 3)"), "{header}");
        assert!(header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + header_len + 24);
        assert_eq!(
            &bytes[10 + header_len + 4..10 + header_len + 8],
            &1.0f32.to_le_bytes()
        );

        let b = NpyArray::u8("b", vec![4], vec![1, 0, 1, 1]);
        let bytes = b.to_npy();
        let header = String::from_utf8_lossy(&bytes[10..74]).to_string();
        assert!(header.contains("'shape': (4,)"), "{header}");
    }
}
