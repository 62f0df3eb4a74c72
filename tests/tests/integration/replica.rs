//! A real PostgreSQL streaming replica as a `replica_of` pool (issue 18, item 6).
//! The test makes a PostgreSQL cluster of its own (initdb, on free ports, as the
//! `postgres` user) and a replica of it (`pg_basebackup -R`), routes the users' and
//! applications' reads to the replica, pauses replay (`pg_wal_replay_pause()`) and
//! shows: token reads never go there; a security decision (a password, whether a
//! user is active, whether a client is registered) reads the primary while the
//! replica lags; a listing (nothing rests on it) is served by the replica, lag and
//! all. Both servers are stopped by their data directories (`pg_ctl stop`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tessera_tests::{TestApp, TestClient, free_port, in_ci, spawn_app_with};

use crate::oauth::{assert_error, introspect, string, token};

/// PostgreSQL's server programs (Debian: /usr/lib/postgresql/VERSION/bin).
pub(crate) fn server_programs() -> Option<PathBuf> {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|versions| {
            versions
                .filter_map(Result::ok)
                .map(|version| version.path().join("bin"))
                .find(|bin| bin.join("initdb").is_file() && bin.join("pg_basebackup").is_file())
        });
    if found.is_none() {
        assert!(
            !in_ci(),
            "the replica test needs PostgreSQL's server programs (apt-get install postgresql)"
        );
        eprintln!("skipped: no /usr/lib/postgresql/*/bin/initdb");
    }
    found
}

/// Runs `program ARGS…` as the `postgres` user (PostgreSQL refuses to run as root).
pub(crate) fn as_postgres(program: &Path, args: &[&str]) {
    let output = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        output.status.success(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A primary and its streaming replica, each on a free port; both stopped on drop
/// (the replica here, the primary by its own drop).
struct StreamingPair {
    primary: PrivatePostgres,
    replica_port: u16,
}

impl StreamingPair {
    fn start(bin: PathBuf) -> Self {
        let pair = Self {
            primary: PrivatePostgres::start(bin),
            replica_port: free_port(),
        };
        as_postgres(
            &pair.primary.bin.join("pg_basebackup"),
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pair.primary.port.to_string(),
                "-U",
                "postgres",
                "-D",
                &pair.replica_dir(),
                "-R",
                "-X",
                "stream",
            ],
        );
        pg_ctl_start(
            &pair.primary.bin,
            &pair.primary.root,
            &pair.replica_dir(),
            pair.replica_port,
        );
        pair
    }

    fn replica_dir(&self) -> String {
        self.primary.root.join("replica").display().to_string()
    }

    fn url(&self, port: u16, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{port}/{database}")
    }

    async fn execute(&self, port: u16, database: &str, sql: &str) {
        use sea_orm::ConnectionTrait;
        let connection = sea_orm::Database::connect(self.url(port, database))
            .await
            .unwrap();
        connection.execute_unprepared(sql).await.unwrap();
        connection.close().await.unwrap();
    }

    /// Waits (10 s at most) until the replica has replayed everything the primary
    /// has written.
    async fn until_caught_up(&self) {
        use sea_orm::ConnectionTrait;
        let primary = sea_orm::Database::connect(self.url(self.primary.port, "postgres"))
            .await
            .unwrap();
        let replica = sea_orm::Database::connect(self.url(self.replica_port, "postgres"))
            .await
            .unwrap();
        let lsn = |row: Option<sea_orm::QueryResult>| -> String {
            row.unwrap().try_get_by_index::<String>(0).unwrap()
        };
        let written = lsn(primary
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Postgres,
                "SELECT pg_current_wal_lsn()::text",
            ))
            .await
            .unwrap());
        let started = Instant::now();
        loop {
            let caught_up = replica
                .query_one_raw(sea_orm::Statement::from_string(
                    sea_orm::DatabaseBackend::Postgres,
                    format!("SELECT (pg_last_wal_replay_lsn() >= '{written}'::pg_lsn)::text"),
                ))
                .await
                .unwrap();
            if lsn(caught_up) == "true" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the replica lags"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        primary.close().await.unwrap();
        replica.close().await.unwrap();
    }
}

impl Drop for StreamingPair {
    fn drop(&mut self) {
        pg_ctl_stop(&self.primary.bin, &self.replica_dir());
    }
}

/// `pg_ctl stop -m immediate` of the cluster in `dir` (a test's cleanup: errors ignored).
fn pg_ctl_stop(bin: &Path, dir: &str) {
    let _ = std::process::Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(bin.join("pg_ctl"))
        .args(["-D", dir, "-m", "immediate", "stop"])
        .output();
}

/// `pg_ctl start` of the cluster in `dir` on `port`, its socket in `root`.
fn pg_ctl_start(bin: &Path, root: &Path, dir: &str, port: u16) {
    as_postgres(
        &bin.join("pg_ctl"),
        &[
            "-D",
            dir,
            "-l",
            &format!("{dir}.log"),
            "-w",
            "-o",
            &format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} \
                 -c fsync=off",
                root.display()
            ),
            "start",
        ],
    );
}

/// A PostgreSQL server of a test's own on a free port (stopped on drop), which the
/// test may kill and start again. `fsync=off`: a killed process loses nothing the
/// kernel holds; only a machine crash would.
pub(crate) struct PrivatePostgres {
    bin: PathBuf,
    root: PathBuf,
    /// Its port.
    pub port: u16,
}

impl PrivatePostgres {
    pub(crate) fn start(bin: PathBuf) -> Self {
        let root = PathBuf::from(format!(
            "/tmp/tessera_postgres_{}",
            uuid::Uuid::new_v4().simple()
        ));
        as_postgres(
            Path::new("/bin/mkdir"),
            &["-m", "700", root.to_str().unwrap()],
        );
        let server = Self {
            bin,
            root,
            port: free_port(),
        };
        as_postgres(
            &server.bin.join("initdb"),
            &[
                "-D",
                &server.data(),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ],
        );
        server.start_again();
        server
    }

    fn data(&self) -> String {
        self.root.join("data").display().to_string()
    }

    /// Its `postgres` database's URL.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server (after a kill: crash recovery from the WAL).
    pub(crate) fn start_again(&self) {
        pg_ctl_start(&self.bin, &self.root, &self.data(), self.port);
    }

    /// SIGKILLs the postmaster and every backend: a crash, not a shutdown.
    pub(crate) fn kill(&self) {
        let pid_file = std::fs::read_to_string(self.root.join("data/postmaster.pid")).unwrap();
        let pid = pid_file.lines().next().unwrap().trim().to_owned();
        // Stopped first, so it neither restarts its backends nor leaves them orphaned.
        let run = |args: &[&str]| {
            std::process::Command::new(args[0])
                .args(&args[1..])
                .output()
        };
        run(&["kill", "-STOP", &pid]).unwrap();
        let children = run(&["pgrep", "-P", &pid]).unwrap().stdout;
        let mut processes: Vec<String> = String::from_utf8(children)
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        run(&["pkill", "-9", "-P", &pid]).unwrap();
        run(&["kill", "-9", &pid]).unwrap();
        processes.push(pid);
        // Gone (and their shared memory released) before anyone starts the server again.
        let started = Instant::now();
        while processes
            .iter()
            .any(|pid| Path::new(&format!("/proc/{pid}")).exists())
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "postgres survived SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        pg_ctl_stop(&self.bin, &self.data());
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn password_login(
    app: &TestApp,
    client: &TestClient,
    password: &str,
) -> tessera_tests::Answer {
    token(
        app,
        "acme",
        client,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", password),
        ],
    )
    .await
}

/// The tenant's applications as the management pages list them (a read nothing
/// rests on: the replica's).
async fn listed(app: &TestApp) -> Vec<String> {
    let tenant = app.tenant("acme").await;
    tessera::store::applications::list(app.state.data(&tenant))
        .await
        .unwrap()
        .into_iter()
        .map(|application| application.client_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_streaming_replica_decides_nothing() {
    let Some(bin) = server_programs() else {
        return;
    };
    let pair = StreamingPair::start(bin);
    pair.execute(pair.primary.port, "postgres", "CREATE DATABASE tessera")
        .await;
    pair.until_caught_up().await;
    let toml = format!(
        "migrate_on_start = true\nclient_cache_ttl_secs = 0\n\
         [databases.default]\nurl = \"{}\"\n\
         [databases.replica]\nurl = \"{}\"\nreplica_of = \"default\"\n\
         [[router.policies]]\nkind = \"replicas\"\ngroups = [\"users\", \"applications\"]\n\
         pools = [\"replica\"]\n\
         [tenants.acme]\n",
        pair.url(pair.primary.port, "tessera"),
        pair.url(pair.replica_port, "tessera"),
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let client = app
        .client("acme", "web", true, "password,client_credentials", "", "")
        .await;
    let user_id = app.user("acme", "alice", "first password").await;
    pair.until_caught_up().await;
    assert_eq!(
        listed(&app).await,
        vec!["web".to_owned()],
        "the replica serves it"
    );

    // Replay paused: from now on the replica lags behind every write.
    pair.execute(
        pair.replica_port,
        "postgres",
        "SELECT pg_wal_replay_pause()",
    )
    .await;

    // A client registered after the pause authenticates (read on the primary)…
    let late = app
        .client("acme", "late", true, "client_credentials", "", "")
        .await;
    let issued = token(&app, "acme", &late, &[("grant_type", "client_credentials")]).await;
    assert_eq!(issued.status, 200, "{}", issued.text);
    // …and its token, written after the pause, is live: token reads never go to
    // the replica.
    let access_token = string(&issued, "access_token");
    assert_eq!(
        introspect(&app, "acme", &late, &access_token).await["active"],
        true
    );
    // …while the listing, served by the replica, does not show it yet (lag
    // tolerated where nothing rests on it).
    assert_eq!(listed(&app).await, vec!["web".to_owned()]);

    // A new password and a deactivation on the primary: decided there.
    let answer = password_login(&app, &client, "first password").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    pair.execute(
        pair.primary.port,
        "tessera",
        &format!(
            "UPDATE users SET password_hash = '{}' WHERE id = {user_id}",
            tessera::secrets::hash_password("second password").unwrap()
        ),
    )
    .await;
    assert_error(
        &password_login(&app, &client, "first password").await,
        400,
        "invalid_grant",
    );
    let answer = password_login(&app, &client, "second password").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    pair.execute(
        pair.primary.port,
        "tessera",
        &format!("UPDATE users SET is_active = false WHERE id = {user_id}"),
    )
    .await;
    assert_error(
        &password_login(&app, &client, "second password").await,
        400,
        "invalid_grant",
    );
    // A client whose secret was replaced on the primary is refused with the old one
    // although the replica still has it.
    pair.execute(
        pair.primary.port,
        "tessera",
        &format!(
            "UPDATE applications SET client_secret = '{}' WHERE client_id = 'web'",
            tessera::secrets::hash_client_secret("another secret").unwrap()
        ),
    )
    .await;
    assert_error(
        &token(
            &app,
            "acme",
            &client,
            &[("grant_type", "client_credentials")],
        )
        .await,
        401,
        "invalid_client",
    );

    // Replay resumed: the listing catches up.
    pair.execute(
        pair.replica_port,
        "postgres",
        "SELECT pg_wal_replay_resume()",
    )
    .await;
    pair.until_caught_up().await;
    assert_eq!(
        listed(&app).await,
        vec!["late".to_owned(), "web".to_owned()]
    );
    app.stop().await;
    drop(pair);
}
