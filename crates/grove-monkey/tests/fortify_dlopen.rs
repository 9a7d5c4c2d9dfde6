//! A C library built the way Debian builds them (`-O2
//! -D_FORTIFY_SOURCE=2`, so `read` and `recv` compile to `__read_chk` and
//! `__recv_chk`) and loaded at run time with `dlopen`: its blocking calls
//! from greenlets are caught too. The test compiles the library with the
//! system C compiler (`cc`, which every Rust build on Linux already needs).

mod util;

use std::ffi::CString;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::time::Duration;

const SOURCE: &str = r#"
#include <unistd.h>
#include <poll.h>
#include <sys/socket.h>
int fort_read(int fd, int n) { char buf[64]; return (int)read(fd, buf, n); }
int fort_recv(int fd, int n) { char buf[64]; return (int)recv(fd, buf, n, 0); }
int fort_poll(int fd, int ms) { struct pollfd p[1]; p[0].fd = fd; p[0].events = POLLIN; return poll(p, 1, ms); }
"#;

type Call = unsafe extern "C" fn(libc::c_int, libc::c_int) -> libc::c_int;

struct Library {
    read: Call,
    recv: Call,
    poll: Call,
}

fn build_and_load() -> Library {
    let dir = std::env::temp_dir().join(format!("grove-monkey-fortify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (src, lib) = (dir.join("fort.c"), dir.join("libfort.so"));
    std::fs::write(&src, SOURCE).unwrap();
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-O2", "-D_FORTIFY_SOURCE=2", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .expect("this test needs a C compiler (cc)");
    assert!(status.success());
    let symbols = String::from_utf8(
        std::process::Command::new("nm")
            .arg("-D")
            .arg(&lib)
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        symbols.contains("__read_chk") && symbols.contains("__recv_chk"),
        "{symbols}"
    );
    let path = CString::new(lib.to_str().unwrap()).unwrap();
    // SAFETY: loading a library we just built, whose functions have the
    // `Call` signature.
    unsafe {
        let handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
        assert!(!handle.is_null(), "dlopen failed");
        let get = |name: &std::ffi::CStr| {
            let f = libc::dlsym(handle, name.as_ptr());
            assert!(!f.is_null());
            std::mem::transmute::<*mut libc::c_void, Call>(f)
        };
        let library = Library {
            read: get(c"fort_read"),
            recv: get(c"fort_recv"),
            poll: get(c"fort_poll"),
        };
        let _ = std::fs::remove_dir_all(&dir);
        library
    }
}

#[test]
fn fortified_reads_and_poll_of_a_dlopened_library_park() {
    util::patch();
    let lib = build_and_load();
    let pairs: Vec<_> = (0..3).map(|_| util::tcp_pair()).collect();
    let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
    let t = ticks.clone();
    let ticker = grove::spawn(move || loop {
        grove::sleep(Duration::from_millis(1));
        t.set(t.get() + 1);
    });
    let calls = [(lib.read, 32), (lib.recv, 32), (lib.poll, 5000)];
    let waiters: Vec<_> = calls
        .iter()
        .zip(&pairs)
        .map(|(&(call, arg), (client, _))| {
            let fd = client.as_raw_fd();
            // SAFETY: the library's functions read at most `arg` <= 64
            // bytes into their own buffer, or poll one fd.
            grove::spawn(move || unsafe { call(fd, arg) })
        })
        .collect();
    // The hub keeps running other greenlets while all three calls wait for
    // data: a call that blocked the thread would stop the ticker. Then only
    // this watchdog's late write would free it, and the check below fails.
    let late: Vec<_> = pairs.iter().map(|(_, s)| s.try_clone().unwrap()).collect();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        for mut server in late {
            let _ = server.write_all(b"hello");
        }
    });
    while ticks.get() <= 20 {
        grove::sleep(Duration::from_millis(1));
    }
    assert!(
        waiters.iter().all(|g| !g.is_dead()),
        "every call is still waiting for its data after {} ticks",
        ticks.get()
    );
    for (_, server) in &pairs {
        (&*server).write_all(b"hello").unwrap();
    }
    let results: Vec<_> = waiters.into_iter().map(|g| g.join().unwrap()).collect();
    ticker.kill();
    assert_eq!(results, [5, 5, 1]);
}
