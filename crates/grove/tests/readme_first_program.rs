//! README's "Add grove to your project", followed as a newcomer would: a
//! fresh crate beside a clone of grove, README's `[dependencies]` lines
//! verbatim, README's first program as `src/main.rs`, `cargo run`, and
//! README's printed output compared with what it really prints. The
//! program, the dependency lines and the output are read from README.md
//! itself, so the instructions cannot drift from what works.
//!
//! The scratch crate builds offline against the workspace's lock file and
//! target directory, so it compiles grove and little else.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The first fenced block of language `lang` after the line containing
/// `marker`, without its fences.
fn fenced_after(text: &str, marker: &str, lang: &str) -> String {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("README.md has no {marker:?}"));
    let rest = &text[start..];
    let open = format!("```{lang}\n");
    let body = rest
        .find(&open)
        .map(|i| &rest[i + open.len()..])
        .unwrap_or_else(|| panic!("no ```{lang} block after {marker:?}"));
    let end = body
        .find("\n```")
        .unwrap_or_else(|| panic!("unclosed ```{lang} block after {marker:?}"));
    body[..end + 1].to_string()
}

/// The repository's root (this crate is `crates/grove`).
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A scratch directory laid out as README assumes: `grove/` (the clone,
/// here a symlink to this repository) beside `app/` (the new project).
/// Outside any workspace, so cargo treats `app` as a project of its own.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("grove-readme-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("app/src")).unwrap();
        std::os::unix::fs::symlink(repo_root(), dir.join("grove")).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn readme_first_program_builds_against_a_path_dependency_and_prints_what_readme_says() {
    let root = repo_root();
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let dependencies = fenced_after(&readme, "## Add grove to your project", "toml");
    assert!(
        dependencies.starts_with("[dependencies]\n") && dependencies.contains("grove-rt = "),
        "README's dependency block changed shape:\n{dependencies}"
    );
    let program = fenced_after(&readme, "<!-- first-program:", "rust");
    let expected = fenced_after(&readme, "<!-- first-program-output -->", "text");

    let scratch = Scratch::new();
    let app = scratch.0.join("app");
    fs::write(
        app.join("Cargo.toml"),
        format!(
            "[package]\nname = \"first-program\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             {dependencies}"
        ),
    )
    .unwrap();
    fs::write(app.join("src/main.rs"), &program).unwrap();
    // The workspace's resolution: the same versions, already downloaded
    // (offline) and mostly already built (the shared target directory).
    fs::copy(root.join("Cargo.lock"), app.join("Cargo.lock")).unwrap();
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().unwrap();

    let out = Command::new(env!("CARGO"))
        .args(["run", "-q", "--offline"])
        .current_dir(&app)
        .env("CARGO_TARGET_DIR", target)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "README's first program failed ({}):\n{}\n--- Cargo.toml's dependencies\n{dependencies}\n--- src/main.rs\n{program}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        expected,
        "README's first program printed other than README says"
    );
}

#[test]
fn fenced_blocks_are_found_after_their_marker() {
    let text = "```rust\nno\n```\n<!-- m -->\n```text\nnot this\n```\n```rust\nfn main() {}\n```\n";
    assert_eq!(fenced_after(text, "<!-- m -->", "rust"), "fn main() {}\n");
    assert_eq!(fenced_after(text, "<!-- m -->", "text"), "not this\n");
}
