// The console (issue 9): API keys generated, used and revoked in the page; apps
// registered and their secrets rotated; sessions and activity; secrets never
// shown twice and never in the server's log.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { URL_BASE, launch, signIn, shot, postForm, me, serverLog, basic } from "../lib.mjs";

let browser, page;
const secrets = [];
let key, keyId;

before(async () => {
  browser = await launch();
  page = await browser.context.newPage();
});

after(async () => {
  await browser.close();
});

function inDays(days) {
  return new Date(Date.now() + days * 86400_000).toISOString().slice(0, 10);
}

test("signing in leads to Settings → Integrations → API", async () => {
  await page.goto(`${URL_BASE}/settings/api`);
  assert.ok(page.url().includes("/signin?next=%2Fsettings%2Fapi"), page.url());
  await signIn(page, "bob@example.com");
  assert.equal(new URL(page.url()).pathname, "/settings/api");
  await page.getByRole("heading", { name: "API keys", exact: true }).waitFor();
  await page.getByText("You have no API keys yet.").waitFor();
});

test("generate a key with an expiry: shown once, with the Authorization example", async () => {
  await page.getByLabel("Name").fill("build server");
  await page.getByLabel("Expires on").fill(inDays(10));
  await page.getByRole("button", { name: "Generate key" }).click();
  await page.getByRole("heading", { name: "Your new API key" }).waitFor();
  key = await page.getByLabel("API key").inputValue();
  assert.match(key, /^eyJ[\w-]+\.[\w-]+\.[\w-]+$/);
  secrets.push(key);
  await page.getByText(`Authorization: token ${key}`).waitFor();
  await page.getByRole("button", { name: "Copy" }).waitFor();
  await shot(page, "api-key-created");

  const who = await me(`token ${key}`);
  assert.equal(who.status, 200);
  assert.equal(who.body.email, "bob@example.com");
  keyId = who.body.credential_id;

  assert.ok(!page.url().includes(key), "the key is not in the URL");

  const shownAt = page.url();
  await page.getByRole("link", { name: "Done, I stored it" }).click();
  const row = page.locator(`tr[data-key-id="${keyId}"]`);
  await row.locator("td").first().getByText("build server").waitFor();
  await row.getByText("Expires within 14 days").waitFor();
  await row.getByText("active").waitFor();
  await shot(page, "api-keys");

  // The key's page again (a reload, the back button) makes no other key and
  // shows this one no more.
  await page.goto(shownAt);
  await page.getByText("A new key is shown only once").waitFor();
  assert.ok(!(await page.content()).includes(key), "the key is shown once");
  assert.equal(await page.locator("tr[data-key-id]").count(), 1, "no other key");
});

test("the key is never rendered again", async () => {
  for (const path of ["/settings/api", "/settings/activity", "/settings/sessions", `/settings/api/${keyId}/revoke`]) {
    await page.goto(`${URL_BASE}${path}`);
    const html = await page.content();
    assert.ok(!html.includes(key), `${path} shows the key`);
    assert.ok(!html.includes(key.split(".")[2]), `${path} shows the key's signature`);
  }
});

test("revoke in the page (with confirmation): the next request is 401", async () => {
  await page.goto(`${URL_BASE}/settings/api`);
  await page.locator(`tr[data-key-id="${keyId}"]`).getByRole("link", { name: /Revoke/ }).click();
  await page.getByRole("heading", { name: /Revoke “build server”\?/ }).waitFor();
  await shot(page, "api-key-revoke");
  assert.equal((await me(`token ${key}`)).status, 200, "not revoked before confirming");
  await page.getByRole("button", { name: "Revoke key" }).click();
  await page.getByText("The API key was revoked").waitFor();
  await page.locator(`tr[data-key-id="${keyId}"]`).getByText("revoked").waitFor();
  const after = await me(`token ${key}`);
  assert.equal(after.status, 401);
});

test("register an app, rotate its secret: the old secret is rejected at the token endpoint", async () => {
  await page.goto(`${URL_BASE}/developer/apps`);
  await page.getByLabel("Name").fill("Reporting service");
  await page.getByLabel(/Confidential/).check();
  await page.getByLabel(/Client credentials/).check();
  await page.getByLabel("Redirect URIs").fill("https://reports.example.com/callback");
  await shot(page, "apps");
  await page.getByRole("button", { name: "Register app" }).click();
  await page.getByText("The app is registered.").waitFor();
  const clientId = (await page.locator("#client-id").textContent()).trim();
  const first = await page.locator("#secret").inputValue();
  secrets.push(first);
  await shot(page, "app-created");

  const grant = (secret) =>
    postForm("/oauth/token", { grant_type: "client_credentials" }, { authorization: basic(clientId, secret) });
  assert.equal((await grant(first)).status, 200);

  await page.getByRole("link", { name: "Rotate secret" }).click();
  await page.getByRole("heading", { name: /Rotate the client secret of “Reporting service”\?/ }).waitFor();
  await shot(page, "app-secret-rotate");
  assert.equal((await grant(first)).status, 200, "not rotated before confirming");
  await page.getByRole("button", { name: "Rotate secret" }).click();
  await page.getByText("Copy the client secret now").waitFor();
  const second = await page.locator("#secret").inputValue();
  secrets.push(second);
  assert.notEqual(first, second);
  assert.ok(!page.url().includes(second), "the secret is not in the URL");

  const old = await grant(first);
  assert.equal(old.status, 401);
  assert.equal(old.body.error, "invalid_client");
  assert.equal((await grant(second)).status, 200);

  // A reload shows the secret no more and rotates nothing.
  await page.reload();
  await page.getByText("A new client secret is shown only once").waitFor();
  assert.ok(!(await page.content()).includes(second), "the secret is shown once");
  assert.equal((await grant(second)).status, 200, "a reload rotates nothing");

  await page.goto(`${URL_BASE}/developer/apps/${clientId}`);
  assert.ok(!(await page.content()).includes(second), "the secret is shown once");
  await page.getByText("Rate limit", { exact: true }).waitFor();
  await shot(page, "app");
});

test("sessions and activity list what happened", async () => {
  await page.goto(`${URL_BASE}/settings/sessions`);
  await page.getByText("this browser").waitFor();
  await shot(page, "sessions");
  await page.goto(`${URL_BASE}/settings/activity`);
  for (const what of ["Signed in", "API key created", "API key revoked", "App registered", "App secret rotated"]) {
    await page.getByRole("cell", { name: what, exact: true }).first().waitFor();
  }
  await shot(page, "activity");
});

test("signing out ends the session", async () => {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await page.goto(`${URL_BASE}/settings/api`);
  assert.ok(page.url().includes("/signin"), page.url());
});

test("no key or secret appears in the server log", () => {
  const log = serverLog();
  assert.ok(log.length > 0, "the server logged something");
  assert.equal(secrets.length, 3);
  for (const secret of secrets) {
    assert.ok(!log.includes(secret), "a secret is in the server log");
  }
});
