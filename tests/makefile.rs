//! The Makefile's entry points, checked without their long work: `make -n` shows the commands,
//! `DRY_RUN=1` stops `make_model.sh` after its checks.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn make(args: &[&str]) -> Output {
    Command::new("make")
        .args(["--no-print-directory", "-C"])
        .arg(repo())
        .args(args)
        .output()
        .expect("make runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn make_test_without_cmake_fails_at_once_with_a_hint() {
    let t0 = Instant::now();
    let run = make(&["test", "CMAKE=gnntrack-no-such-cmake"]);
    assert!(!run.status.success());
    let out = text(&run);
    assert!(
        out.contains("make test needs gnntrack-no-such-cmake")
            && out.contains("apt-get install cmake"),
        "{out}"
    );
    assert!(!out.contains("cargo test"), "{out}");
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[test]
fn make_model_writes_into_an_output_folder_and_keeps_the_bundled_model() {
    // PYTHON (for virtual environments) no longer reaches the training script.
    let run = make(&["-n", "model", "PYTHON=python3"]);
    assert!(run.status.success(), "{}", text(&run));
    let out = text(&run);
    assert!(out.contains("out/model/gnntrack_in_fast.onnx"), "{out}");
    assert!(
        out.contains("TRAIN_PYTHON=") && out.contains(".venv-train/bin/python"),
        "{out}"
    );
    assert!(out.contains("REPLACE_BUNDLED=0"), "{out}");
    let run = make(&[
        "-n",
        "model",
        "MODEL_OUT=/tmp/elsewhere",
        "REPLACE_BUNDLED=1",
    ]);
    let out = text(&run);
    assert!(
        out.contains("/tmp/elsewhere/gnntrack_in_fast.onnx") && out.contains("REPLACE_BUNDLED=1"),
        "{out}"
    );

    // The script itself: a bare TRAIN_PYTHON is looked up on PATH, the default output is
    // out/model, and the bundled model is replaced only when asked.
    let script = repo().join("models/train/make_model.sh");
    let dry = |env: &[(&str, &str)], args: &[&str]| {
        let mut c = Command::new(&script);
        c.args(args)
            .env("DRY_RUN", "1")
            .env_remove("REPLACE_BUNDLED")
            .env_remove("VARIANT");
        for (k, v) in env {
            c.env(k, v);
        }
        c.output().expect("make_model.sh runs")
    };
    let run = dry(&[("TRAIN_PYTHON", "python3"), ("PYTHON", "python3")], &[]);
    assert!(run.status.success(), "{}", text(&run));
    let out = text(&run);
    assert!(
        out.contains("/python3 into out/model/gnntrack_in_fast.onnx")
            && out.contains("replace the bundled model: 0"),
        "{out}"
    );
    // The default variant is the fast model, distilled from the bundled small one.
    let run = dry(&[("TRAIN_PYTHON", "python3")], &[]);
    let out = text(&run);
    assert!(
        out.contains("gnntrack_in_fast (--iterations 2 --activation relu --message 8")
            && out.contains("--teacher-weight 0.5")
            && out.contains("models/gnntrack_in_small.onnx"),
        "{out}"
    );
    // The small model (the teacher) and the edge filter of the graph stage: each its own
    // name, output and training options.
    for (variant, name, options) in [
        ("small", "gnntrack_in_small", "(--iterations 3)"),
        (
            "filter",
            "gnntrack_filter",
            "(--hidden 16 --layers 1 --keep 0.9999)",
        ),
    ] {
        let run = make(&["-n", "model", &format!("VARIANT={variant}")]);
        let out = text(&run);
        assert!(
            out.contains(&format!("out/model/{name}.onnx"))
                && out.contains(&format!("VARIANT={variant}")),
            "{out}"
        );
        let run = dry(&[("TRAIN_PYTHON", "python3"), ("VARIANT", variant)], &[]);
        assert!(run.status.success(), "{}", text(&run));
        let out = text(&run);
        assert!(
            out.contains(&format!("{name} {options}"))
                && out.contains(&format!("into out/model/{name}.onnx")),
            "{out}"
        );
    }
    let run = dry(&[("TRAIN_PYTHON", "python3"), ("VARIANT", "huge")], &[]);
    assert!(!run.status.success());
    assert!(
        text(&run).contains("expected fast, small or filter"),
        "{}",
        text(&run)
    );
    let run = dry(&[("TRAIN_PYTHON", "/nonexistent/python")], &[]);
    assert!(!run.status.success());
    assert!(text(&run).contains("make train-venv"), "{}", text(&run));
}

#[test]
fn make_clean_removes_the_training_environment() {
    let run = make(&["-n", "clean"]);
    assert!(run.status.success(), "{}", text(&run));
    assert!(text(&run).contains(".venv-train"), "{}", text(&run));
}

#[test]
fn make_example_models_trains_into_models_examples_and_tests_them() {
    let run = make(&["-n", "example-models", "PYTHON=python3"]);
    assert!(run.status.success(), "{}", text(&run));
    let out = text(&run);
    assert!(
        out.contains("cd models/examples")
            && out.contains(".venv-train/bin/python train_examples.py --out ."),
        "{out}"
    );
    // `make test` runs the PyTorch-free check of the committed example models.
    let run = make(&["-n", "test", "CMAKE=true"]);
    assert!(
        text(&run).contains("tests/models/test_example_models.py"),
        "{}",
        text(&run)
    );
}
