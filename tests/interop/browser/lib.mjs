// Shared by the browser tests: the server under test, a Chromium started the way
// STACK.md says, reading one-time codes from tesserad's file outbox, screenshots,
// and a stand-in OAuth client (a loopback HTTP server that records redirects).
import { chromium } from "playwright-core";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const URL_BASE = must("TESSERA_URL");
export const OUTBOX = must("TESSERAD_OUTBOX");
export const LOG = must("TESSERAD_LOG");
export const ARTIFACTS = must("ARTIFACTS");
export const FIXTURES = JSON.parse(readFileSync(must("FIXTURES"), "utf8"));

function must(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this suite through run.sh`);
  return value;
}

/** A persistent Chromium context on a fresh profile directory. */
export async function launch() {
  const profile = mkdtempSync(join(tmpdir(), "tessera-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1360, height: 860 },
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

const pause = (ms) => new Promise((r) => setTimeout(r, ms));

/** The newest one-time code mailed to `email`; the outbox is emptied after. */
export async function codeFromOutbox(email) {
  for (let i = 0; i < 200; i++) {
    let files = [];
    try {
      files = readdirSync(OUTBOX).map((f) => join(OUTBOX, f));
    } catch {
      // Not created until the first mail.
    }
    const mail = files
      .map((f) => readFileSync(f, "utf8"))
      .find((text) => text.includes(email) && text.includes("code is "));
    if (mail) {
      for (const f of files) rmSync(f, { force: true });
      const at = mail.indexOf("code is ") + "code is ".length;
      return mail.slice(at, at + 6);
    }
    // The server sends mail from a background task: wait for the file.
    await pause(50);
  }
  throw new Error(`no mail for ${email} in ${OUTBOX}`);
}

/** Signs in on the sign-in page the browser is on (or opens one). */
export async function signIn(page, email, { screenshotAs } = {}) {
  if (!page.url().includes("/signin")) {
    await page.goto(`${URL_BASE}/signin`);
  }
  await page.getByLabel("Email address").first().fill(email);
  if (screenshotAs) await shot(page, screenshotAs);
  await page.getByRole("button", { name: "Email me a code" }).click();
  await page.getByRole("heading", { name: "Check your email" }).waitFor();
  const code = await codeFromOutbox(email);
  await page.getByLabel("One-time code").fill(code);
  await page.getByRole("button", { name: "Sign in", exact: true }).click();
  await page.waitForURL((url) => !url.pathname.startsWith("/signin"));
}

export async function shot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

export function pkce() {
  const verifier = randomBytes(32).toString("base64url");
  const challenge = createHash("sha256").update(verifier).digest("base64url");
  return { verifier, challenge };
}

/** A loopback "app" that receives the authorization redirect. */
export async function callbackServer() {
  const hits = [];
  let waiting = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    hits.push(url.searchParams);
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<!doctype html><title>Done</title><p>Signed in. Return to your terminal.</p>");
    for (const w of waiting) w(url.searchParams);
    waiting = [];
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return {
    redirectUri: `http://127.0.0.1:${port}/callback`,
    next: () => new Promise((r) => waiting.push(r)),
    hits,
    close: () => new Promise((r) => server.close(r)),
  };
}

/** POSTs a form to tesserad; returns { status, body }. */
export async function postForm(path, fields, headers = {}) {
  const response = await fetch(`${URL_BASE}${path}`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(fields),
  });
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body };
}

export async function me(authorization) {
  const response = await fetch(`${URL_BASE}/v1/me`, { headers: { authorization } });
  return { status: response.status, body: await response.json() };
}

export function serverLog() {
  return readFileSync(LOG, "utf8");
}

export function basic(id, secret) {
  return "Basic " + Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString("base64");
}
