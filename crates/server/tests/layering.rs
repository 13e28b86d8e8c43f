//! Keeps the services independent of the HTTP layer (issue 15, step 1).
//!
//! The services (`state`, `daily`, `ingest_writer`, ...) once imported
//! storage types from `routes/`, which closed an import cycle between the
//! application and its HTTP handlers. Only the router in `lib.rs` and the
//! OpenAPI document may name `routes::`; everything else must depend the
//! other way round, so the services can later move into their own crate.

use std::path::{Path, PathBuf};

/// Files allowed to name `routes::`: the router and the OpenAPI document.
const ALLOWED: &[&str] = &["lib.rs", "openapi.rs"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_service_imports_from_routes() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 10, "found only {files:?} under {src:?}");
    let mut offenders = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        if rel.starts_with("routes") || ALLOWED.iter().any(|a| rel == Path::new(a)) {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            // A doc comment pointing a reader at a handler is no dependency.
            if line.trim_start().starts_with("//") {
                continue;
            }
            if line.contains("routes::") {
                offenders.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "modules outside routes/ import from the HTTP layer; move the type to its \
         service module instead:\n{}",
        offenders.join("\n")
    );
}

/// Handlers call `App`'s use cases; none reaches past them to the database
/// or the application's parts, so every transaction and lock stays in
/// `crates/app`, where its invariants are tested.
#[test]
fn handlers_reach_the_database_only_through_app() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut offenders = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            if line.contains(".database()") || line.contains(".internals()") {
                let rel = file.strip_prefix(&src).expect("under src");
                offenders.push(format!("{}:{}: {}", rel.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "the HTTP crate reaches past App; add a use case to crates/app instead:\n{}",
        offenders.join("\n")
    );
}
