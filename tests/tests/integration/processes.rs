//! Several `tessera serve` processes of the release binary (what operators deploy)
//! on one PostgreSQL and Redis, changed by `tessera` commands while they run
//! (issue 18, item 7). The figures each test prints go in the notes.
//!
//! The binary is `target/release/tessera` (or `TESSERA_BIN`); `.ci/run` builds it
//! before the tests. Outside CI a missing binary skips these tests, saying so.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_tests::{
    TEST_KEK, TestDatabase, TestRedis, basic_header, free_port, in_ci, poll_until, redis_server,
    spawn_listening,
};
use tokio::process::{Child, Command};

use crate::observability::sample;

/// The release binary, or `None` (skipped, said on stderr) outside CI.
fn release_binary() -> Option<PathBuf> {
    let path = std::env::var_os("TESSERA_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/tessera"),
        PathBuf::from,
    );
    if path.is_file() {
        return Some(path);
    }
    assert!(
        !in_ci(),
        "{} is missing: build it first (cargo build --release -p tessera; .ci/run does, \
         before the tests)",
        path.display()
    );
    eprintln!(
        "skipped: {} is not built (cargo build --release -p tessera)",
        path.display()
    );
    None
}

/// A deployment: a configuration file shared by every node and command.
struct Deployment {
    binary: PathBuf,
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Deployment {
    fn new(binary: PathBuf, db_url: &str, redis_url: &str, prefix: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tessera.toml");
        std::fs::write(
            &config,
            format!(
                "key_encryption_key = \"{TEST_KEK}\"\nlisten = \"127.0.0.1:0\"\n\
                 client_cache_ttl_secs = 3600\nkey_cache_ttl_secs = 600\n\
                 [log]\nlevel = \"warn\"\n\
                 [oauth]\nkey_publish_ahead_secs = 1000\nfailure_window_secs = 86400\n\
                 [databases.default]\nurl = \"{db_url}\"\n\
                 [redis]\nurl = \"{redis_url}\"\nkey_prefix = \"{prefix}\"\n"
            ),
        )
        .unwrap();
        Self {
            binary,
            dir,
            config,
        }
    }

    /// Runs `tessera ARGS…` with `stdin`; its standard output (fails the test on a
    /// non-zero exit).
    async fn command(&self, args: &[&str], stdin: &str) -> String {
        use tokio::io::AsyncWriteExt;
        let mut child = Command::new(&self.binary)
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env_remove("TESSERA_CONFIG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let output = child.wait_with_output().await.unwrap();
        assert!(
            output.status.success(),
            "tessera {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Starts `tessera serve`; the process and its address.
    async fn node(&self, name: &str) -> Node {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.err"))).unwrap();
        let mut command = Command::new(&self.binary);
        command
            .arg("--config")
            .arg(&self.config)
            .arg("serve")
            .env_remove("TESSERA_CONFIG")
            .stderr(log);
        let (child, address) = spawn_listening(command).await;
        let node = Node {
            name: name.to_owned(),
            child,
            address,
        };
        node.until_listening().await;
        node
    }
}

struct Node {
    name: String,
    child: Child,
    address: String,
}

impl Node {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    async fn readiness(&self) -> Value {
        reqwest::get(self.url("/readyz"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits (10 s at most) until the node hears change notices.
    async fn until_listening(&self) {
        poll_until(
            &format!("{} listens to change notices", self.name),
            Duration::from_secs(10),
            Duration::from_millis(20),
            || async {
                match reqwest::get(self.url("/readyz")).await {
                    Ok(answer) => answer
                        .json::<Value>()
                        .await
                        .is_ok_and(|body| body["change_notices"] == "listening"),
                    Err(_) => false,
                }
            },
        )
        .await;
    }
}

/// `POST path` with HTTP Basic client authentication: status and body.
async fn post(
    http: &reqwest::Client,
    url: &str,
    client: (&str, &str),
    form: &[(&str, &str)],
) -> Result<(u16, Value), reqwest::Error> {
    let answer = http
        .post(url)
        .header("authorization", basic_header(client.0, client.1))
        .form(form)
        .send()
        .await?;
    let status = answer.status().as_u16();
    let body = answer.json().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// Sorted durations: min, p50, p90, p99, max.
fn distribution(mut times: Vec<Duration>) -> String {
    times.sort();
    let at = |share: f64| times[((times.len() - 1) as f64 * share) as usize];
    format!(
        "n {}, min {:?}, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        times.len(),
        times[0],
        at(0.5),
        at(0.9),
        at(0.99),
        times[times.len() - 1]
    )
}

/// A confidential client made by `tessera app create`: (client_id, secret).
async fn create_client(deployment: &Deployment, client_id: &str, grants: &str) -> (String, String) {
    let secret = format!("secret-of-{client_id}-0123456789");
    deployment
        .command(
            &[
                "app",
                "create",
                "--tenant",
                "default",
                "--name",
                client_id,
                "--client-type",
                "confidential",
                "--grant-types",
                grants,
                "--client-id",
                client_id,
                "--client-secret-stdin",
            ],
            &format!("{secret}\n"),
        )
        .await;
    (client_id.to_owned(), secret)
}

/// Three release nodes: changes made by the CLI reach all three (distribution over
/// 20 changes), 1,000 revocations on one node are never answered `active: true` on
/// another, and wrong passwords spread over two and over three nodes are refused
/// after the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_release_nodes_agree() {
    let Some(binary) = release_binary() else {
        return;
    };
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let Some(db) = TestDatabase::create(tessera_tests::Backend::Postgres).await else {
        return;
    };
    let deployment = Deployment::new(binary, &db.url, &redis.url, &redis.prefix);
    deployment.command(&["migrate"], "").await;
    let nodes = vec![
        deployment.node("a").await,
        deployment.node("b").await,
        deployment.node("c").await,
    ];
    let http = reqwest::Client::new();
    let (client_id, secret) = create_client(&deployment, "svc", "client_credentials").await;
    let client = (client_id.as_str(), secret.as_str());
    let token_on = |node: &Node| node.url("/t/default/token");
    for node in &nodes {
        let (status, body) = post(
            &http,
            &token_on(node),
            client,
            &[("grant_type", "client_credentials")],
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{}: {body}", node.name);
    }

    // 20 changes by the CLI (grant type removed, then restored): each node honours
    // each change; the time from the command's exit to the node's answer.
    let mut propagation = Vec::new();
    for round in 0..20 {
        let (grants, expected) = if round % 2 == 0 {
            ("authorization_code", 400)
        } else {
            ("client_credentials", 200)
        };
        deployment
            .command(
                &[
                    "app",
                    "update",
                    "svc",
                    "--tenant",
                    "default",
                    "--grant-types",
                    grants,
                    "--redirect-uris",
                    "https://app.example/cb",
                ],
                "",
            )
            .await;
        let changed = Instant::now();
        for node in &nodes {
            loop {
                let (status, _) = post(
                    &http,
                    &token_on(node),
                    client,
                    &[("grant_type", "client_credentials")],
                )
                .await
                .unwrap();
                if status == expected {
                    propagation.push(changed.elapsed());
                    break;
                }
                assert!(
                    changed.elapsed() < Duration::from_secs(10),
                    "round {round}: {} still answers {status}",
                    node.name
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }
    eprintln!(
        "three release nodes, a change by the CLI honoured after: {}",
        distribution(propagation.clone())
    );
    // Every change honoured within 10 s (far below the caches' 600 s or more: it was
    // announced), the median within the 200 ms target and nine in ten within 1 s;
    // each figure also holds up to three sequential token requests on a machine
    // shared with the other tests, so the rest of the tail is printed, not asserted.
    let mut sorted = propagation.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    assert!(median < Duration::from_millis(200), "{propagation:?}");
    let p90 = sorted[sorted.len() * 9 / 10];
    assert!(p90 < Duration::from_secs(1), "{propagation:?}");

    // 1,000 revocations on one node, each introspected at once on another whose token
    // cache held the token.
    let mut stale = 0;
    let mut revocation_times = Vec::new();
    for round in 0..1000 {
        let issuer = &nodes[round % 3];
        let revoker = &nodes[(round + 1) % 3];
        let checker = &nodes[(round + 2) % 3];
        let (status, body) = post(
            &http,
            &token_on(issuer),
            client,
            &[("grant_type", "client_credentials")],
        )
        .await
        .unwrap();
        assert_eq!(status, 200, "{body}");
        let token = body["access_token"].as_str().unwrap().to_owned();
        // The checker answers it from its token cache first (the first two requests
        // read the database and store it; `token_cache_ttl_secs` is 30 s).
        let (introspect_url, form) = (
            checker.url("/t/default/introspect"),
            [("token", token.as_str())],
        );
        let introspect = || post(&http, &introspect_url, client, &form);
        for _ in 0..3 {
            let (status, described) = introspect().await.unwrap();
            assert_eq!((status, &described["active"]), (200, &Value::Bool(true)));
        }
        let started = Instant::now();
        let (status, _) = post(
            &http,
            &revoker.url("/t/default/revoke"),
            client,
            &[("token", &token)],
        )
        .await
        .unwrap();
        assert_eq!(status, 200);
        revocation_times.push(started.elapsed());
        let (status, described) = introspect().await.unwrap();
        assert_eq!(status, 200);
        if described["active"] != false {
            stale += 1;
        }
    }
    eprintln!(
        "1,000 revocations on one release node, introspected on another: {stale} stale; revoke {}",
        distribution(revocation_times)
    );
    assert_eq!(stale, 0);
    let mut token_cache_hits = 0.0;
    for node in &nodes {
        let metrics = http
            .get(node.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        token_cache_hits += sample(&metrics, "tessera_cache_hits{cache=\"access_tokens\"}");
    }
    assert!(
        token_cache_hits >= 1000.0,
        "each token was answered from the checker's cache before its revocation \
         ({token_cache_hits} hits)"
    );

    // Wrong passwords: over three nodes, then over two, limit 10 per username.
    deployment
        .command(
            &[
                "user",
                "create",
                "--tenant",
                "default",
                "--username",
                "alice",
                "--password-stdin",
            ],
            "correct horse battery staple\n",
        )
        .await;
    deployment
        .command(
            &[
                "user",
                "create",
                "--tenant",
                "default",
                "--username",
                "bob",
                "--password-stdin",
            ],
            "correct horse battery staple\n",
        )
        .await;
    let (password_client, password_secret) = create_client(&deployment, "web", "password").await;
    let web = (password_client.as_str(), password_secret.as_str());
    for (username, spread) in [("alice", 3), ("bob", 2)] {
        let mut failures = 0;
        let mut refused_at = None;
        for attempt in 0..40 {
            let node = &nodes[attempt % spread];
            let (status, _) = post(
                &http,
                &token_on(node),
                web,
                &[
                    ("grant_type", "password"),
                    ("username", username),
                    ("password", "wrong"),
                ],
            )
            .await
            .unwrap();
            match status {
                400 => failures += 1,
                429 => {
                    refused_at = Some(attempt);
                    break;
                }
                other => panic!("attempt {attempt}: {other}"),
            }
        }
        eprintln!(
            "wrong passwords over {spread} release nodes: {failures} failures, then 429 (limit 10; \
             before the shared counters {spread} × 10)"
        );
        assert_eq!(failures, 10, "over {spread} nodes");
        assert_eq!(refused_at, Some(10));
    }
    for mut node in nodes {
        node.child.start_kill().unwrap();
        let _ = node.child.wait().await;
    }
}

/// Faults under load on two release nodes: Redis (one started by this test) is
/// killed and restarted, then a node is killed. No request gets an error answer
/// while Redis is gone, a change made meanwhile is honoured at once, and every
/// token a node acknowledged (200) is live on the surviving node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_nodes_survive_redis_and_a_node_dying() {
    let Some(binary) = release_binary() else {
        return;
    };
    let Some(db) = TestDatabase::create(tessera_tests::Backend::Postgres).await else {
        return;
    };
    // A Redis of this test's own (killed below), on a free port.
    let port = free_port();
    let port_text = port.to_string();
    let start_redis = || redis_server(&["--port", &port_text]);
    let mut redis = start_redis();
    let redis_url = format!("redis://127.0.0.1:{port}");
    wait_for_redis(&redis_url).await;
    let deployment = Deployment::new(binary, &db.url, &redis_url, "tessera_faults");
    deployment.command(&["migrate"], "").await;
    let mut a = deployment.node("a").await;
    let b = deployment.node("b").await;
    let (client_id, secret) = create_client(&deployment, "svc", "client_credentials").await;
    let (other_id, other_secret) = create_client(&deployment, "other", "client_credentials").await;
    let http = reqwest::Client::new();

    // Load: four workers take turns between the nodes and keep every token a node
    // acknowledged; any answer but 200 is an error answer.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..4 {
        let urls = [a.url("/t/default/token"), b.url("/t/default/token")];
        let (http, client_id, secret, stop) = (
            http.clone(),
            client_id.clone(),
            secret.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut error_answers = Vec::new();
            let mut unreachable = 0;
            let mut turn = worker;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                turn += 1;
                match post(
                    &http,
                    &urls[turn % 2],
                    (&client_id, &secret),
                    &[("grant_type", "client_credentials")],
                )
                .await
                {
                    Ok((200, body)) => {
                        acknowledged.push(body["access_token"].as_str().unwrap().to_owned())
                    }
                    Ok((status, body)) => error_answers.push(format!("{status} {body}")),
                    Err(_) => unreachable += 1,
                }
            }
            (acknowledged, error_answers, unreachable)
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Redis killed.
    redis.start_kill().unwrap();
    let _ = redis.wait().await;
    let killed = Instant::now();
    for node in [&a, &b] {
        poll_until(
            &format!("{} stops trusting its caches", node.name),
            Duration::from_secs(20),
            Duration::from_millis(10),
            || async {
                let body = node.readiness().await;
                body["change_notices"] != "listening"
                    && body["failure_limits"] == "this node's only"
            },
        )
        .await;
    }
    eprintln!(
        "redis killed: both release nodes read through after {:?}",
        killed.elapsed()
    );
    // A change by the CLI while Redis is gone (its notice cannot be published):
    // honoured at once, read from the database.
    deployment
        .command(
            &[
                "app",
                "update",
                "other",
                "--tenant",
                "default",
                "--grant-types",
                "authorization_code",
                "--redirect-uris",
                "https://app.example/cb",
            ],
            "",
        )
        .await;
    for node in [&a, &b] {
        let (status, body) = post(
            &http,
            &node.url("/t/default/token"),
            (&other_id, &other_secret),
            &[("grant_type", "client_credentials")],
        )
        .await
        .unwrap();
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("unauthorized_client")),
            "{}",
            node.name
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Redis back on the same port: both nodes listen again.
    let restarted = Instant::now();
    let mut redis = start_redis();
    for node in [&a, &b] {
        node.until_listening().await;
    }
    eprintln!(
        "redis restarted: both release nodes listen again after {:?}",
        restarted.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Node A killed mid-load.
    a.child.start_kill().unwrap();
    let _ = a.child.wait().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    let mut error_answers = Vec::new();
    let mut unreachable = 0;
    for worker in workers {
        let (tokens, errors, lost) = worker.await.unwrap();
        acknowledged.extend(tokens);
        error_answers.extend(errors);
        unreachable += lost;
    }
    assert!(
        error_answers.is_empty(),
        "error answers under the faults: {error_answers:?}"
    );
    let mut missing = 0;
    for token in &acknowledged {
        let (status, described) = post(
            &http,
            &b.url("/t/default/introspect"),
            (&client_id, &secret),
            &[("token", token)],
        )
        .await
        .unwrap();
        assert_eq!(status, 200);
        if described["active"] != true {
            missing += 1;
        }
    }
    eprintln!(
        "faults under load: {} tokens acknowledged, {missing} not live on the surviving node, \
         {unreachable} requests to the killed node unanswered, 0 error answers",
        acknowledged.len()
    );
    assert_eq!(missing, 0);
    assert!(acknowledged.len() > 100, "{}", acknowledged.len());
    let mut b = b;
    b.child.start_kill().unwrap();
    let _ = b.child.wait().await;
    redis.start_kill().unwrap();
    let _ = redis.wait().await;
}

/// Waits (20 s at most: a loaded CI machine) until the Redis at `url` answers PING.
async fn wait_for_redis(url: &str) {
    let client = redis::Client::open(url).unwrap();
    poll_until(
        "redis-server answers PING",
        Duration::from_secs(20),
        Duration::from_millis(50),
        || async {
            match client.get_multiplexed_async_connection().await {
                Ok(mut connection) => redis::cmd("PING")
                    .query_async::<String>(&mut connection)
                    .await
                    .is_ok(),
                Err(_) => false,
            }
        },
    )
    .await;
}

/// The quick start's first command (issue 19): `tessera serve` in an empty folder,
/// nothing configured, makes `tessera.kek` (owner-only, with a warning to back it up)
/// and `tessera.db`, listens on the port it picked and advertises that port. A second
/// start reuses the key; `tessera check` there accepts it, and refuses a damaged key
/// file as `serve` does.
#[tokio::test]
async fn a_first_start_in_an_empty_folder_needs_no_key_step() {
    let Some(binary) = release_binary() else {
        return;
    };
    let folder = tempfile::tempdir().unwrap();
    let start = || {
        let mut command = Command::new(&binary);
        command
            .current_dir(folder.path())
            .env_remove("TESSERA_CONFIG")
            .env("TESSERA_LISTEN", "127.0.0.1:0")
            .stderr(Stdio::piped())
            .arg("serve");
        command
    };
    let (mut child, address) = spawn_listening(start()).await;
    let kek = folder.path().join("tessera.kek");
    assert!(kek.is_file(), "tessera.kek made on the first start");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kek).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "owner-only");
    }
    let discovery: Value = reqwest::get(format!(
        "{address}/t/default/.well-known/openid-configuration"
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        discovery["issuer"],
        format!("{address}/t/default"),
        "the issuer names the port picked"
    );
    child.kill().await.unwrap();
    let stderr = child.wait_with_output().await.unwrap().stderr;
    let stderr = String::from_utf8_lossy(&stderr);
    assert!(stderr.contains("back it up"), "the warning: {stderr}");
    let first_key = std::fs::read_to_string(&kek).unwrap();

    // Again: the same key opens the signing keys.
    let (mut again, _) = spawn_listening(start()).await;
    again.kill().await.unwrap();
    assert_eq!(std::fs::read_to_string(&kek).unwrap(), first_key);

    let check = |folder: &Path| {
        std::process::Command::new(&binary)
            .current_dir(folder)
            .env_remove("TESSERA_CONFIG")
            .arg("check")
            .output()
            .unwrap()
    };
    assert!(check(folder.path()).status.success());
    std::fs::write(&kek, "not a key\n").unwrap();
    let refused = check(folder.path());
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("key-encryption key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// PostgreSQL SIGKILLed under load (issue 20): two release nodes issue tokens
/// through their group commits on a PostgreSQL of this test's own; the server and
/// every backend are killed mid-load and started again (crash recovery from the
/// WAL). Every token a node acknowledged (200) before, during or after is stored,
/// exactly once, and the nodes serve again without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_token_is_lost_when_postgres_is_killed() {
    let Some(binary) = release_binary() else {
        return;
    };
    let Some(programs) = crate::replica::server_programs() else {
        return;
    };
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let postgres = crate::replica::PrivatePostgres::start(programs);
    let deployment = Deployment::new(binary, &postgres.url(), &redis.url, &redis.prefix);
    deployment.command(&["migrate"], "").await;
    let nodes = [deployment.node("a").await, deployment.node("b").await];
    let (client_id, secret) = create_client(&deployment, "svc", "client_credentials").await;
    let http = reqwest::Client::new();

    // Eight workers take turns between the nodes; any answer but 200 is not an
    // acknowledgement (the database is gone for a while).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..8 {
        let urls = [
            nodes[0].url("/t/default/token"),
            nodes[1].url("/t/default/token"),
        ];
        let (http, client_id, secret, stop) = (
            http.clone(),
            client_id.clone(),
            secret.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            let (mut acknowledged, mut refused) = (Vec::new(), 0_u32);
            let mut turn = worker;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                turn += 1;
                let url = &urls[turn % 2];
                match post(
                    &http,
                    url,
                    (&client_id, &secret),
                    &[("grant_type", "client_credentials")],
                )
                .await
                {
                    Ok((200, body)) => acknowledged.push((
                        Instant::now(),
                        body["access_token"].as_str().unwrap().to_owned(),
                    )),
                    _ => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            (acknowledged, refused)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let killed = Instant::now();
    postgres.kill();
    tokio::time::sleep(Duration::from_millis(700)).await;
    postgres.start_again();
    eprintln!(
        "postgres killed, started again after {:?}",
        killed.elapsed()
    );
    // The nodes serve again on their own.
    poll_until(
        "both nodes issue tokens again",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            let mut serving = true;
            for node in &nodes {
                serving &= matches!(
                    post(
                        &http,
                        &node.url("/t/default/token"),
                        (&client_id, &secret),
                        &[("grant_type", "client_credentials")],
                    )
                    .await,
                    Ok((200, _))
                );
            }
            serving
        },
    )
    .await;
    let serving_again = Instant::now();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acknowledged, mut refused) = (Vec::new(), 0);
    for worker in workers {
        let (tokens, refusals) = worker.await.unwrap();
        acknowledged.extend(tokens);
        refused += refusals;
    }

    let before_kill = acknowledged.iter().filter(|(at, _)| *at < killed).count();
    let after_restart = acknowledged
        .iter()
        .filter(|(at, _)| *at > serving_again)
        .count();
    let acknowledged: Vec<String> = acknowledged.into_iter().map(|(_, token)| token).collect();

    // Every acknowledged token has exactly one row.
    use sea_orm::ConnectionTrait;
    let database = sea_orm::Database::connect(postgres.url()).await.unwrap();
    let checksums: Vec<String> = acknowledged
        .iter()
        .map(|token| format!("'{}'", tessera::secrets::checksum(token)))
        .collect();
    let stored = database
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Postgres,
            format!(
                "SELECT count(*) AS n FROM access_tokens WHERE token_checksum IN ({})",
                checksums.join(",")
            ),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    database.close().await.unwrap();
    eprintln!(
        "postgres killed under load: {} tokens acknowledged ({before_kill} before the kill, \
         {after_restart} after both nodes served again), {stored} stored, {refused} requests \
         refused while it was down, serving again {:?} after the kill",
        acknowledged.len(),
        serving_again - killed,
    );
    assert_eq!(
        stored,
        acknowledged.len() as i64,
        "acknowledged tokens lost"
    );
    assert!(
        before_kill > 20 && after_restart > 20,
        "load before the kill ({before_kill}) and after the restart ({after_restart})"
    );
    for mut node in nodes {
        node.child.start_kill().unwrap();
        let _ = node.child.wait().await;
    }
}
