//! grove-monkey defines libc's symbols; cargo's `links` key (which keeps
//! two copies of the crate out of one binary) needs a build script. It has
//! nothing else to do: see the crate docs, "Which calls are caught", for
//! why a binary needs no linker flag for its shared libraries' calls.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
}
