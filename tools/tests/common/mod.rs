//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// Path of a file in the reference data folder `../shared/data` next to the repository (the
/// tools package is one folder below it; override with `GNNTRACK_SHARED_DATA`). Panics with a
/// clear message when it is missing: these tests need the real LUXE event and chip tables.
#[allow(dead_code)]
pub fn shared_data(file: &str) -> PathBuf {
    let dir = std::env::var_os("GNNTRACK_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let path = dir.join(file);
    assert!(
        path.exists(),
        "reference file {} not found: put the shared data folder next to the repository or set GNNTRACK_SHARED_DATA",
        path.display()
    );
    path
}
