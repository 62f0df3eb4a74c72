// node oidc-provider (panva) for the code-flow comparison (bench/code-flow.sh): the
// same work as Tessera's and DOT's code flow in ../shared/bench-peers/codeflow — a
// browser with a live session, a client whose grant the user already approved, PKCE
// S256, scope `read`, an opaque access token and a refresh token per code — in
// memory, one process, listening on 127.0.0.1 only.
//
// Its stock in-memory adapter is an LRU of 1,000 entries shared by sessions, grants,
// codes and tokens: at hundreds of flows per second it forgets an access token or a
// refresh token within a second or two of issuing it, less than a store of record
// does. `UnboundedMemory` below keeps each entry until it expires (swept every
// 10 s), as Tessera's and DOT's databases keep their rows.
//
// The sign-in and consent interaction answers at once for user `alice` (no page):
// the benchmark signs in once through it, then measures authorize + token only.
// `read` is a resource server's scope (RFC 8707 resource indicators, oidc-provider's
// way to grant non-OpenID scopes), issued as an opaque token as Tessera's are.
//
// env: OIDC_PORT (default 18091), BENCH_CLIENT_ID, BENCH_CLIENT_SECRET,
//      BENCH_REDIRECT_URI, OIDC_MODULES (the node_modules holding oidc-provider)
import { createRequire } from 'node:module';
import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';

const modules = process.env.OIDC_MODULES;
if (!modules) {
  console.error('OIDC_MODULES must name the node_modules directory holding oidc-provider');
  process.exit(2);
}
const require = createRequire(path.join(modules, 'bench.cjs'));
const { default: Provider } = await import(require.resolve('oidc-provider'));

const port = Number(process.env.OIDC_PORT || 18091);
const issuer = `http://127.0.0.1:${port}`;
const clientId = process.env.BENCH_CLIENT_ID || 'bench-web';
const clientSecret = process.env.BENCH_CLIENT_SECRET || 'bench-secret';
const redirectUri = process.env.BENCH_REDIRECT_URI || 'http://127.0.0.1/cb';
const resource = 'urn:bench:api';

// Entries by model and id, each with its expiry (ms since the epoch); keys by grant
// (for a revocation) and by model and uid (a session's second name).
const entries = new Map();
const byGrant = new Map();
const byUid = new Map();
setInterval(() => {
  const now = Date.now();
  for (const [key, entry] of entries) {
    if (entry.expires > now) continue;
    entries.delete(key);
    if (key.startsWith('Grant:')) byGrant.delete(key.slice('Grant:'.length));
  }
}, 10_000).unref();

class UnboundedMemory {
  constructor(model) {
    this.model = model;
  }

  key(id) {
    return `${this.model}:${id}`;
  }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    entries.set(key, { payload, expires: Date.now() + (expiresIn || 86400) * 1000 });
    if (payload.uid) byUid.set(`${this.model}:${payload.uid}`, key);
    if (payload.grantId) {
      if (!byGrant.has(payload.grantId)) byGrant.set(payload.grantId, new Set());
      byGrant.get(payload.grantId).add(key);
    }
  }

  async find(id) {
    const entry = entries.get(this.key(id));
    if (!entry || entry.expires <= Date.now()) return undefined;
    return entry.payload;
  }

  async findByUid(uid) {
    const entry = entries.get(byUid.get(`${this.model}:${uid}`));
    if (!entry || entry.expires <= Date.now()) return undefined;
    return entry.payload;
  }

  async findByUserCode(userCode) {
    for (const entry of entries.values()) {
      if (entry.payload.userCode === userCode && entry.expires > Date.now()) return entry.payload;
    }
    return undefined;
  }

  async consume(id) {
    const entry = entries.get(this.key(id));
    if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) {
    entries.delete(this.key(id));
  }

  async revokeByGrantId(grantId) {
    for (const key of byGrant.get(grantId) || []) entries.delete(key);
    byGrant.delete(grantId);
  }
}

const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  adapter: UnboundedMemory,
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: [redirectUri],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  scopes: ['openid', 'offline_access', 'read'],
  jwks: { keys: [{ ...jwk, kid: 'bench', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: ['bench-code-flow-cookie-key'] },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // Every code issues a refresh token, as Tessera's and DOT's do for this client.
  issueRefreshToken: (ctx, client) => client.grantTypeAllowed('refresh_token'),
  features: {
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'read', accessTokenFormat: 'opaque' }),
    },
  },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, RefreshToken: 86400 },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));

// The interaction: sign `alice` in and grant what the request asks, at once.
const callback = provider.callback();
const server = (await import('node:http')).createServer(async (req, res) => {
  if (!req.url.startsWith('/interaction/')) {
    callback(req, res);
    return;
  }
  try {
    const details = await provider.interactionDetails(req, res);
    const accountId = 'alice';
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId, clientId: details.params.client_id });
    const missing = details.prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes || {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    await provider.interactionFinished(req, res, {
      login: { accountId },
      consent: { grantId },
    }, { mergeWithLastSubmission: false });
  } catch (error) {
    console.error('interaction failed', error);
    res.statusCode = 500;
    res.end(String(error));
  }
});

const version = require('oidc-provider/package.json').version;
server.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${version} code flow on ${issuer} (node ${process.version}, pid ${process.pid})`);
});
