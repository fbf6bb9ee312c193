//! Writes the C header `include/gnntrack.h` from `src/ffi/` with cbindgen.
//!
//! The header is committed: it is rewritten only when its text changes (so that an unchanged
//! header never triggers a rebuild), and a failure of cbindgen (for example while a file of
//! `src/ffi/` is half-written) is a warning, never a build error. CI rebuilds and fails when the committed
//! header differs from the generated one.

use std::path::Path;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    let crate_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let crate_dir = Path::new(&crate_dir);
    let abi = abi_version(&crate_dir.join("src/ffi/mod.rs"));
    if abi.is_none() {
        println!(
            "cargo:warning=no `pub const GNNTRACK_ABI_VERSION: u32 = N;` line in src/ffi/mod.rs"
        );
    }
    set_soname(abi);
    if let Err(e) = write_header(crate_dir) {
        println!("cargo:warning=include/gnntrack.h not updated: {e}");
    }
}

/// `GNNTRACK_ABI_VERSION` as written in `src/ffi/mod.rs`.
fn abi_version(ffi: &Path) -> Option<u32> {
    let text = std::fs::read_to_string(ffi).ok()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("pub const GNNTRACK_ABI_VERSION: u32 ="))?;
    line.split('=')
        .nth(1)?
        .trim()
        .trim_end_matches(';')
        .parse()
        .ok()
}

/// On Linux the shared library is named `libgnntrack.so.<ABI version>` inside (its SONAME), so
/// that programs linked against it need a library of the same ABI. A link of that name beside
/// cargo's `libgnntrack.so` lets programs linked against the build folder run.
fn set_soname(abi: Option<u32>) {
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    if let (true, Some(abi)) = (linux, abi) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libgnntrack.so.{abi}");
        link_soname(abi);
    }
}

/// `<target>/<profile>/libgnntrack.so.<abi>` -> `libgnntrack.so` (OUT_DIR is
/// `<target>/<profile>/build/<package>-<hash>/out`). A failure is a warning.
fn link_soname(abi: u32) {
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        return;
    };
    let Some(profile) = Path::new(&out_dir).ancestors().nth(3) else {
        return;
    };
    let link = profile.join(format!("libgnntrack.so.{abi}"));
    if std::fs::read_link(&link).is_ok_and(|target| target == Path::new("libgnntrack.so")) {
        return;
    }
    let _ = std::fs::remove_file(&link);
    #[cfg(unix)]
    if let Err(e) = std::os::unix::fs::symlink("libgnntrack.so", &link) {
        println!("cargo:warning=cannot link {}: {e}", link.display());
    }
}

fn write_header(crate_dir: &Path) -> Result<(), String> {
    let version = std::env::var("CARGO_PKG_VERSION").map_err(|e| e.to_string())?;
    let part = |name: &str| std::env::var(name).unwrap_or_else(|_| "0".into());
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .map_err(|e| format!("cbindgen.toml: {e}"))?;
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        // The module root; cbindgen follows its `mod` declarations, in their order.
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .with_after_include(format!(
            "\n/** Version of this header's library, as a string. */\n\
             #define GNNTRACK_VERSION \"{version}\"\n\
             /** Major, minor and patch version of this header's library. */\n\
             #define GNNTRACK_VERSION_MAJOR {}\n\
             #define GNNTRACK_VERSION_MINOR {}\n\
             #define GNNTRACK_VERSION_PATCH {}",
            part("CARGO_PKG_VERSION_MAJOR"),
            part("CARGO_PKG_VERSION_MINOR"),
            part("CARGO_PKG_VERSION_PATCH"),
        ))
        .generate()
        .map_err(|e| format!("cbindgen: {e}"))?;
    let mut text = Vec::new();
    bindings.write(&mut text);
    let path = crate_dir.join("include/gnntrack.h");
    if std::fs::read(&path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    std::fs::write(&path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
