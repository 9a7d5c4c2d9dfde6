//! The methods both servers share, and those both builders share: written
//! once, as macros that take each method's docs from the type they are
//! expanded in (the docs differ by example, the bodies do not).

/// `start` (passed through: each server starts its own loop), then
/// `serve_forever`, `stop`, `is_running`, `is_stopped` and `handler_count`.
macro_rules! server_controls {
    (
        $start:item
        $(#[$serve_forever:meta])* serve_forever;
        $(#[$stop:meta])* stop;
        $(#[$is_running:meta])* is_running;
        $(#[$is_stopped:meta])* is_stopped;
        $(#[$handler_count:meta])* handler_count;
    ) => {
        $start
        $(#[$serve_forever])*
        #[track_caller]
        pub fn serve_forever(&self) {
            self.inner.core.serve_forever(|| self.start());
        }
        $(#[$stop])*
        #[track_caller]
        pub fn stop(&self, timeout: Duration) {
            self.inner.core.stop_idle(&self.inner.idle, timeout);
        }
        $(#[$is_running])*
        pub fn is_running(&self) -> bool {
            self.inner.core.state() == State::Running
        }
        $(#[$is_stopped])*
        pub fn is_stopped(&self) -> bool {
            self.inner.core.state() == State::Stopped
        }
        $(#[$handler_count])*
        pub fn handler_count(&self) -> usize {
            self.inner.core.handler_count()
        }
    };
}

/// The builders' socket options (`reuse:`) and handler placement
/// (`handlers:`).
macro_rules! builder_options {
    (
        reuse:
        $(#[$reuse_address:meta])* reuse_address;
        $(#[$reuse_port:meta])* reuse_port;
    ) => {
        $(#[$reuse_address])*
        pub fn reuse_address(mut self, on: bool) -> Self {
            self.reuse.address = on;
            self
        }
        $(#[$reuse_port])*
        pub fn reuse_port(mut self, on: bool) -> Self {
            self.reuse.port = on;
            self
        }
    };
    (
        handlers:
        $(#[$pool_size:meta])* pool_size;
        $(#[$pool:meta])* pool;
        $(#[$group:meta])* group;
    ) => {
        $(#[$pool_size])*
        #[track_caller]
        pub fn pool_size(self, size: usize) -> Self {
            self.pool(Pool::new(size))
        }
        $(#[$pool])*
        pub fn pool(mut self, pool: Pool) -> Self {
            self.handlers = Handlers::Pool(pool);
            self
        }
        $(#[$group])*
        pub fn group(mut self, group: Group) -> Self {
            self.handlers = Handlers::Group(group);
            self
        }
    };
}

pub(super) use {builder_options, server_controls};
