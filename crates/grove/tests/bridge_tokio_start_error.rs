//! A tokio side runtime that cannot start is a clear error, not a hang.
//! (Its own test binary: the runtime is started once per process.)

#[test]
fn a_runtime_that_cannot_start_is_a_clear_error() {
    // SAFETY: this test binary has one test and sets the variable before
    // anything (the runtime's threads included) reads the environment.
    unsafe { std::env::set_var("GROVE_TOKIO_THREADS", "none") };
    let err = grove::tokio::try_run(async { 1 }).unwrap_err();
    assert!(err.to_string().contains("GROVE_TOKIO_THREADS"), "{err}");
    // The same error again: no retry, no hang.
    assert_eq!(grove::tokio::runtime().unwrap_err(), err);
    let g = grove::spawn(|| grove::tokio::run(async { 1 }));
    match g.join() {
        Err(grove::GreenletError::Panicked(p)) => {
            let msg = p.downcast_ref::<String>().cloned().unwrap_or_default();
            assert!(
                msg.contains("cannot start the shared tokio runtime"),
                "{msg}"
            );
        }
        other => panic!("expected a panic, got {:?}", other.map(|_| ())),
    }
}
