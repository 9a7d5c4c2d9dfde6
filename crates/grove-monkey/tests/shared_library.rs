//! The dynamic case: libcurl, loaded from Debian's shared object
//! (`libcurl.so.4`), calls `poll`, `connect`, `recv` and `send` through its
//! own PLT. Those reach grove-monkey's hooks because the linker put the
//! executable's definitions of symbols that a linked shared library also
//! defines (libc's) into its dynamic symbol table, where the dynamic linker
//! looks first: no linker flag needed. Then `curl_easy_perform` in 100
//! greenlets on one thread overlaps.

mod util;

use std::time::{Duration, Instant};

const DELAY: Duration = Duration::from_millis(200);
const GREENLETS: usize = 100;

fn libcurl_is_a_shared_object() -> bool {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .any(|l| l.contains("libcurl"))
}

/// The file that defines `name` for the whole process (what a shared
/// library calling `name` gets).
fn definer(name: &std::ffi::CStr) -> String {
    // SAFETY: dlsym/dladdr with a valid name and an out-parameter.
    unsafe {
        let addr = libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr());
        assert!(!addr.is_null());
        let mut info: libc::Dl_info = std::mem::zeroed();
        assert_ne!(libc::dladdr(addr, &mut info), 0);
        std::ffi::CStr::from_ptr(info.dli_fname)
            .to_string_lossy()
            .into_owned()
    }
}

#[test]
fn shared_libraries_resolve_libc_names_to_the_hooks() {
    let exe = std::env::current_exe().unwrap();
    let exe = exe.file_name().unwrap().to_string_lossy();
    for name in [
        c"poll",
        c"connect",
        c"recv",
        c"send",
        c"read",
        c"nanosleep",
        c"getaddrinfo",
    ] {
        let file = definer(name);
        assert!(
            file.ends_with(&*exe),
            "{name:?} resolves to {file}, not to the hooks in {exe}"
        );
    }
}

#[test]
fn libcurl_easy_perform_from_100_greenlets() {
    util::patch();
    curl::init();
    assert!(
        libcurl_is_a_shared_object(),
        "libcurl is not loaded as a shared object: the curl crate built its own copy"
    );
    let addr = util::slow_http_server("curl", DELAY);
    let start = Instant::now();
    let greenlets: Vec<_> = (0..GREENLETS)
        .map(|i| {
            grove::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || -> Result<String, curl::Error> {
                    let mut easy = curl::easy::Easy::new();
                    easy.url(&format!("http://{addr}/{i}"))?;
                    let mut body = Vec::new();
                    {
                        let mut transfer = easy.transfer();
                        transfer.write_function(|data| {
                            body.extend_from_slice(data);
                            Ok(data.len())
                        })?;
                        transfer.perform()?;
                    }
                    Ok(String::from_utf8(body).unwrap())
                })
                .unwrap()
        })
        .collect();
    for (i, g) in greenlets.into_iter().enumerate() {
        assert_eq!(g.join().unwrap().unwrap(), format!("curl /{i}"));
    }
    let overlap = util::overlap(GREENLETS, DELAY, start.elapsed());
    eprintln!("libcurl: {GREENLETS} transfers of {DELAY:?} overlapped {overlap:.0}x");
    assert!(
        overlap > 10.0,
        "libcurl transfers did not overlap: {overlap:.1}"
    );
}
