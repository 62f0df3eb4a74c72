//! The token cache (issue 20, DESIGN §5, §6): two nodes on one database and one
//! Redis answer introspection and UserInfo from memory once they have read a token,
//! and a
//! revocation that returned 200 on one node — or made by the CLI — is seen by the
//! other node's very next request, never after a delay: every check here asks once,
//! without polling. Entries live an hour in these tests, so only the revocation
//! stamps can explain a node seeing a change.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use tessera_tests::{
    Backend, TestApp, TestClient, TestDatabase, TestRedis, config_file, on_every_backend,
    poll_until, run_cli, spawn_app_with,
};

use tessera::store::users::{self, AccountChanges};

use crate::nodes::{node_toml, until_listening};
use crate::oauth::{alice_password_grant, pair, refresh, string, token};
use crate::openid_connect::userinfo_get;

/// Whether `node` says `token` is active, asked by the resource server `rs`.
pub(crate) async fn active(node: &TestApp, rs: &TestClient, token: &str) -> bool {
    let answer = node
        .post_form("/t/default/introspect", Some(rs), &[("token", token)])
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    match &answer.body["active"] {
        Value::Bool(active) => *active,
        other => panic!("no active in {other}"),
    }
}

/// The token cache's hits on `node` so far.
fn hits(node: &TestApp) -> u64 {
    node.state.access_tokens.counts().hits
}

/// Introspects `token` on both nodes until each answers it from its cache (the
/// first request reads the database and stores the entry, a later one hits it; on
/// a loaded machine a slow Redis call can leave a node distrusting its cache for a
/// moment, so it asks for up to 20 s).
async fn cached_on_both(nodes: [&TestApp; 2], rs: &TestClient, token: &str) {
    for node in nodes {
        let before = hits(node);
        poll_until(
            &format!("the node answers {token:.12}… from its cache"),
            Duration::from_secs(20),
            Duration::from_millis(10),
            || async {
                assert!(active(node, rs, token).await, "live before the change");
                hits(node) > before
            },
        )
        .await;
    }
}

/// Waits until the askers' `answers` reach `count` (30 s at most), failing at once
/// if an asker ended (it panicked).
async fn answers_reach<T>(
    answers: &AtomicUsize,
    count: usize,
    askers: &[tokio::task::JoinHandle<T>],
) {
    poll_until(
        "the askers' answers reach their count",
        Duration::from_secs(30),
        Duration::from_millis(5),
        || async {
            if answers.load(Ordering::SeqCst) >= count {
                return true;
            }
            assert!(
                !askers.iter().any(|asker| asker.is_finished()),
                "an asker ended early (it panicked)"
            );
            false
        },
    )
    .await;
}

/// The clients of these tests: `web` (alice's password grant and refreshes) and the
/// resource server `rs`, which may introspect any token of the tenant.
pub(crate) async fn web_and_resource_server(app: &TestApp) -> (TestClient, TestClient) {
    let web = app
        .client("default", "web", true, "password,refresh_token", "", "")
        .await;
    let rs = app
        .client(
            "default",
            "rs",
            true,
            "client_credentials",
            "introspection",
            "",
        )
        .await;
    (web, rs)
}

/// The access and refresh tokens of a refresh of `refresh_token` on `node` (200).
async fn rotated(node: &TestApp, web: &TestClient, refresh_token: &str) -> (String, String) {
    let answer = refresh(node, "default", web, refresh_token, None).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    (
        string(&answer, "access_token"),
        string(&answer, "refresh_token"),
    )
}

/// `tessera ARGS… --config PATH` as another process would run it; must succeed.
async fn cli(path: &str, args: &[&str]) {
    let mut all = vec!["--config", path];
    all.extend_from_slice(args);
    let run = run_cli(&all, "").await;
    assert_eq!(run.code(), 0, "{args:?}: {}", run.message());
}

async fn revocations_reach_every_cache_at_once(backend: Backend) {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = format!(
        "token_cache_ttl_secs = 3600\n{}",
        node_toml(&db.url, &redis.url, &redis.prefix)
    );
    let (_dir, path) = config_file(&toml);
    let a = spawn_app_with(&toml).await.unwrap();
    let b = spawn_app_with(&toml).await.unwrap();
    until_listening(&a).await;
    until_listening(&b).await;
    let (web, rs) = web_and_resource_server(&a).await;
    let svc = a
        .client("default", "svc", true, "client_credentials", "", "")
        .await;
    let alice = a.user("default", "alice", "pw").await;

    // RFC 7009 on node A: node B's next answer is inactive.
    let (access, first_refresh) = pair(&a, "default", &web).await;
    cached_on_both([&a, &b], &rs, &access).await;
    let revoked = a
        .post_form("/t/default/revoke", Some(&web), &[("token", &access)])
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert!(!active(&b, &rs, &access).await, "revoked on A, seen by B");
    assert!(!active(&a, &rs, &access).await, "revoked on A, seen by A");

    // A refresh on node B revokes the previous access token (rotation): node A sees it.
    let (access, second_refresh) = rotated(&b, &web, &first_refresh).await;
    cached_on_both([&a, &b], &rs, &access).await;
    let (next_access, third_refresh) = rotated(&b, &web, &second_refresh).await;
    assert!(
        !active(&a, &rs, &access).await,
        "rotated on B: the previous access token is dead on A"
    );
    let access = next_access;

    // Replaying a rotated refresh token on A revokes the family: B sees it.
    cached_on_both([&a, &b], &rs, &access).await;
    let replay = refresh(&a, "default", &web, &second_refresh, None).await;
    assert_eq!(replay.status, 400, "{}", replay.text);
    assert!(
        !active(&b, &rs, &access).await,
        "family revoked on A, seen by B"
    );
    let dead = refresh(&b, "default", &web, &third_refresh, None).await;
    assert_eq!(dead.status, 400, "{}", dead.text);

    // UserInfo answers from the same entries: her e-mail changed on A (as the admin
    // API does) is B's next answer.
    let with_openid = alice_password_grant(&a, "default", &web, "pw", Some("openid email")).await;
    assert_eq!(with_openid.status, 200, "{}", with_openid.text);
    let userinfo_bearer = string(&with_openid, "access_token");
    let before = hits(&b);
    for _ in 0..3 {
        let answer = userinfo_get(&b, "default", &userinfo_bearer).await;
        assert_eq!(answer.status, 200, "{}", answer.text);
        assert_eq!(answer.body["email"], Value::Null, "{}", answer.text);
    }
    assert!(hits(&b) > before, "UserInfo answered from B's cache");
    let tenant = a.tenant("default").await;
    let changes = AccountChanges {
        email: Some(Some("alice@example.com".to_owned())),
        ..AccountChanges::default()
    };
    users::change_account(a.state.data(&tenant), alice, &changes)
        .await
        .unwrap()
        .unwrap();
    let answer = userinfo_get(&b, "default", &userinfo_bearer).await;
    assert_eq!(answer.body["email"], "alice@example.com", "{}", answer.text);

    // The CLI disables alice: both nodes refuse her tokens at once (introspection
    // and UserInfo); enabled again, a new token of hers is live (the old stays
    // revoked, as the CLI says).
    let (access, _) = pair(&a, "default", &web).await;
    cached_on_both([&a, &b], &rs, &access).await;
    cli(&path, &["user", "disable", "alice", "--tenant", "default"]).await;
    assert!(!active(&a, &rs, &access).await, "disabled by the CLI, A");
    assert!(!active(&b, &rs, &access).await, "disabled by the CLI, B");
    let answer = userinfo_get(&b, "default", &userinfo_bearer).await;
    assert_eq!(answer.status, 401, "disabled by the CLI, UserInfo on B");
    cli(&path, &["user", "enable", "alice", "--tenant", "default"]).await;
    let (access, _) = pair(&b, "default", &web).await;
    assert!(active(&a, &rs, &access).await, "enabled again");

    // A client's own token (client credentials, no user): the CLI deletes the
    // application and its token dies on both nodes at once.
    let answer = token(&a, "default", &svc, &[("grant_type", "client_credentials")]).await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let svc_access = string(&answer, "access_token");
    cached_on_both([&a, &b], &rs, &svc_access).await;
    cli(&path, &["app", "delete", "svc", "--tenant", "default"]).await;
    assert!(!active(&a, &rs, &svc_access).await, "client deleted, A");
    assert!(!active(&b, &rs, &svc_access).await, "client deleted, B");

    // Under load: B answers a stream of introspections of one token while A
    // revokes it; every request B received after A's 200 says inactive.
    let (access, _) = pair(&a, "default", &web).await;
    cached_on_both([&a, &b], &rs, &access).await;
    let b = Arc::new(b);
    let stop = Arc::new(AtomicBool::new(false));
    let answers = Arc::new(AtomicUsize::new(0));
    let askers: Vec<_> = (0..8)
        .map(|_| {
            let (b, rs, access, stop, answers) = (
                Arc::clone(&b),
                rs.clone(),
                access.clone(),
                Arc::clone(&stop),
                Arc::clone(&answers),
            );
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    seen.push((sent, active(&b, &rs, &access).await));
                    answers.fetch_add(1, Ordering::SeqCst);
                }
                seen
            })
        })
        .collect();
    // Counted, not timed: 16 answers before the revocation, and 16 more after its
    // 200 (at most 8 of them were already in flight, so 8 or more were sent after).
    answers_reach(&answers, 16, &askers).await;
    let revoked = a
        .post_form("/t/default/revoke", Some(&web), &[("token", &access)])
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    let answered = Instant::now();
    answers_reach(&answers, answers.load(Ordering::SeqCst) + 16, &askers).await;
    stop.store(true, Ordering::Relaxed);
    let (mut before, mut after) = (0, 0);
    for asker in askers {
        for (sent, live) in asker.await.unwrap() {
            if sent > answered {
                assert!(
                    !live,
                    "a request sent after the revocation's 200 saw it live"
                );
                after += 1;
            } else if live {
                before += 1;
            }
        }
    }
    assert!(
        before > 0 && after >= 8,
        "requests on both sides of the revocation ({before} live before, {after} after)"
    );
    eprintln!(
        "{backend:?}: {before} live answers before the revocation, {after} after, \
         B's cache hits {}",
        hits(&b)
    );
}

on_every_backend!(revocations_reach_every_cache_at_once);

/// Without Redis there are no revocation stamps, so the cache stays off: the CLI
/// (another process) revokes in the database only, and every introspection reads
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_every_introspection_reads_the_database() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let toml = format!(
        "token_cache_ttl_secs = 3600\nmigrate_on_start = true\n\
         [databases.default]\nurl = \"{}\"\n",
        db.url
    );
    let (_dir, path) = config_file(&toml);
    let node = spawn_app_with(&toml).await.unwrap();
    let (web, rs) = web_and_resource_server(&node).await;
    node.user("default", "alice", "pw").await;
    let (access, _) = pair(&node, "default", &web).await;
    for _ in 0..3 {
        assert!(active(&node, &rs, &access).await);
    }
    assert_eq!(hits(&node), 0, "nothing is cached without Redis");
    cli(&path, &["user", "disable", "alice", "--tenant", "default"]).await;
    assert!(!active(&node, &rs, &access).await, "disabled by the CLI");
}

/// The one gap, bounded: node A loses Redis alone (a proxy between them is stopped)
/// and revokes. A cannot write the stamp: it says so (`tessera_revocations_unshared`)
/// and reads the database — also once Redis is back and its stamp reads succeed
/// again, since its entry was read before a failed call. Node B still
/// reaches Redis; whatever it answers from its cache, the entry ends with
/// `token_cache_ttl_secs` (20 s here: what comes before it must fit in it on a
/// loaded machine), and B then reads the revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stamp_that_cannot_be_written_is_counted_and_bounded() {
    let Some(redis) = TestRedis::create() else {
        return;
    };
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let (mut proxy, proxy_url) = redis.proxy().await;
    let through_proxy = format!(
        "token_cache_ttl_secs = 20\n{}",
        node_toml(&db.url, &proxy_url, &redis.prefix)
    );
    let direct = format!(
        "token_cache_ttl_secs = 20\n{}",
        node_toml(&db.url, &redis.url, &redis.prefix)
    );
    let a = spawn_app_with(&through_proxy).await.unwrap();
    let b = spawn_app_with(&direct).await.unwrap();
    until_listening(&a).await;
    until_listening(&b).await;
    let (web, rs) = web_and_resource_server(&a).await;
    a.user("default", "alice", "pw").await;
    let (access, _) = pair(&a, "default", &web).await;
    let cached_at = Instant::now();
    cached_on_both([&a, &b], &rs, &access).await;

    proxy.stop().await;
    let revoked = a
        .post_form("/t/default/revoke", Some(&web), &[("token", &access)])
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(a.state.databases.revocations().unshared(), 1);

    // Redis back for A (not asked meanwhile, so its entry of the revoked token is
    // still there): once A answers a new token from its cache again (its stamp
    // reads succeed), that entry — its stamps unchanged in Redis — is not used.
    proxy.start_again().await;
    let (fresh, _) = pair(&a, "default", &web).await;
    poll_until(
        "A answers from its cache again",
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            let before = hits(&a);
            active(&a, &rs, &fresh).await && hits(&a) > before
        },
    )
    .await;
    assert!(
        !active(&a, &rs, &access).await,
        "A never answers from an entry read before its failed stamp write"
    );
    assert!(
        cached_at.elapsed() < Duration::from_secs(20),
        "within the TTL"
    );

    let took = poll_until(
        "B reads the revocation once its entry is older than token_cache_ttl_secs",
        Duration::from_millis(20_500),
        Duration::from_millis(100),
        || async { !active(&b, &rs, &access).await },
    )
    .await;
    eprintln!("B answered the revoked token from its cache for {took:?} more");
}
