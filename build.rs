//! Generates `stackless.h` with cbindgen and arranges it in sections (into
//! OUT_DIR; the Makefile copies it to `include/`), compiles the C-variadic
//! functions of `src/capi/varargs.c`, and exports them from the shared
//! library.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Marks a definition in varargs.c as an export of the library.
const EXPORT_MARK: &str = "SLP_EXPORT ";

/// The sections of the header, in the order of the Stackless C-API, then
/// the extensions, then the object model. Each is a banner and the source
/// files (a path ending in `/`: every file under it) whose exported items
/// it holds, in cbindgen's order (constants, types, objects, functions),
/// followed by the part of `src/capi/handwritten.h` under the same banner.
/// An export defined in a file that no section lists stops the build: a
/// new file of exports gets a row here.
const SECTIONS: &[(&str, &[&str])] = &[
    (
        "Tasklets",
        &["src/capi/tasklet.rs", "src/runtime/tasklet.rs"],
    ),
    (
        "Channels",
        &["src/capi/channel.rs", "src/runtime/channel.rs"],
    ),
    (
        "The stackless module",
        &[
            "src/capi/module.rs",
            "src/runtime/stack.rs",
            "src/runtime/watchdog.rs",
        ],
    ),
    (
        "Debugging and monitoring",
        &["src/capi/callbacks.rs", "src/runtime/callbacks.rs"],
    ),
    ("Interface functions", &["src/capi/interface.rs"]),
    ("Extensions: time", &["src/capi/time.rs"]),
    (
        "Extensions: file descriptors",
        &["src/capi/io.rs", "src/runtime/fds.rs"],
    ),
    (
        "Object model",
        &[
            "src/object/",
            "src/errors.rs",
            "src/capi/object.rs",
            "src/capi/errors.rs",
        ],
    ),
];

/// The section whose constants and types open the header, under a banner
/// of their own, because every other section uses them; its objects and
/// functions stay in its place, last.
const SHARED_TYPES: &str = "Object model";

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
    let version_macros = format!(
        "\n#define STACKLESS_VERSION_MAJOR {}\n#define STACKLESS_VERSION_MINOR {}\n#define STACKLESS_VERSION_PATCH {}\n",
        version("MAJOR"),
        version("MINOR"),
        version("PATCH")
    );
    config.after_includes = Some(version_macros.clone());
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/lib.rs"))
        .generate()
        .expect("cbindgen failed")
        .write(&mut generated);
    let generated = String::from_utf8(generated).unwrap();
    let (preamble, body) = generated
        .split_once(&version_macros)
        .expect("cbindgen's output has the version macros after the includes");
    let handwritten = std::fs::read_to_string(root.join("src/capi/handwritten.h")).unwrap();
    let arranged = arrange(body, &handwritten, &definitions(&root.join("src")));
    std::fs::write(header, format!("{preamble}{version_macros}{arranged}")).unwrap();
}

/// What a banner that opens a section has before and after its title.
const BANNER: (&str, &str) = ("/* ===== ", " ===== */");

/// What cbindgen wrote after the preamble, in sections: the constants and
/// types of [`SHARED_TYPES`] first, then every section in its turn (those
/// with nothing in them left out), all in one `extern "C"` block.
/// `definitions` names the source file of every exported item.
fn arrange(body: &str, handwritten: &str, definitions: &HashMap<String, Vec<PathBuf>>) -> String {
    let mut parts = handwritten_parts(handwritten);
    // Per section: the constants and types, then the objects and functions.
    let mut types = vec![Vec::new(); SECTIONS.len()];
    let mut declarations = vec![Vec::new(); SECTIONS.len()];
    let mut in_declarations = false;
    let mut guard_end = None;
    for block in blocks(body) {
        if block.starts_with("#ifdef __cplusplus") {
            // cbindgen's extern "C" block holds the objects and functions.
            in_declarations = block.contains("extern \"C\" {");
        } else if block.starts_with("#endif") {
            guard_end = Some(block);
        } else {
            let name = declared_name(&block);
            let section = section_of(name, definitions);
            if in_declarations {
                declarations[section].push(block);
            } else {
                types[section].push(block);
            }
        }
    }
    let shared = SECTIONS
        .iter()
        .position(|&(title, _)| title == SHARED_TYPES)
        .unwrap();
    let mut out = String::from("\n#ifdef __cplusplus\nextern \"C\" {\n#endif  // __cplusplus\n");
    let mut section = |title: &str, items: Vec<String>, part: Option<&str>| {
        if items.is_empty() && part.is_none() {
            return;
        }
        out.push_str(&format!("\n{}{title}{}\n", BANNER.0, BANNER.1));
        for item in items {
            out.push_str(&format!("\n{item}\n"));
        }
        if let Some(part) = part {
            out.push_str(&format!("\n{part}\n"));
        }
    };
    section(
        &format!("{SHARED_TYPES}: types"),
        std::mem::take(&mut types[shared]),
        None,
    );
    for (i, &(title, _)) in SECTIONS.iter().enumerate() {
        let mut items = std::mem::take(&mut types[i]);
        items.append(&mut declarations[i]);
        section(title, items, parts.remove(title));
    }
    if let Some(title) = parts.keys().next() {
        panic!("src/capi/handwritten.h: no section is called {title:?} (see build.rs)");
    }
    let guard_end = guard_end.expect("cbindgen's output ends with the include guard");
    format!(
        "{out}\n#ifdef __cplusplus\n}}  // extern \"C\"\n#endif  // __cplusplus\n\n{guard_end}\n"
    )
}

/// The items of cbindgen's output: runs of lines between blank lines.
fn blocks(text: &str) -> Vec<String> {
    let mut blocks = vec![String::new()];
    for line in text.lines() {
        let last = blocks.last_mut().unwrap();
        if !line.is_empty() {
            if !last.is_empty() {
                last.push('\n');
            }
            last.push_str(line);
        } else if !last.is_empty() {
            blocks.push(String::new());
        }
    }
    blocks.retain(|b| !b.is_empty());
    blocks
}

/// The name an item of cbindgen's output declares, read from its last line:
/// a macro, a typedef (of a function pointer too), a struct, an object or
/// a function.
fn declared_name(block: &str) -> &str {
    let last = block.lines().last().unwrap().trim();
    let name = if let Some(rest) = last.strip_prefix("#define ") {
        first_ident(rest)
    } else if let (true, Some(i)) = (last.starts_with("typedef"), last.find("(*")) {
        first_ident(&last[i + 2..])
    } else if let Some(i) = last.find('(') {
        last_ident(&last[..i])
    } else {
        last_ident(last.trim_end_matches(';'))
    };
    assert!(!name.is_empty(), "no name in cbindgen's item:\n{block}");
    name
}

/// The identifier `s` starts with (empty if none).
fn first_ident(s: &str) -> &str {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap()
}

/// The identifier `s` ends with (empty if none).
fn last_ident(s: &str) -> &str {
    s.rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap()
}

/// The index in [`SECTIONS`] of the section that holds `name`.
fn section_of(name: &str, definitions: &HashMap<String, Vec<PathBuf>>) -> usize {
    let files = definitions.get(name).map_or(&[][..], Vec::as_slice);
    let [file] = files else {
        panic!("{name}: defined in {files:?}, not in exactly one source file");
    };
    let file = file.to_str().unwrap();
    SECTIONS
        .iter()
        .position(|(_, paths)| {
            paths
                .iter()
                .any(|p| file == *p || (p.ends_with('/') && file.starts_with(p)))
        })
        .unwrap_or_else(|| panic!("{name}: {file} is in no section of build.rs's SECTIONS"))
}

/// Every public item the sources under `src` define (what cbindgen may
/// export), by name: the files that define it, relative to the crate.
fn definitions(src: &Path) -> HashMap<String, Vec<PathBuf>> {
    const KINDS: [&str; 6] = [
        "pub extern \"C\" fn ",
        "pub static mut ",
        "pub static ",
        "pub const ",
        "pub struct ",
        "pub type ",
    ];
    let mut found: HashMap<String, Vec<PathBuf>> = HashMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src.parent().unwrap()).unwrap();
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let line = line.trim_start();
                let Some(rest) = KINDS.iter().find_map(|k| line.strip_prefix(k)) else {
                    continue;
                };
                found
                    .entry(first_ident(rest).to_string())
                    .or_default()
                    .push(relative.to_path_buf());
            }
        }
    }
    found
}

/// The parts of `handwritten.h` by the title of the banner they follow.
fn handwritten_parts(text: &str) -> HashMap<&str, &str> {
    let mut parts = HashMap::new();
    let mut rest = text;
    let mut title: Option<&str> = None;
    loop {
        let next = rest.find(BANNER.0);
        let (part, after) = rest.split_at(next.unwrap_or(rest.len()));
        if let Some(t) = title {
            assert!(
                parts.insert(t, part.trim()).is_none(),
                "handwritten.h: two banners {t:?}"
            );
        }
        if next.is_none() {
            return parts;
        }
        let line_end = after.find('\n').unwrap_or(after.len());
        title = Some(
            after[..line_end]
                .strip_prefix(BANNER.0)
                .and_then(|l| l.strip_suffix(BANNER.1))
                .expect("handwritten.h: a banner is /* ===== Title ===== */"),
        );
        rest = &after[line_end..];
    }
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
