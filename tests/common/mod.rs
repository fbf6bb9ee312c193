//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// Path of a file in the reference data folder `../shared/data` next to the repository
/// (override with `GNNTRACK_SHARED_DATA`), found from the package of the test, the root or
/// `tools/`. Panics with a clear message when it is missing: these tests need the real LUXE
/// event and chip tables.
#[allow(dead_code)]
pub fn shared_data(file: &str) -> PathBuf {
    let package = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var_os("GNNTRACK_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            package
                .ancestors()
                .map(|p| p.join("../shared/data"))
                .find(|d| d.is_dir())
                .unwrap_or_else(|| package.join("../shared/data"))
        });
    let path = dir.join(file);
    assert!(
        path.exists(),
        "reference file {} not found: put the shared data folder next to the repository or set GNNTRACK_SHARED_DATA",
        path.display()
    );
    path
}

/// Path of a small test model written by `tests/models/make_test_models.py` (`make
/// test-models`) into `target/test-models` (override with `GNNTRACK_TEST_MODELS`). Panics with
/// a clear message when the folder does not hold `probe`, a model every run writes.
#[allow(dead_code)]
pub fn test_model(name: &str, probe: &str) -> PathBuf {
    let dir = std::env::var_os("GNNTRACK_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-models"));
    assert!(
        dir.join(probe).exists(),
        "test models not found in {}: run `make test-models` (or `make test`)",
        dir.display()
    );
    dir.join(name)
}

/// Asserts that the graph-stage error `e`, from setting `name`, holds every one of `words` and
/// is of `kind`.
#[allow(dead_code)]
pub fn assert_graph_error(
    e: &gnntrack::graph::GraphError,
    name: &str,
    words: &[&str],
    kind: gnntrack::error::ErrorKind,
) {
    let text = e.to_string();
    assert!(words.iter().all(|w| text.contains(w)), "{name}: {text}");
    assert_eq!(e.kind(), kind, "{name}: {text}");
}
