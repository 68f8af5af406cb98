// Sign-in (email one-time code), consent, device verification, denial and bad
// codes, in headless Chromium against a real tesserad.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  URL_BASE, launch, signIn, shot, pkce, callbackServer, postForm, me, codeFromOutbox,
} from "../lib.mjs";

const CLIENT = "lofty-cli";
let browser, page, app;

before(async () => {
  browser = await launch();
  page = await browser.context.newPage();
  app = await callbackServer();
});

after(async () => {
  await app.close();
  await browser.close();
});

function authorizeUrl(challenge, state) {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: CLIENT,
    redirect_uri: app.redirectUri,
    scope: "THIRD_PARTY_OPERATION",
    state,
    code_challenge: challenge,
    code_challenge_method: "S256",
  });
  return `${URL_BASE}/oauth/authorize?${q}`;
}

test("an invalid authorization request shows an error page, never sign-in", async () => {
  const q = new URLSearchParams({
    response_type: "code",
    client_id: CLIENT,
    redirect_uri: "https://evil.example/steal",
    code_challenge: pkce().challenge,
    code_challenge_method: "S256",
  });
  const response = await page.goto(`${URL_BASE}/oauth/authorize?${q}`);
  assert.equal(response.status(), 400);
  assert.ok(page.url().startsWith(`${URL_BASE}/oauth/authorize`), page.url());
  await page.getByText("This sign-in link is not valid").waitFor();
  assert.equal(await page.getByLabel("Email address").count(), 0);
  await shot(page, "authorize-invalid");
});

test("a wrong email code is refused on the page", async () => {
  await page.goto(`${URL_BASE}/signin`);
  await page.getByLabel("Email address").first().fill("alice@example.com");
  await page.getByRole("button", { name: "Email me a code" }).click();
  await page.getByRole("heading", { name: "Check your email" }).waitFor();
  await codeFromOutbox("alice@example.com");
  await page.getByLabel("One-time code").fill("000000");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("alert").filter({ hasText: "That code is not valid" }).waitFor();
  await shot(page, "signin-wrong-code");
  const cookies = await browser.context.cookies();
  assert.ok(!cookies.some((c) => c.name === "tessera_session"));
});

test("sign-in with an emailed code, consent, and the code works at the token endpoint", async () => {
  const { verifier, challenge } = pkce();
  await page.goto(authorizeUrl(challenge, "xyz-123"));
  assert.ok(page.url().includes("/signin?next="), page.url());
  await page.getByText("to continue to Lofty CLI").waitFor();
  await signIn(page, "alice@example.com", { screenshotAs: "signin" });

  await page.getByRole("heading", { name: /Lofty CLI wants to access your account/ }).waitFor();
  await page.getByText("THIRD_PARTY_OPERATION").waitFor();
  await shot(page, "consent");
  const redirected = app.next();
  await page.getByRole("button", { name: "Allow" }).click();
  const params = await redirected;
  assert.equal(params.get("state"), "xyz-123");
  assert.equal(params.get("iss"), URL_BASE);
  const code = params.get("code");
  assert.ok(code);

  const token = await postForm("/oauth/token", {
    grant_type: "authorization_code",
    code,
    redirect_uri: app.redirectUri,
    client_id: CLIENT,
    code_verifier: verifier,
  });
  assert.equal(token.status, 200, JSON.stringify(token.body));
  const who = await me(`Bearer ${token.body.access_token}`);
  assert.equal(who.status, 200);
  assert.equal(who.body.email, "alice@example.com");
});

test("denying consent sends access_denied back to the app", async () => {
  const { challenge } = pkce();
  await page.goto(authorizeUrl(challenge, "deny-state"));
  await page.getByRole("button", { name: "Deny" }).waitFor();
  const redirected = app.next();
  await page.getByRole("button", { name: "Deny" }).click();
  const params = await redirected;
  assert.equal(params.get("error"), "access_denied");
  assert.equal(params.get("state"), "deny-state");
  assert.equal(params.get("code"), null);
});

async function deviceAuthorization() {
  const r = await postForm("/oauth/device_authorization", {
    client_id: CLIENT,
    scope: "THIRD_PARTY_OPERATION",
  });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body;
}

async function pollDevice(deviceCode) {
  return postForm("/oauth/token", {
    grant_type: "urn:ietf:params:oauth:grant-type:device_code",
    device_code: deviceCode,
    client_id: CLIENT,
  });
}

test("device approval: the prefilled code, confirm, approve, back to the terminal", async () => {
  // One poll only, after the decision: polling twice within `interval` is slow_down.
  const device = await deviceAuthorization();
  await page.goto(device.verification_uri_complete);
  await page.getByRole("heading", { name: /Allow Lofty CLI on your device/ }).waitFor();
  await page.getByText(device.user_code, { exact: true }).waitFor();
  await shot(page, "device-confirm");
  await page.getByRole("button", { name: "Allow" }).click();
  await page.getByText("return to your terminal").waitFor();
  await shot(page, "device-approved");

  const token = await pollDevice(device.device_code);
  assert.equal(token.status, 200, JSON.stringify(token.body));
  assert.equal((await me(`Bearer ${token.body.access_token}`)).status, 200);
});

test("device code typed by hand, then denied", async () => {
  const device = await deviceAuthorization();
  await page.goto(`${URL_BASE}/device`);
  await page.getByLabel("Code").fill(device.user_code.toLowerCase());
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("button", { name: "Deny" }).click();
  await page.getByRole("heading", { name: "Request denied" }).waitFor();
  await shot(page, "device-denied");
  const token = await pollDevice(device.device_code);
  assert.equal(token.body.error, "access_denied");
});

test("a bad device code is explained on the page", async () => {
  await page.goto(`${URL_BASE}/device`);
  await shot(page, "device-entry");
  await page.getByLabel("Code").fill("BCDF-GHJK");
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByRole("alert").filter({ hasText: "That code is not valid or has expired" }).waitFor();
  await shot(page, "device-bad-code");
});

test("password sign-in where an admin set one; a wrong password is refused", async () => {
  await browser.context.clearCookies();
  await page.goto(`${URL_BASE}/signin?next=%2Fsettings%2Fsessions`);
  await page.getByText("Sign in with a password").click();
  await page.locator("#pw-email").fill("bob@example.com");
  await page.getByLabel("Password").fill("wrong password here");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("alert").filter({ hasText: "do not match" }).waitFor();
  await shot(page, "signin-password-wrong");
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.getByRole("heading", { name: "Sessions and authorized apps" }).waitFor();
  await page.getByText("Password", { exact: true }).waitFor();
});
