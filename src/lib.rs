//! libstackless: the Stackless-Python C-API (tasklets, channels, the
//! cooperative scheduler) as a standalone runtime for C and C++ programs.
//!
//! Layout (see DESIGN.md): `object` is the CPython-compatible object model,
//! `errors` the error indicator, `capi` the exported functions, which call
//! into the core and never hold logic of their own. `object` comes first:
//! cbindgen emits the type definitions in the order it meets them.

// The exported names are CPython's and Stackless's (`PyExc_TypeError`,
// `Py_TPFLAGS_READY`, `_Py_NoneStruct`), not Rust's.
#![allow(non_upper_case_globals, non_snake_case, non_camel_case_types)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

pub mod object;

pub mod capi;
pub mod errors;
pub mod runtime;
