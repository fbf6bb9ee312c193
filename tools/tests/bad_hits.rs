//! Every kind of bad hit gives the same status and the same message through the three doors of
//! the library: the Rust API (`Tracker::reconstruct`, `Tracker::reconstruct_columns`), the C ABI
//! (`gnntrack_reconstruct` on columns, and on the columns of a file read by
//! `gnntrack_hit_file_read`, called through the rlib) and the command-line tool
//! (`gnntrack reconstruct --in bad.csv`). There is one validation, so there is one answer.

use std::ffi::{CStr, CString};
use std::path::Path;
use std::process::Command;
use std::ptr;
use std::sync::OnceLock;

use gnntrack::error::ErrorKind;
use gnntrack::ffi::{
    gnntrack_config_free, gnntrack_config_new, gnntrack_hit_file_columns, gnntrack_hit_file_free,
    gnntrack_hit_file_read, gnntrack_hits, gnntrack_last_error, gnntrack_last_status,
    gnntrack_reconstruct, gnntrack_result, gnntrack_result_free, gnntrack_status, gnntrack_tracker,
    gnntrack_tracker_new,
};
use gnntrack::hits::{Hit, HitColumns, Hits, read_hits, write_hits};
use gnntrack::pipeline::{Tracker, TrackerConfig};

/// One positron crossing the four inner staves of `luxe`, and a noise hit on layer 0.
fn good_hits() -> Hits {
    let mut hits = Hits::new(false);
    for (k, (x, y, z, layer)) in [
        (100.0, 0.10, 3950.0125, 0),
        (105.28, 0.10, 4050.0125, 1),
        (110.55, 0.11, 4150.0125, 2),
        (115.83, 0.11, 4250.0125, 3),
        (120.0, 0.0, 3950.0125, 0),
    ]
    .into_iter()
    .enumerate()
    {
        hits.push(
            Hit {
                hit_id: 10 + k as u64,
                x,
                y,
                z,
                layer,
                stave: 0,
            },
            None,
        );
    }
    hits
}

/// The bad hits: a name, the change to the good crossing and a part of the expected message.
type Case = (&'static str, fn(&mut Hits), &'static str);

const CASES: [Case; 10] = [
    (
        "layer unknown to the geometry",
        |h| h.layer[3] = 4,
        "`layer` = 4 is unknown to geometry luxe",
    ),
    (
        "stave unknown to the layer",
        |h| h.stave[2] = 2,
        "`stave` = 2 is unknown to layer 2",
    ),
    (
        "x = NaN",
        |h| h.x[1] = f64::NAN,
        "hit 1 (id 11): `x` = NaN is not finite",
    ),
    (
        "z = +inf",
        |h| h.z[2] = f64::INFINITY,
        "hit 2 (id 12): `z` = inf is not finite",
    ),
    (
        "y = -inf",
        |h| h.y[0] = f64::NEG_INFINITY,
        "hit 0 (id 10): `y` = -inf is not finite",
    ),
    (
        "z off the stave's plane",
        |h| h.z[1] = 4062.0,
        "from the plane of layer 1 stave 0",
    ),
    (
        "x outside the stave",
        |h| h.x[0] = 900.0,
        "`x` = 900 mm is outside layer 0 stave 0",
    ),
    (
        "y outside the stave",
        |h| h.y[4] = 9.0,
        "hit 4 (id 14): `y` = 9 mm is outside",
    ),
    (
        "duplicate hit id",
        |h| h.hit_id[4] = 11,
        "`hit_id` = 11 appears twice (hits 1 and 4)",
    ),
    (
        "the first of two bad hits",
        |h| {
            h.layer[3] = 9;
            h.x[1] = f64::NAN;
        },
        "hit 1 (id 11): `x` = NaN",
    ),
];

fn tracker() -> &'static Tracker {
    static TRACKER: OnceLock<Tracker> = OnceLock::new();
    TRACKER.get_or_init(|| Tracker::new(TrackerConfig::default()).unwrap_or_else(|e| panic!("{e}")))
}

/// A C tracker with the default configuration, made through the C ABI.
fn c_tracker() -> *mut gnntrack_tracker {
    let (mut config, mut tracker) = (ptr::null_mut(), ptr::null_mut());
    // SAFETY: valid out-pointers; the configuration is freed once, after the tracker copied it.
    unsafe {
        assert_eq!(gnntrack_config_new(&mut config), gnntrack_status::Ok);
        let status = gnntrack_tracker_new(config, &mut tracker);
        gnntrack_config_free(config);
        assert_eq!(status, gnntrack_status::Ok, "{}", last_error());
    }
    tracker
}

fn last_error() -> String {
    // SAFETY: the thread's last message, NUL-terminated, copied at once.
    unsafe { CStr::from_ptr(gnntrack_last_error()) }
        .to_str()
        .unwrap()
        .to_string()
}

/// What a door answered: the status (the C ABI's code for an error's kind) and the message.
type Answer = (gnntrack_status, String);

/// `gnntrack_reconstruct` on columns of `n` hits; no result may be left on failure.
fn c_reconstruct(tracker: *const gnntrack_tracker, columns: &gnntrack_hits, n: usize) -> Answer {
    let mut result = ptr::dangling_mut::<gnntrack_result>(); // must be overwritten
    // SAFETY: live tracker, columns of n values each, valid out-pointer.
    let status = unsafe { gnntrack_reconstruct(tracker, columns, n, &mut result) };
    let message = last_error();
    assert_eq!(gnntrack_last_status(), status);
    if status == gnntrack_status::Ok {
        // SAFETY: a live result, freed once.
        unsafe { gnntrack_result_free(result) };
    } else {
        assert!(result.is_null(), "a failed call left a result");
    }
    (status, message)
}

/// The C ABI on the hits as a C host holds them.
fn c_columns(tracker: *const gnntrack_tracker, hits: &Hits) -> Answer {
    let layer: Vec<i32> = hits.layer.iter().map(|&l| l.into()).collect();
    let stave: Vec<i32> = hits.stave.iter().map(|&s| s.into()).collect();
    let columns = gnntrack_hits {
        x: hits.x.as_ptr(),
        y: hits.y.as_ptr(),
        z: hits.z.as_ptr(),
        layer: layer.as_ptr(),
        stave: stave.as_ptr(),
        hit_id: hits.hit_id.as_ptr(),
    };
    c_reconstruct(tracker, &columns, hits.len())
}

/// The C ABI on a hit file: read by `gnntrack_hit_file_read`, reconstructed from its columns.
fn c_file(tracker: *const gnntrack_tracker, path: &Path) -> Answer {
    let path = CString::new(path.to_str().unwrap()).unwrap();
    let mut file = ptr::null_mut();
    // SAFETY: NUL-terminated path, valid out-pointer.
    let status = unsafe { gnntrack_hit_file_read(path.as_ptr(), &mut file) };
    if status != gnntrack_status::Ok {
        assert!(file.is_null());
        return (status, last_error());
    }
    let mut columns = gnntrack_hits {
        x: ptr::null(),
        y: ptr::null(),
        z: ptr::null(),
        layer: ptr::null(),
        stave: ptr::null(),
        hit_id: ptr::null(),
    };
    let mut n = 0;
    // SAFETY: a live hit file and valid outputs; the file outlives the reconstruction and is
    // freed once.
    unsafe {
        let status =
            gnntrack_hit_file_columns(file, &mut columns, &mut n, ptr::null_mut(), ptr::null_mut());
        assert_eq!(status, gnntrack_status::Ok, "{}", last_error());
        let answer = c_reconstruct(tracker, &columns, n);
        gnntrack_hit_file_free(file);
        answer
    }
}

/// `gnntrack reconstruct --in path`: it must fail; its standard error.
fn cli(path: &Path) -> String {
    let run = Command::new(env!("CARGO_BIN_EXE_gnntrack"))
        .args(["reconstruct", "--in"])
        .arg(path)
        .env_remove("RUST_LOG")
        .output()
        .expect("the binary runs");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(
        !run.status.success(),
        "accepted {}: {stderr}",
        path.display()
    );
    stderr
}

/// The message of an error as the command-line tool prints it.
fn cli_line(message: &str) -> String {
    format!("error: {message}\n")
}

#[test]
fn each_bad_hit_gets_one_status_and_message_from_rust_c_and_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let c = c_tracker();
    // The good crossing passes every door.
    let good = good_hits();
    assert!(tracker().reconstruct(&good).is_ok());
    assert_eq!(c_columns(c, &good).0, gnntrack_status::Ok);
    for (name, mutate, needle) in CASES {
        let mut hits = good_hits();
        mutate(&mut hits);

        // Rust API.
        let e = tracker().reconstruct(&hits).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidHit, "{name}: {e}");
        let message = e.to_string();
        assert!(
            message.starts_with("invalid hit: ") && message.contains(needle),
            "{name}: {message}"
        );
        let rust = (gnntrack_status::from(e.kind()), message.clone());
        assert_eq!(rust.0, gnntrack_status::InvalidHit);

        // C ABI, on columns and on the same hits written to a file and read by the library.
        assert_eq!(c_columns(c, &hits), rust, "{name}: C columns");
        let path = dir.path().join("bad.csv");
        write_hits(&hits, &path).unwrap();
        assert_eq!(c_file(c, &path), rust, "{name}: C hit file");

        // The command-line tool, on that file.
        let stderr = cli(&path);
        assert!(
            stderr.contains(&cli_line(&message)),
            "{name}: the tool printed\n{stderr}"
        );
    }
    // SAFETY: a live tracker, freed once.
    unsafe { gnntrack::ffi::gnntrack_tracker_free(c) };
}

#[test]
fn layers_and_staves_a_byte_cannot_hold_get_one_answer_per_door() {
    let dir = tempfile::tempdir().unwrap();
    let c = c_tracker();
    let good = good_hits();
    for (name, layer, stave, needle) in [
        (
            "layer = -1",
            -1,
            0,
            "hit 3 (id 13): `layer` = -1 is unknown to geometry luxe",
        ),
        (
            "layer = 300",
            300,
            0,
            "`layer` = 300 is unknown to geometry luxe",
        ),
        ("stave = -7", 3, -7, "`stave` = -7 is unknown to layer 3"),
        ("stave = 256", 3, 256, "`stave` = 256 is unknown to layer 3"),
    ] {
        // Columns: the Rust API and the C ABI validate them alike.
        let mut layers: Vec<i32> = good.layer.iter().map(|&l| l.into()).collect();
        let mut staves: Vec<i32> = good.stave.iter().map(|&s| s.into()).collect();
        layers[3] = layer;
        staves[3] = stave;
        let columns = HitColumns {
            hit_id: Some(&good.hit_id),
            x: &good.x,
            y: &good.y,
            z: &good.z,
            layer: &layers,
            stave: &staves,
        };
        let e = tracker().reconstruct_columns(&columns).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidHit, "{name}");
        let rust = (gnntrack_status::InvalidHit, e.to_string());
        assert!(rust.1.contains(needle), "{name}: {}", rust.1);
        let c_columns = gnntrack_hits {
            x: good.x.as_ptr(),
            y: good.y.as_ptr(),
            z: good.z.as_ptr(),
            layer: layers.as_ptr(),
            stave: staves.as_ptr(),
            hit_id: good.hit_id.as_ptr(),
        };
        assert_eq!(
            c_reconstruct(c, &c_columns, good.len()),
            rust,
            "{name}: C columns"
        );

        // A hit file cannot hold such a hit: the library's reader refuses the row, with one
        // message for the Rust reader, the C reader and the command-line tool.
        let path = dir.path().join("wide.csv");
        let mut text = String::from("hit_id,x,y,z,layer,stave\n");
        for i in 0..good.len() {
            text += &format!(
                "{},{},{},{},{},{}\n",
                good.hit_id[i], good.x[i], good.y[i], good.z[i], layers[i], staves[i]
            );
        }
        std::fs::write(&path, text).unwrap();
        let e = read_hits(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::HitFile);
        let reader = (gnntrack_status::HitFile, e.to_string());
        assert!(
            reader.1.contains("line 5: column `"),
            "{name}: {}",
            reader.1
        );
        assert_eq!(c_file(c, &path), reader, "{name}: C hit file");
        let stderr = cli(&path);
        assert!(
            stderr.contains(&cli_line(&reader.1)),
            "{name}: the tool printed\n{stderr}"
        );
    }
    // SAFETY: a live tracker, freed once.
    unsafe { gnntrack::ffi::gnntrack_tracker_free(c) };
}
