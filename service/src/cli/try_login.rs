//! `tessera try-login`: the client's part of a sign-in, for a first try and for
//! checking a deployment (like Hydra's `perform authorization-code`). It reads the
//! tenant's discovery document, prints the authorization URL (code flow, PKCE S256,
//! `state`, `nonce`; RFC 6749 §4.1, RFC 7636, OIDC Core §3.1.2), receives the
//! browser on a loopback redirect URI (RFC 8252 §7.3: the application registers
//! `http://127.0.0.1/callback`, any port), exchanges the code (§4.1.3), and prints
//! the tokens and the ID token's claims after checking its signature against the
//! JWKS, its issuer, audience, expiry and nonce (OIDC Core §3.1.3.7).

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Config;

use super::arguments::TryLogin;
use super::{CliError, invalid, read_line};

/// How long the command waits for the browser.
const WAIT_FOR_BROWSER: Duration = Duration::from_secs(300);

fn failed(message: impl Into<String>) -> CliError {
    CliError {
        code: 1,
        message: message.into(),
    }
}

fn random_token() -> Result<String, CliError> {
    Ok(URL_SAFE_NO_PAD.encode(crate::secrets::random_bytes(32)?))
}

pub(super) async fn try_login(
    config: Config,
    asked: TryLogin,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let secret = if asked.client_secret_stdin {
        Some(read_line(input, "the client secret")?)
    } else {
        None
    };
    let issuer = asked.issuer.clone().unwrap_or_else(|| {
        format!(
            "{}/t/{}",
            config.public_url.trim_end_matches('/'),
            asked.tenant
        )
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|error| failed(format!("HTTP client: {error}")))?;
    let discovery_url = format!("{issuer}/.well-known/openid-configuration");
    let discovery = get_json(&http, &discovery_url).await.map_err(|message| {
        failed(format!(
            "{message}: is `tessera serve` running, and is {issuer} the tenant's issuer? \
             (--issuer sets it)"
        ))
    })?;
    let endpoint = |name: &str| {
        discovery[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| failed(format!("{discovery_url} has no {name}")))
    };
    let authorization_endpoint = endpoint("authorization_endpoint")?;
    let token_endpoint = endpoint("token_endpoint")?;
    let jwks_uri = endpoint("jwks_uri")?;

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", asked.port))
        .await
        .map_err(|error| invalid(format!("--port {}: cannot listen: {error}", asked.port)))?;
    let redirect_uri = format!(
        "http://127.0.0.1:{}/callback",
        listener.local_addr()?.port()
    );
    let verifier = random_token()?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_token()?;
    let nonce = random_token()?;
    let mut authorize = url::Url::parse(&authorization_endpoint)
        .map_err(|error| failed(format!("authorization_endpoint: {error}")))?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &asked.client_id)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", &asked.scope)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    writeln!(
        out,
        "Open this URL in a browser and sign in:\n\n  {authorize}\n"
    )?;
    writeln!(
        out,
        "Waiting on {redirect_uri} (the application must list http://127.0.0.1/callback \
         among its redirect URIs; any port matches it) …"
    )?;
    out.flush()?;

    let answer = tokio::time::timeout(WAIT_FOR_BROWSER, receive_redirect(&listener))
        .await
        .map_err(|_| failed("no browser came back within 5 minutes"))??;
    if answer.get("state") != Some(&state) {
        return Err(failed(
            "the redirect's state is not the one sent: not this sign-in's answer",
        ));
    }
    if let Some(error) = answer.get("error") {
        return Err(failed(format!(
            "the authorization server answered {error}: {}",
            answer.get("error_description").map_or("", String::as_str)
        )));
    }
    if let Some(iss) = answer.get("iss")
        && iss != &issuer
    {
        return Err(failed(format!(
            "the answer's iss is {iss}, not {issuer} (RFC 9207): refusing it"
        )));
    }
    let code = answer
        .get("code")
        .ok_or_else(|| failed("the redirect carries no code"))?;

    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    let mut request = http.post(&token_endpoint);
    match &secret {
        // RFC 6749 §2.3.1: both parts form-urlencoded, then Basic.
        Some(secret) => {
            let encode = |value: &str| {
                url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
            };
            request = request.basic_auth(encode(&asked.client_id), Some(encode(secret)));
        }
        None => form.push(("client_id", asked.client_id.as_str())),
    }
    let response = request
        .form(&form)
        .send()
        .await
        .map_err(|error| failed(format!("POST {token_endpoint}: {error}")))?;
    let status = response.status();
    let tokens: Value = response
        .json()
        .await
        .map_err(|error| failed(format!("POST {token_endpoint}: not JSON: {error}")))?;
    if !status.is_success() {
        return Err(failed(format!(
            "the token endpoint answered {status}: {tokens}{}",
            if tokens["error"] == "invalid_client" && secret.is_none() {
                " (a confidential client: pipe its secret and add --client-secret-stdin)"
            } else {
                ""
            }
        )));
    }
    writeln!(out, "\nTokens (RFC 6749 §5.1):\n{tokens:#}")?;
    let Some(id_token) = tokens["id_token"].as_str() else {
        writeln!(
            out,
            "\nNo ID token: ask for the openid scope (--scope \"openid\")."
        )?;
        return Ok(());
    };
    let jwks = get_json(&http, &jwks_uri).await.map_err(failed)?;
    let claims = verify_id_token(id_token, &jwks, &issuer, &asked.client_id, &nonce)?;
    writeln!(
        out,
        "\nID token verified (signature against {jwks_uri}, iss, aud, exp, nonce). Claims:\n{claims:#}"
    )?;
    Ok(())
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|error| format!("GET {url}: {error}"))?;
    if !response.status().is_success() {
        return Err(format!("GET {url}: {}", response.status()));
    }
    response
        .json()
        .await
        .map_err(|error| format!("GET {url}: not JSON: {error}"))
}

/// Accepts connections until one asks for `/callback`; answers the browser with a
/// short page and returns the query's parameters.
async fn receive_redirect(
    listener: &tokio::net::TcpListener,
) -> Result<BTreeMap<String, String>, CliError> {
    loop {
        let (mut stream, _) = listener.accept().await?;
        let mut head = Vec::with_capacity(2048);
        let mut buffer = [0_u8; 1024];
        // The request line and headers; a browser sends no body on this GET.
        while !head.windows(4).any(|window| window == b"\r\n\r\n") && head.len() < 16 * 1024 {
            let read = stream.read(&mut buffer).await?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(&buffer[..read]);
        }
        let text = String::from_utf8_lossy(&head);
        let target = text
            .lines()
            .next()
            .and_then(|line| line.split_whitespace().nth(1))
            .unwrap_or("");
        let Some(query) = target.strip_prefix("/callback") else {
            // A favicon or anything else: not the answer.
            let _ = stream
                .write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await;
            continue;
        };
        let parameters: BTreeMap<String, String> =
            url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes())
                .into_owned()
                .collect();
        let body = "<!doctype html><title>Tessera</title><p>Signed in: the command line has the answer. You can close this window.</p>";
        let page = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(page.as_bytes()).await;
        return Ok(parameters);
    }
}

/// The ID token's claims after OIDC Core §3.1.3.7's checks: a signature by a key of
/// the JWKS (by `kid`), `iss`, `aud`, `exp` and the `nonce` sent.
fn verify_id_token(
    id_token: &str,
    jwks: &Value,
    issuer: &str,
    client_id: &str,
    nonce: &str,
) -> Result<Value, CliError> {
    let header = jsonwebtoken::decode_header(id_token)
        .map_err(|error| failed(format!("ID token header: {error}")))?;
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|error| failed(format!("JWKS: {error}")))?;
    let jwk = header
        .kid
        .as_deref()
        .and_then(|kid| set.find(kid))
        .ok_or_else(|| failed("the ID token's kid is not in the JWKS"))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk)
        .map_err(|error| failed(format!("JWKS key: {error}")))?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    let data = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .map_err(|error| failed(format!("ID token does not verify: {error}")))?;
    if data.claims["nonce"] != json!(nonce) {
        return Err(failed("the ID token's nonce is not the one sent"));
    }
    Ok(data.claims)
}
