//! sqlx (tokio-bound) against a real PostgreSQL, from greenlets through
//! `grove::tokio::run`. The test starts its own server with `initdb` and
//! `pg_ctl` in a temporary directory, as the `postgres` user when run as
//! root (PostgreSQL refuses to run as root).

use std::path::PathBuf;
use std::process::Command;

/// A throwaway PostgreSQL cluster, stopped and removed on drop.
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_root: bool,
}

impl Postgres {
    fn start() -> Option<Postgres> {
        let bin = find_bin()?;
        let as_root = running_as_root();
        let dir = std::env::temp_dir().join(format!("grove-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if as_root {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(ok.success(), "chown of the cluster directory failed");
        }
        let port = free_port();
        let pg = Postgres {
            bin,
            dir,
            port,
            as_root,
        };
        let data = pg.dir.join("data");
        pg.run(
            "initdb",
            &["-A", "trust", "-U", "grove", "-D", data.to_str().unwrap()],
        );
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1",
            pg.dir.display()
        );
        let log = pg.dir.join("log");
        pg.run(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        Some(pg)
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let path = self.bin.join(tool);
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let out = cmd.args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{tool} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn url(&self) -> String {
        format!("postgres://grove@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let path = self.bin.join("pg_ctl");
        let mut cmd = if self.as_root {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let _ = cmd
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian keeps the server tools under /usr/lib/postgresql/<version>/bin.
fn find_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn sqlx_queries_postgres_from_greenlets() {
    let Some(pg) = Postgres::start() else {
        eprintln!(
            "SKIPPED sqlx_queries_postgres_from_greenlets: PostgreSQL's server tools are not \
             installed (Debian package `postgresql`; .ci/run installs it)"
        );
        return;
    };
    let url = pg.url();
    let pool = grove::tokio::run(async move {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
    })
    .expect("connect to the test's PostgreSQL");
    let setup = pool.clone();
    grove::tokio::run(async move {
        sqlx::query("CREATE TABLE seen (n BIGINT PRIMARY KEY)")
            .execute(&setup)
            .await
    })
    .unwrap();
    let queries: Vec<_> = (0..200i64)
        .map(|i| {
            let pool = pool.clone();
            grove::spawn(move || {
                grove::tokio::run(async move {
                    sqlx::query("INSERT INTO seen (n) VALUES ($1)")
                        .bind(i)
                        .execute(&pool)
                        .await?;
                    sqlx::query_scalar::<_, i64>("SELECT n * 2 FROM seen WHERE n = $1")
                        .bind(i)
                        .fetch_one(&pool)
                        .await
                })
            })
        })
        .collect();
    for (i, g) in queries.into_iter().enumerate() {
        assert_eq!(g.join().unwrap().unwrap(), 2 * i as i64);
    }
    let count: i64 = grove::tokio::run(async move {
        let n = sqlx::query_scalar("SELECT count(*) FROM seen")
            .fetch_one(&pool)
            .await;
        pool.close().await;
        n
    })
    .unwrap();
    assert_eq!(count, 200);
    drop(pg);
}
