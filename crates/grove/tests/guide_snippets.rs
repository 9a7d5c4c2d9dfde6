//! docs/GUIDE.md's code excerpts are the example programs' own lines: every
//! ```rust block that opens with `// <path>.rs (excerpt)` must appear, line
//! for line, in that file. The examples themselves are built and run by the
//! `examples_*` tests, so an excerpt here is code that compiles and works.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `(source path, excerpt lines)` for every excerpt block in `markdown`.
fn excerpts(markdown: &str) -> Vec<(String, Vec<&str>)> {
    let mut found = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if line != "```rust" {
            continue;
        }
        let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
        let source = block
            .first()
            .and_then(|first| first.strip_prefix("// "))
            .and_then(|rest| rest.strip_suffix(" (excerpt)"));
        if let Some(source) = source {
            found.push((source.to_owned(), block[1..].to_vec()));
        }
    }
    found
}

/// Whether `needle` occurs as consecutive lines of `haystack`.
fn contains_lines(haystack: &str, needle: &[&str]) -> bool {
    let lines: Vec<&str> = haystack.lines().collect();
    !needle.is_empty() && lines.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn every_guide_excerpt_is_in_its_example() {
    let guide = std::fs::read_to_string(repo_root().join("docs/GUIDE.md")).unwrap();
    let found = excerpts(&guide);
    assert!(found.len() >= 3, "excerpts in GUIDE.md: {found:?}");
    for (source, lines) in found {
        let text = std::fs::read_to_string(repo_root().join(&source))
            .unwrap_or_else(|e| panic!("GUIDE.md quotes {source}: {e}"));
        assert!(
            contains_lines(&text, &lines),
            "GUIDE.md's excerpt of {source} is no longer in it:\n{}",
            lines.join("\n")
        );
    }
}

#[test]
fn excerpts_are_told_apart_from_other_blocks() {
    let md = "```rust\nfn a() {}\n```\n```rust\n// x.rs (excerpt)\n    b();\n    c();\n```\n";
    assert_eq!(
        excerpts(md),
        vec![("x.rs".to_owned(), vec!["    b();", "    c();"])]
    );
    assert!(contains_lines(
        "a\n    b();\n    c();\nd",
        &["    b();", "    c();"]
    ));
    assert!(!contains_lines(
        "    c();\n    b();",
        &["    b();", "    c();"]
    ));
}
