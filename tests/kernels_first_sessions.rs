//! The first sessions of a process with the gnntrack kernels, opened all at once: onnxruntime
//! adds the operator domain to a process-wide table without a lock, so the tracker opens the
//! first such session alone (its own test binary, so that no other test opened one before). The
//! race's window is narrow, so this test fails only now and then without that lock.

use std::sync::Barrier;

use gnntrack::inference::{EdgeClassifier, InferenceConfig};

#[test]
fn sessions_with_the_kernels_opened_at_once_all_load() {
    let path =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/gnntrack_in_small.onnx");
    let features = gnntrack::features::FeatureTable::tracker();
    let threads = 8;
    let barrier = Barrier::new(threads);
    let errors: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    EdgeClassifier::load(&path, &InferenceConfig::default(), &features, None)
                        .err()
                        .map(|e| e.to_string())
                })
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(errors.is_empty(), "{errors:?}");
}
