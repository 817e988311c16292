// A real OpenID provider for dockyard's OIDC tests: panva's oidc-provider with
// one confidential client, three users whose passwords are checked, and a
// login page of its own (devInteractions would accept any password).
//
// Environment:
//   OIDC_PORT            port on 127.0.0.1 (or the first argument)
//   OIDC_CLIENT_ID       the client's id
//   OIDC_CLIENT_SECRET   the client's secret
//   OIDC_REDIRECT_URIS   a JSON list of the client's redirect URIs
//
// Prints "listening <issuer>" once it accepts connections.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.OIDC_PORT);
if (!Number.isInteger(port) || port <= 0) {
  throw new Error('set OIDC_PORT or pass the port as the first argument');
}
const issuer = `http://127.0.0.1:${port}`;

const ACCOUNTS = {
  alice: { password: 'alice-secret', name: 'Alice Liddell', groups: ['developers'] },
  bob: { password: 'bob-secret', name: 'Bob Builder', groups: ['developers', 'auditors'] },
  carol: { password: 'carol-secret', name: 'Carol Danvers', groups: ['dockyard-admins'] },
};

function findAccount(ctx, accountId) {
  const account = ACCOUNTS[accountId];
  if (!account) return undefined;
  return {
    accountId,
    async claims() {
      return {
        sub: accountId,
        preferred_username: accountId,
        email: `${accountId}@example.test`,
        email_verified: true,
        name: account.name,
        groups: account.groups,
      };
    },
  };
}

// A fresh signing key per run: the tests must fetch the JWKS, never assume a key.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: process.env.OIDC_CLIENT_ID,
      client_secret: process.env.OIDC_CLIENT_SECRET,
      redirect_uris: JSON.parse(process.env.OIDC_REDIRECT_URIS || '[]'),
      application_type: 'web',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // Put the scope's claims into the ID token too, as most providers do.
  conformIdTokenClaims: false,
  findAccount,
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: { devInteractions: { enabled: false } },
  pkce: { methods: ['S256'], required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  // Explicit lifetimes (seconds), so the provider does not warn about its defaults.
  ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, IdToken: 600, Interaction: 600, Session: 3600 },
});

function escapeHtml(value) {
  return String(value).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(uid, error) {
  const message = error ? `<p class="error">${escapeHtml(error)}</p>` : '';
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
${message}
<form id="login" method="post" action="/interaction/${escapeHtml(uid)}/login">
  <input type="text" name="username" autocomplete="username">
  <input type="password" name="password" autocomplete="current-password">
  <button type="submit">Sign in</button>
</form>
</body></html>
`;
}

function send(res, status, html) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.end(html);
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

// Consent is granted without asking: the client is first-party.
async function grantConsent(req, res, details) {
  const { prompt, params, session } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (prompt.details.missingOIDCScope) grant.addOIDCScope(prompt.details.missingOIDCScope.join(' '));
  if (prompt.details.missingOIDCClaims) grant.addOIDCClaims(prompt.details.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(prompt.details.missingResourceScopes || {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  const consent = details.grantId ? {} : { grantId };
  await provider.interactionFinished(req, res, { consent }, { mergeWithLastSubmission: true });
}

async function interaction(req, res, path) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === 'GET' && path === `/interaction/${details.uid}`) {
    if (details.prompt.name === 'login') return send(res, 200, loginPage(details.uid));
    if (details.prompt.name === 'consent') return grantConsent(req, res, details);
    return send(res, 400, `unknown prompt ${escapeHtml(details.prompt.name)}`);
  }
  if (req.method === 'POST' && path === `/interaction/${details.uid}/login`) {
    const form = await readForm(req);
    const account = ACCOUNTS[form.get('username')];
    if (!account || account.password !== form.get('password')) {
      return send(res, 200, loginPage(details.uid, 'Invalid username or password.'));
    }
    const login = { accountId: form.get('username') };
    return provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
  }
  return send(res, 404, 'not found');
}

const callback = provider.callback();
const server = createServer((req, res) => {
  const path = new URL(req.url, issuer).pathname;
  if (!path.startsWith('/interaction/')) return callback(req, res);
  return interaction(req, res, path).catch((error) => {
    // An expired or unknown interaction: say so, like the provider's own error pages.
    send(res, 400, `<p class="error">${escapeHtml(error.message)}</p>`);
  });
});

server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
