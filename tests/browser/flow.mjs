// The real-browser test of Tessera's pages (issue 7), run by
// tests/tests/integration/browser.rs against a server it started.
//
// Debian's Chromium, driven headless by playwright-core, signs a person in with
// openid-client (a certified OpenID library, here in plain OAuth 2 mode):
//   1. a confidential web application: authorization code + PKCE (RFC 6749 §4.1,
//      RFC 7636), login page, consent page, `iss` checked (RFC 9207), refresh;
//   2. a public application with PKCE: the live session skips the login page;
//   3. a denied consent: access_denied with state and iss;
//   4. the device flow (RFC 8628): user code typed in lower case without the dash;
//   5. the authorized-tokens page: revoking the web application revokes its tokens;
//   6. OpenID Connect (issue 8), openid-client in its OIDC mode: discovery, code +
//      PKCE + nonce, the ID token's signature checked against the JWKS
//      (non-repudiation checks), UserInfo with the ID token's subject, refresh with a
//      new ID token, and RP-initiated logout through the confirmation page;
//   7. response_mode=form_post: the answer posted by the page's one script;
//   8. prompt=create; 9. the management pages;
//   10. a plain sign-in from the authorized-tokens page, with nothing stored.
// Screenshots of every page go to $SCREENSHOT_DIR.
//
// Environment: ISSUER, USERNAME, PASSWORD, WEB_CLIENT_ID, WEB_CLIENT_SECRET,
// SPA_CLIENT_ID, DEVICE_CLIENT_ID, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET, SCREENSHOT_DIR;
// it prints "CALLBACK_PORT n" and waits for a line on standard input.

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import * as client from 'openid-client';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
};
const ISSUER = env('ISSUER');
const USERNAME = env('USERNAME');
const PASSWORD = env('PASSWORD');
const SHOTS = env('SCREENSHOT_DIR');
fs.mkdirSync(SHOTS, { recursive: true });

const WAIT = 15_000;
const options = { execute: [client.allowInsecureRequests], algorithm: 'oauth2' };

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// The application's redirect target: a loopback server on any port (RFC 8252 §7.3).
// A POSTed answer (response_mode=form_post) is shown on the page.
const callback = http.createServer((request, response) => {
  let body = '';
  request.on('data', (chunk) => { body += chunk; });
  request.on('end', () => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    const posted = body.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    response.end(`<!doctype html><title>callback</title><p>callback received</p><pre id="posted">${posted}</pre>`);
  });
});
// The callback server binds a free port itself and says which; the test registers
// the post-logout URI on it, then answers "go" on standard input.
await new Promise((resolve) => callback.listen(0, '127.0.0.1', resolve));
console.log(`CALLBACK_PORT ${callback.address().port}`);
await new Promise((resolve) => process.stdin.once('data', resolve));
process.stdin.pause();
const REDIRECT_URI = `http://127.0.0.1:${callback.address().port}/cb`;
const SIGNED_OUT_URI = `http://127.0.0.1:${callback.address().port}/signed-out`;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
const context = await browser.newContext({ viewport: { width: 420, height: 860 } });
const page = await context.newPage();
page.setDefaultTimeout(WAIT);

// Each page twice: as on a phone (420 px, the context's size) and on a desktop.
async function shot(name) {
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.screenshot({ path: path.join(SHOTS, `wide-${name}`), fullPage: true });
  await page.setViewportSize({ width: 420, height: 860 });
}

async function failWith(error) {
  let excerpt = '';
  try {
    excerpt = (await page.innerText('body')).slice(0, 600);
  } catch {
    // the page may be gone
  }
  const oauth = error && error.error ? ` (${error.error}: ${error.error_description ?? ''})` : '';
  console.error(`FAILED: ${error.stack || error}${oauth}\n  cause: ${error && error.cause ? JSON.stringify(error.cause) : '-'}\n  at page ${page.url()}\n  text: ${excerpt}`);
  try {
    await shot('failure.png');
  } catch {
    // best effort
  }
}

// Starts an authorization request in the browser; returns its checks.
async function startCodeFlow(config, scope = 'read write') {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope,
    state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  });
  await page.goto(url.href);
  return { verifier, state };
}

async function signIn() {
  await page.waitForURL(/\/login\?interaction=/);
  check((await page.locator('form').count()) === 1, 'the login page has one form');
  await shot('login.png');
  await page.fill('input[name="username"]', USERNAME);
  await page.fill('input[name="password"]', PASSWORD);
  await page.click('button[type="submit"]');
}

async function consent(button) {
  await page.waitForURL(/\/consent\?interaction=/);
  const text = await page.innerText('body');
  check(text.includes('Read your data'), `the consent page shows the scopes: ${text}`);
  await page.click(`button[name="${button}"]`);
}

async function callbackUrl() {
  await page.waitForURL((url) => url.href.startsWith(REDIRECT_URI));
  return new URL(page.url());
}

try {
  // 1. Confidential web application.
  const web = await client.discovery(
    new URL(ISSUER), env('WEB_CLIENT_ID'), env('WEB_CLIENT_SECRET'), undefined, options,
  );
  let checks = await startCodeFlow(web);
  await signIn();
  await page.waitForURL(/\/consent\?interaction=/);
  await shot('consent.png');
  const consentText = await page.innerText('body');
  check(consentText.includes('Change your data'), 'the consent page lists write');
  await consent('allow');
  let back = await callbackUrl();
  await shot('callback.png');
  check(back.searchParams.get('iss') === ISSUER, `iss ${back.searchParams.get('iss')}`);
  let tokens = await client.authorizationCodeGrant(web, back, {
    pkceCodeVerifier: checks.verifier,
    expectedState: checks.state,
  });
  check(tokens.access_token && tokens.refresh_token, 'web: access and refresh tokens');
  check(tokens.token_type.toLowerCase() === 'bearer', `token_type ${tokens.token_type}`);
  const refreshed = await client.refreshTokenGrant(web, tokens.refresh_token);
  check(refreshed.access_token, 'web: refreshed');
  const webRefresh = refreshed.refresh_token ?? tokens.refresh_token;
  console.log('ok 1 confidential web application: login, consent, code, PKCE, iss, refresh');

  // 2. Public application: the session is live, so consent comes at once.
  const spa = await client.discovery(
    new URL(ISSUER), env('SPA_CLIENT_ID'), undefined, client.None(), options,
  );
  checks = await startCodeFlow(spa);
  await page.waitForURL(/\/(consent|login)\?interaction=/);
  check(page.url().includes('/consent?'), `a live session skips the login page, but got ${page.url()}`);
  await consent('allow');
  back = await callbackUrl();
  tokens = await client.authorizationCodeGrant(spa, back, {
    pkceCodeVerifier: checks.verifier,
    expectedState: checks.state,
  });
  check(tokens.access_token, 'spa: access token');
  console.log('ok 2 public PKCE application, live session: no login page');

  // 3. A denied consent.
  checks = await startCodeFlow(spa);
  await consent('deny');
  back = await callbackUrl();
  check(back.searchParams.get('error') === 'access_denied', `deny: ${back.href}`);
  check(back.searchParams.get('state') === checks.state, 'deny: state echoed');
  check(back.searchParams.get('iss') === ISSUER, 'deny: iss');
  check(!back.searchParams.has('code'), 'deny: no code');
  console.log('ok 3 denied consent: access_denied, state, iss');

  // 4. Device flow.
  const tv = await client.discovery(
    new URL(ISSUER), env('DEVICE_CLIENT_ID'), undefined, client.None(), options,
  );
  const device = await client.initiateDeviceAuthorization(tv, { scope: 'read' });
  check(/^[A-Z]{4}-[A-Z]{4}$/.test(device.user_code), `user code ${device.user_code}`);
  await page.goto(device.verification_uri);
  await shot('device.png');
  await page.fill('input[name="user_code"]', device.user_code.replace('-', '').toLowerCase());
  await page.click('button[type="submit"]');
  await page.waitForSelector('button[name="allow"]');
  await shot('device_confirm.png');
  await page.click('button[name="allow"]');
  await page.waitForURL(/result=approved/);
  const doneText = await page.innerText('body');
  check(/approved/i.test(doneText), `device: ${doneText}`);
  await shot('device_done.png');
  const deviceTokens = await client.pollDeviceAuthorizationGrant(tv, device, undefined, {
    signal: AbortSignal.timeout(60_000),
  });
  check(deviceTokens.access_token, 'device: access token');
  console.log('ok 4 device flow: user code typed in lower case, approved, polled');

  // 5. Authorized applications: revoke the web application.
  await page.goto(`${ISSUER}/authorized-tokens`);
  const webEntry = page.locator(`[data-client-id="${env('WEB_CLIENT_ID')}"]`);
  check((await webEntry.count()) === 1, 'the web application is listed');
  await shot('authorized_tokens.png');
  await Promise.all([
    page.waitForNavigation(),
    webEntry.locator('button[name="revoke"]').click(),
  ]);
  check(new URL(page.url()).pathname.endsWith('/authorized-tokens'),
    `after revoking, back on the authorized-tokens page, not ${page.url()}`);
  check((await page.innerText('h1')) === 'Authorized applications', 'the page itself, not an error');
  check((await page.locator(`[data-client-id="${env('SPA_CLIENT_ID')}"]`).count()) === 1,
    'the other applications stay listed');
  await page.waitForFunction(
    (id) => !document.querySelector(`[data-client-id="${id}"]`),
    env('WEB_CLIENT_ID'),
  );
  await shot('authorized_tokens_after.png');
  let refused = null;
  try {
    await client.refreshTokenGrant(web, webRefresh);
  } catch (error) {
    refused = error;
  }
  check(refused && refused.error === 'invalid_grant',
    `a revoked refresh token is refused with invalid_grant, got ${refused && (refused.error || refused.message)}`);
  console.log('ok 5 authorized-tokens page: revoked the web application and its tokens');

  // 6. OpenID Connect.
  const oidc = await client.discovery(
    new URL(ISSUER), env('OIDC_CLIENT_ID'), env('OIDC_CLIENT_SECRET'), undefined,
    { execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] },
  );
  check(oidc.serverMetadata().end_session_endpoint, 'discovery names the end-session endpoint');
  const verifier = client.randomPKCECodeVerifier();
  const nonce = client.randomNonce();
  const state = client.randomState();
  await page.goto(client.buildAuthorizationUrl(oidc, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile email read',
    nonce,
    state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
  }).href);
  await page.waitForURL(/\/consent\?interaction=/);
  await shot('consent-openid.png');
  await consent('allow');
  back = await callbackUrl();
  const oidcTokens = await client.authorizationCodeGrant(oidc, back, {
    pkceCodeVerifier: verifier,
    expectedNonce: nonce,
    expectedState: state,
    idTokenExpected: true,
  });
  const claims = oidcTokens.claims();
  check(claims && claims.iss === ISSUER, `ID token iss ${claims && claims.iss}`);
  check(claims.aud === env('OIDC_CLIENT_ID'), `ID token aud ${claims.aud}`);
  check(typeof claims.auth_time === 'number', 'ID token auth_time');
  const userinfo = await client.fetchUserInfo(oidc, oidcTokens.access_token, claims.sub);
  check(userinfo.preferred_username === USERNAME, `userinfo ${JSON.stringify(userinfo)}`);
  const oidcRefreshed = await client.refreshTokenGrant(oidc, oidcTokens.refresh_token);
  check(oidcRefreshed.claims().sub === claims.sub, 'a refreshed ID token has the same sub');
  await page.goto(client.buildEndSessionUrl(oidc, {
    id_token_hint: oidcRefreshed.id_token,
    post_logout_redirect_uri: SIGNED_OUT_URI,
    state: 'signed-out-state',
  }).href);
  await page.waitForSelector('button[name="confirm"]');
  await shot('logout.png');
  await page.click('button[name="confirm"]');
  await page.waitForURL((url) => url.href.startsWith(SIGNED_OUT_URI));
  check(new URL(page.url()).searchParams.get('state') === 'signed-out-state', `logout: ${page.url()}`);
  let afterLogout = null;
  try {
    await client.refreshTokenGrant(oidc, oidcRefreshed.refresh_token);
  } catch (error) {
    afterLogout = error;
  }
  check(afterLogout && afterLogout.error === 'invalid_grant', 'logout revoked the client\'s tokens');
  await page.goto(client.buildAuthorizationUrl(oidc, {
    redirect_uri: REDIRECT_URI, scope: 'openid read', nonce, state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }).href);
  await page.waitForURL(/\/login\?interaction=/);
  console.log('ok 6 OpenID Connect: discovery, ID token signature via JWKS, userinfo, refresh, logout');

  // 7. response_mode=form_post: the page's one script (allowed by its CSP hash) posts
  // the answer to the redirect URI.
  const postVerifier = client.randomPKCECodeVerifier();
  await page.goto(client.buildAuthorizationUrl(oidc, {
    redirect_uri: REDIRECT_URI, scope: 'openid read', nonce, state, response_mode: 'form_post',
    login_hint: USERNAME,
    code_challenge: await client.calculatePKCECodeChallenge(postVerifier), code_challenge_method: 'S256',
  }).href);
  await page.waitForURL(/\/login\?interaction=/);
  check(await page.inputValue('input[name="username"]') === USERNAME, 'login_hint fills the username');
  await shot('login-hint.png');
  await signIn();
  await consent('allow');
  await page.waitForURL((url) => url.href.startsWith(REDIRECT_URI));
  const posted = new URLSearchParams(await page.innerText('#posted'));
  check(posted.get('code') && posted.get('state') === state && posted.get('iss') === ISSUER,
    `form_post delivered ${posted}`);
  const postedTokens = await client.authorizationCodeGrant(oidc, new URL(`${REDIRECT_URI}?${posted}`), {
    pkceCodeVerifier: postVerifier, expectedNonce: nonce, expectedState: state,
  });
  check(postedTokens.claims().sub === claims.sub, 'form_post: the same subject');
  // The form-post page as a browser without scripts shows it: its Continue button.
  const still = await browser.newContext({ viewport: { width: 420, height: 860 }, javaScriptEnabled: false });
  await still.addCookies(await context.cookies());
  const quiet = await still.newPage();
  quiet.setDefaultTimeout(WAIT);
  await quiet.goto(client.buildAuthorizationUrl(oidc, {
    redirect_uri: REDIRECT_URI, scope: 'openid read', nonce, state, response_mode: 'form_post',
    code_challenge: await client.calculatePKCECodeChallenge(postVerifier), code_challenge_method: 'S256',
  }).href);
  await quiet.waitForURL(/\/consent\?interaction=/);
  await quiet.click('button[name="allow"]');
  await quiet.waitForSelector('noscript button, button.primary');
  await quiet.screenshot({ path: path.join(SHOTS, 'form_post.png'), fullPage: true });
  await quiet.setViewportSize({ width: 1280, height: 800 });
  await quiet.screenshot({ path: path.join(SHOTS, 'wide-form_post.png'), fullPage: true });
  check((await quiet.innerText('body')).includes('Continue'), 'without scripts, a Continue button');
  await still.close();
  console.log('ok 7 response_mode=form_post: posted by the page, redeemed');

  // 8. prompt=create (OpenID Connect Prompt Create 1.0): the sign-up page, even for a
  // signed-in browser; a taken name is refused on the page; the new account signs in
  // and the ID token is the new subject's.
  const createVerifier = client.randomPKCECodeVerifier();
  await page.goto(client.buildAuthorizationUrl(oidc, {
    redirect_uri: REDIRECT_URI, scope: 'openid profile email read', nonce, state, prompt: 'create',
    code_challenge: await client.calculatePKCECodeChallenge(createVerifier), code_challenge_method: 'S256',
  }).href);
  await page.waitForURL(/\/sign-up\?interaction=/);
  check((await page.locator('form').count()) === 1, 'the sign-up page has one form');
  await shot('sign-up.png');
  await page.fill('input[name="username"]', USERNAME);
  await page.fill('input[name="email"]', 'new@example.com');
  await page.fill('input[name="password"]', 'a new long passphrase');
  await page.click('button[type="submit"]');
  await page.waitForSelector('.error');
  check((await page.innerText('.error')).includes('taken'), 'a taken username is refused');
  check(await page.inputValue('input[name="username"]') === USERNAME, 'the username stays filled in');
  await shot('sign-up-taken.png');
  await page.fill('input[name="username"]', 'newcomer');
  await page.fill('input[name="email"]', 'new@example.com');
  await page.fill('input[name="password"]', 'a new long passphrase');
  await page.click('button[type="submit"]');
  await consent('allow');
  back = await callbackUrl();
  const created = await client.authorizationCodeGrant(oidc, back, {
    pkceCodeVerifier: createVerifier, expectedNonce: nonce, expectedState: state, idTokenExpected: true,
  });
  const newcomer = created.claims();
  check(newcomer.sub !== claims.sub, 'prompt=create made a new subject');
  const newInfo = await client.fetchUserInfo(oidc, created.access_token, newcomer.sub);
  check(newInfo.preferred_username === 'newcomer' && newInfo.email === 'new@example.com'
    && newInfo.email_verified === false, `the new account's claims ${JSON.stringify(newInfo)}`);
  console.log('ok 8 prompt=create: sign-up page, refusal shown, new account signed in');

  // 9. The management pages (DOT's management views): the signed-in user registers a
  // confidential application with the tenant's extension field, sees the secret once,
  // uses it (client credentials with openid-client), rotates it, deletes the app.
  await page.goto(`${ISSUER}/applications`);
  await page.click('text=Register a new application');
  await page.waitForSelector('input[name="name"]');
  await page.fill('input[name="name"]', 'Reporting');
  await page.uncheck('input[name="grant_authorization_code"]');
  await page.uncheck('input[name="grant_refresh_token"]');
  await page.check('input[name="grant_client_credentials"]');
  await page.fill('input[name="field_homepage"]', 'http://reports.example');
  await shot('application-new.png');
  await page.click('button[type="submit"].primary');
  await page.waitForSelector('.error');
  check((await page.innerText('.error')).includes('https'), 'an http homepage is refused');
  await page.fill('input[name="field_homepage"]', 'https://reports.example');
  await page.click('button[type="submit"].primary');
  await page.waitForSelector('#client-secret');
  await shot('application-secret.png');
  const appId = (await page.innerText('#client-id')).trim();
  const appSecret = (await page.innerText('#client-secret')).trim();
  const registered = await client.discovery(new URL(ISSUER), appId, appSecret, undefined, options);
  const machine = await client.clientCredentialsGrant(registered, { scope: 'read' });
  check(typeof machine.access_token === 'string', 'the registered application gets a token');
  await page.goto(`${ISSUER}/applications`);
  check(await page.locator(`[data-client-id="${appId}"]`).count() === 1, 'listed');
  await shot('applications.png');
  await page.click(`[data-client-id="${appId}"] a`);
  await page.waitForSelector('input[name="field_homepage"]');
  check(await page.inputValue('input[name="field_homepage"]') === 'https://reports.example', 'the field kept');
  // Rotation and deletion ask first; the first press changes nothing.
  await page.click('button[name="rotate"]');
  await page.waitForSelector('input[name="confirm"]', { state: 'attached' });
  check((await page.innerText('h1')).includes('new client secret'), 'rotation asks first');
  await shot('application-confirm.png');
  await page.click('button[name="rotate"]');
  await page.waitForSelector('#client-secret');
  const rotated = (await page.innerText('#client-secret')).trim();
  check(rotated !== appSecret, 'a new secret');
  let oldSecret = null;
  try {
    await client.clientCredentialsGrant(registered, { scope: 'read' });
  } catch (error) {
    oldSecret = error;
  }
  check(oldSecret && (oldSecret.error === 'invalid_client' || oldSecret.status === 401), `the old secret stopped working: ${oldSecret && (oldSecret.error || oldSecret.message)}`);
  const renewed = await client.discovery(new URL(ISSUER), appId, rotated, undefined, options);
  check(typeof (await client.clientCredentialsGrant(renewed, { scope: 'read' })).access_token === 'string',
    'the new secret works');
  await page.goto(`${ISSUER}/applications/${appId}`);
  await page.click('button[name="delete"]');
  await page.waitForSelector('input[name="confirm"]', { state: 'attached' });
  check((await page.innerText('h1')).includes('Delete'), 'deletion asks first');
  await page.click('button[name="delete"]');
  await page.waitForURL((url) => url.pathname.endsWith('/applications'));
  check(await page.locator(`[data-client-id="${appId}"]`).count() === 0, 'deleted');
  console.log('ok 9 management pages: registered, used, secret rotated, deleted');

  // 10. A plain sign-in (issue 16): a browser without a session opens the
  // authorized-tokens page, signs in on a login page that stored nothing (the page to
  // return to is in the form, its CSRF token bound to a cookie), and comes back.
  const fresh = await browser.newContext({ viewport: { width: 420, height: 860 } });
  const plain = await fresh.newPage();
  plain.setDefaultTimeout(WAIT);
  await plain.goto(`${ISSUER}/authorized-tokens`);
  await plain.waitForURL(/\/login\?next=/);
  check((await plain.locator('input[name="next"]').count()) === 1, 'the form carries the page to return to');
  check((await plain.locator('input[name="interaction"]').inputValue()) === '', 'no interaction was stored');
  await plain.screenshot({ path: path.join(SHOTS, 'plain-login.png'), fullPage: true });
  await plain.fill('input[name="username"]', USERNAME);
  await plain.fill('input[name="password"]', PASSWORD);
  await plain.click('button[type="submit"]');
  await plain.waitForURL((url) => url.pathname.endsWith('/authorized-tokens'));
  check((await plain.innerText('body')).includes(USERNAME), 'signed in, back on the authorized-tokens page');
  await fresh.close();
  console.log('ok 10 plain sign-in: nothing stored, back on the page that asked');
} catch (error) {
  await failWith(error);
  process.exitCode = 1;
} finally {
  await browser.close();
  callback.close();
}
