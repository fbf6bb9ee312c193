//! Logging: the library's log records go to the host's callback when one is set, else to
//! stderr.

use std::cell::Cell;
use std::ffi::{CString, c_char, c_void};
use std::sync::{Once, OnceLock, PoisonError, RwLock};

use super::guard;
use super::status::{Failure, gnntrack_status};
use crate::error::ErrorKind;

/// Severity of a log message, as passed to a `gnntrack_log_fn`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum gnntrack_log_level {
    /// Nothing is logged (only meaningful as a maximum level).
    Off = 0,
    /// Errors.
    Error = 1,
    /// Warnings (for example a model trained with other graph parameters).
    Warn = 2,
    /// Information (onnxruntime found, tracker ready).
    Info = 3,
    /// Debugging detail.
    Debug = 4,
    /// Finest detail.
    Trace = 5,
}

/// A log sink of the host: called with the level, the message (NUL-terminated UTF-8, valid
/// only during the call) and the `user_data` given to `gnntrack_set_log_callback`. It may be
/// called from any thread, also concurrently, and must not unwind (throw) into the library.
pub type gnntrack_log_fn = Option<
    unsafe extern "C" fn(level: gnntrack_log_level, message: *const c_char, user_data: *mut c_void),
>;

/// Where log records go: the host's callback when one is set, else env_logger on stderr.
struct Logger {
    stderr: env_logger::Logger,
    sink: RwLock<Option<Sink>>,
}

#[derive(Clone, Copy)]
struct Sink {
    callback: unsafe extern "C" fn(gnntrack_log_level, *const c_char, *mut c_void),
    user_data: usize,
    level: log::LevelFilter,
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

static LOGGER_INIT: Once = Once::new();

thread_local! {
    /// This thread is inside the host's log callback.
    static IN_CALLBACK: Cell<bool> = const { Cell::new(false) };
}

/// Whether this thread is inside the host's log callback.
fn in_callback() -> bool {
    IN_CALLBACK.try_with(Cell::get).unwrap_or(false)
}

/// The stderr filter: `GNNTRACK_LOG`, else `RUST_LOG`, else warnings and errors.
fn stderr_logger() -> env_logger::Logger {
    let filter = std::env::var("GNNTRACK_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "warn".to_string());
    env_logger::Builder::new()
        .parse_filters(&filter)
        .target(env_logger::Target::Stderr)
        .build()
}

/// Installs the library's logger once per process (unless the process already has one).
pub(crate) fn install_logger() {
    LOGGER_INIT.call_once(|| {
        let logger = LOGGER.get_or_init(|| Logger {
            stderr: stderr_logger(),
            sink: RwLock::new(None),
        });
        if log::set_logger(logger).is_ok() {
            log::set_max_level(logger.stderr.filter());
        }
    });
}

fn level_of(level: log::Level) -> gnntrack_log_level {
    match level {
        log::Level::Error => gnntrack_log_level::Error,
        log::Level::Warn => gnntrack_log_level::Warn,
        log::Level::Info => gnntrack_log_level::Info,
        log::Level::Debug => gnntrack_log_level::Debug,
        log::Level::Trace => gnntrack_log_level::Trace,
    }
}

impl log::Log for Logger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        match *self.sink.read().unwrap_or_else(PoisonError::into_inner) {
            Some(sink) => metadata.level() <= sink.level,
            None => self.stderr.enabled(metadata),
        }
    }

    fn log(&self, record: &log::Record) {
        if !in_callback() {
            // The read lock is held during the callback, so that once
            // `gnntrack_set_log_callback` returns the old callback is no longer running.
            let sink = self.sink.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(sink) = *sink {
                if record.level() <= sink.level {
                    let text = format!("{}", record.args()).replace('\0', "\\0");
                    let message = CString::new(text).unwrap_or_default();
                    let _ = IN_CALLBACK.try_with(|c| c.set(true));
                    // SAFETY: the host gave this callback and user data for this purpose.
                    unsafe {
                        (sink.callback)(
                            level_of(record.level()),
                            message.as_ptr(),
                            sink.user_data as *mut c_void,
                        )
                    };
                    let _ = IN_CALLBACK.try_with(|c| c.set(false));
                }
                return;
            }
        }
        // No callback, or a message logged from inside the callback: stderr.
        if self.stderr.matches(record) {
            self.stderr.log(record);
        }
    }

    fn flush(&self) {
        self.stderr.flush();
    }
}

/// Routes the library's log messages to `callback` (with `user_data`) instead of stderr,
/// for messages up to `max_level` (a `gnntrack_log_level`, `GNNTRACK_LOG_LEVEL_OFF` to drop
/// everything). `callback` = NULL restores the default: stderr, filtered by the environment
/// variable `GNNTRACK_LOG` (else `RUST_LOG`; env_logger syntax), warnings and errors when unset.
///
/// When this function returns, the previous callback is no longer running and will not be
/// called again. It must not be called from inside the callback (`GNNTRACK_STATUS_INVALID_ARGUMENT`);
/// messages logged while the callback runs on the same thread go to stderr. Fails with
/// `GNNTRACK_STATUS_INVALID_ARGUMENT` when another logging system of the process (a Rust host)
/// was installed first.
#[unsafe(no_mangle)]
pub extern "C" fn gnntrack_set_log_callback(
    callback: gnntrack_log_fn,
    user_data: *mut c_void,
    max_level: i32,
) -> gnntrack_status {
    guard(|| {
        if in_callback() {
            return Err(Failure::new(
                ErrorKind::InvalidArgument,
                "gnntrack_set_log_callback called from inside the log callback",
            ));
        }
        let level = match max_level {
            0 => log::LevelFilter::Off,
            1 => log::LevelFilter::Error,
            2 => log::LevelFilter::Warn,
            3 => log::LevelFilter::Info,
            4 => log::LevelFilter::Debug,
            5 => log::LevelFilter::Trace,
            other => {
                return Err(Failure::new(
                    ErrorKind::InvalidArgument,
                    format!("argument `max_level` = {other}: expected 0 (off) to 5 (trace)"),
                ));
            }
        };
        let logger = LOGGER
            .get()
            .ok_or_else(|| Failure::new(ErrorKind::InvalidArgument, "the logger is not ready"))?;
        let ours = std::ptr::addr_eq(
            log::logger() as *const dyn log::Log,
            logger as *const Logger,
        );
        if !ours {
            return Err(Failure::new(
                ErrorKind::InvalidArgument,
                "another logger is installed in this process; gnntrack logs through it",
            ));
        }
        let mut sink = logger.sink.write().unwrap_or_else(PoisonError::into_inner);
        *sink = callback.map(|callback| Sink {
            callback,
            user_data: user_data as usize,
            level,
        });
        log::set_max_level(match *sink {
            Some(s) => s.level,
            None => logger.stderr.filter(),
        });
        Ok(())
    })
}
