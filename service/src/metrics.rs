//! The node's counters for Prometheus (`/metrics`, text exposition format 0.0.4):
//! requests by route and status, their latency by route, tokens issued by grant,
//! security events. The gauges of the moment (pools, Redis, caches, the slow-hash
//! queue) are read when scraped and handed to [`Metrics::render`].
//!
//! Labels are `'static` names (route names, grant types, event names): the series
//! are bounded by the code, never by what a client sends. Each record takes one
//! short lock or one atomic add.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A security or life-cycle event, counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A token revoked at the revocation endpoint (RFC 7009).
    Revocation,
    /// A refresh token presented again: its family revoked.
    RefreshReuse,
    /// An authorization code presented again: its tokens revoked.
    CodeReplay,
    /// An attempt refused for too many failures.
    Lockout,
    /// A wrong password or unknown user.
    LoginFailed,
    /// A client that failed to authenticate.
    ClientAuthenticationFailed,
}

impl Event {
    const ALL: [Event; 6] = [
        Event::Revocation,
        Event::RefreshReuse,
        Event::CodeReplay,
        Event::Lockout,
        Event::LoginFailed,
        Event::ClientAuthenticationFailed,
    ];

    fn index(self) -> usize {
        self as usize
    }

    /// The metric that counts it, and its help text.
    fn metric(self) -> (&'static str, &'static str) {
        match self {
            Event::Revocation => (
                "tessera_revocations_total",
                "Revocation requests answered 200 (RFC 7009 §2.2: unknown tokens too).",
            ),
            Event::RefreshReuse => (
                "tessera_refresh_reuse_detections_total",
                "Refresh tokens presented again (their family revoked).",
            ),
            Event::CodeReplay => (
                "tessera_code_replays_total",
                "Authorization codes presented again (their tokens revoked).",
            ),
            Event::Lockout => (
                "tessera_lockouts_total",
                "Attempts refused for too many failures.",
            ),
            Event::LoginFailed => (
                "tessera_login_failures_total",
                "Sign-ins refused: wrong password or unknown user.",
            ),
            Event::ClientAuthenticationFailed => (
                "tessera_client_authentication_failures_total",
                "Client authentications that failed.",
            ),
        }
    }
}

/// One route's latency histogram: counts per bucket, the sum and the count.
#[derive(Debug, Default)]
struct Histogram {
    buckets: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.buckets.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.sum += seconds;
        self.count += 1;
    }
}

/// What requests did, under one lock.
#[derive(Debug, Default)]
struct Requests {
    by_status: HashMap<(&'static str, u16), u64>,
    latency: HashMap<&'static str, Histogram>,
}

/// A value of the moment, read when scraped.
#[derive(Clone, Debug)]
pub struct Gauge {
    /// Metric name (`tessera_…`).
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

/// The node's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<Requests>,
    tokens_issued: Mutex<BTreeMap<&'static str, u64>>,
    events: [AtomicU64; Event::ALL.len()],
}

impl Metrics {
    /// Counts one request to `route` that answered `status` after `elapsed`.
    pub fn record_request(&self, route: &'static str, status: u16, elapsed: Duration) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests.by_status.entry((route, status)).or_default() += 1;
            requests
                .latency
                .entry(route)
                .or_default()
                .observe(elapsed.as_secs_f64());
        }
    }

    /// Counts a token response of grant type `grant` (RFC 7591 name).
    pub fn record_tokens(&self, grant: &'static str) {
        if let Ok(mut issued) = self.tokens_issued.lock() {
            *issued.entry(grant).or_default() += 1;
        }
    }

    /// Counts one `event`.
    pub fn record(&self, event: Event) {
        self.events[event.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// How many `event`s so far.
    pub fn count(&self, event: Event) -> u64 {
        self.events[event.index()].load(Ordering::Relaxed)
    }

    /// The exposition text: these counters, then `gauges`.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut text = String::with_capacity(8 * 1024);
        if let Ok(requests) = self.requests.lock() {
            header(
                &mut text,
                "tessera_http_requests_total",
                "counter",
                "HTTP requests by route name and status.",
            );
            let mut by_status: Vec<_> = requests.by_status.iter().collect();
            by_status.sort();
            for ((route, status), count) in by_status {
                let _ = writeln!(
                    text,
                    "tessera_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
            header(
                &mut text,
                "tessera_http_request_duration_seconds",
                "histogram",
                "Time from the request's arrival to its answer, by route name.",
            );
            let mut latency: Vec<_> = requests.latency.iter().collect();
            latency.sort_by_key(|(route, _)| **route);
            for (route, histogram) in latency {
                for (count, bound) in histogram.buckets.iter().zip(BUCKETS) {
                    let _ = writeln!(
                        text,
                        "tessera_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    text,
                    "tessera_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    histogram.count
                );
                let _ = writeln!(
                    text,
                    "tessera_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    histogram.sum
                );
                let _ = writeln!(
                    text,
                    "tessera_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    histogram.count
                );
            }
        }
        header(
            &mut text,
            "tessera_tokens_issued_total",
            "counter",
            "Token responses by grant type (refresh_token: refreshes).",
        );
        if let Ok(issued) = self.tokens_issued.lock() {
            for (grant, count) in issued.iter() {
                let _ = writeln!(
                    text,
                    "tessera_tokens_issued_total{{grant_type=\"{grant}\"}} {count}"
                );
            }
        }
        for event in Event::ALL {
            let (name, help) = event.metric();
            header(&mut text, name, "counter", help);
            let _ = writeln!(text, "{name} {}", self.count(event));
        }
        let mut last = "";
        for gauge in gauges {
            if gauge.name != last {
                header(&mut text, gauge.name, "gauge", gauge.help);
                last = gauge.name;
            }
            let labels: Vec<String> = gauge
                .labels
                .iter()
                .map(|(name, value)| format!("{name}=\"{}\"", escape(value)))
                .collect();
            if labels.is_empty() {
                let _ = writeln!(text, "{} {}", gauge.name, gauge.value);
            } else {
                let _ = writeln!(
                    text,
                    "{}{{{}}} {}",
                    gauge.name,
                    labels.join(","),
                    gauge.value
                );
            }
        }
        text
    }
}

fn header(text: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(text, "# HELP {name} {help}");
    let _ = writeln!(text, "# TYPE {name} {kind}");
}

/// A label value as the exposition format quotes it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_render_in_the_exposition_format() {
        let metrics = Metrics::default();
        metrics.record_request("token", 200, Duration::from_millis(3));
        metrics.record_request("token", 200, Duration::from_millis(30));
        metrics.record_request("token", 401, Duration::from_millis(1));
        metrics.record_tokens("client_credentials");
        metrics.record(Event::Lockout);
        let text = metrics.render(&[Gauge {
            name: "tessera_pool_connections",
            help: "Connections.",
            labels: vec![("pool", "a\"b".to_owned())],
            value: 3.0,
        }]);
        assert!(text.contains("tessera_http_requests_total{route=\"token\",status=\"200\"} 2"));
        assert!(text.contains("tessera_http_requests_total{route=\"token\",status=\"401\"} 1"));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{route=\"token\",le=\"0.005\"} 2"
        ));
        assert!(text.contains(
            "tessera_http_request_duration_seconds_bucket{route=\"token\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("tessera_tokens_issued_total{grant_type=\"client_credentials\"} 1"));
        assert!(text.contains("tessera_lockouts_total 1"));
        assert!(text.contains("tessera_pool_connections{pool=\"a\\\"b\"} 3"));
        // Every sample line belongs to a declared metric.
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            let family = name
                .trim_end_matches("_bucket")
                .trim_end_matches("_sum")
                .trim_end_matches("_count");
            assert!(
                text.contains(&format!("# TYPE {family} ")),
                "{line} has no TYPE"
            );
        }
    }
}
