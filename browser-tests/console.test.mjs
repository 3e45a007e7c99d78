// The console in a real browser: Debian's chromium, driven by playwright-core, against a real
// `coffre serve` (the built binary) on a fresh database: once on SQLite in a temporary
// directory, once on a new PostgreSQL database (COFFRE_BROWSER_TEST_POSTGRES, default
// postgres://postgres@127.0.0.1:5432, as CI starts it).
//
// An operator's day: an admin signs in, adds a user and a manager, opens the user's account and
// deposits into it; the user transfers and pays; the admin captures and refunds the payment,
// the audit log verifies, a webhook endpoint is subscribed and the events are read; a manager
// does not get the users screen. Access tokens live 8 s here, so the console must refresh them
// on its own while it works. Every screen is photographed at 1280 px and at a phone's width
// into target/console-screenshots/<backend>/.
//
//   COFFRE_BIN (default target/debug/coffre), CHROMIUM (default /usr/bin/chromium)

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = process.env.COFFRE_BIN || join(ROOT, 'target/debug/coffre');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS_ROOT = join(ROOT, 'target/console-screenshots');
/** How long the server may take to say where it listens. */
const START_DEADLINE_MS = 30_000;
/** Every wait in the browser ends by then. */
const STEP_DEADLINE_MS = 15_000;
const TOKEN_TTL_SECS = 8;
const DESKTOP = { width: 1280, height: 860 };
const PHONE = { width: 390, height: 844 };

const ADMIN = { email: 'root@example.com', password: 'the admin passphrase' };
const USER = { email: 'ursula@example.com', password: 'ursula passphrase' };
const MANAGER = { email: 'max@example.com', password: 'manager passphrase' };

/** Where PostgreSQL listens (the README's and CI's), for the run on that backend. */
const POSTGRES = process.env.COFFRE_BROWSER_TEST_POSTGRES || 'postgres://postgres@127.0.0.1:5432';

/** A fresh database for one run: a SQLite file in the data dir, or a new PostgreSQL database. */
function database(backend, dataDir) {
  if (backend === 'sqlite') return { url: `sqlite://${join(dataDir, 'coffre.db')}`, drop: () => {} };
  const name = `coffre_console_${process.pid}_${Date.now()}`;
  const psql = (sql) => spawnSync('psql', [`${POSTGRES}/postgres`, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { encoding: 'utf8' });
  const made = psql(`CREATE DATABASE ${name}`);
  assert.equal(made.status, 0, `could not create a PostgreSQL database: ${made.stderr}`);
  return { url: `${POSTGRES}/${name}`, drop: () => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

function environment(dataDir, databaseUrl) {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME || dataDir,
    COFFRE_DATA_DIR: dataDir,
    DATABASE_URL: databaseUrl,
    // Required with PostgreSQL; generated into the data dir with SQLite.
    COFFRE_JWT_SECRET: 'browser-tests-jwt-secret-of-forty-bytes!',
    COFFRE_LISTEN: '127.0.0.1:0',
    COFFRE_METRICS_LISTEN: 'off',
    COFFRE_LOG_FORMAT: 'json',
    COFFRE_ACCESS_TOKEN_TTL_SECS: String(TOKEN_TTL_SECS),
    // The test signs in several times and refreshes every few seconds from one address.
    COFFRE_RATE_LIMIT_AUTH: '300/min',
    COFFRE_WEBHOOK_ALLOW_INSECURE: 'true',
    // The receiver is on loopback, and its first refusal is retried a second later.
    COFFRE_WEBHOOK_ALLOW_PRIVATE: 'true',
    COFFRE_WEBHOOK_RETRY_SCHEDULE: '1s',
  };
}

/**
 * A webhook receiver on loopback that refuses its first request (500) and takes the rest (200),
 * keeping what it was sent.
 */
function receiver() {
  const hits = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => { body += chunk; });
    request.on('end', () => {
      hits.push({ headers: request.headers, body });
      response.writeHead(hits.length === 1 ? 500 : 200, { 'content-type': 'text/plain' });
      response.end(hits.length === 1 ? 'try again later' : 'thanks');
    });
  });
  return new Promise((started) => {
    server.listen(0, '127.0.0.1', () => started({
      url: `http://127.0.0.1:${server.address().port}/hooks`,
      hits,
      close: () => new Promise((closed) => server.close(closed)),
    }));
  });
}

/** Starts `coffre serve`; resolves to {origin, stop} once it logs its address. */
function serve(env) {
  const child = spawn(BIN, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`coffre serve did not listen within ${START_DEADLINE_MS} ms:\n${log}`)), START_DEADLINE_MS);
    child.on('exit', (code) => reject(new Error(`coffre serve exited (${code}):\n${log}`)));
    child.stderr.on('data', (chunk) => { log += chunk; });
    child.stdout.on('data', (chunk) => {
      log += chunk;
      const found = /listening on (127\.0\.0\.1:\d+)/.exec(log);
      if (found) {
        clearTimeout(timer);
        resolveStart({
          origin: `http://${found[1]}`,
          stop: () => new Promise((done) => {
            child.removeAllListeners('exit');
            child.on('exit', done);
            child.kill('SIGTERM');
          }),
        });
      }
    });
  });
}

// This run's pictures only.
rmSync(SHOTS_ROOT, { recursive: true, force: true });

for (const backend of ['sqlite', 'postgres']) test(`an operator’s day in the console (${backend})`, async (t) => {
  const SHOTS = join(SHOTS_ROOT, backend);
  const dataDir = mkdtempSync(join(tmpdir(), 'coffre-console-'));
  const db = database(backend, dataDir);
  const env = environment(dataDir, db.url);
  const created = spawnSync(BIN, ['admin', 'create', '--email', ADMIN.email, '--password-stdin'], {
    env, input: `${ADMIN.password}\n`, encoding: 'utf8',
  });
  assert.equal(created.status, 0, `coffre admin create: ${created.stderr}`);
  const server = await serve(env);
  const hooks = await receiver();
  const profile = mkdtempSync(join(tmpdir(), 'coffre-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run'],
    viewport: DESKTOP,
    baseURL: server.origin,
  });
  mkdirSync(SHOTS, { recursive: true });
  context.setDefaultTimeout(STEP_DEADLINE_MS);
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // A refusal the console shows to the user is logged by the browser as a failed resource.
    if (message.type() === 'error' && !/Failed to load resource/.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  page.on('dialog', (dialog) => dialog.accept());
  let refreshes = 0;
  page.on('response', (response) => {
    if (response.url().endsWith('/v1/auth/refresh') && response.status() === 200) refreshes += 1;
  });

  const screen = (name) => page.locator(`.screen[data-screen="${name}"]`);
  const field = (form, label) => page.getByRole('form', { name: form }).getByLabel(label, { exact: true });
  const submit = (form, button) => page.getByRole('form', { name: form }).getByRole('button', { name: button });
  const idFromUrl = () => new URL(page.url()).hash.split('/')[2];

  async function shoot(name) {
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: join(SHOTS, `${name}-desktop.png`), fullPage: true });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: join(SHOTS, `${name}-phone.png`), fullPage: true });
    await page.setViewportSize(DESKTOP);
  }

  /** Signs in with the keyboard alone: the page focuses the email field, Tab and Enter do the rest. */
  async function signIn(who) {
    await page.goto('/console');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.keyboard.type(who.email);
    await page.keyboard.press('Tab');
    await page.keyboard.type(who.password);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
  }

  async function signOut() {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  }

  /** Moves within the page, as a link would: a reload would be a fresh, signed-out console. */
  async function open(hash) {
    await page.evaluate((target) => { window.location.hash = target; }, hash);
  }

  async function navigate(label, heading) {
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: label, exact: true }).click();
    await page.getByRole('heading', { name: heading || label, exact: true }).waitFor();
  }

  /** A subtest that photographs the page when it fails, to show what the browser showed. */
  async function step(name, body) {
    await t.test(name, async () => {
      try {
        await body();
      } catch (error) {
        await page.screenshot({ path: join(SHOTS, `failed-${name.replace(/[^a-z]+/gi, '-')}.png`), fullPage: true }).catch(() => {});
        throw error;
      }
    });
  }

  const ids = {};
  try {
    await step('the page is served with its policy, and signing in needs a right password', async () => {
      const response = await page.goto('/console');
      const headers = response.headers();
      assert.match(headers['content-security-policy'], /script-src 'self'/);
      assert.match(headers['content-security-policy'], /frame-ancestors 'none'/);
      assert.equal(headers['x-content-type-options'], 'nosniff');
      assert.equal(headers['referrer-policy'], 'no-referrer');
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await shoot('01-sign-in');
      // Checked before sending: too short for any password.
      await page.getByLabel('Email').fill(ADMIN.email);
      await page.getByLabel('Password').fill('short');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByText('Passwords are at least 12 characters.').waitFor();
      // Refused by the server, shown beside the field.
      await page.getByLabel('Password').fill('a wrong passphrase');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.locator('.field-error', { hasText: /email or password/i }).waitFor();
    });

    await step('an admin adds a user and a manager', async () => {
      await signIn(ADMIN);
      assert.equal(await page.locator('[data-role]').textContent(), 'admin');
      await navigate('Users');
      for (const [who, role] of [[USER, 'user'], [MANAGER, 'manager']]) {
        await field('Add a user', 'Email').fill(who.email);
        await field('Add a user', 'Initial password').fill(who.password);
        await field('Add a user', 'Role').selectOption(role);
        await submit('Add a user', 'Add user').click();
        await page.getByText(`${who.email} can now sign in as a ${role}.`).waitFor();
      }
      // The server's refusal, beside the field it is about.
      await field('Add a user', 'Email').fill(USER.email);
      await field('Add a user', 'Initial password').fill(USER.password);
      await submit('Add a user', 'Add user').click();
      await page.getByRole('form', { name: 'Add a user' }).locator('.field-error').filter({ hasText: /./ }).waitFor();
      await page.locator('td', { hasText: MANAGER.email }).waitFor();
      await shoot('02-users');
    });

    await step('the admin opens the user’s account and deposits into it', async () => {
      await navigate('Accounts');
      await field('Open an account', 'Currency').fill('EUR');
      await field('Open an account', 'Name').fill('Ursula main');
      await field('Open an account', 'Owner').selectOption({ label: USER.email });
      await field('Open an account', 'Metadata').fill('segment=retail');
      await submit('Open an account', 'Open account').click();
      await page.getByRole('heading', { name: /Ursula main/ }).waitFor();
      ids.user = idFromUrl();

      // Validated before sending, then refused by nobody: 250.00 arrives.
      await field('deposit', 'Amount (EUR)').fill('1.001');
      await submit('deposit', 'Deposit').click();
      await page.getByText('At most 2 decimals in this currency.').waitFor();
      await field('deposit', 'Amount (EUR)').fill('250.00');
      await field('deposit', 'Description').fill('opening deposit');
      await submit('deposit', 'Deposit').click();
      await page.locator('[data-field="balance"]', { hasText: '250.00 EUR' }).waitFor();

      await navigate('Accounts');
      await field('Open an account', 'Currency').fill('EUR');
      await field('Open an account', 'Name').fill('Shop');
      await submit('Open an account', 'Open account').click();
      await page.getByRole('heading', { name: /Shop/ }).waitFor();
      ids.shop = idFromUrl();
      await navigate('Accounts');
      await page.getByRole('link', { name: 'Ursula main' }).waitFor();
      await page.locator('.chip', { hasText: 'segment=retail' }).waitFor();
      await shoot('03-accounts');
    });

    await step('the user transfers, and is told beside the amount when funds fall short', async () => {
      await signOut();
      assert.deepEqual(await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]), [0, 0, '']);
      await signIn(USER);
      // A user's console offers what a user may do: no admin screens, no deposit, no freezing.
      const screens = page.getByRole('navigation', { name: 'Screens' });
      assert.deepEqual(await screens.getByRole('link').allTextContents(), ['Overview', 'Accounts', 'Transfers', 'Transactions', 'Payments', 'Holds']);
      await page.getByText('The ledger and audit checks are run by admins.').waitFor();
      await open(`#/accounts/${ids.user}`);
      await page.getByRole('form', { name: 'withdrawal' }).waitFor();
      await page.getByRole('form', { name: 'transfer' }).waitFor();
      assert.equal(await page.getByRole('form', { name: 'deposit' }).count(), 0);
      assert.equal(await page.getByRole('button', { name: 'Freeze' }).count(), 0);
      assert.equal(await page.getByRole('form', { name: 'Balance limits' }).count(), 0);
      await navigate('Transfers');
      // The accounts the user may read are offered to the account fields.
      await page.getByRole('form', { name: 'Send money' }).locator(`datalist option[value="${ids.user}"]`).waitFor({ state: 'attached' });
      await field('Send money', 'To account (id)').fill(ids.shop);
      await field('Send money', 'Amount').fill('1000.00');
      await submit('Send money', 'Send').click();
      const amountError = page.getByRole('form', { name: 'Send money' }).locator('.field-error').filter({ hasText: /./ });
      await amountError.waitFor();
      assert.match(await amountError.textContent(), /insufficient|funds/i);
      await field('Send money', 'Amount').fill('40.00');
      await field('Send money', 'Description').fill('rent');
      await submit('Send money', 'Send').click();
      await page.getByRole('heading', { name: /40\.00 EUR/ }).waitFor();
      await page.getByRole('cell', { name: '-40.00' }).waitFor();
      await shoot('04-transfer');
      await navigate('Transfers');
      await page.getByRole('cell', { name: 'rent' }).waitFor();
      await shoot('05-transfers');
      // Two postings, all or nothing: the second is refused, beside its own amount.
      await navigate('Transactions');
      const post = async (n, from, to, amount) => {
        await field('Post a transaction', `${n}. from account`).fill(from);
        await field('Post a transaction', `${n}. to account`).fill(to);
        await field('Post a transaction', `${n}. amount`).fill(amount);
        await field('Post a transaction', `${n}. currency`).fill('EUR');
      };
      await post(1, ids.user, ids.shop, '5.00');
      await post(2, ids.user, ids.shop, '9999.00');
      await field('Post a transaction', 'Description').fill('order and tip');
      await submit('Post a transaction', 'Post transaction').click();
      await page.locator(`#${await field('Post a transaction', '2. amount').getAttribute('id')}-error`, { hasText: /funds/ }).waitFor();
      await field('Post a transaction', '2. amount').fill('2.00');
      await submit('Post a transaction', 'Post transaction').click();
      await page.getByRole('heading', { name: 'Postings, in the order applied (2)' }).waitFor();
      await shoot('06-transaction');
      await navigate('Transactions');
      await page.getByRole('cell', { name: '7.00 EUR' }).waitFor();
      await shoot('06-transactions');
    });

    await step('the user pays, and the payment is authorized', async () => {
      await navigate('Payments');
      await field('New payment', 'Payee account (id)').fill(ids.shop);
      await field('New payment', 'Amount').fill('30.00');
      await field('New payment', 'Metadata').fill('order=A-1001');
      await submit('New payment', 'Create payment').click();
      await page.locator('[data-field="state"]', { hasText: 'pending' }).waitFor();
      ids.payment = idFromUrl();
      await page.getByRole('button', { name: 'Authorize' }).click();
      await page.locator('[data-field="state"]', { hasText: 'authorized' }).waitFor();

      // The token has lived longer than its 8 s by now, or soon will: the console refreshed it.
      await page.waitForResponse((response) => response.url().endsWith('/v1/auth/refresh') && response.status() === 200, { timeout: (TOKEN_TTL_SECS + 5) * 1000 });
      await navigate('Accounts');
      await page.getByRole('cell', { name: '173.00' }).waitFor(); // available: 203.00 less 30.00 held
      await navigate('Holds');
      await page.getByRole('cell', { name: '30.00 EUR' }).waitFor();
      await shoot('07-holds');

      // A hold of the user's own: part of it posted, the rest voided.
      await field('Place a hold', 'For account (id)').fill(ids.shop);
      await field('Place a hold', 'Amount').fill('5.00');
      await field('Place a hold', 'Expires in (seconds)').fill('0');
      await submit('Place a hold', 'Hold').click();
      await page.getByText('From 1 to 2592000 (30 days).').waitFor();
      await field('Place a hold', 'Expires in (seconds)').fill('3600');
      await submit('Place a hold', 'Hold').click();
      await page.getByRole('heading', { name: /Hold of 5\.00 EUR held/ }).waitFor();
      await field('Post', /Amount/).fill('2.00');
      await submit('Post', 'Post').click();
      await page.locator('dd', { hasText: /^3\.00$/ }).waitFor();
      await page.getByRole('button', { name: 'Void the hold' }).click();
      await page.getByRole('heading', { name: /Hold of 5\.00 EUR voided/ }).waitFor();
      await shoot('07-hold');
      await navigate('Overview');
      await page.getByText('Nothing has moved today.').or(page.locator('.stat', { hasText: 'EUR' }).first()).waitFor();
      await shoot('08-overview-user');
    });

    await step('the admin captures and refunds the payment, and sees its history', async () => {
      await signOut();
      await signIn(ADMIN);
      await open(`#/payments/${ids.payment}`);
      await page.locator('[data-field="state"]', { hasText: 'authorized' }).waitFor();
      await field('Capture', /Amount/).fill('31.00');
      await submit('Capture', 'Capture').click();
      await page.getByRole('form', { name: 'Capture' }).locator('.field-error').filter({ hasText: /./ }).waitFor();
      await field('Capture', /Amount/).fill('');
      await submit('Capture', 'Capture').click();
      await page.locator('[data-field="state"]', { hasText: 'captured' }).waitFor();
      await field('Refund', /Amount/).fill('10.00');
      await submit('Refund', 'Refund').click();
      await page.locator('dd', { hasText: /^10\.00$/ }).waitFor();
      await submit('Refund', 'Refund').click();
      await page.locator('[data-field="state"]', { hasText: 'refunded' }).waitFor();
      await page.getByRole('cell', { name: 'PAYMENT_CAPTURED' }).waitFor();
      await page.getByRole('cell', { name: 'PAYMENT_REFUNDED' }).first().waitFor();
      await shoot('09-payment');
      await navigate('Payments');
      await field('Filter payments', 'State').selectOption('refunded');
      await submit('Filter payments', 'Filter').click();
      await page.getByText('1 refunded of the 1 newest payments.').waitFor();
      // Accounts the reader may see are named, not numbered.
      await page.getByRole('row').filter({ hasText: 'refunded' }).getByRole('link', { name: 'Ursula main' }).waitFor();
      await shoot('10-payments');
    });

    await step('the audit log and the ledger verify', async () => {
      await navigate('Audit log');
      await page.locator('[data-check="audit"] .badge', { hasText: 'ok' }).waitFor();
      await field('Filter the audit log', 'Action').fill('TRANSFER');
      await submit('Filter the audit log', 'Filter').click();
      await page.getByRole('cell', { name: 'TRANSFER', exact: true }).first().waitFor();
      // serve signed a checkpoint of the chain's head at start: the browser checks its
      // Ed25519 signature and asks the chain for its (seq, hash); a forged one is refused.
      const line = readFileSync(join(dataDir, 'checkpoints.jsonl'), 'utf8').trim().split('\n')[0];
      const checkpoint = JSON.parse(line);
      await field('Checkpoint check', 'A line of the checkpoint file').fill(line);
      await submit('Checkpoint check', 'Check').click();
      await page.getByText(`The chain still holds seq ${checkpoint.seq} with the checkpointed hash`).waitFor();
      const forged = { ...checkpoint, hash: checkpoint.hash.replace(/^./, (c) => (c === '0' ? '1' : '0')) };
      await field('Checkpoint check', 'A line of the checkpoint file').fill(JSON.stringify(forged));
      await submit('Checkpoint check', 'Check').click();
      await page.getByText('This checkpoint does not verify: its signature does not verify.').waitFor();
      await field('Checkpoint check', 'A line of the checkpoint file').fill(line);
      await submit('Checkpoint check', 'Check').click();
      await page.getByText(`The chain still holds seq ${checkpoint.seq} with the checkpointed hash`).waitFor();
      await shoot('11-audit');
      await navigate('Overview');
      await page.locator('[data-check="ledger"] .badge', { hasText: 'ok' }).waitFor();
      await page.locator('[data-check="audit"] .badge', { hasText: 'ok' }).waitFor();
      await page.locator('svg.chart').waitFor();
      await shoot('12-overview-admin');
      await open(`#/accounts/${ids.user}`);
      await page.locator('[data-field="balance"]', { hasText: '201.00 EUR' }).waitFor();
      await page.locator('.balance-chart svg.chart').waitFor();
      // The balance at an instant, and the statement shown and downloaded.
      const later = new Date(Date.now() + 3_600_000);
      const local = new Date(later.getTime() - later.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
      await field('Balance as of', 'As of (your time zone)').fill(local);
      await submit('Balance as of', 'Show balance').click();
      await page.getByRole('form', { name: 'Balance as of' }).locator('..').getByText('201.00 EUR').waitFor();
      await submit('Statement', 'Show statement').click();
      await page.locator('dd', { hasText: /^280\.00$/ }).waitFor(); // credits: the deposit and both refunds
      const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
      const csv = readFileSync(await download.path(), 'utf8').trim().split('\n');
      assert.equal(csv[0], 'id,transfer_id,amount,balance_after,created_at');
      // The deposit, the transfer, two postings, the hold's post, the capture, two refunds.
      assert.equal(csv.length, 1 + 8);
      assert.match(csv[csv.length - 1], /,20\.00,201\.00,/);
      await shoot('13-account');
    });

    await step('webhook endpoints are subscribed, the secret shown once, and the events read', async () => {
      await navigate('Webhooks');
      await field('Subscribe an endpoint', 'URL').fill(hooks.url);
      await field('Subscribe an endpoint', 'Event types').fill('payment.*, nothing.done');
      await submit('Subscribe an endpoint', 'Create endpoint').click();
      await page.getByText('nothing.done is not an event type.').waitFor();
      await field('Subscribe an endpoint', 'Event types').fill('payment.*, transfer.created');
      await field('Subscribe an endpoint', 'Description').fill('the shop’s backend');
      await submit('Subscribe an endpoint', 'Create endpoint').click();
      const secret = await page.locator('[data-secret]').textContent();
      assert.match(secret, /^whsec_/);
      await page.getByRole('link', { name: hooks.url }).waitFor();
      await shoot('14-webhooks');
      await navigate('Events');
      await page.getByRole('cell', { name: 'payment.refunded' }).first().waitFor();
      await field('Filter events', 'Type').fill('hold.*');
      await submit('Filter events', 'Filter').click();
      await page.getByRole('cell', { name: 'hold.posted' }).first().waitFor();
      assert.equal(await page.getByRole('cell', { name: 'payment.refunded' }).count(), 0);
      await shoot('15-events');

      // The refund's event sent again: refused once by the receiver, delivered on the retry,
      // signed with the secret shown at creation (checked here with Node's own HMAC).
      await field('Filter events', 'Type').fill('payment.refunded');
      await submit('Filter events', 'Filter').click();
      await page.getByRole('row').filter({ hasText: 'payment.refunded' }).first().getByRole('link').first().click();
      await page.getByRole('heading', { name: 'payment.refunded' }).waitFor();
      await page.getByRole('button', { name: 'Redeliver' }).click();
      await page.getByText('Queued 1 delivery, due now').waitFor();
      await shoot('16-event');
      await page.locator('.notice a').first().click();
      await page.getByRole('heading', { name: 'Deliveries' }).waitFor();
      const delivered = page.locator('[data-delivery="succeeded"]');
      for (let tries = 0; tries < 40 && (await delivered.count()) === 0; tries += 1) {
        await page.waitForTimeout(500);
        await page.getByRole('button', { name: 'Refresh' }).click();
        await page.getByRole('button', { name: 'Refresh' }).waitFor();
      }
      await delivered.waitFor();
      await page.locator('tr', { has: delivered }).locator('summary').click();
      await page.getByRole('cell', { name: '500', exact: true }).waitFor();
      await page.getByRole('cell', { name: '200', exact: true }).waitFor();
      await shoot('17-deliveries');
      assert.equal(hooks.hits.length, 2);
      const { headers, body } = hooks.hits[1];
      assert.equal(JSON.parse(body).type, 'payment.refunded');
      const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
      const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64');
      assert.ok(headers['webhook-signature'].split(' ').includes(`v1,${expected}`), headers['webhook-signature']);
    });

    await step('a manager gets no users screen, and the server would refuse it anyway', async () => {
      await signOut();
      await signIn(MANAGER);
      const screens = page.getByRole('navigation', { name: 'Screens' });
      await screens.getByRole('link', { name: 'Accounts' }).waitFor();
      assert.equal(await screens.getByRole('link', { name: 'Users' }).count(), 0);
      assert.equal(await screens.getByRole('link', { name: 'Audit log' }).count(), 0);
      await open('#/users');
      await screen('users').getByText('This screen is for admins; you are signed in as a manager.').waitFor();
      await shoot('18-manager-users');
      // Managers freeze accounts.
      await open(`#/accounts/${ids.user}`);
      await page.getByRole('button', { name: 'Freeze' }).click();
      await page.getByRole('heading', { name: /frozen/ }).waitFor();
      await page.getByRole('button', { name: 'Unfreeze' }).click();
      await page.getByRole('heading', { name: /active/ }).waitFor();
      await signOut();
    });

    await step('a user an admin disables is signed out of the console at its next request', async () => {
      await signIn(USER);
      // The admin works in another tab: its own console, its own tokens.
      const admin = await context.newPage();
      await admin.goto('/console');
      await admin.getByLabel('Email').fill(ADMIN.email);
      await admin.getByLabel('Password').fill(ADMIN.password);
      await admin.getByRole('button', { name: 'Sign in' }).click();
      await admin.getByRole('heading', { name: 'Overview' }).waitFor();
      await admin.evaluate(() => { window.location.hash = '#/users'; });
      const change = admin.getByRole('form', { name: `Change ${USER.email}` });
      await change.getByLabel('Disabled').check();
      await change.getByRole('button', { name: 'Apply' }).click();
      await admin.getByRole('row').filter({ hasText: USER.email }).locator('.badge', { hasText: 'disabled' }).waitFor();
      await admin.close();

      await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Accounts', exact: true }).click();
      await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      await page.getByText('Your session has ended; please sign in again.').waitFor();
      await shoot('19-signed-out');
    });

    assert.ok(refreshes >= 1, 'the console refreshed its token');
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
    await server.stop();
    await hooks.close();
    rmSync(profile, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
    db.drop();
  }
});
