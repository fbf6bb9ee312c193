//! Errors of the command-line tool a new user meets: each names the file or folder at fault and
//! comes before any long work.

mod common;

use std::path::Path;
use std::process::{Command, Output};

fn gnntrack_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gnntrack"));
    command
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env_remove("GNNTRACK_SHARED_DATA");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_empty_hit_file_is_called_empty() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.csv"), "").unwrap();
    std::fs::write(dir.path().join("blank.csv"), "\n\n").unwrap();
    for file in ["empty.csv", "blank.csv"] {
        let run = gnntrack_in(dir.path(), &["inspect", file], &[]);
        assert!(!run.status.success());
        let e = stderr(&run);
        assert!(e.contains(&format!("{file}: empty file")), "{e}");
        assert!(!e.contains("unrecognised header"), "{e}");
    }
}

#[test]
fn reconstruct_into_a_missing_folder_fails_before_reconstructing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = gnntrack_in(
        dir.path(),
        &[
            "simulate", "--xi", "3", "--bx", "1", "--seed", "2", "--out", "bx",
        ],
        &[],
    );
    assert!(sim.status.success(), "{}", stderr(&sim));
    let run = gnntrack_in(
        dir.path(),
        &[
            "reconstruct",
            "--in",
            "bx/bx_2_0000.csv",
            "--out",
            "no/such/folder/tracks.csv",
        ],
        &[],
    );
    assert!(!run.status.success());
    let e = stderr(&run);
    assert!(
        e.contains("the folder no/such/folder does not exist"),
        "{e}"
    );
    // Nothing was loaded: the tracker (which logs itself at info level) never started.
    assert!(!e.contains("tracker ready"), "{e}");
    assert!(String::from_utf8_lossy(&run.stdout).is_empty());
}

#[test]
fn validate_sim_and_bench_graph_read_gnntrack_shared_data() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let e = elsewhere.to_str().unwrap();
    for args in [
        &["validate-sim"][..],
        &["bench", "graph", "--xi", "3", "--repeat", "1"][..],
    ] {
        let run = gnntrack_in(dir.path(), args, &[("GNNTRACK_SHARED_DATA", e)]);
        assert!(!run.status.success(), "{args:?}");
        let err = stderr(&run);
        assert!(
            err.contains(&format!("{e}/luxe_xi3_sl.csv not found"))
                && err.contains("GNNTRACK_SHARED_DATA"),
            "{args:?}: {err}"
        );
    }
    // Pointed at the real folder, from a folder where ../shared/data does not exist.
    let shared = common::shared_data("luxe_xi3_sl.csv");
    let shared_dir = shared.parent().unwrap().to_str().unwrap();
    let run = gnntrack_in(
        dir.path(),
        &["bench", "graph", "--xi", "3", "--repeat", "1"],
        &[("GNNTRACK_SHARED_DATA", shared_dir)],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(String::from_utf8_lossy(&run.stdout).contains("real xi=3"));
}

#[test]
fn toml_errors_name_their_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("geo.toml"), "name = \"x\"\n[[layers]\n").unwrap();
    std::fs::write(dir.path().join("graph.toml"), "search = \n").unwrap();
    std::fs::write(dir.path().join("tracker.toml"), "max_edges = [\n").unwrap();
    std::fs::write(
        dir.path().join("tracker_graph.toml"),
        "[graph]\nsearch = \"sideways\"\n",
    )
    .unwrap();
    let cases: [(&[&str], &str); 4] = [
        (&["geometry", "geo.toml"], "geo.toml"),
        (
            &["graph", "--in", "x.csv", "--config", "graph.toml"],
            "graph.toml",
        ),
        (
            &["reconstruct", "--in", "x.csv", "--config", "tracker.toml"],
            "tracker.toml",
        ),
        (
            &[
                "reconstruct",
                "--in",
                "x.csv",
                "--config",
                "tracker_graph.toml",
            ],
            "tracker_graph.toml",
        ),
    ];
    std::fs::write(
        dir.path().join("x.csv"),
        "hit_id,x,y,z,layer,stave\n1,100,0,3950.0125,0,0\n",
    )
    .unwrap();
    for (args, file) in cases {
        let run = gnntrack_in(dir.path(), args, &[]);
        assert!(!run.status.success(), "{args:?}");
        let e = stderr(&run);
        assert!(e.contains(file), "{args:?}: {e}");
    }
}

#[test]
fn a_huge_bad_key_is_not_echoed_in_full() {
    let dir = tempfile::tempdir().unwrap();
    let key = "k".repeat(1 << 20);
    let file = dir.path().join("tracker.toml");
    std::fs::write(&file, format!("{key} = 1\n")).unwrap();
    std::fs::write(
        dir.path().join("x.csv"),
        "hit_id,x,y,z,layer,stave\n1,100,0,3950.0125,0,0\n",
    )
    .unwrap();
    // One argument may hold at most 128 KiB.
    let set = format!("{}=1", &key[..100_000]);
    for args in [
        vec!["reconstruct", "--in", "x.csv", "--config", "tracker.toml"],
        vec!["reconstruct", "--in", "x.csv", "--set", set.as_str()],
    ] {
        let run = gnntrack_in(dir.path(), &args, &[]);
        assert!(!run.status.success());
        let e = stderr(&run);
        assert!(e.len() < 4096, "{} bytes of error", e.len());
        assert!(e.contains("kkkk") && e.contains("more bytes"), "{e}");
    }
}

/// Runs the command under `script`, which gives it a terminal; returns what the terminal showed.
fn on_a_terminal(dir: &Path, command: &str) -> String {
    let run = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(dir)
        .env("GNNTRACK_SHARED_DATA", dir)
        .output()
        .expect("script (util-linux) runs");
    assert!(run.status.success(), "{}", stderr(&run));
    String::from_utf8_lossy(&run.stdout).into_owned()
}

#[test]
fn bench_and_eval_show_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_gnntrack");
    let bench = format!("{exe} bench graph --xi 3 --repeat 1 --real none");
    let eval = format!("{exe} eval --xi 3 --bx 2 --out out");
    for (command, what) in [
        (bench.as_str(), "/1 cases"),
        (eval.as_str(), "/2 crossings"),
    ] {
        let shown = on_a_terminal(dir.path(), command);
        assert!(shown.contains(what), "{command}: {shown}");
        // Without a terminal: no bar.
        let args: Vec<&str> = command.split(' ').skip(1).collect();
        let run = gnntrack_in(dir.path(), &args, &[]);
        assert!(run.status.success(), "{}", stderr(&run));
        assert!(!stderr(&run).contains(what), "{}", stderr(&run));
    }
}
