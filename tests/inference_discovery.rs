//! The error when onnxruntime cannot be found, a second search after it, and the warning about
//! a library loaded earlier. onnxruntime allows one library per process, so this file is its own
//! test binary (its own process) and holds a single test.

use std::path::PathBuf;
use std::sync::Mutex;

use gnntrack::inference::{
    CandidateSource, EdgeClassifier, FeatureTable, InferenceConfig, InferenceError, LibrarySearch,
    RuntimeError, runtime,
};

/// Collects the warnings of the process.
struct Warnings(Mutex<Vec<String>>);

impl log::Log for Warnings {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static WARNINGS: Warnings = Warnings(Mutex::new(Vec::new()));

fn take_warnings() -> Vec<String> {
    std::mem::take(&mut *WARNINGS.0.lock().unwrap())
}

#[test]
fn no_loadable_library_gives_an_error_listing_every_candidate() {
    log::set_logger(&WARNINGS).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    // The onnxruntime of `make test-models` (.venv), found before anything is loaded.
    let good = gnntrack::inference::library_candidates(&LibrarySearch::default())
        .into_iter()
        .map(|c| c.path)
        .find(|p| p.is_absolute() && p.is_file())
        .expect("an onnxruntime library (`make venv`)");

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

    assert!(text.contains("a later tracker may try again"), "{text}");

    // Nothing was loaded: a second search with another path tries that path and names it.
    let other = dir.path().join("other/libonnxruntime.so");
    let second = runtime(&LibrarySearch {
        path: Some(other.clone()),
        search: false,
    })
    .unwrap_err()
    .to_string();
    assert!(second.contains(&other.display().to_string()), "{second}");

    // Loading a model reports the discovery error, not a panic.
    let config = InferenceConfig {
        library: search,
        ..InferenceConfig::default()
    };
    let model = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-models/linear.onnx");
    match EdgeClassifier::load(&model, &config, &FeatureTable::default(), None) {
        Err(InferenceError::Runtime(RuntimeError::NotFound { tried: t })) => assert_eq!(&t, tried),
        other => panic!("expected the discovery error, got {other:?}"),
    }

    // A broken configured path with a good ORT_DYLIB_PATH: this call falls back and loads; its
    // warning is about the broken path, never about a library "already loaded".
    // SAFETY: as above, no other thread of this binary reads the environment.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", &good) };
    take_warnings();
    let rt = runtime(&LibrarySearch {
        path: Some(missing.clone()),
        search: false,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rt.library(), good);
    let warned = take_warnings();
    assert!(
        warned
            .iter()
            .any(|w| w.contains("cannot load onnxruntime from")
                && w.contains(&missing.display().to_string())),
        "{warned:?}"
    );
    assert!(
        !warned.iter().any(|w| w.contains("already loaded")),
        "{warned:?}"
    );

    // Once loaded, the library stays: a later call asking for another path gets it, with a
    // warning that names both.
    let again = runtime(&LibrarySearch {
        path: Some(other.clone()),
        search: false,
    })
    .unwrap();
    assert!(std::ptr::eq(rt, again));
    let warned = take_warnings();
    assert!(
        warned.iter().any(|w| w.contains("already loaded from")
            && w.contains("by an earlier call")
            && w.contains(&other.display().to_string())),
        "{warned:?}"
    );
}
