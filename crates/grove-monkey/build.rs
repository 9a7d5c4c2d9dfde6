//! grove-monkey defines libc's symbols; cargo's `links` key needs a build
//! script. This one also exports the hooks from this package's own test
//! binaries' dynamic symbol table, so that shared libraries loaded by them
//! (libcurl in `tests/shared_library.rs`) resolve `poll`, `connect`, ... to
//! the hooks: see the crate docs, "Which calls are caught".

fn main() {
    println!("cargo::rustc-link-arg-tests=-Wl,--export-dynamic");
    println!("cargo::rerun-if-changed=build.rs");
}
