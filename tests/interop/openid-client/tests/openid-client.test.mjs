// openid-client 6 against tesserad, configured only from discovery.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as client from "openid-client";
import { chromium } from "playwright-core";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through run.sh`);
  return value;
};
const ISSUER = new URL(env("TESSERA_URL"));
const OUTBOX = env("TESSERAD_OUTBOX");
const ARTIFACTS = env("ARTIFACTS");
const FIXTURES = JSON.parse(readFileSync(env("FIXTURES"), "utf8"));
const EMAIL = FIXTURES.account.email;
const SCOPE = "THIRD_PARTY_OPERATION";
// Plain HTTP is only allowed because the issuer is a loopback test server.
const insecure = { execute: [client.allowInsecureRequests] };

let confidential, publicClient, dpopClient, browser, profile, page, callback;

/** A loopback redirect target standing in for the app. */
async function callbackServer() {
  let waiting = [];
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("done");
    const url = new URL(req.url, `http://127.0.0.1:${server.address().port}`);
    for (const w of waiting) w(url);
    waiting = [];
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    uri: `http://127.0.0.1:${server.address().port}/callback`,
    next: () => new Promise((r) => waiting.push(r)),
    close: () => new Promise((r) => server.close(r)),
  };
}

async function codeFromOutbox(email) {
  for (let i = 0; i < 200; i++) {
    let files = [];
    try {
      files = readdirSync(OUTBOX).map((f) => join(OUTBOX, f));
    } catch {}
    const mail = files.map((f) => readFileSync(f, "utf8")).find((t) => t.includes(email) && t.includes("code is "));
    if (mail) {
      for (const f of files) rmSync(f, { force: true });
      const at = mail.indexOf("code is ") + "code is ".length;
      return mail.slice(at, at + 6);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no mail for ${email}`);
}

/** On a page that needs sign-in: sign in with an emailed code. */
async function signInIfAsked() {
  if (!page.url().includes("/signin")) return;
  await page.getByLabel("Email address").first().fill(EMAIL);
  await page.getByRole("button", { name: "Email me a code" }).click();
  await page.getByRole("heading", { name: "Check your email" }).waitFor();
  await page.getByLabel("One-time code").fill(await codeFromOutbox(EMAIL));
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/signin"));
}

before(async () => {
  confidential = await client.discovery(
    ISSUER,
    FIXTURES.confidential.client_id,
    FIXTURES.confidential.client_secret,
    client.ClientSecretBasic(FIXTURES.confidential.client_secret),
    insecure,
  );
  publicClient = await client.discovery(ISSUER, FIXTURES.public.client_id, undefined, client.None(), insecure);
  // A public app registered with `--dpop required`: every token request needs a DPoP proof.
  dpopClient = await client.discovery(ISSUER, FIXTURES.dpop_public.client_id, undefined, client.None(), insecure);
  profile = mkdtempSync(join(tmpdir(), "tessera-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  page = await browser.newPage();
  callback = await callbackServer();
});

after(async () => {
  await callback?.close();
  await browser?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function me(accessToken) {
  const response = await fetch(new URL("/v1/me", ISSUER), {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return { status: response.status, body: await response.json() };
}

test("discovery: both well-known documents, issuer and endpoints", async () => {
  const meta = confidential.serverMetadata();
  assert.equal(meta.issuer, ISSUER.href.replace(/\/$/, ""));
  for (const endpoint of [
    "authorization_endpoint", "token_endpoint", "device_authorization_endpoint",
    "revocation_endpoint", "introspection_endpoint", "jwks_uri",
  ]) {
    assert.ok(meta[endpoint], `${endpoint} is advertised`);
  }
  assert.ok(meta.code_challenge_methods_supported.includes("S256"));
  const oauth2 = await client.discovery(ISSUER, FIXTURES.public.client_id, undefined, client.None(), {
    ...insecure,
    algorithm: "oauth2",
  });
  assert.equal(oauth2.serverMetadata().token_endpoint, meta.token_endpoint);
});

test("client credentials (client_secret_basic and client_secret_post)", async () => {
  const tokens = await client.clientCredentialsGrant(confidential, { scope: SCOPE });
  assert.equal(tokens.token_type.toLowerCase(), "bearer");
  assert.ok(tokens.expiresIn() > 0);
  const post = await client.discovery(
    ISSUER, FIXTURES.confidential.client_id, FIXTURES.confidential.client_secret, undefined, insecure,
  );
  const again = await client.clientCredentialsGrant(post, { scope: SCOPE });
  assert.ok(again.access_token);
  const wrong = await client.discovery(
    ISSUER, FIXTURES.confidential.client_id, "not-the-secret", client.ClientSecretBasic("not-the-secret"), insecure,
  );
  // RFC 6749 §5.2: 401 with a WWW-Authenticate challenge and `invalid_client`.
  const refused = await client.clientCredentialsGrant(wrong).then(
    () => assert.fail("a wrong secret was accepted"),
    (e) => e,
  );
  assert.equal(refused.status, 401);
  assert.equal((await refused.response.json()).error, "invalid_client");
});

let refreshToken, accessToken;

test("authorization code with PKCE, driven by the browser", async () => {
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(confidential, {
    redirect_uri: callback.uri,
    scope: SCOPE,
    code_challenge: challenge,
    code_challenge_method: "S256",
    state,
  });
  const redirected = callback.next();
  await page.goto(url.href);
  await signInIfAsked();
  await page.getByRole("heading", { name: /wants to access your account/ }).waitFor();
  await page.screenshot({ path: join(ARTIFACTS, "openid-client-consent.png") });
  await page.getByRole("button", { name: "Allow" }).click();
  const currentUrl = await redirected;
  const tokens = await client.authorizationCodeGrant(confidential, currentUrl, {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  assert.ok(tokens.access_token);
  assert.ok(tokens.refresh_token);
  refreshToken = tokens.refresh_token;
  accessToken = tokens.access_token;
  const who = await me(tokens.access_token);
  assert.equal(who.status, 200);
  assert.equal(who.body.email, EMAIL);
});

test("refresh rotates the refresh token; the old one is refused", async () => {
  const tokens = await client.refreshTokenGrant(confidential, refreshToken);
  assert.ok(tokens.access_token);
  assert.ok(tokens.refresh_token);
  assert.notEqual(tokens.refresh_token, refreshToken);
  await assert.rejects(client.refreshTokenGrant(confidential, refreshToken), (e) => e.error === "invalid_grant");
});

test("introspection of active and unknown tokens", async () => {
  const fresh = await client.clientCredentialsGrant(confidential, { scope: SCOPE });
  const active = await client.tokenIntrospection(confidential, fresh.access_token);
  assert.equal(active.active, true);
  assert.equal(active.client_id, FIXTURES.confidential.client_id);
  const unknown = await client.tokenIntrospection(confidential, "not-a-token");
  assert.equal(unknown.active, false);
});

test("revocation: a revoked access token is inactive and refused", async () => {
  const fresh = await client.clientCredentialsGrant(confidential, { scope: SCOPE });
  await client.tokenRevocation(confidential, fresh.access_token);
  const after = await client.tokenIntrospection(confidential, fresh.access_token);
  assert.equal(after.active, false);
  assert.equal((await me(fresh.access_token)).status, 401);
});

test("device authorization grant with a public client", async () => {
  const device = await client.initiateDeviceAuthorization(publicClient, { scope: SCOPE });
  assert.ok(device.user_code);
  assert.ok(device.interval >= 1);
  await page.goto(device.verification_uri_complete);
  await signInIfAsked();
  await page.getByRole("button", { name: "Allow" }).click();
  await page.getByText("return to your terminal").waitFor();
  const tokens = await client.pollDeviceAuthorizationGrant(publicClient, device);
  assert.ok(tokens.access_token);
  assert.equal((await me(tokens.access_token)).status, 200);
});

test("PKCE with a public client (no secret)", async () => {
  const verifier = client.randomPKCECodeVerifier();
  const url = client.buildAuthorizationUrl(publicClient, {
    redirect_uri: callback.uri,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: "S256",
  });
  const redirected = callback.next();
  await page.goto(url.href);
  await signInIfAsked();
  await page.getByRole("button", { name: "Allow" }).click();
  const tokens = await client.authorizationCodeGrant(publicClient, await redirected, {
    pkceCodeVerifier: verifier,
  });
  assert.ok(tokens.access_token);
  await client.tokenRevocation(publicClient, tokens.refresh_token);
  await assert.rejects(client.refreshTokenGrant(publicClient, tokens.refresh_token), (e) => e.error === "invalid_grant");
});

// DPoP (RFC 9449) with openid-client's own implementation: its key pairs, its
// proofs, its handling of the server's nonces (use_dpop_nonce, DPoP-Nonce).

const ME = new URL("/v1/me", ISSUER);

async function bearer(accessToken) {
  const response = await fetch(ME, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: response.status, challenge: response.headers.get("www-authenticate") };
}

test("DPoP: discovery lists the proof algorithms", () => {
  const algs = confidential.serverMetadata().dpop_signing_alg_values_supported;
  assert.ok(algs.includes("ES256"), `${algs}`);
  assert.ok(algs.includes("EdDSA"), `${algs}`);
});

test("DPoP: client credentials bound to openid-client's key; the token alone is refused", async () => {
  const DPoP = client.getDPoPHandle(confidential, await client.randomDPoPKeyPair("ES256"));
  const tokens = await client.clientCredentialsGrant(confidential, { scope: SCOPE }, { DPoP });
  assert.equal(tokens.token_type.toLowerCase(), "dpop");
  const response = await client.fetchProtectedResource(confidential, tokens.access_token, ME, "GET", undefined, undefined, { DPoP });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).client_id, FIXTURES.confidential.client_id);
  const stolen = await bearer(tokens.access_token);
  assert.equal(stolen.status, 401);
  assert.match(stolen.challenge, /^DPoP /);
  // Another key's proofs do not make it usable either.
  const thief = client.getDPoPHandle(confidential, await client.randomDPoPKeyPair("ES256"));
  await assert.rejects(
    client.fetchProtectedResource(confidential, tokens.access_token, ME, "GET", undefined, undefined, { DPoP: thief }),
    (e) => e.status === 401 && e.cause.some((c) => c.scheme === "dpop" && c.parameters.error === "invalid_dpop_proof"),
  );
  const introspected = await client.tokenIntrospection(confidential, tokens.access_token);
  assert.equal(introspected.active, true);
  assert.equal(introspected.token_type, "DPoP");
  assert.ok(introspected.cnf?.jkt, JSON.stringify(introspected));
});

test("DPoP: an Ed25519 key works too", async () => {
  let keyPair;
  try {
    keyPair = await client.randomDPoPKeyPair("EdDSA");
  } catch (e) {
    assert.fail(`this Node cannot make Ed25519 keys: ${e}`);
  }
  const DPoP = client.getDPoPHandle(confidential, keyPair);
  const tokens = await client.clientCredentialsGrant(confidential, { scope: SCOPE }, { DPoP });
  assert.equal(tokens.token_type.toLowerCase(), "dpop");
  const response = await client.fetchProtectedResource(confidential, tokens.access_token, ME, "GET", undefined, undefined, { DPoP });
  assert.equal(response.status, 200);
});

test("DPoP: a public app registered to require it; device login and refresh with the login's key", async () => {
  const device = await client.initiateDeviceAuthorization(dpopClient, { scope: SCOPE });
  await page.goto(device.verification_uri_complete);
  await signInIfAsked();
  await page.getByRole("button", { name: "Allow" }).click();
  await page.getByText("return to your terminal").waitFor();
  // Without a proof the public app gets no token.
  await assert.rejects(
    client.pollDeviceAuthorizationGrant(dpopClient, device),
    (e) => e.error === "invalid_dpop_proof",
  );
  const DPoP = client.getDPoPHandle(dpopClient, await client.randomDPoPKeyPair("ES256"));
  const tokens = await client.pollDeviceAuthorizationGrant(dpopClient, device, undefined, { DPoP });
  assert.equal(tokens.token_type.toLowerCase(), "dpop");
  assert.ok(tokens.refresh_token);
  const response = await client.fetchProtectedResource(dpopClient, tokens.access_token, ME, "GET", undefined, undefined, { DPoP });
  assert.equal(response.status, 200);
  assert.equal((await response.json()).email, EMAIL);

  // The refresh token is bound to the login's key: another key is refused.
  const other = client.getDPoPHandle(dpopClient, await client.randomDPoPKeyPair("ES256"));
  await assert.rejects(
    client.refreshTokenGrant(dpopClient, tokens.refresh_token, undefined, { DPoP: other }),
    (e) => e.error === "invalid_grant",
  );
  const renewed = await client.refreshTokenGrant(dpopClient, tokens.refresh_token, undefined, { DPoP });
  assert.equal(renewed.token_type.toLowerCase(), "dpop");
  assert.notEqual(renewed.refresh_token, tokens.refresh_token);
  const again = await client.fetchProtectedResource(dpopClient, renewed.access_token, ME, "GET", undefined, undefined, { DPoP });
  assert.equal(again.status, 200);
});
