//! Checks of pointer arguments: each refusal names the argument.

use std::ffi::{CStr, c_char};

use super::status::Failure;
use crate::error::ErrorKind;

/// The refusal of a NULL argument.
pub(crate) fn null(name: &str) -> Failure {
    Failure::new(
        ErrorKind::NullArgument,
        format!("argument `{name}` is NULL"),
    )
}

/// A shared reference from a handle or struct pointer.
///
/// # Safety
/// `ptr` is NULL or points to a live `T`.
pub(crate) unsafe fn arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: per the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| null(name))
}

/// A mutable reference from a handle.
///
/// # Safety
/// `ptr` is NULL or points to a live `T` that nobody else uses during the call.
pub(crate) unsafe fn arg_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: per the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| null(name))
}

/// A UTF-8 string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Failure> {
    if ptr.is_null() {
        return Err(null(name));
    }
    // SAFETY: per the caller's contract.
    unsafe { CStr::from_ptr(ptr) }.to_str().map_err(|e| {
        Failure::new(
            ErrorKind::InvalidArgument,
            format!("argument `{name}` is not valid UTF-8: {e}"),
        )
    })
}

/// A column of `n` values.
///
/// # Safety
/// `ptr` is NULL or points to `n` readable values of `T`.
pub(crate) unsafe fn column<'a, T>(
    ptr: *const T,
    n: usize,
    name: &str,
) -> Result<&'a [T], Failure> {
    if ptr.is_null() {
        return Err(null(&format!("hits->{name}")));
    }
    // SAFETY: non-NULL and `n` values long per the caller's contract; n is at most u32::MAX,
    // so n * size_of::<T>() fits in isize on 64-bit targets.
    unsafe { aligned(ptr, n, &format!("column `hits->{name}`")) }
}

/// An array argument of `n` values: NULL only when `n` is 0 (then empty).
///
/// # Safety
/// `ptr` is NULL or points to `n` readable values of `T`.
pub(crate) unsafe fn array<'a, T>(ptr: *const T, n: usize, name: &str) -> Result<&'a [T], Failure> {
    if ptr.is_null() {
        if n == 0 {
            return Ok(&[]);
        }
        return Err(Failure::new(
            ErrorKind::NullArgument,
            format!("argument `{name}` is NULL but should hold {n} values"),
        ));
    }
    if n.checked_mul(std::mem::size_of::<T>())
        .is_none_or(|bytes| bytes > isize::MAX as usize)
    {
        return Err(Failure::new(
            ErrorKind::InvalidArgument,
            format!("argument `{name}`: {n} values do not fit in memory"),
        ));
    }
    // SAFETY: non-NULL and `n` values long per the caller's contract, n * size_of::<T>()
    // checked to fit in isize.
    unsafe { aligned(ptr, n, &format!("array `{name}`")) }
}

/// `n` values at a non-NULL `ptr`, refused when misaligned (`what` names it).
///
/// # Safety
/// `ptr` is non-NULL and points to `n` readable values of `T`, `n * size_of::<T>()` fits in
/// isize.
unsafe fn aligned<'a, T>(ptr: *const T, n: usize, what: &str) -> Result<&'a [T], Failure> {
    if !ptr.is_aligned() {
        return Err(Failure::new(
            ErrorKind::InvalidArgument,
            format!(
                "{what} at {ptr:p} is not aligned to {} bytes",
                std::mem::align_of::<T>()
            ),
        ));
    }
    // SAFETY: per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// The start of a slice, or NULL when it is empty (never a dangling pointer).
pub(crate) fn non_dangling<T>(values: &[T]) -> *const T {
    if values.is_empty() {
        std::ptr::null()
    } else {
        values.as_ptr()
    }
}

/// Writes an output value when the pointer is not NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn put<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: per the caller's contract.
        unsafe { out.write(value) };
    }
}
