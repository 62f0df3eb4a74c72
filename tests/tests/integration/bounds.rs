//! What requests without credentials can make the service hold (issue 16, items 4
//! and 7), over HTTP on every backend: a plain sign-in stores nothing; pending
//! interactions and device grants are capped per source address and per tenant;
//! expired rows are swept by the server itself; a slow-header flood is closed while
//! others are answered.

use std::time::{Duration, Instant};

use tessera_tests::{Backend, TestApp, TestDatabase, on_every_backend, spawn_app_with};
use tokio::io::AsyncWriteExt;

const FLOODER: &str = "198.51.100.7";

fn bounds_toml(url: &str) -> String {
    format!(
        "migrate_on_start = true\ntrusted_proxies = [\"127.0.0.1\"]\n\
         [limits]\nsweep_interval_secs = 1\n\
         [databases.default]\nurl = \"{url}\"\n\
         [tenants.acme]\n\
         [tenants.small.oauth]\nmax_pending_interactions_per_address = 5\n\
         max_pending_interactions = 8\nmax_pending_device_grants_per_address = 3\n\
         max_pending_device_grants = 4\n\
         [tenants.six.oauth]\nmax_pending_interactions_per_address = 2\n\
         [tenants.brief]\n"
    )
}

/// Rows of `table` held by tenant `slug`.
async fn rows(app: &TestApp, slug: &str, table: &str) -> i64 {
    use sea_orm::ConnectionTrait;
    let (tenant, db) = app.pool(slug, router_policies::EntityGroup::Tokens).await;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT COUNT(*) FROM {table} WHERE tenant_id = {}",
                tenant.id
            ),
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// A client that follows no redirects (a 303 is an answer here).
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A GET as a browser at `address` (behind the trusted proxy) would send it; the
/// status.
async fn get_from(app: &TestApp, address: &str, path: &str) -> u16 {
    no_redirects()
        .get(app.url(path))
        .header("x-forwarded-for", address)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn authorize_path(tenant: &str) -> String {
    format!(
        "/t/{tenant}/authorize?response_type=code&client_id=spa&\
         redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=read&state={}&\
         code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&\
         code_challenge_method=S256",
        "s".repeat(2000)
    )
}

/// 3,000 unauthenticated requests from one address: plain sign-in pages store
/// nothing, authorization requests store at most the address's cap (the default,
/// 300) and are answered 429 after it, and other addresses are not refused; the
/// per-tenant caps, IPv6 /64 counting, the device endpoint's `slow_down` and the
/// background sweep follow.
async fn unauthenticated_requests_store_at_most_the_caps(backend: Backend) {
    let Some(db) = TestDatabase::create(backend).await else {
        return;
    };
    let app = spawn_app_with(&bounds_toml(&db.url)).await.unwrap();
    for tenant in ["acme", "small", "six", "brief"] {
        app.client(
            tenant,
            "spa",
            false,
            "authorization_code,urn:ietf:params:oauth:grant-type:device_code",
            "",
            "",
        )
        .await;
    }
    let cap = tessera::settings::OAuthSettings::default().max_pending_interactions_per_address;

    // The flood: two concurrent streams from one address, 3,000 requests in all.
    // (The token endpoint's latency for others meanwhile is measured on the release
    // build by `bench/flood.sh`, which CI runs on a quiet machine: a debug build
    // sharing two cores with the other tests cannot time it honestly.)
    let flood = {
        let streams: Vec<_> = (0..2)
            .map(|_| {
                let client = no_redirects();
                let base = app.address.clone();
                async move {
                    let mut seen = Vec::new();
                    for request in 0..1500 {
                        let (kind, path) = match request {
                            0..300 => ("login", "/t/acme/login".to_owned()),
                            300..600 => {
                                ("authorized-tokens", "/t/acme/authorized-tokens".to_owned())
                            }
                            _ => ("authorize", authorize_path("acme")),
                        };
                        let status = client
                            .get(format!("{base}{path}"))
                            .header("x-forwarded-for", FLOODER)
                            .send()
                            .await
                            .unwrap()
                            .status()
                            .as_u16();
                        seen.push((kind, status));
                    }
                    seen
                }
            })
            .collect();
        async move {
            let mut statuses = std::collections::BTreeMap::<(&str, u16), usize>::new();
            for seen in crate::hardening::futures_join(streams).await {
                for answer in seen {
                    *statuses.entry(answer).or_default() += 1;
                }
            }
            statuses
        }
    };
    let statuses = flood.await;
    eprintln!("flood ({backend:?}): statuses {statuses:?}");
    let total: usize = statuses.values().sum();
    assert_eq!(total, 3000);
    // No row before one is needed: the plain sign-in pages answer without storing.
    assert_eq!(statuses.get(&("login", 200)), Some(&600), "{statuses:?}");
    assert_eq!(
        statuses.get(&("authorized-tokens", 303)),
        Some(&600),
        "{statuses:?}"
    );
    let stored = rows(&app, "acme", "interactions").await;
    assert_eq!(
        stored,
        i64::try_from(cap).unwrap(),
        "at most the cap, exactly"
    );
    assert_eq!(
        statuses.get(&("authorize", 303)),
        Some(&usize::try_from(cap).unwrap()),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.get(&("authorize", 429)),
        Some(&(1800 - usize::try_from(cap).unwrap())),
        "{statuses:?}"
    );
    // The refusal is a page that says to try later, with Retry-After.
    let refused = no_redirects()
        .get(app.url(&authorize_path("acme")))
        .header("x-forwarded-for", FLOODER)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert!(refused.text().await.unwrap().contains("Try again"));
    // Another address is not refused.
    assert_eq!(
        get_from(&app, "203.0.113.9", &authorize_path("acme")).await,
        303
    );

    // Tenant-wide cap: five from one address, three from another, then the tenant
    // (8) is full for everyone.
    for _ in 0..5 {
        assert_eq!(
            get_from(&app, "192.0.2.1", &authorize_path("small")).await,
            303
        );
    }
    assert_eq!(
        get_from(&app, "192.0.2.1", &authorize_path("small")).await,
        429
    );
    for _ in 0..3 {
        assert_eq!(
            get_from(&app, "192.0.2.2", &authorize_path("small")).await,
            303
        );
    }
    assert_eq!(
        get_from(&app, "192.0.2.3", &authorize_path("small")).await,
        429
    );
    assert_eq!(rows(&app, "small", "interactions").await, 8);
    // IPv6 addresses count by their /64 (two per address in tenant `six`).
    let v6 = |host: u16| format!("2001:db8:7:7::{host:x}");
    assert_eq!(get_from(&app, &v6(1), &authorize_path("six")).await, 303);
    assert_eq!(get_from(&app, &v6(2), &authorize_path("six")).await, 303);
    assert_eq!(get_from(&app, &v6(3), &authorize_path("six")).await, 429);
    assert_eq!(
        get_from(&app, "2001:db8:7:8::1", &authorize_path("six")).await,
        303,
        "another /64"
    );

    // Device grants: three per address, four per tenant; then slow_down with 429.
    let device = |address: &'static str| {
        let app = &app;
        async move {
            let response = app
                .client
                .post(app.url("/t/small/device_authorization"))
                .header("x-forwarded-for", address)
                .form(&[("client_id", "spa")])
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let retry = response.headers().contains_key("retry-after");
            let body: serde_json::Value = response.json().await.unwrap();
            (
                status,
                retry,
                body["error"].as_str().unwrap_or("").to_owned(),
            )
        }
    };
    for _ in 0..3 {
        assert_eq!(device("192.0.2.1").await.0, 200);
    }
    assert_eq!(
        device("192.0.2.1").await,
        (429, true, "slow_down".to_owned())
    );
    assert_eq!(device("192.0.2.2").await.0, 200);
    assert_eq!(
        device("192.0.2.3").await.0,
        429,
        "the tenant's four are taken"
    );
    assert_eq!(rows(&app, "small", "device_grants").await, 4);

    // The server sweeps expired rows itself (every second here): they were stored
    // (303, 200), and go without any command.
    for _ in 0..4 {
        assert_eq!(
            get_from(&app, "192.0.2.9", &authorize_path("brief")).await,
            303
        );
        assert_eq!(
            app.client
                .post(app.url("/t/brief/device_authorization"))
                .form(&[("client_id", "spa")])
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    // Their expiry passes (set in the database: no sleeping on short lifetimes).
    let (tenant, db) = app
        .pool("brief", router_policies::EntityGroup::Tokens)
        .await;
    for table in ["interactions", "device_grants"] {
        use sea_orm::ConnectionTrait;
        db.execute_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            format!(
                "UPDATE {table} SET expires_at = '2000-01-01 00:00:00' WHERE tenant_id = {}",
                tenant.id
            ),
        ))
        .await
        .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while rows(&app, "brief", "interactions").await + rows(&app, "brief", "device_grants").await > 0
    {
        assert!(
            Instant::now() < deadline,
            "expired rows still there after 15 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    app.stop().await;
}

on_every_backend!(unauthenticated_requests_store_at_most_the_caps);

/// A slow-header flood: 1,000 connections that send half a request line and stop.
/// The server answers others meanwhile, and closes the slow ones after
/// `limits.header_read_timeout_secs` (here 2 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_and_others_answered() {
    let Some(db) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let app = spawn_app_with(&format!(
        "migrate_on_start = true\n[limits]\nheader_read_timeout_secs = 2\n\
         [databases.default]\nurl = \"{}\"\n",
        db.url
    ))
    .await
    .unwrap();
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..1000 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        stream.write_all(b"GET /healthz HT").await.unwrap();
        slow.push(stream);
    }
    // Others are answered while the slow ones hang.
    for _ in 0..20 {
        let started = Instant::now();
        let status = app
            .client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
    }
    // After the timeout every slow connection is closed by the server: a read sees
    // the end of the stream (or a reset), never a hang. One deadline for all of
    // them, well past the 2 s (a loaded machine accepts and times out late).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut closed = 0;
    for mut stream in slow {
        use tokio::io::AsyncReadExt;
        let mut buffer = [0_u8; 512];
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(_)) | Ok(Err(_)) => closed += 1,
            Err(_) => {}
        }
    }
    assert_eq!(closed, 1000, "every slow connection was closed");
    app.stop().await;
}
