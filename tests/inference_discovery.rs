//! The error when onnxruntime cannot be found. onnxruntime allows one environment per process
//! and the library caches the first outcome, so this file is its own test binary (its own
//! process) and holds a single test.

use std::path::PathBuf;

use gnntrack::inference::{
    CandidateSource, EdgeClassifier, FeatureTable, InferenceConfig, InferenceError, LibrarySearch,
    RuntimeError, runtime,
};

#[test]
fn no_loadable_library_gives_an_error_listing_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing/libonnxruntime.so");
    let not_a_library = dir.path().join("libonnxruntime.so.1.31.1");
    std::fs::write(&not_a_library, "not a shared library\n").unwrap();
    // SAFETY: the only test of this binary sets the variable before any other thread of it reads
    // the environment.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", &not_a_library) };

    let search = LibrarySearch {
        path: Some(missing.clone()),
        search: false,
    };
    let err = runtime(&search).unwrap_err();
    let RuntimeError::NotFound { tried } = &err else {
        panic!("expected NotFound, got {err}");
    };
    let paths: Vec<PathBuf> = tried.iter().map(|a| a.candidate.path.clone()).collect();
    assert_eq!(paths, [missing.clone(), not_a_library.clone()]);
    assert_eq!(tried[0].candidate.source, CandidateSource::Config);
    assert_eq!(tried[1].candidate.source, CandidateSource::EnvVar);
    assert!(
        tried[0].reason.contains("No such file"),
        "{}",
        tried[0].reason
    );
    assert!(tried[1].reason.contains("dlopen"), "{}", tried[1].reason);

    let text = err.to_string();
    eprintln!("{text}");
    assert!(text.starts_with("onnxruntime not found; tried:"), "{text}");
    for p in [&missing, &not_a_library] {
        assert!(text.contains(&p.display().to_string()), "{text}");
    }
    assert!(text.contains("ORT_DYLIB_PATH"), "{text}");

    // The outcome is cached: a later call with a full search gets the same error (one
    // onnxruntime environment per process).
    let again = runtime(&LibrarySearch::default()).unwrap_err();
    assert_eq!(again.to_string(), text);

    // Loading a model reports the same error, not a panic.
    let config = InferenceConfig {
        library: search,
        ..InferenceConfig::default()
    };
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-models/linear.onnx");
    match EdgeClassifier::load(model, &config, &FeatureTable::default(), None) {
        Err(InferenceError::Runtime(RuntimeError::NotFound { tried: t })) => assert_eq!(&t, tried),
        other => panic!("expected the discovery error, got {other:?}"),
    }
}
