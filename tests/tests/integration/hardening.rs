//! Hardening of the token endpoint (issue 6): family revocation at any family size,
//! brute-force limits, the slow-hash bound under cancellation, fresh checks where
//! staleness is a security bug, and transient database errors told by their codes.

use std::time::{Duration, Instant};

use entity::{access_token, refresh_token};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QuerySelect, TransactionTrait,
};
use tessera_tests::{
    Backend, TestApp, TestClient, TestDatabase, on_every_backend, poll_until, spawn_app_with,
};

use crate::oauth::{assert_error, introspect, pair, refresh, spawn, string, token};

on_every_backend!(
    a_family_of_any_size_is_revoked_in_one_transaction,
    security_decisions_read_the_primary,
    refresh_drops_scopes_no_longer_allowed,
    bearer_introspection_needs_a_live_owner,
    a_deactivation_counts_wherever_the_users_are,
    transient_errors_are_known_by_their_codes,
);

const MEMBERS: usize = 100_000;

/// The tenant's token pool.
fn token_db(app: &TestApp, tenant: &tessera::tenancy::Tenant) -> sea_orm::DatabaseConnection {
    tessera_tests::connection(
        &app.state,
        tenant,
        router_policies::EntityGroup::Tokens,
        router_policies::Role::Write,
    )
    .clone()
}

/// Adds `members` rotated refresh tokens to the family of `live` — each with a live
/// access token issued with it, minted from the family's first token — with bulk
/// inserts in one transaction: what two months of refreshing every five minutes
/// leaves behind.
async fn grow_family(app: &TestApp, live_refresh_token: &str, members: usize) -> String {
    let tenant = app.tenant("acme").await;
    let db = token_db(app, &tenant);
    let live = tessera::store::tokens::find_refresh_token(
        app.state.data(&tenant),
        &tessera::secrets::checksum(live_refresh_token),
    )
    .await
    .unwrap()
    .unwrap();
    let marker = format!("bulk-{}", uuid::Uuid::new_v4().simple());
    let now = tessera::time::now();
    let transaction = db.begin().await.unwrap();
    for chunk in (0..members).collect::<Vec<_>>().chunks(1000) {
        let rows = chunk.iter().map(|index| access_token::ActiveModel {
            tenant_id: Set(tenant.id),
            token_checksum: Set(format!("{}{:032x}", &marker[5..], index)),
            application_id: Set(live.application_id),
            user_id: Set(live.user_id),
            scope: Set(marker.clone()),
            source_refresh_token_id: Set(Some(live.id)),
            id_token_id: Set(None),
            authorization_code_id: Set(None),
            expires_at: Set(tessera::time::plus_seconds(now, 3600)),
            revoked_at: Set(None),
            created_at: Set(now),
            ..Default::default()
        });
        access_token::Entity::insert_many(rows)
            .exec_without_returning(&transaction)
            .await
            .unwrap();
    }
    let access_ids: Vec<i64> = access_token::Entity::find()
        .select_only()
        .column(access_token::Column::Id)
        .filter(access_token::Column::TenantId.eq(tenant.id))
        .filter(access_token::Column::Scope.eq(marker.as_str()))
        .into_tuple()
        .all(&transaction)
        .await
        .unwrap();
    assert_eq!(access_ids.len(), members);
    for chunk in access_ids.chunks(1000) {
        let rows = chunk.iter().map(|access_id| refresh_token::ActiveModel {
            tenant_id: Set(tenant.id),
            token_checksum: Set(format!("{:032x}{}", access_id, &marker[5..])),
            access_token_id: Set(Some(*access_id)),
            application_id: Set(live.application_id),
            user_id: Set(live.user_id),
            family_id: Set(live.family_id.clone()),
            scope: Set(live.scope.clone()),
            expires_at: Set(None),
            revoked_at: Set(Some(now)),
            successor_sealed: Set(None),
            created_at: Set(now),
            last_used_at: Set(Some(now)),
            ..Default::default()
        });
        refresh_token::Entity::insert_many(rows)
            .exec_without_returning(&transaction)
            .await
            .unwrap();
    }
    transaction.commit().await.unwrap();
    live.family_id
}

/// Activates or deactivates a user of `acme` on the users group's primary.
async fn set_active(app: &TestApp, backend: Backend, user_id: i64, active: bool) {
    let flag = match (backend, active) {
        (Backend::Postgres, true) => "true",
        (Backend::Postgres, false) => "false",
        (_, true) => "1",
        (_, false) => "0",
    };
    update_user(app, user_id, &format!("is_active = {flag}")).await;
}

/// Sets `assignment` (SQL, `column = value`) on a user of `acme`, on the users
/// group's primary.
async fn update_user(app: &TestApp, user_id: i64, assignment: &str) {
    let tenant = app.tenant("acme").await;
    tessera_tests::connection(
        &app.state,
        &tenant,
        router_policies::EntityGroup::Users,
        router_policies::Role::Write,
    )
    .execute_unprepared(&format!(
        "UPDATE users SET {assignment} WHERE id = {user_id}"
    ))
    .await
    .unwrap();
}

/// Members of `family` not revoked, and the tenant's access tokens not revoked.
async fn still_live(app: &TestApp, family: &str) -> (u64, u64) {
    let tenant = app.tenant("acme").await;
    let db = token_db(app, &tenant);
    let refresh = refresh_token::Entity::find()
        .filter(refresh_token::Column::TenantId.eq(tenant.id))
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .count(&db)
        .await
        .unwrap();
    let access = access_token::Entity::find()
        .filter(access_token::Column::TenantId.eq(tenant.id))
        .filter(access_token::Column::RevokedAt.is_null())
        .count(&db)
        .await
        .unwrap();
    (refresh, access)
}

/// docs/security.md: no statement grows with the data. A replayed member of a
/// 100,000-member family revokes the whole family (400 `invalid_grant`, not a 500
/// that leaves it live); `POST /revoke` on another such family does the same; and
/// `cleartokens` with a batch size above every backend's parameter limit clears them.
async fn a_family_of_any_size_is_revoked_in_one_transaction(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let client = app
        .client("acme", "web", true, "password,refresh_token", "", "")
        .await;
    app.user("acme", "alice", "pw").await;

    // Reuse detection.
    let (_, first) = pair(&app, "acme", &client).await;
    let rotated = refresh(&app, "acme", &client, &first, None).await;
    assert_eq!(rotated.status, 200, "{}", rotated.text);
    let latest = string(&rotated, "refresh_token");
    let latest_access = string(&rotated, "access_token");
    let family = grow_family(&app, &latest, MEMBERS).await;
    assert_eq!(still_live(&app, &family).await.0, 1);
    let started = Instant::now();
    let replay = refresh(&app, "acme", &client, &first, None).await;
    let replay_time = started.elapsed();
    assert_error(&replay, 400, "invalid_grant");
    assert_eq!(
        still_live(&app, &family).await,
        (0, 0),
        "family and its access tokens"
    );
    assert_error(
        &refresh(&app, "acme", &client, &latest, None).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        introspect(&app, "acme", &client, &latest_access).await["active"],
        false
    );

    // Revocation (RFC 7009 §2.1) of a refresh token of a large family.
    let (_, second) = pair(&app, "acme", &client).await;
    let family = grow_family(&app, &second, MEMBERS).await;
    let started = Instant::now();
    let revoked = app
        .post_form("/t/acme/revoke", Some(&client), &[("token", &second)])
        .await;
    let revoke_time = started.elapsed();
    assert_eq!(revoked.status, 200, "{}", revoked.text);
    assert_eq!(still_live(&app, &family).await, (0, 0));
    eprintln!(
        "{backend:?}: {MEMBERS}-member family revoked by replay in {replay_time:?}, by /revoke in {revoke_time:?}"
    );

    // cleartokens with one batch larger than any parameter limit.
    let tenant = app.tenant("acme").await;
    let started = Instant::now();
    let reports = tessera::store::expired::clear_expired(
        &app.state.databases,
        &[tenant],
        tessera::store::expired::Batches {
            size: 100_000,
            interval: Duration::ZERO,
        },
        |_| {},
    )
    .await
    .unwrap();
    let removed: u64 = reports.iter().map(|report| report.access_tokens).sum();
    assert!(removed >= 2 * MEMBERS as u64, "{reports:?}");
    eprintln!(
        "{backend:?}: cleartokens --batch-size 100000 removed {removed} access tokens in {:?}",
        started.elapsed()
    );
    app.stop().await;
}

/// A replica that lags (here: a database holding a stale copy of the user) never
/// decides a password or whether a user is active: those read the primary.
async fn security_decisions_read_the_primary(backend: Backend) {
    let Some(primary) = TestDatabase::create(backend).await else {
        return;
    };
    let Some(replica) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = format!(
        "migrate_on_start = true\nclient_cache_ttl_secs = 0\n\
         [databases.default]\nurl = \"{}\"\n\
         [databases.replica]\nurl = \"{}\"\nreplica_of = \"default\"\n\
         [[router.policies]]\nkind = \"replicas\"\ngroups = [\"users\"]\npools = [\"replica\"]\n\
         [tenants.acme]\n",
        primary.url, replica.url
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let client = app
        .client("acme", "web", true, "password,refresh_token", "", "")
        .await;
    let user_id = app.user("acme", "alice", "new password").await;
    // The replica still has alice's old password (a lagging copy of the row).
    let tenant = app.tenant("acme").await;
    let stale = sea_orm::Database::connect(replica.url.as_str())
        .await
        .unwrap();
    migration::GroupMigrator::new(router_policies::EntityGroup::Users)
        .apply(&stale)
        .await
        .unwrap();
    {
        use sea_orm::ActiveModelTrait;
        let now = tessera::time::now();
        entity::user::ActiveModel {
            tenant_id: sea_orm::ActiveValue::Set(tenant.id),
            subject: sea_orm::ActiveValue::Set("stale-subject".to_owned()),
            username: sea_orm::ActiveValue::Set("alice".to_owned()),
            username_key: sea_orm::ActiveValue::Set("alice".to_owned()),
            email: sea_orm::ActiveValue::Set(None),
            password_hash: sea_orm::ActiveValue::Set(
                tessera::secrets::hash_password("old password").unwrap(),
            ),
            claims: sea_orm::ActiveValue::Set("{}".to_owned()),
            is_active: sea_orm::ActiveValue::Set(true),
            created_at: sea_orm::ActiveValue::Set(now),
            updated_at: sea_orm::ActiveValue::Set(now),
            ..Default::default()
        }
        .insert(&stale)
        .await
        .unwrap();
    }
    assert_error(
        &login(&app, "acme", &client, "alice", "old password", "127.0.0.1").await,
        400,
        "invalid_grant",
    );
    let answer = login(&app, "acme", &client, "alice", "new password", "127.0.0.1").await;
    assert_eq!(answer.status, 200, "{}", answer.text);
    let refresh_token = string(&answer, "refresh_token");
    let access_token = string(&answer, "access_token");

    // Deactivated on the primary; the replica still says active.
    set_active(&app, backend, user_id, false).await;
    assert_error(
        &refresh(&app, "acme", &client, &refresh_token, None).await,
        400,
        "invalid_grant",
    );
    assert_eq!(
        introspect(&app, "acme", &client, &access_token).await["active"],
        false
    );
    assert_error(
        &login(&app, "acme", &client, "alice", "new password", "127.0.0.1").await,
        400,
        "invalid_grant",
    );
    app.stop().await;
}

/// RFC 6749 §6 with a registry that changed: a scope the client may no longer have,
/// or the tenant no longer offers, is not minted on refresh.
async fn refresh_drops_scopes_no_longer_allowed(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let toml = |catalogue: &str| {
        format!(
            "migrate_on_start = true\nclient_cache_ttl_secs = 0\n[databases.default]\nurl = \"{}\"\n\
             [tenants.acme.oauth]\nscopes = {{ {catalogue} }}\ndefault_scopes = []\n",
            db.url
        )
    };
    let app = spawn_app_with(&toml("read = \"Read\", write = \"Write\""))
        .await
        .unwrap();
    let client = app
        .client(
            "acme",
            "web",
            true,
            "password,refresh_token",
            "read write",
            "",
        )
        .await;
    app.user("acme", "alice", "pw").await;
    let answer = token(
        &app,
        "acme",
        &client,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "pw"),
            ("scope", "read write"),
        ],
    )
    .await;
    assert_eq!(answer.body["scope"], "read write", "{}", answer.text);
    // The client loses `write`.
    let tenant = app.tenant("acme").await;
    tessera_tests::connection(
        &app.state,
        &tenant,
        router_policies::EntityGroup::Applications,
        router_policies::Role::Write,
    )
    .execute_unprepared("UPDATE applications SET allowed_scopes = 'read'")
    .await
    .unwrap();
    let refreshed = refresh(
        &app,
        "acme",
        &client,
        &string(&answer, "refresh_token"),
        None,
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text);
    assert_eq!(refreshed.body["scope"], "read");
    let asked = refresh(
        &app,
        "acme",
        &client,
        &string(&refreshed, "refresh_token"),
        Some("write"),
    )
    .await;
    assert_error(&asked, 400, "invalid_scope");
    app.stop().await;

    // The tenant's catalogue drops `read`: nothing of the grant is left.
    let app = spawn_app_with(&toml("write = \"Write\"")).await.unwrap();
    let answer = refresh(
        &app,
        "acme",
        &client,
        &string(&refreshed, "refresh_token"),
        None,
    )
    .await;
    assert_error(&answer, 400, "invalid_grant");
    app.stop().await;
}

/// A bearer token authorizes introspection only while it is live by introspection's
/// own definition: its user active, its client registered.
async fn bearer_introspection_needs_a_live_owner(backend: Backend) {
    let Some((_db, app)) = spawn(backend).await else {
        return;
    };
    let resource_server = app
        .client("acme", "rs", true, "password", "introspection read", "")
        .await;
    let user_id = app.user("acme", "alice", "pw").await;
    let answer = token(
        &app,
        "acme",
        &resource_server,
        &[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "pw"),
            ("scope", "introspection"),
        ],
    )
    .await;
    let bearer = string(&answer, "access_token");
    let call = || {
        app.client
            .post(app.url("/t/acme/introspect"))
            .bearer_auth(&bearer)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("token=tsa_unknown")
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);
    let tenant = app.tenant("acme").await;
    set_active(&app, backend, user_id, false).await;
    let refused = tessera_tests::Answer::read(call().await.unwrap()).await;
    assert_error(&refused, 401, "invalid_token");
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    // Active again, but the client is gone.
    set_active(&app, backend, user_id, true).await;
    assert_eq!(call().await.unwrap().status(), 200);
    tessera_tests::connection(
        &app.state,
        &tenant,
        router_policies::EntityGroup::Applications,
        router_policies::Role::Write,
    )
    .execute_unprepared("DELETE FROM applications WHERE client_id = 'rs'")
    .await
    .unwrap();
    assert_error(
        &tessera_tests::Answer::read(call().await.unwrap()).await,
        401,
        "invalid_token",
    );
    app.stop().await;
}

/// A user deactivated on the users' primary gets nothing more at once, whether the
/// tenant's users share a database with its tokens (then the user is read joined to
/// the token or code) or not (then read by a second statement): introspection says
/// inactive, the refresh and the redemption of a code approved before are refused;
/// active again, all three work.
async fn a_deactivation_counts_wherever_the_users_are(backend: Backend) {
    let Some(one) = TestDatabase::create(backend).await else {
        return;
    };
    let Some(accounts) = TestDatabase::create(backend).await else {
        return;
    };
    let Some(tokens) = TestDatabase::create(backend).await else {
        return;
    };
    let shared = format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n[tenants.acme]\n",
        one.url
    );
    let apart = format!(
        "migrate_on_start = true\n[databases.accounts]\nurl = \"{}\"\n\
         [databases.tokens]\nurl = \"{}\"\n\
         [[router.policies]]\nkind = \"static\"\n\
         groups = {{ tenants = \"accounts\", users = \"accounts\", applications = \"accounts\", tokens = \"tokens\" }}\n\
         [[router.policies]]\nkind = \"relations\"\n\
         allow = [[\"tokens\", \"applications\"], [\"tokens\", \"users\"]]\n\
         [tenants.acme]\n",
        accounts.url, tokens.url
    );
    for (layout, toml) in [("one database", shared), ("two databases", apart)] {
        let app = spawn_app_with(&toml).await.unwrap();
        let user_id = app.user("acme", "alice", "correct horse").await;
        let client = app
            .register(
                "acme",
                tessera_tests::Registration {
                    client_id: "web",
                    confidential: true,
                    grant_types: "authorization_code,refresh_token,password",
                    scopes: "",
                    origins: "",
                    redirect_uris: crate::browser_flows::REDIRECT,
                    skip_authorization: false,
                },
            )
            .await;
        let password_grant = async |scope: &'static str| {
            crate::oauth::alice_password_grant(&app, "acme", &client, "correct horse", Some(scope))
                .await
        };
        let issued = password_grant("read").await;
        assert_eq!(issued.status, 200, "{layout}: {}", issued.text);
        let access = string(&issued, "access_token");
        let refresh_token = string(&issued, "refresh_token");
        // UserInfo reads its bearer joined to the user where they share a pool.
        let with_openid = password_grant("openid").await;
        assert_eq!(with_openid.status, 200, "{layout}: {}", with_openid.text);
        let userinfo_bearer = string(&with_openid, "access_token");
        let userinfo = || crate::openid_connect::userinfo_get(&app, "acme", &userinfo_bearer);
        let answer = userinfo().await;
        assert_eq!(answer.status, 200, "{layout}: {}", answer.text);
        let approved = crate::openid_connect::authenticate(
            &app,
            "acme",
            &crate::openid_connect::request(&client, "read", &[]),
        )
        .await;
        let code = approved["code"].clone();
        let redeem = || {
            crate::browser_flows::exchange(
                &app,
                "acme",
                &client,
                &code,
                Some(crate::browser_flows::VERIFIER),
            )
        };
        assert_eq!(
            introspect(&app, "acme", &client, &access).await["active"],
            true
        );

        set_active(&app, backend, user_id, false).await;
        let answer = introspect(&app, "acme", &client, &access).await;
        assert_eq!(answer["active"], false, "{layout}: {answer}");
        let refused = refresh(&app, "acme", &client, &refresh_token, None).await;
        assert_error(&refused, 400, "invalid_grant");
        let redeemed = redeem().await;
        assert_error(&redeemed, 400, "invalid_grant");
        let answer = userinfo().await;
        assert_eq!(answer.status, 401, "{layout}: {}", answer.text);

        set_active(&app, backend, user_id, true).await;
        let answer = introspect(&app, "acme", &client, &access).await;
        assert_eq!(answer["active"], true, "{layout}: {answer}");
        let redeemed = redeem().await;
        assert_eq!(redeemed.status, 200, "{layout}: {}", redeemed.text);
        let refreshed = refresh(&app, "acme", &client, &refresh_token, None).await;
        assert_eq!(refreshed.status, 200, "{layout}: {}", refreshed.text);
        let answer = userinfo().await;
        assert_eq!(answer.status, 200, "{layout}: {}", answer.text);
        app.stop().await;
    }
}

/// Deadlocks (PostgreSQL, MariaDB) and a busy database (SQLite) are recognised by
/// their error codes, so token transactions are retried instead of answering 500.
async fn transient_errors_are_known_by_their_codes(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let connect = || async {
        let mut options = sea_orm::ConnectOptions::new(db.url.clone());
        options
            .max_connections(1)
            .map_sqlx_sqlite_opts(|options| options.busy_timeout(Duration::ZERO));
        sea_orm::Database::connect(options).await.unwrap()
    };
    let (one, two) = (connect().await, connect().await);
    one.execute_unprepared("CREATE TABLE scratch (id INTEGER PRIMARY KEY, v INTEGER)")
        .await
        .unwrap();
    one.execute_unprepared("INSERT INTO scratch (id, v) VALUES (1, 0), (2, 0)")
        .await
        .unwrap();
    let error = if backend == Backend::Sqlite {
        let holder = one.begin().await.unwrap();
        holder
            .execute_unprepared("UPDATE scratch SET v = 1 WHERE id = 1")
            .await
            .unwrap();
        let error = two
            .execute_unprepared("UPDATE scratch SET v = 2 WHERE id = 1")
            .await
            .unwrap_err();
        holder.rollback().await.unwrap();
        error
    } else {
        // Two transactions lock the rows in opposite orders: one is chosen as the
        // deadlock victim.
        let first = one.begin().await.unwrap();
        let second = two.begin().await.unwrap();
        first
            .execute_unprepared("UPDATE scratch SET v = 1 WHERE id = 1")
            .await
            .unwrap();
        second
            .execute_unprepared("UPDATE scratch SET v = 2 WHERE id = 2")
            .await
            .unwrap();
        let (a, b) = tokio::join!(
            first.execute_unprepared("UPDATE scratch SET v = 1 WHERE id = 2"),
            second.execute_unprepared("UPDATE scratch SET v = 2 WHERE id = 1"),
        );
        let error = match (a, b) {
            (Err(error), _) | (_, Err(error)) => error,
            _ => panic!("no deadlock"),
        };
        let _ = first.rollback().await;
        let _ = second.rollback().await;
        error
    };
    assert!(tessera::store::is_transient(&error), "{error}");
    let not_transient = one
        .execute_unprepared("INSERT INTO scratch (id, v) VALUES (1, 0)")
        .await
        .unwrap_err();
    assert!(
        !tessera::store::is_transient(&not_transient),
        "a unique violation is final: {not_transient}"
    );
    one.close().await.unwrap();
    two.close().await.unwrap();
}

/// Brute force (RFC 6749 §2.3.1, §4.3.2). The limiter is in-process and the same on
/// every backend, so this runs on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_limited_per_username_client_and_address() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let toml = format!(
        "migrate_on_start = true\ntrusted_proxies = [\"127.0.0.1\"]\n[databases.default]\nurl = \"{}\"\n\
         [oauth]\nmax_failures_per_username = 3\nmax_failures_per_client = 3\nmax_failures_per_address = 8\n\
         [tenants.acme]\n[tenants.globex]\n",
        db.url
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let web = app
        .client("acme", "web", true, "password,client_credentials", "", "")
        .await;
    app.user("acme", "alice", "right").await;
    let other_web = app.client("globex", "web", true, "password", "", "").await;
    app.user("globex", "alice", "right").await;
    // Per username: three failures, then 429 even for the right password, before
    // any hash is computed.
    for _ in 0..3 {
        assert_error(
            &login(&app, "acme", &web, "alice", "wrong", "203.0.113.1").await,
            400,
            "invalid_grant",
        );
    }
    let hashes = app.state.slow_hashes.runs();
    let locked = login(&app, "acme", &web, "alice", "right", "203.0.113.2").await;
    assert_error(&locked, 429, "temporarily_unavailable");
    let retry_after: u64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry_after), "{retry_after}");
    assert_eq!(
        app.state.slow_hashes.runs(),
        hashes,
        "refused before hashing"
    );
    // The same answers for a name that does not exist.
    for _ in 0..3 {
        assert_error(
            &login(&app, "acme", &web, "mallory", "wrong", "203.0.113.3").await,
            400,
            "invalid_grant",
        );
    }
    assert_error(
        &login(&app, "acme", &web, "mallory", "wrong", "203.0.113.4").await,
        429,
        "temporarily_unavailable",
    );
    // Another tenant's alice is her own.
    let answer = login(&app, "globex", &other_web, "alice", "right", "203.0.113.5").await;
    assert_eq!(answer.status, 200, "{}", answer.text);

    // Per client: three wrong secrets, then 429 for the right one too.
    let wrong = TestClient {
        client_id: "web".to_owned(),
        client_secret: Some("tss_wrong".to_owned()),
    };
    for _ in 0..3 {
        assert_error(
            &login(&app, "acme", &wrong, "bob", "x", "198.51.100.1").await,
            401,
            "invalid_client",
        );
    }
    let locked = app
        .post_form(
            "/t/acme/token",
            Some(&web),
            &[("grant_type", "client_credentials")],
        )
        .await;
    assert_error(&locked, 429, "temporarily_unavailable");
    assert!(locked.header("retry-after").is_some());

    // Per address (behind the trusted proxy, X-Forwarded-For names it): eight
    // failures of any kind from 192.0.2.1, under every per-name limit.
    for index in 0..8 {
        let answer = login(
            &app,
            "globex",
            &other_web,
            &format!("user{index}"),
            "x",
            "192.0.2.1",
        )
        .await;
        assert_error(&answer, 400, "invalid_grant");
    }
    assert_error(
        &login(&app, "globex", &other_web, "alice", "right", "192.0.2.1").await,
        429,
        "temporarily_unavailable",
    );
    let answer = login(&app, "globex", &other_web, "alice", "right", "192.0.2.2").await;
    assert_eq!(
        answer.status, 200,
        "another address is not limited: {}",
        answer.text
    );
    app.stop().await;
}

/// A password grant for `username` through a trusted proxy reporting `from`.
async fn login(
    app: &TestApp,
    tenant: &str,
    client: &TestClient,
    username: &str,
    password: &str,
    from: &str,
) -> tessera_tests::Answer {
    let request = app
        .client
        .post(app.url(&format!("/t/{tenant}/token")))
        .header(
            "authorization",
            tessera_tests::basic_header(
                &client.client_id,
                client.client_secret.as_deref().unwrap(),
            ),
        )
        .header("x-forwarded-for", from);
    app.send_form(
        request,
        &[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ],
    )
    .await
}

/// A stored argon2id hash that no password matches and whose check takes ~3 s: the
/// verification's cost is read from the stored PHC string, so raising its `t=2` to
/// `t=120` makes each check 60 times the default ~50 ms.
fn slow_stored_hash() -> String {
    let hash = tessera::secrets::hash_password("any").unwrap();
    assert!(hash.contains(",t=2,"), "argon2id defaults changed: {hash}");
    hash.replace(",t=2,", ",t=120,")
}

/// The slow-hash bound holds when clients hang up: requests cancelled while their
/// hashes run leave those hashes running, and those still count.
///
/// The user's stored hash takes ~3 s to check, so what the test observes (which
/// hash runs, which requests wait) holds for far longer than a loaded machine
/// needs to deliver the requests: no step depends on a race against a ~50 ms hash.
/// A bound of one keeps the test to one core.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_password_requests_never_exceed_the_hash_bound() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let toml = format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n\
         [limits]\nslow_hash_concurrency = 1\nslow_hash_queue_timeout_ms = 60000\n\
         [oauth]\nmax_failures_per_username = 0\nmax_failures_per_address = 0\n[tenants.acme]\n",
        db.url
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let web = app.client("acme", "web", true, "password", "", "").await;
    let alice = app.user("acme", "alice", "right").await;
    update_user(
        &app,
        alice,
        &format!("password_hash = '{}'", slow_stored_hash()),
    )
    .await;
    let password_grant = |app: &TestApp, client: &reqwest::Client| {
        client
            .post(app.url("/t/acme/token"))
            .header(
                "authorization",
                tessera_tests::basic_header("web", web.client_secret.as_deref().unwrap()),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=password&username=alice&password=right")
            .send()
    };
    // Clients that hang up once every one of their requests has reached the hash
    // pool (one running, the rest waiting): observed, not guessed with a timer.
    let client = reqwest::Client::new();
    let hash_pool = std::sync::Arc::clone(&app.state.slow_hashes);
    let started = Instant::now();
    let wave = |count: usize| {
        // Every hash started from now on is one of this wave's (the previous wave's
        // waiting requests were cancelled with their clients).
        let started_before = hash_pool.runs();
        let requests: Vec<_> = (0..count)
            .map(|_| tokio::spawn(password_grant(&app, &client)))
            .collect();
        let hash_pool = std::sync::Arc::clone(&hash_pool);
        async move {
            poll_until(
                "the requests reach the pool",
                Duration::from_secs(60),
                Duration::from_millis(5),
                || async { hash_pool.waiting() + (hash_pool.runs() - started_before) >= count },
            )
            .await;
            for request in &requests {
                request.abort();
            }
            for request in requests {
                assert!(request.await.is_err(), "each client hung up");
            }
            // The server saw the hang-ups: the waiting requests left the queue.
            poll_until(
                "the cancelled requests leave the queue",
                Duration::from_secs(60),
                Duration::from_millis(5),
                || async { hash_pool.waiting() == 0 },
            )
            .await;
        }
    };
    // The first wave's hash starts and its clients hang up; the second wave arrives
    // while that hash still runs. Were the slot freed with the request, the second
    // wave would start a hash beside it.
    wave(12).await;
    assert_eq!(
        app.state.slow_hashes.running(),
        1,
        "the cancelled hash runs on"
    );
    wave(6).await;
    let waves_took = started.elapsed();
    poll_until(
        "the hashes finish",
        Duration::from_secs(120),
        Duration::from_millis(20),
        || async { app.state.slow_hashes.running() == 0 },
    )
    .await;
    assert_eq!(
        app.state.slow_hashes.runs(),
        1,
        "only the first wave's first request hashed (both waves took {waves_took:?}, \
         the hash ~3 s)"
    );
    let peak = app.state.slow_hashes.peak();
    assert_eq!(peak, 1, "peak {peak} with a bound of 1");
    app.stop().await;

    // A request that would wait longer than the queue timeout gets 503 + Retry-After:
    // the first request's slow hash holds the only slot while the others arrive.
    let toml = format!(
        "migrate_on_start = true\n[databases.default]\nurl = \"{}\"\n\
         [limits]\nslow_hash_concurrency = 1\nslow_hash_queue_timeout_ms = 1\n\
         [oauth]\nmax_failures_per_username = 0\nmax_failures_per_address = 0\n",
        db.url
    );
    let app = spawn_app_with(&toml).await.unwrap();
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let request = password_grant(&app, &app.client);
            async move { tessera_tests::Answer::read(request.await.unwrap()).await }
        })
        .collect();
    let answers = futures_join(requests).await;
    let statuses: Vec<_> = answers.iter().map(|answer| answer.status).collect();
    let hashed: Vec<_> = answers
        .iter()
        .filter(|answer| answer.status != 503)
        .collect();
    assert_eq!(
        hashed.len(),
        1,
        "one request hashed, the others found the slot taken: {statuses:?}"
    );
    // No password matches the stored hash: the one that hashed is refused.
    assert_error(hashed[0], 400, "invalid_grant");
    for answer in answers.iter().filter(|answer| answer.status == 503) {
        assert_error(answer, 503, "temporarily_unavailable");
        assert_eq!(answer.header("retry-after"), Some("1"));
    }
    assert_eq!(
        app.state.slow_hashes.runs(),
        1,
        "a refusal computes no hash"
    );
    app.stop().await;
}

/// Awaits every future concurrently, in order.
pub(crate) async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.unwrap());
    }
    outputs
}
