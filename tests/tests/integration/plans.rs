//! Plans that do not depend on table statistics (issue 20): on a freshly created
//! PostgreSQL database (never analyzed: `reltuples = -1`, as on a server without
//! autovacuum), a pooled connection that ran the hot statements while the token
//! tables were still empty (where every `(tenant_id, …)` index costs the same, so a
//! plan may pick any of them) must not keep that plan once they are full: the code
//! flow's redemption, the refresh rotation and introspection must each find their
//! rows through their key — the primary key or the checksum — and never walk the
//! tenant's entries of another `(tenant_id, …)` index. So must the revocations a
//! replayed refresh token or code sets off (anyone holding an old token can send it
//! again at will). Nor may the expiry sweep read live rows, nor a sign-in walk the
//! tenant's users or sessions. Measured with
//! PostgreSQL's own counters (`pg_stat_user_indexes.idx_tup_read`).

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use tessera_tests::{
    Backend, Browser, Registration, TestApp, TestClient, TestDatabase, spawn_app_with,
};

use crate::browser_flows::{REDIRECT, VERIFIER, authorize, code_request, exchange, sign_in};
use crate::oauth::{assert_error, introspect, string, token};
use crate::openid_connect::code_flow_with_code;

/// The tables measured: the token tables, the users and sessions a sign-in and a
/// signed-in authorization read, and the consents the consent check reads.
const TABLES: &str = "('authorization_codes', 'access_tokens', 'refresh_tokens', 'users', \
                      'sessions', 'consent_grants')";

/// Rows preloaded into each measured table of the tenant.
const PRELOADED: u32 = 3000;

/// Rows and index entries of the measured tables a code flow (with its sign-in), a
/// refresh and the two replays may read (each lookup by key reads one or two: 44 in
/// all on 12-07); a scan of the tenant's rows reads thousands.
const MAX_READ_PER_FLOW: i64 = 60;

async fn rows_read(admin: &DatabaseConnection) -> i64 {
    let row = admin
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT (SELECT coalesce(sum(seq_tup_read), 0) FROM pg_stat_user_tables \
                         WHERE relname IN {TABLES}) \
                      + (SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes \
                         WHERE relname IN {TABLES}) AS read"
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<sea_orm::prelude::Decimal>("", "read")
        .map(|read| i64::try_from(read.mantissa()).unwrap_or(i64::MAX))
        .unwrap()
}

/// Where the measured tables were read: each index's entries, each table's sequential
/// scans (totals since the database was created).
async fn where_read(url: &str) -> String {
    let admin = Database::connect(url).await.unwrap();
    let rows = admin
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT indexrelname || ' ' || idx_tup_read AS line FROM pg_stat_user_indexes \
                 WHERE relname IN {TABLES} \
                 UNION ALL SELECT relname || ' (sequential) ' || seq_tup_read \
                 FROM pg_stat_user_tables WHERE relname IN {TABLES}"
            ),
        ))
        .await
        .unwrap();
    admin.close().await.unwrap();
    rows.iter()
        .map(|row| row.try_get::<String>("", "line").unwrap())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The measured tables' rows and index entries read so far, as the server's backends
/// last reported them: PostgreSQL 15 flushes an idle backend's counters within 10 s
/// (`PGSTAT_IDLE_INTERVAL`).
async fn settled_rows_read(url: &str) -> i64 {
    tokio::time::sleep(Duration::from_secs(11)).await;
    let admin = Database::connect(url).await.unwrap();
    let read = rows_read(&admin).await;
    admin.close().await.unwrap();
    read
}

async fn preload(app: &TestApp, url: &str) {
    let tenant = app.tenant("default").await.id;
    let admin = Database::connect(url).await.unwrap();
    for statement in [
        format!(
            "INSERT INTO authorization_codes (tenant_id, code_checksum, application_id, user_id, \
             redirect_uri, scope, expires_at, created_at) \
             SELECT {tenant}, md5('c' || g) || md5('c' || g), 0, 0, 'x', 'read', \
             now() + interval '1 hour', now() FROM generate_series(1, {PRELOADED}) g"
        ),
        format!(
            "INSERT INTO access_tokens (tenant_id, token_checksum, application_id, user_id, \
             scope, expires_at, created_at) \
             SELECT {tenant}, md5('a' || g) || md5('a' || g), 0, 0, 'read', \
             now() + interval '1 hour', now() FROM generate_series(1, {PRELOADED}) g"
        ),
        format!(
            "INSERT INTO refresh_tokens (tenant_id, token_checksum, application_id, user_id, \
             family_id, scope, created_at) \
             SELECT {tenant}, md5('r' || g) || md5('r' || g), 0, 0, md5('f' || g), 'read', \
             now() FROM generate_series(1, {PRELOADED}) g"
        ),
        // Users whose lookup keys sort before and after alice's, and their sessions.
        format!(
            "INSERT INTO users (tenant_id, subject, username, username_key, password_hash, \
             claims, is_active, created_at, updated_at) \
             SELECT {tenant}, md5('s' || g), 'user' || g, 'user' || g, 'x', '{{}}', true, \
             now(), now() FROM generate_series(1, {PRELOADED}) g"
        ),
        format!(
            "INSERT INTO sessions (tenant_id, session_checksum, user_id, authenticated_at, \
             authority, expires_at, created_at) \
             SELECT {tenant}, md5('z' || g) || md5('z' || g), 0, now(), '', \
             now() + interval '1 hour', now() FROM generate_series(1, {PRELOADED}) g"
        ),
        // Other users' consents to the measured client.
        format!(
            "INSERT INTO consent_grants (tenant_id, user_id, application_id, scope, \
             created_at, updated_at) \
             SELECT {tenant}, 1000000 + g, \
             (SELECT id FROM applications WHERE tenant_id = {tenant} AND client_id = 'web'), \
             'read', now(), now() FROM generate_series(1, {PRELOADED}) g"
        ),
    ] {
        admin.execute_unprepared(&statement).await.unwrap();
    }
    admin.close().await.unwrap();
}

/// One code flow, a refresh and an introspection of the refreshed access token; then
/// the replays an attacker would send: the rotated refresh token (which revokes its
/// family, RFC 9700 §4.14.2) and the redeemed code (which revokes what it minted,
/// RFC 6749 §4.1.2). A replay must cost a handful of rows too, not a walk of the
/// tenant's tokens: anyone holding an old token can send it again and again.
async fn flow(app: &TestApp, client: &TestClient) {
    let (code, tokens) = code_flow_with_code(app, "default", client, "openid read").await;
    let first_refresh = string(&tokens, "refresh_token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first_refresh.as_str()),
    ];
    let refresh_first = || token(app, "default", client, &form);
    let refreshed = refresh_first().await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    let access = string(&refreshed, "access_token");
    let answer = introspect(app, "default", client, &access).await;
    assert_eq!(answer["active"], true, "{answer}");

    assert_error(&refresh_first().await, 400, "invalid_grant");
    let answer = introspect(app, "default", client, &access).await;
    assert_eq!(
        answer["active"], false,
        "the replay revoked the family: {answer}"
    );
    let replayed = exchange(app, "default", client, &code, Some(VERIFIER)).await;
    assert_error(&replayed, 400, "invalid_grant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_flow_and_rotation_use_their_keys_whatever_the_statistics() {
    let Some(db) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    let app = spawn_app_with(&format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n",
        db.url
    ))
    .await
    .unwrap();
    app.user("default", "alice", "correct horse").await;
    let register = |client_id: &'static str| {
        app.register(
            "default",
            Registration {
                client_id,
                confidential: true,
                grant_types: "authorization_code,refresh_token",
                scopes: "",
                origins: "",
                redirect_uris: REDIRECT,
                skip_authorization: false,
            },
        )
    };
    // Two clients: the one measured has no tokens before the measured flows (the
    // consent check reads the user's live tokens for the client, as it should).
    let warm_up = register("warm-up").await;
    let client = register("web").await;
    // PostgreSQL plans a prepared statement's first five executions on a connection
    // with its parameters, then may keep one generic plan for good: these flows, run
    // while the token tables are nearly empty, settle the pooled connections' plans
    // (forty, so each of the pool's connections runs each statement more than five
    // times).
    for _ in 0..40 {
        flow(&app, &warm_up).await;
    }
    preload(&app, &db.url).await;

    let before = settled_rows_read(&db.url).await;
    let flows = 4;
    for _ in 0..flows {
        flow(&app, &client).await;
    }
    // The expiry sweep (every node runs it in the background) reads only expired
    // codes, tokens and grants, not the tenant's live ones.
    let tenant = app.tenant("default").await;
    tessera::store::expired::sweep(app.state.data(&tenant), 1000)
        .await
        .unwrap();
    // A signed-in browser's next authorization finds its session (users joined to
    // their session, both found by key): it is not sent to sign in again.
    let mut browser = Browser::new(&app.address);
    let request = code_request("web");
    let first = authorize(&mut browser, "default", &request).await;
    let signed_in = sign_in(&mut browser, &first, "alice", "correct horse").await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    let again = authorize(&mut browser, "default", &request).await;
    let location = again.location().unwrap_or_default().to_owned();
    assert!(
        again.status == 303 && !location.contains("/login"),
        "the live session was not found: {} {location} {}",
        again.status,
        again.body
    );
    let read = settled_rows_read(&db.url).await - before;
    let places = where_read(&db.url).await;
    assert!(
        read <= MAX_READ_PER_FLOW * flows,
        "{flows} code flows (each signing in), refreshes, introspections and replays read \
         {read} rows and index entries of the token, users and sessions tables (at most \
         {} expected): a statement scanned the tenant's {PRELOADED} rows ({places})",
        MAX_READ_PER_FLOW * flows
    );
    app.stop().await;
}
