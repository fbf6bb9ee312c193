//! The graph commands of the command-line tool, end to end.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output};

use gnntrack::graph::GraphConfig;

fn gnntrack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gnntrack"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn graph_writes_edges_with_the_callers_ids_and_prints_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let real = common::shared_data("luxe_xi3_sl.csv");
    let out = dir.path().join("edges.csv");
    let run = gnntrack(&[
        "graph",
        "--in",
        real.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stdout = text(&run.stdout);
    assert!(stdout.contains("edge efficiency"), "{stdout}");
    assert!(stdout.contains(" ms "), "{stdout}");
    let edges = std::fs::read_to_string(&out).unwrap();
    let mut lines = edges.lines();
    assert_eq!(lines.next(), Some("hit_id_inner,hit_id_outer"));
    let rows: Vec<(u64, u64)> = lines
        .map(|l| {
            let (a, b) = l.split_once(',').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    assert!(rows.len() > 2000, "{} edges", rows.len());
    // The real file's ids run 0..3111: every edge refers to them.
    assert!(rows.iter().all(|&(a, b)| a < 3112 && b < 3112 && a != b));
    let reported = format!("{} edges", rows.len());
    assert!(stdout.contains(&reported), "{stdout}");
}

#[test]
fn graph_with_the_edge_filter_names_it_and_keeps_fewer_edges() {
    let dir = tempfile::tempdir().unwrap();
    let real = common::shared_data("luxe_xi3_sl.csv");
    let config = dir.path().join("graph.toml");
    // The real crossing has fewer edges than hits: the filter runs on it only when asked to
    // run on sparse graphs too.
    std::fs::write(
        &config,
        "edge_filter = true\nfilter_min_edges_per_hit = 0\n",
    )
    .unwrap();
    let count = |extra: &[&str]| {
        let mut args = vec!["graph", "--in", real.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = gnntrack(&args);
        assert!(run.status.success(), "{}", text(&run.stderr));
        let stdout = text(&run.stdout);
        let edges: usize = stdout
            .split_once(" hits, ")
            .and_then(|(_, rest)| rest.split_once(' '))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("no edge count in {stdout}"));
        (edges, stdout)
    };
    let (all, plain) = count(&[]);
    let (kept, filtered) = count(&["--config", config.to_str().unwrap()]);
    // By default the filter is on but skips the sparse graph, and says so.
    let density = format!("{:.2} edges per hit", all as f64 / 3112.0);
    assert!(
        plain.contains("edge filter bundled gnntrack_filter.onnx (gnntrack_filter ")
            && plain.contains(&format!(
                "not run: {density}, below filter_min_edges_per_hit = 1.5"
            )),
        "{plain}"
    );
    assert!(
        filtered.contains("edge filter bundled gnntrack_filter.onnx (gnntrack_filter ")
            && filtered.contains(&format!("dropped {} edges", all - kept)),
        "{filtered}"
    );
    assert!(kept < all && kept > all * 9 / 10, "{kept} of {all} edges");
    // The real crossing keeps every true segment.
    assert!(
        filtered.contains("edge efficiency 100.0000 %"),
        "{filtered}"
    );
}

#[test]
fn graph_reports_bad_input_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let missing = gnntrack(&["graph", "--in", "no-such-file.csv"]);
    assert!(!missing.status.success());
    assert!(text(&missing.stderr).contains("no-such-file.csv"));

    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[[window.next]]\nx = { base = -1.0 }\ny = { base = 0.1 }\n",
    )
    .unwrap();
    let real = common::shared_data("luxe_xi3_sl.csv");
    let bad = gnntrack(&[
        "graph",
        "--in",
        real.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert!(!bad.status.success());
    let stderr = text(&bad.stderr);
    assert!(
        stderr.contains("window.next[0].x.base") && stderr.contains("-1"),
        "{stderr}"
    );
}

/// Shape and dtype of one `.npy` member of an archive.
fn npy_header(archive: &mut zip::ZipArchive<std::fs::File>, name: &str) -> (String, String) {
    let mut file = archive.by_name(&format!("{name}.npy")).unwrap();
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8(bytes[10..10 + len].to_vec()).unwrap();
    let field = |key: &str| {
        let start = header.find(key).unwrap() + key.len();
        let rest = &header[start..];
        let end = if rest.starts_with('(') {
            rest.find(')').unwrap() + 1
        } else {
            rest[1..].find('\'').unwrap() + 2
        };
        rest[..end].to_string()
    };
    (field("'descr': "), field("'shape': "))
}

#[test]
fn export_graphs_writes_one_archive_per_crossing_and_a_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let out = dir.path().join("graphs");
    let run = gnntrack(&[
        "simulate",
        "--xi",
        "3",
        "--bx",
        "2",
        "--seed",
        "4",
        "--out",
        sim.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let run = gnntrack(&[
        "export-graphs",
        "--in",
        sim.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--edge-features",
        "dx,slope_dev_x,slope_dev_y,dca",
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    let names = |key: &str| -> Vec<String> {
        manifest[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names("node_features").len(), 7);
    assert_eq!(
        names("edge_features"),
        ["dx", "slope_dev_x", "slope_dev_y", "dca"]
    );
    assert_eq!(manifest["edge_features"][1]["scale"].as_f64(), Some(1e-3));
    assert_eq!(manifest["graph"]["reference"]["z"].as_f64(), Some(2054.0));
    assert!(
        manifest["graph"]["window"]["next"]
            .as_array()
            .unwrap()
            .len()
            >= 3
    );
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);

    for f in files {
        let path = out.join(f["file"].as_str().unwrap());
        let (n, e) = (f["hits"].as_u64().unwrap(), f["edges"].as_u64().unwrap());
        assert!(n > 300 && e > 200, "{f}");
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        let expect = [
            ("node_features", "'<f4'", format!("({n}, 7)")),
            ("edge_index", "'<i8'", format!("(2, {e})")),
            ("edge_features", "'<f4'", format!("({e}, 4)")),
            ("edge_kind", "'|u1'", format!("({e},)")),
            ("edge_labels", "'|u1'", format!("({e},)")),
            ("hit_id", "'<u8'", format!("({n},)")),
            ("particle_id", "'<i8'", format!("({n},)")),
            ("particle_p", "'<f4'", format!("({n},)")),
        ];
        for (name, dtype, shape) in expect {
            assert_eq!(
                npy_header(&mut archive, name),
                (dtype.to_string(), shape),
                "{name} in {}",
                path.display()
            );
        }
    }

    // The graphs are the windows' unless --edge-filter is given, whatever the configuration
    // says: a configuration that filters every graph changes them only with the flag (with a
    // high cut: at xi = 3 the bundled one drops next to nothing).
    assert_eq!(manifest["graph"]["edge_filter"].as_bool(), Some(false));
    let config = dir.path().join("filter.toml");
    std::fs::write(
        &config,
        "edge_filter = true\nfilter_min_edges_per_hit = 0\nfilter_cut = 0.5\n",
    )
    .unwrap();
    let edges_of = |extra: &[&str]| -> (Vec<u64>, serde_json::Value) {
        let to = dir.path().join(format!("graphs{}", extra.len()));
        let mut args = vec![
            "export-graphs",
            "--in",
            sim.to_str().unwrap(),
            "--out",
            to.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let run = gnntrack(&args);
        assert!(run.status.success(), "{}", text(&run.stderr));
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(to.join("manifest.json")).unwrap())
                .unwrap();
        let edges = m["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["edges"].as_u64().unwrap())
            .collect();
        (edges, m)
    };
    let windows: Vec<u64> = files.iter().map(|f| f["edges"].as_u64().unwrap()).collect();
    let (plain, m) = edges_of(&[]);
    assert_eq!(plain, windows);
    assert_eq!(m["graph"]["edge_filter"].as_bool(), Some(false));
    let (filtered, m) = edges_of(&["--edge-filter"]);
    assert!(
        filtered.iter().zip(&windows).all(|(f, w)| f < w),
        "{filtered:?} of {windows:?}"
    );
    assert_eq!(m["graph"]["edge_filter"].as_bool(), Some(true));

    // Unknown feature names are refused before anything is written.
    let bad = gnntrack(&[
        "export-graphs",
        "--in",
        sim.to_str().unwrap(),
        "--out",
        dir.path().join("none").to_str().unwrap(),
        "--node-features",
        "x,energy",
    ]);
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("unknown node feature `energy`"));
    assert!(!Path::new(&dir.path().join("none")).exists());
}

#[test]
fn calibrate_windows_writes_a_configuration_that_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("windows.toml");
    let run = gnntrack(&[
        "calibrate-windows",
        "--xi",
        "4",
        "--bx",
        "1",
        "--check-bx",
        "1",
        "--efficiency",
        "0.99",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(run.status.success(), "{}", text(&run.stderr));
    let stderr = text(&run.stderr);
    assert!(stderr.contains("chosen: next linear"), "{stderr}");
    let config = GraphConfig::from_toml_file(&out).unwrap();
    assert_eq!(config.window.next.len(), 3);
    assert!(config.window.next.iter().all(|w| w.x.per_mm > 0.0));
}
