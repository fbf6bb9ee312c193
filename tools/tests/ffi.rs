//! The C ABI as a host sees it: the built `libgnntrack.so` loaded with `libloading`, every call
//! through a symbol looked up by name. The `#[repr(C)]` structs come from `gnntrack::ffi` (the
//! source of `include/gnntrack.h`); statuses are read as plain `int`s, as C reads them.
//!
//! The cdylib is `libgnntrack.so` in this test's `deps/` folder (cargo builds it with the
//! library), else in the profile folder above; `GNNTRACK_CDYLIB` names another file.

mod common;

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::PathBuf;
use std::ptr;
use std::sync::{Mutex, OnceLock};

use gnntrack::ffi::{
    GNNTRACK_ABI_VERSION, gnntrack_config, gnntrack_fit, gnntrack_graph_summary, gnntrack_hits,
    gnntrack_log_level, gnntrack_result, gnntrack_status as S, gnntrack_times, gnntrack_tracker,
};
use gnntrack::geometry::Detector;
use gnntrack::hits::Hits;
use gnntrack::pipeline::{Tracker, TrackerConfig};
use gnntrack_tools::eval::{MergedHits, score_bx};
use gnntrack_tools::sim::{SimConfig, simulate_bx};
use libloading::{Library, Symbol};

fn library_path() -> PathBuf {
    if let Some(path) = std::env::var_os("GNNTRACK_CDYLIB") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps folder");
    let profile = deps.parent().expect("profile folder");
    // deps/ first: `cargo test` rebuilds that copy, while the one in the profile folder is only
    // refreshed by `cargo build` and may be older than the sources.
    for candidate in [deps.join("libgnntrack.so"), profile.join("libgnntrack.so")] {
        if candidate.exists() {
            return candidate;
        }
    }
    panic!(
        "libgnntrack.so not found next to {}: build the library (cargo build --release)",
        deps.display()
    );
}

fn lib() -> &'static Library {
    static LIB: OnceLock<Library> = OnceLock::new();
    LIB.get_or_init(|| {
        let path = library_path();
        // SAFETY: loading gnntrack runs no initialisation code with preconditions.
        unsafe { Library::new(&path) }.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    })
}

/// A function of the library by name, with the type `T` of its declaration in the header.
fn sym<T>(name: &str) -> Symbol<'static, T> {
    // SAFETY: every call site gives `T` as declared in include/gnntrack.h.
    unsafe { lib().get(name.as_bytes()) }.unwrap_or_else(|e| panic!("symbol {name}: {e}"))
}

type Status = i32;
type ConfigNew = unsafe extern "C" fn(*mut *mut gnntrack_config) -> Status;
type ConfigFree = unsafe extern "C" fn(*mut gnntrack_config);
type ConfigSet = unsafe extern "C" fn(*mut gnntrack_config, *const c_char, *const c_char) -> Status;
type ConfigText = unsafe extern "C" fn(*mut gnntrack_config, *const c_char) -> Status;
type ConfigToToml =
    unsafe extern "C" fn(*const gnntrack_config, *mut c_char, usize, *mut usize) -> Status;
type TrackerNew =
    unsafe extern "C" fn(*const gnntrack_config, *mut *mut gnntrack_tracker) -> Status;
type TrackerFree = unsafe extern "C" fn(*mut gnntrack_tracker);
type TrackerProvider = unsafe extern "C" fn(*const gnntrack_tracker, *mut *const c_char) -> Status;
type Reconstruct = unsafe extern "C" fn(
    *const gnntrack_tracker,
    *const gnntrack_hits,
    usize,
    *mut *mut gnntrack_result,
) -> Status;
type ResultFree = unsafe extern "C" fn(*mut gnntrack_result);
type ResultCount = unsafe extern "C" fn(*const gnntrack_result, *mut usize) -> Status;
type ResultHitIndices =
    unsafe extern "C" fn(*const gnntrack_result, *mut *const usize, *mut *const u32) -> Status;
type ResultCandidateHits =
    unsafe extern "C" fn(*const gnntrack_result, usize, *mut *const u32, *mut usize) -> Status;
type ResultFits = unsafe extern "C" fn(*const gnntrack_result, *mut *const gnntrack_fit) -> Status;
type ResultTimes = unsafe extern "C" fn(*const gnntrack_result, *mut gnntrack_times) -> Status;
type ResultQuality = unsafe extern "C" fn(*const gnntrack_result, *mut *const f32) -> Status;
type ResultGraph =
    unsafe extern "C" fn(*const gnntrack_result, *mut gnntrack_graph_summary) -> Status;
type LogFn = unsafe extern "C" fn(gnntrack_log_level, *const c_char, *mut c_void);
type SetLogCallback = unsafe extern "C" fn(Option<LogFn>, *mut c_void, i32) -> Status;

fn last_error() -> String {
    let f = sym::<unsafe extern "C" fn() -> *const c_char>("gnntrack_last_error");
    // SAFETY: a NUL-terminated string owned by the library, copied at once.
    unsafe { CStr::from_ptr(f()) }.to_str().unwrap().to_string()
}

fn last_status() -> Status {
    let f = sym::<unsafe extern "C" fn() -> Status>("gnntrack_last_status");
    // SAFETY: no arguments.
    unsafe { f() }
}

fn c(text: &str) -> CString {
    CString::new(text).unwrap()
}

/// A configuration with the given keys set.
fn config(keys: &[(&str, &str)]) -> *mut gnntrack_config {
    let mut config = ptr::null_mut();
    // SAFETY: valid out-pointer.
    assert_eq!(
        unsafe { sym::<ConfigNew>("gnntrack_config_new")(&mut config) },
        0
    );
    for (key, value) in keys {
        let (k, v) = (c(key), c(value));
        // SAFETY: live configuration and NUL-terminated strings.
        let status =
            unsafe { sym::<ConfigSet>("gnntrack_config_set")(config, k.as_ptr(), v.as_ptr()) };
        assert_eq!(status, S::Ok as i32, "{key} = {value}: {}", last_error());
    }
    config
}

fn tracker(keys: &[(&str, &str)]) -> *mut gnntrack_tracker {
    let config = config(keys);
    let mut tracker = ptr::null_mut();
    // SAFETY: live configuration, valid out-pointer.
    let status = unsafe { sym::<TrackerNew>("gnntrack_tracker_new")(config, &mut tracker) };
    // SAFETY: the tracker keeps its own copy of the configuration.
    unsafe { sym::<ConfigFree>("gnntrack_config_free")(config) };
    assert_eq!(status, S::Ok as i32, "{}", last_error());
    tracker
}

/// Columns of hits as a C host holds them.
struct Columns {
    x: Vec<f64>,
    y: Vec<f64>,
    z: Vec<f64>,
    layer: Vec<i32>,
    stave: Vec<i32>,
    hit_id: Vec<u64>,
}

impl Columns {
    fn of(hits: &Hits) -> Columns {
        Columns {
            x: hits.x.clone(),
            y: hits.y.clone(),
            z: hits.z.clone(),
            layer: hits.layer.iter().map(|&l| l as i32).collect(),
            stave: hits.stave.iter().map(|&s| s as i32).collect(),
            hit_id: hits.hit_id.iter().map(|&id| id + 1_000_000).collect(),
        }
    }

    fn view(&self) -> gnntrack_hits {
        gnntrack_hits {
            x: self.x.as_ptr(),
            y: self.y.as_ptr(),
            z: self.z.as_ptr(),
            layer: self.layer.as_ptr(),
            stave: self.stave.as_ptr(),
            hit_id: self.hit_id.as_ptr(),
        }
    }
}

fn reconstruct(
    tracker: *const gnntrack_tracker,
    hits: &gnntrack_hits,
    n: usize,
) -> (Status, *mut gnntrack_result) {
    let mut result = ptr::dangling_mut::<gnntrack_result>(); // must be overwritten
    // SAFETY: live tracker, columns of n values, valid out-pointer.
    let status =
        unsafe { sym::<Reconstruct>("gnntrack_reconstruct")(tracker, hits, n, &mut result) };
    (status, result)
}

/// The candidates of a result as hit lists, read through the compressed arrays.
fn hit_lists(result: *const gnntrack_result) -> Vec<Vec<u32>> {
    let (mut count, mut offsets, mut indices) = (0usize, ptr::null(), ptr::null());
    // SAFETY: live result, valid out-pointers; the arrays are read while the result lives.
    unsafe {
        assert_eq!(
            sym::<ResultCount>("gnntrack_result_candidate_count")(result, &mut count),
            0
        );
        assert_eq!(
            sym::<ResultHitIndices>("gnntrack_result_hit_indices")(
                result,
                &mut offsets,
                &mut indices
            ),
            0
        );
        let offsets = std::slice::from_raw_parts(offsets, count + 1);
        if offsets[count] == 0 {
            return vec![Vec::new(); count];
        }
        let indices = std::slice::from_raw_parts(indices, offsets[count]);
        (0..count)
            .map(|i| indices[offsets[i]..offsets[i + 1]].to_vec())
            .collect()
    }
}

#[test]
fn version_and_abi() {
    let version = sym::<unsafe extern "C" fn() -> *const c_char>("gnntrack_version");
    let abi = sym::<unsafe extern "C" fn() -> u32>("gnntrack_abi_version");
    // SAFETY: static string.
    let v = unsafe { CStr::from_ptr(version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
    // SAFETY: no arguments.
    assert_eq!(unsafe { abi() }, GNNTRACK_ABI_VERSION);
    let name = sym::<unsafe extern "C" fn(i32) -> *const c_char>("gnntrack_status_name");
    // SAFETY: static strings.
    unsafe {
        assert_eq!(
            CStr::from_ptr(name(12)).to_str().unwrap(),
            "GNNTRACK_STATUS_TOO_MANY_EDGES"
        );
        assert_eq!(CStr::from_ptr(name(-3)).to_str().unwrap(), "unknown status");
    }
}

#[test]
fn configuration_keys_files_and_errors() {
    let config = config(&[("tracks.min_hits", "4"), ("inference.provider", "cpu")]);
    let set = sym::<ConfigSet>("gnntrack_config_set");
    let (key, value) = (c("tracks.min_hitz"), c("4"));
    // SAFETY: live configuration, NUL-terminated strings.
    let status = unsafe { set(config, key.as_ptr(), value.as_ptr()) };
    assert_eq!(status, S::Config as i32);
    assert_eq!(last_status(), S::Config as i32);
    assert!(
        last_error().contains("unknown field `min_hitz`"),
        "{}",
        last_error()
    );
    // The last error belongs to the thread.
    std::thread::spawn(|| assert_eq!(last_status(), S::Ok as i32))
        .join()
        .unwrap();

    let (key, value) = (c("max_edges"), c("-5"));
    // SAFETY: as above.
    assert_eq!(
        unsafe { set(config, key.as_ptr(), value.as_ptr()) },
        S::Config as i32
    );
    // SAFETY: NULL key.
    assert_eq!(
        unsafe { set(config, ptr::null(), value.as_ptr()) },
        S::NullArgument as i32
    );
    assert!(last_error().contains("`key`"));

    // TOML text, round trip through to_toml, then a file.
    let to_toml = sym::<ConfigToToml>("gnntrack_config_to_toml");
    let mut length = 0usize;
    // SAFETY: capacity 0 with a NULL buffer asks for the length.
    assert_eq!(
        unsafe { to_toml(config, ptr::null_mut(), 0, &mut length) },
        0
    );
    let mut buffer = vec![0 as c_char; length + 1];
    // SAFETY: buffer of length + 1 bytes.
    assert_eq!(
        unsafe { to_toml(config, buffer.as_mut_ptr(), buffer.len(), &mut length) },
        0
    );
    // SAFETY: NUL-terminated by to_toml.
    let text = unsafe { CStr::from_ptr(buffer.as_ptr()) }
        .to_str()
        .unwrap()
        .to_string();
    assert_eq!(text.len(), length);
    assert!(text.contains("min_hits = 4"), "{text}");
    let parsed = TrackerConfig::from_toml_str(&text).unwrap();
    assert_eq!(parsed.tracks.min_hits, 4);
    // A short buffer is truncated and still terminated.
    let mut short = [1 as c_char; 8];
    // SAFETY: 8-byte buffer.
    assert_eq!(
        unsafe { to_toml(config, short.as_mut_ptr(), 8, &mut length) },
        0
    );
    assert_eq!(short[7], 0);
    assert_eq!(length, text.len());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tracker.toml");
    std::fs::write(&file, "max_edges = 1234\n[tracks]\nmin_hits = 5\n").unwrap();
    let path = c(file.to_str().unwrap());
    let load_file = sym::<ConfigText>("gnntrack_config_load_file");
    let load_string = sym::<ConfigText>("gnntrack_config_load_string");
    // SAFETY: live configuration and NUL-terminated path.
    assert_eq!(
        unsafe { load_file(config, path.as_ptr()) },
        0,
        "{}",
        last_error()
    );
    // SAFETY: as above.
    unsafe { to_toml(config, buffer.as_mut_ptr(), buffer.len(), &mut length) };
    let text = unsafe { CStr::from_ptr(buffer.as_ptr()) }.to_str().unwrap();
    assert!(
        text.contains("max_edges = 1234") && text.contains("min_hits = 5"),
        "{text}"
    );
    let bad = c("[tracks]\nmin_hits = \"many\"\n");
    // SAFETY: as above.
    assert_eq!(
        unsafe { load_string(config, bad.as_ptr()) },
        S::Config as i32
    );
    let missing = c("/nonexistent/tracker.toml");
    // SAFETY: as above.
    assert_eq!(
        unsafe { load_file(config, missing.as_ptr()) },
        S::Config as i32
    );
    assert!(last_error().contains("/nonexistent/tracker.toml"));

    // SAFETY: live configuration, freed once.
    unsafe { sym::<ConfigFree>("gnntrack_config_free")(config) };
}

#[test]
fn candidate_quality_through_the_abi() {
    let detector = Detector::preset("luxe").unwrap();
    let hits = simulate_bx(&detector, &SimConfig::e_laser(3).unwrap(), 22, 0)
        .unwrap()
        .hits;
    let columns = Columns::of(&hits);
    let quality_of = sym::<ResultQuality>("gnntrack_result_candidate_quality");
    // The stage off: no quality.
    let plain = tracker(&[]);
    let (status, result) = reconstruct(plain, &columns.view(), hits.len());
    assert_eq!(status, 0, "{}", last_error());
    let mut quality = ptr::null();
    // SAFETY: live result, valid out-pointer; freed once.
    unsafe {
        assert_eq!(quality_of(result, &mut quality), 0);
        assert!(quality.is_null());
        assert_eq!(quality_of(result, ptr::null_mut()), S::NullArgument as i32);
        sym::<ResultFree>("gnntrack_result_free")(result);
    }
    // The known-function test model, flagging: one quality per candidate, that of its hit
    // count (logit 20 (n - 4) / 4 + 1, as in make_test_models.py).
    let model = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/test-models/candidate.onnx");
    assert!(model.exists(), "run `make test-models`");
    let model = model.display().to_string();
    let flagging = tracker(&[
        ("tracks.candidate_model", model.as_str()),
        ("tracks.candidate_action", "flag"),
    ]);
    let (status, result) = reconstruct(flagging, &columns.view(), hits.len());
    assert_eq!(status, 0, "{}", last_error());
    let lists = hit_lists(result);
    assert!(!lists.is_empty());
    let mut times = gnntrack_times::default();
    // SAFETY: live result; the quality array has one entry per candidate; freed once.
    unsafe {
        assert_eq!(quality_of(result, &mut quality), 0);
        let q = std::slice::from_raw_parts(quality, lists.len());
        for (list, &q) in lists.iter().zip(q) {
            let logit = 20.0 * (list.len() as f64 - 4.0) / 4.0 + 1.0;
            let expected = 1.0 / (1.0 + (-logit).exp());
            assert!(
                (f64::from(q) - expected).abs() < 1e-5,
                "{} hits: {q}",
                list.len()
            );
        }
        assert_eq!(
            sym::<ResultTimes>("gnntrack_result_times")(result, &mut times),
            0
        );
        sym::<ResultFree>("gnntrack_result_free")(result);
        sym::<TrackerFree>("gnntrack_tracker_free")(plain);
        sym::<TrackerFree>("gnntrack_tracker_free")(flagging);
    }
    // The candidate classifier's time is the total's part beyond the four stages.
    assert!(times.total - (times.graph + times.features + times.inference + times.tracks) > 0.0);
}

#[test]
fn reconstruction_through_the_abi_equals_the_rust_api() {
    let detector = Detector::preset("luxe").unwrap();
    let bx = simulate_bx(&detector, &SimConfig::e_laser(3).unwrap(), 21, 0).unwrap();
    let hits = bx.hits;
    let columns = Columns::of(&hits);
    let tracker = tracker(&[("tracks.min_hits", "3")]);

    let mut provider = ptr::null();
    // SAFETY: live tracker, valid out-pointer.
    assert_eq!(
        unsafe { sym::<TrackerProvider>("gnntrack_tracker_provider")(tracker, &mut provider) },
        0
    );
    // SAFETY: string owned by the tracker.
    assert!(
        unsafe { CStr::from_ptr(provider) }
            .to_str()
            .unwrap()
            .starts_with("CPU")
    );

    let (status, result) = reconstruct(tracker, &columns.view(), hits.len());
    assert_eq!(status, 0, "{}", last_error());
    let lists = hit_lists(result);

    // The safe API on the same hits gives the same candidates.
    let mut config = TrackerConfig::default();
    config.set("tracks.min_hits", "3").unwrap();
    let expected: Vec<Vec<u32>> = Tracker::new(config)
        .unwrap()
        .reconstruct(&hits)
        .unwrap()
        .candidates
        .into_iter()
        .map(|c| c.hits)
        .collect();
    assert_eq!(lists, expected);
    let counts = score_bx(&hits, &lists, MergedHits::Majority).unwrap();
    let efficiency = counts.found as f64 / counts.reconstructable as f64;
    assert!(efficiency > 0.9, "efficiency {efficiency}");

    // Per-candidate access, fits, times and graph size.
    let mut fits = ptr::null();
    let mut times = gnntrack_times::default();
    let mut graph = gnntrack_graph_summary::default();
    // SAFETY: live result, valid out-pointers; fits has one entry per candidate.
    unsafe {
        assert_eq!(
            sym::<ResultFits>("gnntrack_result_fits")(result, &mut fits),
            0
        );
        assert_eq!(
            sym::<ResultTimes>("gnntrack_result_times")(result, &mut times),
            0
        );
        assert_eq!(
            sym::<ResultGraph>("gnntrack_result_graph")(result, &mut graph),
            0
        );
        let fits = std::slice::from_raw_parts(fits, lists.len());
        let candidate_hits = sym::<ResultCandidateHits>("gnntrack_result_candidate_hits");
        for (i, list) in lists.iter().enumerate() {
            let (mut own, mut n) = (ptr::null(), 0usize);
            assert_eq!(candidate_hits(result, i, &mut own, &mut n), 0);
            assert_eq!(std::slice::from_raw_parts(own, n), list.as_slice());
            assert_eq!(fits[i].n_hits as usize, n);
            assert_eq!(fits[i].ndf, 2 * n as i32 - 4);
            for &h in list {
                let h = h as usize;
                let x = fits[i].x0 + fits[i].tx * (hits.z[h] - fits[i].z0);
                assert!((x - hits.x[h]).abs() < 0.5, "candidate {i}");
            }
        }
        let (mut own, mut n) = (ptr::null(), 0usize);
        assert_eq!(
            candidate_hits(result, lists.len(), &mut own, &mut n),
            S::InvalidArgument as i32
        );
        sym::<ResultFree>("gnntrack_result_free")(result);
    }
    assert!(times.total > 0.0);
    assert!(
        (times.total - (times.graph + times.features + times.inference + times.tracks)).abs()
            < 1e-12
    );
    assert_eq!(graph.n_hits, hits.len());
    assert!(graph.n_edges >= graph.n_edges_kept && graph.n_edges_kept > 0);
    assert!(
        (0.0..=1.0).contains(&graph.edge_cut),
        "cut {}",
        graph.edge_cut
    );

    // Many threads on one tracker.
    let tracker_addr = tracker as usize;
    std::thread::scope(|scope| {
        for _ in 0..3 {
            scope.spawn(|| {
                let (status, result) = reconstruct(
                    tracker_addr as *const gnntrack_tracker,
                    &columns.view(),
                    hits.len(),
                );
                assert_eq!(status, 0);
                assert_eq!(hit_lists(result), expected);
                // SAFETY: live result, freed once.
                unsafe { sym::<ResultFree>("gnntrack_result_free")(result) };
            });
        }
    });
    // SAFETY: live tracker, freed once, no call running.
    unsafe { sym::<TrackerFree>("gnntrack_tracker_free")(tracker) };
}

#[test]
fn invalid_inputs_get_their_status_and_message() {
    let tracker = tracker(&[]);
    let mut columns = Columns {
        x: vec![100.0, 105.28, 110.55],
        y: vec![0.1, 0.1, 0.11],
        z: vec![3950.0125, 4050.0125, 4150.0125],
        layer: vec![0, 1, 2],
        stave: vec![0, 0, 0],
        hit_id: vec![7, 8, 9],
    };
    let check = |columns: &Columns, n: usize, status: S, needle: &str| {
        let (got, result) = reconstruct(tracker, &columns.view(), n);
        assert_eq!(got, status as i32, "{needle}: {}", last_error());
        assert!(
            result.is_null(),
            "{needle}: a failed call must set the result to NULL"
        );
        assert!(last_error().contains(needle), "{needle}: {}", last_error());
    };
    check(&columns, 0, S::EmptyInput, "`n_hits` = 0");
    columns.x[1] = f64::NAN;
    check(&columns, 3, S::InvalidHit, "hit 1 (id 8): `x` = NaN");
    columns.x[1] = 105.28;
    columns.layer[2] = 300;
    check(
        &columns,
        3,
        S::InvalidHit,
        "`layer` = 300 is unknown to geometry luxe",
    );
    columns.layer[2] = 2;
    columns.stave[0] = -1;
    check(
        &columns,
        3,
        S::InvalidHit,
        "`stave` = -1 is unknown to layer 0",
    );
    columns.stave[0] = 0;
    columns.hit_id[2] = 7;
    check(&columns, 3, S::InvalidHit, "`hit_id` = 7 appears twice");
    columns.hit_id[2] = 9;

    let mut view = columns.view();
    view.z = ptr::null();
    let (status, result) = reconstruct(tracker, &view, 3);
    assert_eq!(status, S::NullArgument as i32);
    assert!(result.is_null() && last_error().contains("`hits->z`"));
    // NULL caller ids: hits are named by index.
    let mut view = columns.view();
    view.hit_id = ptr::null();
    columns.y[2] = f64::INFINITY;
    view.y = columns.y.as_ptr();
    let (status, _) = reconstruct(tracker, &view, 3);
    assert_eq!(status, S::InvalidHit as i32);
    assert!(
        last_error().contains("hit 2 (id 2): `y` = inf"),
        "{}",
        last_error()
    );
    columns.y[2] = 0.11;

    let (status, result) = reconstruct(ptr::null(), &columns.view(), 3);
    assert_eq!(status, S::NullArgument as i32);
    assert!(result.is_null() && last_error().contains("`tracker`"));

    // An edge cap below the graph size.
    let capped = self::tracker(&[("max_edges", "1")]);
    let (status, result) = reconstruct(capped, &columns.view(), 3);
    assert_eq!(status, S::TooManyEdges as i32, "{}", last_error());
    assert!(result.is_null() && last_error().contains("more than max_edges = 1"));
    // SAFETY: live trackers, freed once.
    unsafe {
        sym::<TrackerFree>("gnntrack_tracker_free")(capped);
        sym::<TrackerFree>("gnntrack_tracker_free")(tracker);
        // NULL is ignored.
        sym::<TrackerFree>("gnntrack_tracker_free")(ptr::null_mut());
    }

    // Model problems surface when the tracker is created.
    let config = config(&[("model", "/nonexistent/model.onnx")]);
    let mut made = ptr::dangling_mut::<gnntrack_tracker>();
    // SAFETY: live configuration, valid out-pointer.
    let status = unsafe { sym::<TrackerNew>("gnntrack_tracker_new")(config, &mut made) };
    assert_eq!(status, S::ModelUnreadable as i32);
    assert!(made.is_null());
    // SAFETY: freed once.
    unsafe { sym::<ConfigFree>("gnntrack_config_free")(config) };
}

static LOG_LINES: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());

unsafe extern "C" fn collect(
    level: gnntrack_log_level,
    message: *const c_char,
    user_data: *mut c_void,
) {
    assert_eq!(user_data as usize, 0xfeed);
    // SAFETY: a NUL-terminated message valid during the call.
    let text = unsafe { CStr::from_ptr(message) }
        .to_string_lossy()
        .into_owned();
    LOG_LINES.lock().unwrap().push((level as i32, text));
}

#[test]
fn log_messages_reach_the_host_callback() {
    let set = sym::<SetLogCallback>("gnntrack_set_log_callback");
    // SAFETY: a callback with the header's signature and a user-data token.
    let status = unsafe {
        set(
            Some(collect),
            0xfeed as *mut c_void,
            gnntrack_log_level::Info as i32,
        )
    };
    assert_eq!(status, 0, "{}", last_error());
    let tracker = tracker(&[]);
    // SAFETY: NULL restores stderr.
    assert_eq!(unsafe { set(None, ptr::null_mut(), 0) }, 0);
    // SAFETY: level out of range.
    assert_eq!(
        unsafe { set(None, ptr::null_mut(), 6) },
        S::InvalidArgument as i32
    );
    // SAFETY: freed once.
    unsafe { sym::<TrackerFree>("gnntrack_tracker_free")(tracker) };
    let lines = LOG_LINES.lock().unwrap();
    assert!(
        lines
            .iter()
            .any(|(level, text)| *level == gnntrack_log_level::Info as i32
                && text.contains("tracker ready")),
        "{lines:?}"
    );
}

#[test]
fn an_empty_result_hands_out_null_arrays_and_outlives_its_tracker() {
    // Hits on one layer only: no edges, no candidates.
    let mut hits = Hits::new(false);
    for i in 0..5u64 {
        hits.push(
            gnntrack::hits::Hit {
                hit_id: i,
                x: 100.0 + i as f64,
                y: 0.0,
                z: 3950.0125,
                layer: 0,
                stave: 0,
            },
            None,
        );
    }
    let columns = Columns::of(&hits);
    let tracker = tracker(&[]);
    let (status, result) = reconstruct(tracker, &columns.view(), hits.len());
    assert_eq!(status, 0, "{}", last_error());
    // The result does not need its tracker.
    // SAFETY: live tracker, freed once, no call running.
    unsafe { sym::<TrackerFree>("gnntrack_tracker_free")(tracker) };
    let (mut count, mut offsets, mut indices, mut fits) = (
        7usize,
        ptr::null(),
        ptr::dangling::<u32>(),
        ptr::dangling::<gnntrack_fit>(),
    );
    // SAFETY: live result, valid out-pointers.
    unsafe {
        assert_eq!(
            sym::<ResultCount>("gnntrack_result_candidate_count")(result, &mut count),
            0
        );
        assert_eq!(
            sym::<ResultHitIndices>("gnntrack_result_hit_indices")(
                result,
                &mut offsets,
                &mut indices
            ),
            0
        );
        assert_eq!(
            sym::<ResultFits>("gnntrack_result_fits")(result, &mut fits),
            0
        );
        assert_eq!(count, 0);
        assert_eq!(*offsets, 0);
        assert!(indices.is_null(), "indices of an empty result: {indices:p}");
        assert!(fits.is_null(), "fits of an empty result: {fits:p}");
        sym::<ResultFree>("gnntrack_result_free")(result);
    }
}

#[test]
fn a_crossing_above_max_hits_is_refused_before_any_work() {
    let detector = Detector::preset("luxe").unwrap();
    let hits = simulate_bx(&detector, &SimConfig::e_laser(3).unwrap(), 5, 0)
        .unwrap()
        .hits;
    let columns = Columns::of(&hits);
    let tracker = tracker(&[("max_hits", "100")]);
    let (status, result) = reconstruct(tracker, &columns.view(), hits.len());
    assert_eq!(status, S::InvalidArgument as i32, "{}", last_error());
    assert!(result.is_null());
    let e = last_error();
    assert!(e.contains("more than max_hits = 100"), "{e}");
    // SAFETY: live tracker, freed once, no call running.
    unsafe { sym::<TrackerFree>("gnntrack_tracker_free")(tracker) };
}

type HitFileRead = unsafe extern "C" fn(*const c_char, *mut *mut c_void) -> Status;
type HitFileColumns = unsafe extern "C" fn(
    *const c_void,
    *mut gnntrack_hits,
    *mut usize,
    *mut *const u64,
    *mut *const c_char,
) -> Status;
type HitFileFree = unsafe extern "C" fn(*mut c_void);

#[test]
fn hit_files_are_read_by_the_library_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let detector = Detector::preset("luxe").unwrap();
    let bx = simulate_bx(&detector, &SimConfig::e_laser(3).unwrap(), 8, 0).unwrap();
    let project = dir.path().join("bx.csv");
    gnntrack::hits::write_hits(&bx.hits, &project).unwrap();
    let luxe = common::shared_data("luxe_xi3_sl.csv");
    for (path, format) in [(project, "project"), (luxe, "luxe")] {
        let (expected, _) = gnntrack::hits::read_hits(&path).unwrap();
        let mut file = ptr::null_mut();
        let text = c(path.to_str().unwrap());
        // SAFETY: valid string and out-pointer; the columns are read while the file lives.
        unsafe {
            assert_eq!(
                sym::<HitFileRead>("gnntrack_hit_file_read")(text.as_ptr(), &mut file),
                0,
                "{}",
                last_error()
            );
            let mut columns = Columns::of(&Hits::new(false)).view();
            let (mut n, mut particles, mut name) = (0usize, ptr::null(), ptr::null());
            assert_eq!(
                sym::<HitFileColumns>("gnntrack_hit_file_columns")(
                    file,
                    &mut columns,
                    &mut n,
                    &mut particles,
                    &mut name
                ),
                0
            );
            assert_eq!(CStr::from_ptr(name).to_str().unwrap(), format);
            assert_eq!(n, expected.len());
            assert_eq!(std::slice::from_raw_parts(columns.x, n), expected.x);
            assert_eq!(std::slice::from_raw_parts(columns.z, n), expected.z);
            assert_eq!(
                std::slice::from_raw_parts(columns.hit_id, n),
                expected.hit_id
            );
            let layers: Vec<i32> = expected.layer.iter().map(|&l| l as i32).collect();
            assert_eq!(std::slice::from_raw_parts(columns.layer, n), layers);
            let truth = expected.truth.as_ref().unwrap();
            assert_eq!(std::slice::from_raw_parts(particles, n), truth.particle_id);
            sym::<HitFileFree>("gnntrack_hit_file_free")(file);
        }
    }
    // Errors: the status and the reader's message, no handle.
    std::fs::write(dir.path().join("empty.csv"), "").unwrap();
    std::fs::write(
        dir.path().join("bad.csv"),
        "hit_id,x,y,z,layer,stave\n1,abc,0,0,0,0\n",
    )
    .unwrap();
    for (name, needle) in [
        ("missing.csv", "missing.csv"),
        ("empty.csv", "empty.csv: empty file"),
        ("bad.csv", "bad.csv, line 2: column `x`: `abc`"),
    ] {
        let path = c(dir.path().join(name).to_str().unwrap());
        let mut file = ptr::dangling_mut::<c_void>();
        // SAFETY: valid string and out-pointer.
        let status =
            unsafe { sym::<HitFileRead>("gnntrack_hit_file_read")(path.as_ptr(), &mut file) };
        assert_eq!(status, S::HitFile as i32, "{name}");
        assert!(file.is_null());
        assert!(last_error().contains(needle), "{name}: {}", last_error());
    }
}

#[test]
fn the_build_folder_has_the_soname_link() {
    let exe = std::env::current_exe().unwrap();
    let profile = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let link = profile.join(format!("libgnntrack.so.{GNNTRACK_ABI_VERSION}"));
    assert_eq!(
        std::fs::read_link(&link).unwrap_or_else(|e| panic!("{}: {e}", link.display())),
        PathBuf::from("libgnntrack.so")
    );
}
