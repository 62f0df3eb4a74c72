//! Several nodes on one database and one Redis (issue 18): a change made by the CLI
//! or on one node is honoured by every node at once (change notices, caches whose
//! time-to-live is set far longer than the test), a rotated client is never locked
//! out, the failure counters are shared and outlive a node, and a node whose Redis
//! goes away reads through to the database and limits by itself until it is back.

use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_tests::{
    Backend, TestApp, TestClient, TestDatabase, TestRedis, config_file, free_port,
    on_every_backend, poll_until, redis_server, run_cli, spawn_app_with,
};

use crate::oauth::{assert_error, token};

/// The configuration of every node and of the CLI: caches that never expire on
/// their own during a test, so only a change notice (or reading through) can
/// explain a node honouring a change.
pub(crate) fn node_toml(db_url: &str, redis_url: &str, prefix: &str) -> String {
    format!(
        "client_cache_ttl_secs = 3600\nkey_cache_ttl_secs = 600\nmigrate_on_start = true\n\
         [oauth]\nkey_publish_ahead_secs = 1000\nmax_failures_per_client = 6\n\
         failure_window_secs = 86400\n\
         [databases.default]\nurl = \"{db_url}\"\n\
         [redis]\nurl = \"{redis_url}\"\nkey_prefix = \"{prefix}\"\n"
    )
}

/// Two nodes on a fresh database of `backend` and one Redis prefix, both listening
/// to change notices; `None` when a backend is not configured (outside CI). Bind
/// `_redis` and `_db` by name: dropping them drops the database and the keys.
struct TwoNodes {
    _redis: TestRedis,
    _db: TestDatabase,
    toml: String,
    a: TestApp,
    b: TestApp,
}

async fn two_nodes(backend: Backend) -> Option<TwoNodes> {
    let redis = TestRedis::create()?;
    let db = TestDatabase::create(backend).await?;
    let toml = node_toml(&db.url, &redis.url, &redis.prefix);
    let a = spawn_app_with(&toml).await.unwrap();
    let b = spawn_app_with(&toml).await.unwrap();
    until_listening(&a).await;
    until_listening(&b).await;
    Some(TwoNodes {
        _redis: redis,
        _db: db,
        toml,
        a,
        b,
    })
}

/// `/readyz`'s body.
async fn readiness(app: &TestApp) -> Value {
    app.get_json("/readyz").await
}

/// Waits (20 s at most: a loaded CI machine) until `app` hears change notices.
pub(crate) async fn until_listening(app: &TestApp) {
    poll_until(
        "the node listens to change notices",
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async { readiness(app).await["change_notices"] == "listening" },
    )
    .await;
}

/// Polls `check` every 5 ms until it holds; how long that took (at most 20 s, room
/// for a loaded CI machine and still far below every cache's time-to-live of 600 s
/// or more, so a change that holds in time was announced, not expired).
async fn honoured_within<F, Fut>(what: &str, check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    poll_until(
        what,
        Duration::from_secs(20),
        Duration::from_millis(5),
        check,
    )
    .await
}

/// `tessera app update svc --tenant default ARGS…` with the configuration at
/// `path` (the CLI as another process would run it).
async fn update_svc(path: &str, args: &[&str]) {
    let mut all = vec![
        "--config", path, "app", "update", "svc", "--tenant", "default",
    ];
    all.extend_from_slice(args);
    let updated = run_cli(&all, "").await;
    assert_eq!(updated.code(), 0, "{}", updated.message());
}

async fn client_credentials(app: &TestApp, client: &TestClient) -> u16 {
    token(
        app,
        "default",
        client,
        &[("grant_type", "client_credentials")],
    )
    .await
    .status
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let jwks: Value = app
        .client
        .get(app.url("/t/default/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Every change a node caches, made by the CLI (a process of its own in production;
/// here in-process, with its own connections) or on one node, is honoured by both.
async fn changes_reach_every_node(backend: Backend) {
    let Some(TwoNodes {
        _redis,
        _db,
        toml,
        a,
        b,
    }) = two_nodes(backend).await
    else {
        return;
    };
    let (_dir, path) = config_file(&toml);

    // A client made by the CLI, used on both nodes (so both cache it).
    let created = run_cli(
        &[
            "--config",
            &path,
            "app",
            "create",
            "--tenant",
            "default",
            "--name",
            "Service",
            "--client-type",
            "confidential",
            "--grant-types",
            "client_credentials",
            "--client-id",
            "svc",
            "--client-secret-stdin",
        ],
        "first-secret-of-svc\n",
    )
    .await;
    assert_eq!(created.code(), 0, "{}", created.message());
    let client = TestClient {
        client_id: "svc".to_owned(),
        client_secret: Some("first-secret-of-svc".to_owned()),
    };
    for node in [&a, &b] {
        assert_eq!(client_credentials(node, &client).await, 200);
    }

    // The CLI removes the grant type: both nodes refuse it.
    update_svc(
        &path,
        &[
            "--grant-types",
            "authorization_code",
            "--redirect-uris",
            "https://app.example/cb",
        ],
    )
    .await;
    for node in [&a, &b] {
        let took = honoured_within("grant type removed by the CLI", || async {
            let answer = token(
                node,
                "default",
                &client,
                &[("grant_type", "client_credentials")],
            )
            .await;
            answer.status == 400 && answer.error() == "unauthorized_client"
        })
        .await;
        eprintln!("{backend:?}: grant type removed by the CLI, honoured after {took:?}");
    }
    update_svc(&path, &["--grant-types", "client_credentials"]).await;
    for node in [&a, &b] {
        honoured_within("grant type restored", || async {
            client_credentials(node, &client).await == 200
        })
        .await;
    }

    // CORS: both nodes answered a preflight from an origin no application lists
    // (and cached the answer); the CLI adds it, and both allow it.
    let preflight_allows = |node: &TestApp| {
        let request = node
            .client
            .request(reqwest::Method::OPTIONS, node.url("/t/default/token"))
            .header("origin", "https://spa.example")
            .header("access-control-request-method", "POST");
        async move {
            let answer = request.send().await.unwrap();
            answer
                .headers()
                .get("access-control-allow-origin")
                .is_some_and(|value| value == "https://spa.example")
        }
    };
    for node in [&a, &b] {
        assert!(!preflight_allows(node).await);
    }
    update_svc(&path, &["--allowed-origins", "https://spa.example"]).await;
    for node in [&a, &b] {
        honoured_within("a new CORS origin", || preflight_allows(node)).await;
    }

    // A new secret set on node A (as its management pages do): node B refuses the
    // old one and accepts the new one at once.
    let tenant = a.tenant("default").await;
    let stored = tessera::store::applications::find_by_client_id(a.state.data(&tenant), "svc")
        .await
        .unwrap()
        .unwrap();
    tessera::store::applications::set_secret(
        a.state.data(&tenant),
        &stored,
        tessera::secrets::hash_client_secret("second-secret-of-svc").unwrap(),
        true,
    )
    .await
    .unwrap();
    let rotated = TestClient {
        client_id: "svc".to_owned(),
        client_secret: Some("second-secret-of-svc".to_owned()),
    };
    honoured_within("old secret refused on B", || async {
        client_credentials(&b, &client).await == 401
    })
    .await;
    assert_eq!(client_credentials(&b, &rotated).await, 200);
    assert_eq!(client_credentials(&a, &rotated).await, 200);

    // A compromised key: rotated by the CLI to sign at once; both nodes publish the
    // new key and sign with it at once.
    let before = jwks_kids(&b).await;
    let rotation = run_cli(
        &[
            "--config",
            &path,
            "keys",
            "rotate",
            "--tenant",
            "default",
            "--algorithm",
            "RS256",
            "--publish-ahead-secs",
            "0",
        ],
        "",
    )
    .await;
    assert_eq!(rotation.code(), 0, "{}", rotation.message());
    for node in [&a, &b] {
        honoured_within("rotated key published", || async {
            jwks_kids(node)
                .await
                .iter()
                .any(|kid| !before.contains(kid))
        })
        .await;
    }
    // …and both sign with it at once (the nodes switched at 6.9 s and 34.4 s before):
    // a JWT access token's `kid` is the new key's.
    update_svc(&path, &["--access-token-format", "jwt"]).await;
    for node in [&a, &b] {
        honoured_within("tokens signed with the rotated key", || async {
            let answer = token(
                node,
                "default",
                &rotated,
                &[("grant_type", "client_credentials")],
            )
            .await;
            let Some(jwt) = answer.body["access_token"].as_str() else {
                return false;
            };
            let header = jwt.split('.').next().unwrap_or_default();
            let header: Value = serde_json::from_slice(
                &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header)
                    .unwrap_or_default(),
            )
            .unwrap_or(Value::Null);
            header["kid"]
                .as_str()
                .is_some_and(|kid| !before.iter().any(|old| old == kid))
        })
        .await;
    }

    // The application deleted by the CLI's store call on node B's side: A refuses it.
    let tenant_b = b.tenant("default").await;
    let stored = tessera::store::applications::find_by_client_id(b.state.data(&tenant_b), "svc")
        .await
        .unwrap()
        .unwrap();
    tessera::store::applications::delete(b.state.data(&tenant_b), &stored)
        .await
        .unwrap();
    honoured_within("deleted application refused on A", || async {
        client_credentials(&a, &rotated).await == 401
    })
    .await;
    a.stop().await;
    b.stop().await;
}

/// The propagation of 100 changes made on node A, as seen on node B: half are
/// honoured by B within 200 ms (the target of issue 18), nine in ten within 1 s and
/// each within 10 s (far below the cache's hour); the distribution is printed for
/// the record. A debug build on a CI machine running other tests cannot time the
/// rest of the tail honestly: the release nodes of `processes.rs` print theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hundred_changes_reach_the_other_node_quickly() {
    let Some(TwoNodes {
        _redis, _db, a, b, ..
    }) = two_nodes(Backend::Postgres).await
    else {
        return;
    };
    let client = a
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    let tenant = a.tenant("default").await;
    let mut current = client.clone();
    let mut took = Vec::new();
    for round in 0..100 {
        assert_eq!(client_credentials(&b, &current).await, 200, "round {round}");
        let secret = format!("secret-{round}-of-svc");
        let stored = tessera::store::applications::find_by_client_id(a.state.data(&tenant), "svc")
            .await
            .unwrap()
            .unwrap();
        tessera::store::applications::set_secret(
            a.state.data(&tenant),
            &stored,
            tessera::secrets::hash_client_secret(&secret).unwrap(),
            true,
        )
        .await
        .unwrap();
        let old = current.clone();
        let changed = Instant::now();
        // B's cache holds the old registration: the old secret must stop working.
        while client_credentials(&b, &old).await != 401 {
            assert!(changed.elapsed() < Duration::from_secs(10), "round {round}");
        }
        took.push(changed.elapsed());
        current.client_secret = Some(secret);
    }
    took.sort();
    let at = |share: f64| took[((took.len() - 1) as f64 * share) as usize];
    eprintln!(
        "100 secret changes on A refused on B after: min {:?}, p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        took[0],
        at(0.5),
        at(0.9),
        at(0.99),
        took[took.len() - 1]
    );
    // The target (200 ms) on the median, nine in ten within 1 s; the whole
    // distribution is printed (each figure includes one token request on a shared
    // machine).
    assert!(at(0.5) < Duration::from_millis(200), "{took:?}");
    assert!(at(0.9) < Duration::from_secs(1), "{took:?}");
    a.stop().await;
    b.stop().await;
}

/// Without Redis (one node, long cache), a secret rotated elsewhere is checked
/// against the database before the attempt counts as a failure: the new secret
/// works at once and never locks the client out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_client_is_never_locked_out() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let toml = format!(
        "client_cache_ttl_secs = 3600\nmigrate_on_start = true\n[oauth]\n\
         max_failures_per_client = 3\n[databases.default]\nurl = \"{}\"\n",
        db.url
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let client = app
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    assert_eq!(client_credentials(&app, &client).await, 200);
    // Rotated by another process that cannot tell this node (no Redis): written
    // straight to the database, behind the node's cache.
    {
        use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
        let tenant = app.tenant("default").await;
        let db = tessera_tests::connection(
            &app.state,
            &tenant,
            router_policies::EntityGroup::Applications,
            router_policies::Role::Write,
        );
        entity::application::Entity::update_many()
            .set(entity::application::ActiveModel {
                client_secret: Set(
                    tessera::secrets::hash_client_secret("rotated-secret-of-svc").unwrap(),
                ),
                ..Default::default()
            })
            .filter(entity::application::Column::TenantId.eq(tenant.id))
            .filter(entity::application::Column::ClientId.eq("svc"))
            .exec(db)
            .await
            .unwrap();
    }
    let rotated = TestClient {
        client_id: "svc".to_owned(),
        client_secret: Some("rotated-secret-of-svc".to_owned()),
    };
    for _ in 0..10 {
        assert_eq!(client_credentials(&app, &rotated).await, 200);
    }
    // The old secret now fails, and counts: the limit still works.
    for _ in 0..3 {
        assert_eq!(client_credentials(&app, &client).await, 401);
    }
    assert_error(
        &token(
            &app,
            "default",
            &client,
            &[("grant_type", "client_credentials")],
        )
        .await,
        429,
        "temporarily_unavailable",
    );
    app.stop().await;
}

/// The failure counters are shared: wrong secrets alternating between two nodes are
/// refused after the limit (not twice it), and a node started afterwards refuses
/// too (the counters outlive nodes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_limits_are_shared_by_every_node() {
    let Some(TwoNodes {
        _redis,
        _db,
        toml,
        a,
        b,
    }) = two_nodes(Backend::Postgres).await
    else {
        return;
    };
    let client = a
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    let wrong = TestClient {
        client_id: "svc".to_owned(),
        client_secret: Some("not-the-secret".to_owned()),
    };
    let mut unauthorized = 0;
    for attempt in 0..12 {
        let node = if attempt % 2 == 0 { &a } else { &b };
        match client_credentials(node, &wrong).await {
            401 => unauthorized += 1,
            429 => break,
            other => panic!("attempt {attempt}: {other}"),
        }
    }
    assert_eq!(
        unauthorized, 6,
        "max_failures_per_client = 6 over both nodes"
    );
    assert_eq!(client_credentials(&b, &client).await, 429, "locked on B");
    // A node started now (or restarted) knows the count.
    let c = spawn_app_with(&toml).await.unwrap();
    assert_eq!(client_credentials(&c, &client).await, 429, "locked on C");
    a.stop().await;
    b.stop().await;
    c.stop().await;
}

/// Redis goes away under two running nodes (a proxy between them and Redis is
/// stopped): they keep answering, stop trusting their caches (a change made by the
/// CLI meanwhile is honoured at once, read from the database), limit failures by
/// themselves, say so in `/readyz`, and listen again when Redis is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_nodes_read_through_and_limit_alone() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let (mut proxy, proxy_url) = redis.proxy().await;
    let node_config = node_toml(&db.url, &proxy_url, &redis.prefix);
    let cli_config = node_toml(&db.url, &redis.url, &redis.prefix);
    let (_dir, cli_path) = config_file(&cli_config);
    let a = spawn_app_with(&node_config).await.unwrap();
    let b = spawn_app_with(&node_config).await.unwrap();
    until_listening(&a).await;
    until_listening(&b).await;
    let client = a
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    for node in [&a, &b] {
        assert_eq!(client_credentials(node, &client).await, 200);
    }

    proxy.stop().await;
    let started = Instant::now();
    for node in [&a, &b] {
        honoured_within("the node stops trusting its caches", || async {
            let body = readiness(node).await;
            body["status"] == "degraded" && body["change_notices"] != "listening"
        })
        .await;
    }
    eprintln!(
        "redis gone: both nodes read through after {:?}",
        started.elapsed()
    );
    // Tokens are still issued, without waiting on Redis.
    let asked = Instant::now();
    assert_eq!(client_credentials(&a, &client).await, 200);
    assert!(
        asked.elapsed() < Duration::from_secs(1),
        "{:?}",
        asked.elapsed()
    );
    // A change made meanwhile (the CLI reaches Redis, the nodes do not hear it) is
    // honoured at once: the nodes read through.
    update_svc(
        &cli_path,
        &[
            "--grant-types",
            "authorization_code",
            "--redirect-uris",
            "https://app.example/cb",
        ],
    )
    .await;
    for node in [&a, &b] {
        assert_error(
            &token(
                node,
                "default",
                &client,
                &[("grant_type", "client_credentials")],
            )
            .await,
            400,
            "unauthorized_client",
        );
    }
    // Failures are limited by each node alone: never open.
    let wrong = TestClient {
        client_id: "svc".to_owned(),
        client_secret: Some("not-the-secret".to_owned()),
    };
    let mut refused = false;
    for _ in 0..8 {
        if client_credentials(&a, &wrong).await == 429 {
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "node A limits failures by itself while Redis is away"
    );

    proxy.start_again().await;
    for node in [&a, &b] {
        until_listening(node).await;
    }
    a.stop().await;
    b.stop().await;
}

on_every_backend!(changes_reach_every_node);

/// A Redis Cluster of three masters on free loopback ports, started by the test
/// (its processes are killed on drop, by handle).
struct RedisCluster {
    _dir: tempfile::TempDir,
    ports: Vec<u16>,
    masters: Vec<tokio::process::Child>,
}

impl RedisCluster {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut ports = Vec::new();
        let mut masters = Vec::new();
        for index in 0..3 {
            let (port, bus) = (free_port(), free_port());
            let child = redis_server(&[
                "--port",
                &port.to_string(),
                "--cluster-port",
                &bus.to_string(),
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                &format!("nodes-{index}.conf"),
                "--cluster-node-timeout",
                "2000",
                "--cluster-require-full-coverage",
                "no",
                "--dir",
                &dir.path().display().to_string(),
            ]);
            ports.push(port);
            masters.push(child);
        }
        for port in &ports {
            wait_for_ping(*port).await;
        }
        let nodes: Vec<String> = ports
            .iter()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect();
        let created = tokio::process::Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .await
            .expect("redis-cli");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        let cluster = Self {
            _dir: dir,
            ports,
            masters,
        };
        cluster.until_state_ok().await;
        cluster
    }

    /// `redis://…` of every master, separated by commas (Tessera's `redis.url`).
    fn url(&self) -> String {
        self.ports
            .iter()
            .map(|port| format!("redis://127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    async fn until_state_ok(&self) {
        let port = self.ports[0].to_string();
        poll_until(
            "the cluster's state is ok",
            Duration::from_secs(20),
            Duration::from_millis(100),
            || async {
                let info = tokio::process::Command::new("redis-cli")
                    .args(["-p", &port, "cluster", "info"])
                    .output()
                    .await
                    .unwrap();
                String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok")
            },
        )
        .await;
    }

    /// SIGKILLs master `index`.
    async fn kill(&mut self, index: usize) {
        self.masters[index].start_kill().unwrap();
        let _ = self.masters[index].wait().await;
    }
}

async fn wait_for_ping(port: u16) {
    let port = port.to_string();
    poll_until(
        "redis-server answers PING",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let ping = tokio::process::Command::new("redis-cli")
                .args(["-p", &port, "ping"])
                .output()
                .await
                .unwrap();
            String::from_utf8_lossy(&ping.stdout).contains("PONG")
        },
    )
    .await;
}

/// Two nodes on a Redis Cluster of three masters (`redis.url` lists them): change
/// notices and shared limits work across the cluster; with one master killed, the
/// nodes keep answering without an error and still honour a change at once
/// (through a notice, or reading through while they do not hear them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_with_a_master_killed() {
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let mut cluster = RedisCluster::start().await;
    let toml = node_toml(&db.url, &cluster.url(), "tessera_cluster");
    let a = spawn_app_with(&toml).await.unwrap();
    let b = spawn_app_with(&toml).await.unwrap();
    until_listening(&a).await;
    until_listening(&b).await;
    let client = a
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    for node in [&a, &b] {
        assert_eq!(client_credentials(node, &client).await, 200);
    }
    let tenant = a.tenant("default").await;
    let rotate = |secret: &'static str| {
        let state = a.state.clone();
        let tenant = tenant.clone();
        async move {
            let stored =
                tessera::store::applications::find_by_client_id(state.data(&tenant), "svc")
                    .await
                    .unwrap()
                    .unwrap();
            tessera::store::applications::set_secret(
                state.data(&tenant),
                &stored,
                tessera::secrets::hash_client_secret(secret).unwrap(),
                true,
            )
            .await
            .unwrap();
            TestClient {
                client_id: "svc".to_owned(),
                client_secret: Some(secret.to_owned()),
            }
        }
    };
    let second = rotate("second-secret-of-svc").await;
    honoured_within("a notice through the cluster", || async {
        client_credentials(&b, &client).await == 401
    })
    .await;
    assert_eq!(client_credentials(&b, &second).await, 200);

    // Shared limits across the cluster: 6 wrong secrets over both nodes, then 429.
    let other = a
        .client("default", "other", true, "client_credentials", "", "")
        .await;
    let wrong = TestClient {
        client_id: other.client_id.clone(),
        client_secret: Some("not-the-secret".to_owned()),
    };
    let mut unauthorized = 0;
    for attempt in 0..12 {
        match client_credentials(if attempt % 2 == 0 { &a } else { &b }, &wrong).await {
            401 => unauthorized += 1,
            429 => break,
            status => panic!("attempt {attempt}: {status}"),
        }
    }
    assert_eq!(unauthorized, 6, "the limit over both nodes, on the cluster");

    // One master killed: no error answers, changes still honoured.
    cluster.kill(0).await;
    let killed = Instant::now();
    let mut latencies = Vec::new();
    while killed.elapsed() < Duration::from_secs(3) {
        for node in [&a, &b] {
            let asked = Instant::now();
            assert_eq!(client_credentials(node, &second).await, 200);
            latencies.push(asked.elapsed());
        }
    }
    let answered = latencies.len();
    latencies.sort();
    eprintln!(
        "token latency with a master gone: p50 {:?}, p90 {:?}, max {:?}",
        latencies[answered / 2],
        latencies[answered * 9 / 10],
        latencies[answered - 1]
    );
    let third = rotate("third-secret-of-svc").await;
    for node in [&a, &b] {
        honoured_within("a change with a master gone", || async {
            client_credentials(node, &second).await == 401
        })
        .await;
        assert_eq!(client_credentials(node, &third).await, 200);
    }
    eprintln!(
        "redis cluster, one master killed: {answered} token requests answered 200 in 3 s, \
         then a rotation honoured on both nodes; readiness: {} / {}",
        readiness(&a).await,
        readiness(&b).await
    );
    a.stop().await;
    b.stop().await;
}

/// Runs `openssl ARGS…` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (apt-get install openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `rediss://`: a Redis that only speaks TLS (its certificate from a private CA,
/// made here). With `ca_file` the node listens to change notices through it; without
/// it the certificate is refused and the node serves anyway, reporting Redis
/// unavailable (never fatal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    openssl(
        path,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=tessera test ca",
        ],
    );
    openssl(
        path,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(path.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        path,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext",
        ],
    );
    let port = free_port();
    let file = |name: &str| path.join(name).display().to_string();
    let _server = redis_server(&[
        "--port",
        "0",
        "--tls-port",
        &port.to_string(),
        "--tls-cert-file",
        &file("server.pem"),
        "--tls-key-file",
        &file("server.key"),
        "--tls-ca-cert-file",
        &file("ca.pem"),
        "--tls-auth-clients",
        "no",
    ]);
    let url = format!("rediss://127.0.0.1:{port}");
    let trusted = format!(
        "{}ca_file = \"{}\"\n",
        node_toml(&db.url, &url, "tessera_tls"),
        path.join("ca.pem").display()
    );
    let started = Instant::now();
    let node = loop {
        // The server may still be starting: a node never waits for Redis, so start
        // it once the port answers.
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break spawn_app_with(&trusted).await.unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server over TLS"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    until_listening(&node).await;
    let body = readiness(&node).await;
    assert_eq!(body["redis"], "ok", "{body}");
    assert_eq!(body["failure_limits"], "shared", "{body}");

    let untrusted = spawn_app_with(&node_toml(&db.url, &url, "tessera_tls"))
        .await
        .unwrap();
    let body = readiness(&untrusted).await;
    assert_eq!(body["redis"], "unavailable", "{body}");
    assert_eq!(body["status"], "degraded", "{body}");
    let client = untrusted
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    assert_eq!(client_credentials(&untrusted, &client).await, 200);
    node.stop().await;
    untrusted.stop().await;
}

/// What an application's page shows in the element `id` (its client_id, a new
/// secret).
fn shown(page: &tessera_tests::Seen, id: &str) -> String {
    page.text()
        .split(&format!("id=\"{id}\""))
        .nth(1)
        .and_then(|rest| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split('<').next())
        .unwrap_or_else(|| panic!("no {id} on the page: {}", page.body))
        .to_owned()
}

/// The management pages of node A as the source of changes: an application's
/// redirect URI edited, its secret rotated and the application deleted there are
/// honoured by node B at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_nodes_pages_reach_the_other() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let toml = node_toml(&db.url, &redis.url, &redis.prefix).replace(
        "[oauth]\n",
        "[oauth]\nallow_application_management = true\n",
    );
    let a = spawn_app_with(&toml).await.unwrap();
    let b = spawn_app_with(&toml).await.unwrap();
    until_listening(&a).await;
    until_listening(&b).await;
    a.user("default", "alice", "correct horse").await;
    let mut alice = tessera_tests::Browser::new(&a.address);
    let to_login = alice.get("/t/default/authorized-tokens").await;
    crate::browser_flows::sign_in(&mut alice, &to_login, "alice", "correct horse").await;
    let csrf = alice
        .get("/t/default/applications/new")
        .await
        .input("csrf")
        .unwrap();
    let created = alice
        .post(
            "/t/default/applications",
            &[
                ("csrf", &csrf),
                ("name", "Reports"),
                ("client_type", "confidential"),
                ("grant_client_credentials", "1"),
                ("grant_authorization_code", "1"),
                ("redirect_uris", "https://app.example/cb"),
            ],
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let client = TestClient {
        client_id: shown(&created, "client-id"),
        client_secret: Some(shown(&created, "client-secret")),
    };
    let page = format!("/t/default/applications/{}", client.client_id);
    // 303 to the login page for a good request; 400 (a page) for a bad redirect URI.
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let authorize = |node: &TestApp, redirect_uri: &str| {
        let url = reqwest::Url::parse_with_params(
            &node.url("/t/default/authorize"),
            &[
                ("response_type", "code"),
                ("client_id", client.client_id.as_str()),
                ("redirect_uri", redirect_uri),
                ("code_challenge", crate::browser_flows::CHALLENGE),
                ("code_challenge_method", "S256"),
            ],
        )
        .unwrap();
        let request = no_redirects.get(url);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(client_credentials(&b, &client).await, 200);
    assert_eq!(
        authorize(&b, "https://app.example/cb").await,
        303,
        "to the login page"
    );

    // The redirect URI edited on A's pages: B refuses the old one (an error page,
    // no redirect) and accepts the new one.
    let csrf = alice.get(&page).await.input("csrf").unwrap();
    let edited = alice
        .post(
            &page,
            &[
                ("csrf", &csrf),
                ("name", "Reports"),
                ("grant_client_credentials", "1"),
                ("grant_authorization_code", "1"),
                ("redirect_uris", "https://app.example/new"),
            ],
        )
        .await;
    assert_eq!(edited.status, 303, "{}", edited.body);
    honoured_within("redirect URI edited on A's pages", || async {
        authorize(&b, "https://app.example/cb").await == 400
    })
    .await;
    assert_eq!(authorize(&b, "https://app.example/new").await, 303);

    // The secret rotated on A's pages: B refuses the old one, takes the new one.
    let csrf = alice.get(&page).await.input("csrf").unwrap();
    let rotated = alice
        .post(
            &format!("{page}/secret"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_client = TestClient {
        client_id: client.client_id.clone(),
        client_secret: Some(shown(&rotated, "client-secret")),
    };
    honoured_within("secret rotated on A's pages", || async {
        client_credentials(&b, &client).await == 401
    })
    .await;
    assert_eq!(client_credentials(&b, &new_client).await, 200);

    // Deleted on A's pages: B refuses it.
    let csrf = alice.get(&page).await.input("csrf").unwrap();
    let deleted = alice
        .post(
            &format!("{page}/delete"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(deleted.status, 303, "{}", deleted.body);
    honoured_within("application deleted on A's pages", || async {
        client_credentials(&b, &new_client).await == 401
    })
    .await;
    a.stop().await;
    b.stop().await;
}

/// `CLIENT PAUSE` (a Redis of this test's own): requests are not stalled beyond the
/// call timeout, the node stops trusting its caches while its probe cannot come
/// back, and listens again after the pause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_redis_stalls_no_request() {
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let port = free_port();
    let _server = redis_server(&["--port", &port.to_string()]);
    wait_for_ping(port).await;
    let node = spawn_app_with(&node_toml(
        &db.url,
        &format!("redis://127.0.0.1:{port}"),
        "tessera_pause",
    ))
    .await
    .unwrap();
    until_listening(&node).await;
    let client = node
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    assert_eq!(client_credentials(&node, &client).await, 200);
    let paused = tokio::process::Command::new("redis-cli")
        .args(["-p", &port.to_string(), "client", "pause", "10000", "all"])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&paused.stdout).contains("OK"));
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut answered = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        let asked = Instant::now();
        assert_eq!(client_credentials(&node, &client).await, 200);
        slowest = slowest.max(asked.elapsed());
        answered += 1;
    }
    let during = readiness(&node).await;
    eprintln!(
        "redis paused: {answered} token requests in 2.5 s, the slowest {slowest:?}; readiness {during}"
    );
    // One call timeout (250 ms) at most, with room for a machine busy with other
    // tests; a request stalled by the pause would wait 7.5 s or more. (The pause
    // outlasts the loop and the readiness check by far; `CLIENT UNPAUSE` would wait
    // for it too, so the node is left to hear Redis again when it ends.)
    assert!(slowest < Duration::from_secs(5), "{slowest:?}");
    assert_ne!(during["change_notices"], "listening", "{during}");
    until_listening(&node).await;
    node.stop().await;
}
