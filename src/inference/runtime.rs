//! Finding and loading `libonnxruntime.so`, and the one onnxruntime environment of the process.
//!
//! Size: a little over 600 lines of code: the staged library search, the loading and the one
//! environment of the process share private helpers and one error type, and are read together
//! when a user asks why onnxruntime was not found.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use ort::environment::Environment;
use ort::logging::LogLevel;
use thiserror::Error;

use super::LibrarySearch;
use crate::error::ErrorKind;

/// Environment variable naming the library, read after the configured path.
const ENV_VAR: &str = "ORT_DYLIB_PATH";
/// Library names handed to the dynamic loader as the last resort.
const SYSTEM_NAMES: [&str; 2] = ["libonnxruntime.so", "libonnxruntime.so.1"];
/// How long `python3` may take to say where its onnxruntime package is.
const PYTHON_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a candidate library path came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CandidateSource {
    /// [`LibrarySearch::path`].
    Config,
    /// The `ORT_DYLIB_PATH` environment variable.
    EnvVar,
    /// Installed beside gnntrack: the folder of the library (or program) holding this code, or
    /// the `lib` folder next to it (where `cmake --install` copies an onnxruntime).
    Installed,
    /// A Python `onnxruntime` package; the text says how it was found.
    Python(String),
    /// A bare library name resolved by the dynamic loader.
    System,
}

impl fmt::Display for CandidateSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CandidateSource::Config => f.write_str("configuration"),
            CandidateSource::EnvVar => write!(f, "{ENV_VAR}"),
            CandidateSource::Installed => f.write_str("installed beside gnntrack"),
            CandidateSource::Python(how) => write!(f, "Python package, {how}"),
            CandidateSource::System => f.write_str("system library name"),
        }
    }
}

/// One path to try loading onnxruntime from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryCandidate {
    /// The file, or a bare name for the dynamic loader.
    pub path: PathBuf,
    /// Where the path came from.
    pub source: CandidateSource,
}

/// A candidate that did not load, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadAttempt {
    /// The candidate.
    pub candidate: LibraryCandidate,
    /// Why it failed.
    pub reason: String,
}

/// onnxruntime could not be started.
#[derive(Debug, Clone, Error)]
pub enum RuntimeError {
    /// No candidate library loaded.
    #[error("onnxruntime not found{}", list_attempts(.tried))]
    NotFound {
        /// Every candidate tried, in order, with its failure.
        tried: Vec<LoadAttempt>,
    },
    /// The library loaded but the environment could not be created.
    #[error("onnxruntime loaded from {} but its environment could not be created: {reason}", library.display())]
    Environment {
        /// The library that loaded.
        library: PathBuf,
        /// onnxruntime's message.
        reason: String,
    },
    /// An earlier call loaded the library but could not create its environment; a library
    /// stays loaded for the rest of the process, so every later call fails the same way.
    #[error(
        "onnxruntime was loaded from {} by an earlier call but its environment could not be created: {reason}; one onnxruntime per process, so that first load decided and no other library can be tried in this process{}",
        library.display(),
        match wanted { Some(p) => format!(" (the configured {} is not used)", p.display()), None => String::new() }
    )]
    EarlierFailure {
        /// The library that loaded.
        library: PathBuf,
        /// onnxruntime's message.
        reason: String,
        /// The path this call asked for, if any.
        wanted: Option<PathBuf>,
    },
}

impl RuntimeError {
    /// The kind of the error: always [`ErrorKind::Onnxruntime`].
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::Onnxruntime
    }
}

fn list_attempts(tried: &[LoadAttempt]) -> String {
    if tried.is_empty() {
        return ": no candidate library (set ORT_DYLIB_PATH or install the Python package onnxruntime)".into();
    }
    let mut s = String::from("; tried:");
    for a in tried {
        s.push_str(&format!(
            "\n  - {} ({}): {}",
            a.candidate.path.display(),
            a.candidate.source,
            a.reason
        ));
    }
    s.push_str("\nset ORT_DYLIB_PATH to libonnxruntime.so, or `pip install onnxruntime` (CPU) or `onnxruntime-gpu` (CUDA)");
    s.push_str(
        "\nnothing was loaded: a later tracker may try again (for example with another `inference.library.path`)",
    );
    s
}

/// The loaded onnxruntime and its environment, alive for the rest of the process.
pub struct OnnxRuntime {
    pub(crate) environment: Environment,
    library: PathBuf,
    source: CandidateSource,
    build_info: String,
    skipped: Vec<LoadAttempt>,
}

impl fmt::Debug for OnnxRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnnxRuntime")
            .field("library", &self.library)
            .field("source", &self.source)
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

impl OnnxRuntime {
    /// The library file (or name) that loaded.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// Where that path came from.
    pub fn source(&self) -> &CandidateSource {
        &self.source
    }

    /// onnxruntime's build description (version, commit, compiler flags).
    pub fn build_info(&self) -> &str {
        &self.build_info
    }

    /// The onnxruntime version, read from the build description or the file name.
    pub fn version(&self) -> Option<String> {
        version_from_build_info(&self.build_info).or_else(|| version_from_file_name(&self.library))
    }

    /// Candidates tried before the one that loaded, with their failures.
    pub fn skipped(&self) -> &[LoadAttempt] {
        &self.skipped
    }

    /// Whether this onnxruntime build contains the CUDA execution provider.
    pub fn has_cuda(&self) -> bool {
        use ort::ep::ExecutionProvider;
        ort::ep::CUDA::is_available().unwrap_or(false)
    }
}

fn version_from_build_info(info: &str) -> Option<String> {
    // "ORT Build Info: git-branch=rel-1.31.1, git-commit-id=..., ..."
    let rest = &info[info.find("git-branch=rel-")? + "git-branch=rel-".len()..];
    let v: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    (!v.is_empty()).then_some(v)
}

fn version_from_file_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let v = name.strip_prefix("libonnxruntime.so.")?;
    (v.split('.').count() >= 2 && v.split('.').all(|p| p.parse::<u32>().is_ok()))
        .then(|| v.to_string())
}

/// What the process's onnxruntime search has come to.
enum State {
    /// Nothing loaded yet (no call, or every call so far found no loadable library): the next
    /// call searches again.
    Open,
    /// Loaded, with its environment, for the rest of the process.
    Loaded(&'static OnnxRuntime),
    /// A library loaded but its environment failed: final for the process.
    Broken { library: PathBuf, reason: String },
}

static STATE: Mutex<State> = Mutex::new(State::Open);

/// The process's onnxruntime, loaded on the first successful call following `search`.
///
/// onnxruntime allows one library and one environment per process: once a library has loaded,
/// later calls return the same runtime whatever their `search` (with a warning when they asked
/// for another path), or, when its environment could not be created, the same failure
/// ([`RuntimeError::EarlierFailure`]). A call that finds no loadable library loads nothing, so
/// a later call searches again with its own `search`.
pub fn runtime(search: &LibrarySearch) -> Result<&'static OnnxRuntime, RuntimeError> {
    let mut state = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    match &*state {
        State::Loaded(rt) => {
            if let Some(wanted) = &search.path
                && !same_file(wanted, &rt.library)
            {
                log::warn!(
                    "onnxruntime was already loaded from {} by an earlier call; the configured {} is not used (one onnxruntime per process)",
                    rt.library.display(),
                    wanted.display()
                );
            }
            return Ok(rt);
        }
        State::Broken { library, reason } => {
            return Err(RuntimeError::EarlierFailure {
                library: library.clone(),
                reason: reason.clone(),
                wanted: search.path.clone().filter(|p| !same_file(p, library)),
            });
        }
        State::Open => {}
    }
    match load(search) {
        Ok(rt) => {
            let rt: &'static OnnxRuntime = Box::leak(Box::new(rt));
            *state = State::Loaded(rt);
            Ok(rt)
        }
        Err(RuntimeError::Environment { library, reason }) => {
            *state = State::Broken {
                library: library.clone(),
                reason: reason.clone(),
            };
            Err(RuntimeError::Environment { library, reason })
        }
        Err(e) => Err(e),
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn load(search: &LibrarySearch) -> Result<OnnxRuntime, RuntimeError> {
    let mut tried: Vec<LoadAttempt> = Vec::new();
    let mut seen: Vec<PathBuf> = Vec::new();
    for stage in 0..STAGES {
        for candidate in stage_candidates(stage, search) {
            let key = candidate
                .path
                .canonicalize()
                .unwrap_or_else(|_| candidate.path.clone());
            if seen.contains(&key) {
                continue;
            }
            seen.push(key);
            match try_load(&candidate) {
                Ok(builder) => return start(builder, candidate, tried),
                Err(reason) => {
                    log::debug!(
                        "onnxruntime candidate {} ({}): {reason}",
                        candidate.path.display(),
                        candidate.source
                    );
                    if matches!(
                        candidate.source,
                        CandidateSource::Config | CandidateSource::EnvVar
                    ) {
                        log::warn!(
                            "cannot load onnxruntime from {} ({}): {reason}",
                            candidate.path.display(),
                            candidate.source
                        );
                    }
                    tried.push(LoadAttempt { candidate, reason });
                }
            }
        }
    }
    Err(RuntimeError::NotFound { tried })
}

fn try_load(candidate: &LibraryCandidate) -> Result<ort::environment::EnvironmentBuilder, String> {
    let path = &candidate.path;
    // A bare name goes to the dynamic loader; a path must exist and be a file.
    if path.components().count() > 1 || path.is_absolute() {
        match std::fs::metadata(path) {
            Err(e) => return Err(format!("{e}")),
            Ok(m) if !m.is_file() => return Err("not a file".into()),
            Ok(_) => {}
        }
    }
    ort::init_from(path).map_err(|e| describe_load_error(&e))
}

/// ort's message for a failed `dlopen` omits the loader's own reason; add it.
fn describe_load_error(e: &ort::LoadDynamicError) -> String {
    use std::error::Error as _;
    match e {
        ort::LoadDynamicError::Dlopen { error, .. } => match error.source() {
            Some(reason) => format!("{error}: {reason}"),
            None => error.to_string(),
        },
        other => other.to_string(),
    }
}

fn start(
    builder: ort::environment::EnvironmentBuilder,
    candidate: LibraryCandidate,
    skipped: Vec<LoadAttempt>,
) -> Result<OnnxRuntime, RuntimeError> {
    let environment = builder
        .with_name("gnntrack")
        .with_telemetry(false)
        .with_logger(Arc::new(forward_log))
        .build()
        .map_err(|e| RuntimeError::Environment {
            library: candidate.path.clone(),
            reason: e.to_string(),
        })?;
    environment.set_log_level(match log::max_level() {
        log::LevelFilter::Trace => LogLevel::Verbose,
        log::LevelFilter::Debug => LogLevel::Info,
        _ => LogLevel::Warning,
    });
    let rt = OnnxRuntime {
        environment,
        library: candidate.path,
        source: candidate.source,
        build_info: ort::info().to_string(),
        skipped,
    };
    log::info!(
        "onnxruntime {} loaded from {} ({})",
        rt.version().unwrap_or_else(|| "(unknown version)".into()),
        rt.library.display(),
        rt.source
    );
    Ok(rt)
}

/// onnxruntime's own messages, forwarded to the `log` crate under the target `onnxruntime`.
fn forward_log(level: LogLevel, category: &str, _id: &str, location: &str, message: &str) {
    let level = match level {
        LogLevel::Verbose => log::Level::Trace,
        LogLevel::Info => log::Level::Debug,
        LogLevel::Warning => log::Level::Warn,
        LogLevel::Error | LogLevel::Fatal => log::Level::Error,
    };
    log::log!(target: "onnxruntime", level, "[{category}] {message} ({location})");
}

const STAGES: usize = 7;

/// Candidates of one search stage, computed only when the earlier stages failed (asking
/// `python3` costs a process start).
fn stage_candidates(stage: usize, search: &LibrarySearch) -> Vec<LibraryCandidate> {
    let make = |path: PathBuf, source: CandidateSource| LibraryCandidate { path, source };
    match stage {
        0 => search
            .path
            .iter()
            .map(|p| make(p.clone(), CandidateSource::Config))
            .collect(),
        1 => match std::env::var_os(ENV_VAR) {
            Some(p) if !p.is_empty() => vec![make(PathBuf::from(p), CandidateSource::EnvVar)],
            _ => Vec::new(),
        },
        _ if !search.search => Vec::new(),
        2 => installed_folders()
            .iter()
            .flat_map(|dir| libraries_in_folder(dir))
            .map(|lib| make(lib, CandidateSource::Installed))
            .collect(),
        3 => virtual_env_roots()
            .into_iter()
            .flat_map(|(root, how)| {
                site_packages_of_prefix(&root)
                    .into_iter()
                    .flat_map(|sp| libraries_in_package(&sp.join("onnxruntime")))
                    .map(move |lib| make(lib, CandidateSource::Python(how.clone())))
            })
            .collect(),
        4 => python_package_dir()
            .map(|dir| {
                libraries_in_package(&dir)
                    .into_iter()
                    .map(|lib| make(lib, CandidateSource::Python("imported by python3".into())))
                    .collect()
            })
            .unwrap_or_default(),
        5 => usual_site_packages()
            .into_iter()
            .flat_map(|sp| libraries_in_package(&sp.join("onnxruntime")))
            .map(|lib| make(lib, CandidateSource::Python("site-packages".into())))
            .collect(),
        6 => SYSTEM_NAMES
            .iter()
            .map(|n| make(PathBuf::from(n), CandidateSource::System))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every candidate the search would try, in order, without loading anything (this does run
/// `python3` once when the search includes Python packages).
pub fn library_candidates(search: &LibrarySearch) -> Vec<LibraryCandidate> {
    let mut out: Vec<LibraryCandidate> = Vec::new();
    for stage in 0..STAGES {
        for c in stage_candidates(stage, search) {
            if !out.iter().any(|o| o.path == c.path) {
                out.push(c);
            }
        }
    }
    out
}

/// The folder of the file (shared library or program) that holds this code, read from
/// `/proc/self/maps`, and the `lib` folder beside it (`bin/../lib` of an installation).
pub(crate) fn installed_folders() -> Vec<PathBuf> {
    let here = installed_folders as *const () as usize;
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return Vec::new();
    };
    let image = maps.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (start, end) = fields.next()?.split_once('-')?;
        let (start, end) = (
            usize::from_str_radix(start, 16).ok()?,
            usize::from_str_radix(end, 16).ok()?,
        );
        let path = fields.nth(4)?;
        (start <= here && here < end && path.starts_with('/')).then(|| PathBuf::from(path))
    });
    let Some(dir) = image.as_deref().and_then(Path::parent) else {
        return Vec::new();
    };
    let mut folders = vec![dir.to_path_buf()];
    if let Some(lib) = dir.parent().map(|p| p.join("lib"))
        && lib != dir
        && lib.is_dir()
    {
        folders.push(lib);
    }
    folders
}

/// The onnxruntime library files (`libonnxruntime.so`, `libonnxruntime.so.1.31.1`, ...) in a
/// folder, newest version first.
fn libraries_in_folder(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut libs: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let key = if name == "libonnxruntime.so" {
                Vec::new()
            } else {
                name.strip_prefix("libonnxruntime.so.")?
                    .split('.')
                    .map(|p| p.parse::<u32>().ok())
                    .collect::<Option<Vec<u32>>>()?
            };
            Some((key, e.path()))
        })
        .collect();
    libs.sort_by(|a, b| b.0.cmp(&a.0));
    libs.into_iter().map(|(_, p)| p).collect()
}

/// Virtual environments to look in: `$VIRTUAL_ENV`, then `.venv` in the working directory, the
/// executable's directory and their parents (nearest first).
fn virtual_env_roots() -> Vec<(PathBuf, String)> {
    let mut roots = Vec::new();
    if let Some(v) = std::env::var_os("VIRTUAL_ENV").filter(|v| !v.is_empty()) {
        roots.push((PathBuf::from(v), "$VIRTUAL_ENV".to_string()));
    }
    let mut starts = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        starts.push(cwd);
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        starts.push(dir);
    }
    for start in starts {
        for dir in start.ancestors().take(5) {
            let venv = dir.join(".venv");
            if venv.is_dir() && !roots.iter().any(|(r, _)| *r == venv) {
                roots.push((venv, format!(".venv in {}", dir.display())));
            }
        }
    }
    roots
}

/// `<prefix>/lib/python3*/site-packages` (and `lib64`).
fn site_packages_of_prefix(prefix: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for lib in ["lib", "lib64"] {
        for py in python_dirs(&prefix.join(lib)) {
            let sp = py.join("site-packages");
            if sp.is_dir() {
                out.push(sp);
            }
        }
    }
    out
}

/// Sub-folders `python3*` of `dir`, newest version first.
fn python_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let version = name.strip_prefix("python3")?;
            let key = std::iter::once(3)
                .chain(
                    version
                        .trim_start_matches('.')
                        .split('.')
                        .filter_map(|p| p.parse().ok()),
                )
                .collect();
            Some((key, e.path()))
        })
        .collect();
    dirs.sort_by(|a, b| b.0.cmp(&a.0));
    dirs.into_iter().map(|(_, p)| p).collect()
}

/// The usual user and system site-packages folders.
fn usual_site_packages() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut roots: Vec<PathBuf> = Vec::new();
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        roots.push(PathBuf::from(home).join(".local/lib"));
    }
    roots.push(PathBuf::from("/usr/local/lib"));
    roots.push(PathBuf::from("/usr/lib"));
    for root in roots {
        for py in python_dirs(&root) {
            for sub in ["site-packages", "dist-packages"] {
                let sp = py.join(sub);
                if sp.is_dir() {
                    out.push(sp);
                }
            }
        }
    }
    out
}

/// The onnxruntime library files in a Python package folder (its `capi`), newest version first.
fn libraries_in_package(package: &Path) -> Vec<PathBuf> {
    libraries_in_folder(&package.join("capi"))
}

/// Where `python3` imports `onnxruntime` from, if it does.
fn python_package_dir() -> Option<PathBuf> {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + PYTHON_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                log::debug!("python3 took over {PYTHON_TIMEOUT:?} to import onnxruntime; skipped");
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    let dir = PathBuf::from(out.trim());
    dir.is_dir().then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_names_and_build_info() {
        assert_eq!(
            version_from_build_info(
                "ORT Build Info: git-branch=rel-1.31.1, git-commit-id=abc, build type=Release"
            ),
            Some("1.31.1".into())
        );
        assert_eq!(
            version_from_build_info("ORT Build Info: git-branch=main"),
            None
        );
        assert_eq!(
            version_from_file_name(Path::new("/x/libonnxruntime.so.1.31.1")),
            Some("1.31.1".into())
        );
        assert_eq!(version_from_file_name(Path::new("libonnxruntime.so")), None);
        assert_eq!(
            version_from_file_name(Path::new("libonnxruntime.so.1")),
            None
        );
    }

    #[test]
    fn package_libraries_sorted_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let capi = dir.path().join("onnxruntime/capi");
        std::fs::create_dir_all(&capi).unwrap();
        for name in [
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.31.1",
            "libonnxruntime_providers_shared.so",
            "libonnxruntime.so.1.31.1.bak",
        ] {
            std::fs::write(capi.join(name), b"").unwrap();
        }
        let libs = libraries_in_package(&dir.path().join("onnxruntime"));
        let names: Vec<_> = libs
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["libonnxruntime.so.1.31.1", "libonnxruntime.so.1.9.0"]
        );
    }

    #[test]
    fn python_dirs_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["python3.9", "python3.11", "python3", "perl5"] {
            std::fs::create_dir(dir.path().join(name)).unwrap();
        }
        let names: Vec<_> = python_dirs(dir.path())
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["python3.11", "python3.9", "python3"]);
    }
}
