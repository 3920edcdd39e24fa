//! Generates `stackless.h` with cbindgen (into OUT_DIR; the Makefile copies
//! it to `include/`), compiles the C-variadic functions of
//! `src/capi/varargs.c`, and exports them from the shared library.

use std::path::{Path, PathBuf};

/// Marks a definition in varargs.c as an export of the library.
const EXPORT_MARK: &str = "SLP_EXPORT ";

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    let header = out.join("stackless.h");
    generate_header(&root, &header);

    let varargs = root.join("src/capi/varargs.c");
    cc::Build::new()
        .file(&varargs)
        .include(&out)
        .flag("-std=c11")
        .warnings(true)
        .extra_warnings(true)
        .warnings_into_errors(true)
        .compile("stackless_varargs");
    export_varargs(&varargs, &out);
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libstackless.so.0");
}

fn generate_header(root: &Path, header: &Path) {
    let mut config = cbindgen::Config::from_file(root.join("cbindgen.toml")).unwrap();
    let version = |part: &str| std::env::var(format!("CARGO_PKG_VERSION_{part}")).unwrap();
    config.after_includes = Some(format!(
        "\n#define STACKLESS_VERSION_MAJOR {}\n#define STACKLESS_VERSION_MINOR {}\n#define STACKLESS_VERSION_PATCH {}\n",
        version("MAJOR"),
        version("MINOR"),
        version("PATCH")
    ));
    config.trailer = Some(std::fs::read_to_string(root.join("src/capi/trailer.h")).unwrap());
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/lib.rs"))
        .generate()
        .expect("cbindgen failed")
        .write_to_file(header);
}

/// Rust's cdylib exports only Rust symbols: a second version script makes
/// the C definitions global, and `-u` keeps them from being dropped.
fn export_varargs(varargs: &Path, out: &Path) {
    let source = std::fs::read_to_string(varargs).unwrap();
    let names: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix(EXPORT_MARK))
        .map(|l| {
            let before_paren = &l[..l.find('(').unwrap()];
            before_paren
                .rsplit(|c: char| !(c.is_alphanumeric() || c == '_'))
                .next()
                .unwrap()
        })
        .collect();
    let script = out.join("varargs.map");
    let globals: String = names.iter().map(|n| format!("{n}; ")).collect();
    std::fs::write(&script, format!("{{ global: {globals}}};\n")).unwrap();
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
        script.display()
    );
    for n in names {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-u,{n}");
    }
}
