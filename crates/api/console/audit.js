// The audit log (admins): the events with their filters, the hash chain's verification, and a
// checkpoint check: a line of `serve`'s checkpoint file, its Ed25519 signature verified here
// with the browser's WebCrypto, and the chain asked whether it still holds that (seq, hash).

import { api, page } from './api.js';
import { h, add, put, badge, card, errorNotice, id, json, kv, notice, pagedList, time } from './dom.js';
import { form, uuidProblem } from './forms.js';

const RESOURCE_TYPES = ['user', 'session', 'account', 'account_entries', 'account_balance', 'account_statement', 'transfer', 'payment', 'hold', 'transaction', 'webhook_endpoint'];

/** Pages of 100 the checkpoint check reads back from the head at most (10,000 events). */
const CHECKPOINT_PAGES = 100;

const SIGNED_PREFIX = 'coffre audit checkpoint v1';

export async function render(view) {
  add(view, h('h1', {}, 'Audit log'));
  const verifyCard = card('Chain verification');
  const checkpointCard = card('Checkpoint check');
  add(view, h('div', { class: 'grid two' }, verifyCard, checkpointCard));
  verify(verifyCard);
  add(checkpointCard, checkpointForm());

  const filters = {};
  const list = pagedList('/v1/audit-events', () => ({ ...filters }), [
    { label: 'Seq', cell: (e) => String(e.seq), num: true },
    { label: 'When', cell: (e) => time(e.occurred_at) },
    { label: 'Action', cell: (e) => h('code', {}, e.action) },
    { label: 'Resource', cell: (e) => [e.resource_type, ' ', id(e.resource_id, link(e))] },
    { label: 'Actor', cell: (e) => id(e.actor_id) },
    { label: 'IP', cell: (e) => e.ip_address || '' },
    { label: 'Details', cell: (e) => h('details', {}, h('summary', {}, 'values'), json({ old_value: e.old_value, new_value: e.new_value, request_id: e.request_id, hash: e.hash })) },
  ], { empty: 'No events match.' });
  const filterForm = form({
    name: 'Filter the audit log', label: 'Filter', keep: true,
    fields: [
      { name: 'action', label: 'Action', placeholder: 'TRANSFER', check: (v) => (/^[A-Z_]+$/.test(v) ? null : 'SCREAMING_SNAKE_CASE, e.g. PAYMENT_CAPTURED.') },
      { name: 'resource_type', label: 'Resource type', type: 'select', options: [['', 'Any'], ...RESOURCE_TYPES.map((type) => [type, type])] },
      { name: 'resource_id', label: 'Resource id' },
      { name: 'actor_id', label: 'Actor id', check: uuidProblem },
    ],
    submit: async (values) => {
      for (const key of Object.keys(filters)) delete filters[key];
      for (const [key, value] of Object.entries(values)) if (value) filters[key] = value;
      await list.reload();
    },
  });
  add(view, card(null, filterForm), card('Events, newest first', list));
}

function link(event) {
  const screens = { account: 'accounts', account_entries: 'accounts', account_balance: 'accounts', account_statement: 'accounts', transfer: 'transfers', payment: 'payments', hold: 'holds', transaction: 'transactions', webhook_endpoint: 'webhooks' };
  const screen = screens[event.resource_type];
  return screen && event.resource_id ? `#/${screen}/${event.resource_id}` : undefined;
}

async function verify(into) {
  const result = h('div', { 'aria-live': 'polite' });
  const run = async () => {
    put(result, h('p', { class: 'muted' }, 'Checking…'));
    try {
      const answer = await api('GET', '/v1/audit-events/verify');
      put(result,
        h('div', { class: 'stat-row', 'data-check': 'audit' }, h('span', {}, 'Hash chain'), badge(answer.ok ? 'ok' : 'broken')),
        kv([
          ['Events checked', String(answer.events_checked)],
          ['First bad seq', answer.first_bad_seq === null ? 'none' : String(answer.first_bad_seq)],
          ['Checked at', time(new Date().toISOString())],
        ]),
        answer.ok ? null : notice('error', 'The chain does not verify: an event was changed, removed or inserted.'),
      );
    } catch (error) {
      put(result, errorNotice(error));
    }
  };
  add(into,
    h('p', { class: 'muted' }, 'Every event carries the hash of the one before; the chain must link, have no gap and end at the stored head.'),
    result,
    h('button', { type: 'button', class: 'secondary', onclick: run }, 'Verify again'),
  );
  await run();
}

function hexBytes(text) {
  if (!/^([0-9a-f]{2})+$/i.test(text)) throw new Error('not hex');
  return new Uint8Array(text.match(/../g).map((pair) => parseInt(pair, 16)));
}

/** The event at `seq`, read back from the head a page at a time (the log has no seq filter). */
async function eventAt(seq) {
  let after = null;
  for (let read = 0; read < CHECKPOINT_PAGES; read += 1) {
    const { data, has_more: more } = await page('/v1/audit-events', after ? { limit: 100, starting_after: after } : { limit: 100 });
    const found = data.find((event) => event.seq === seq);
    if (found) return found;
    const last = data[data.length - 1];
    if (!more || !last || last.seq < seq) return null;
    after = last.id;
  }
  throw new Error(`seq ${seq} is more than ${CHECKPOINT_PAGES * 100} events back: check it with coffre verify --checkpoints.`);
}

function checkpointForm() {
  const result = h('div', { 'aria-live': 'polite' });
  const element = form({
    name: 'Checkpoint check', label: 'Check', keep: true, stacked: true,
    fields: [
      { name: 'line', label: 'A line of the checkpoint file', type: 'textarea', required: true, placeholder: '{"seq":…,"hash":"…","at":"…","public_key":"…","signature":"…"}', check: (v) => {
        try {
          const c = JSON.parse(v);
          return Number.isInteger(c.seq) && typeof c.hash === 'string' && typeof c.at === 'string' && typeof c.public_key === 'string' && typeof c.signature === 'string'
            ? null : 'A checkpoint has seq, hash, at, public_key and signature.';
        } catch {
          return 'Paste one JSON line of the file.';
        }
      } },
      { name: 'pinned', label: 'Pinned public key (hex; empty: the line’s own)', hint: 'serve logs its public key at start.', check: (v) => (/^[0-9a-f]{64}$/i.test(v) ? null : '64 hex digits.') },
    ],
    submit: async (values) => {
      const checkpoint = JSON.parse(values.line);
      const key = values.pinned || checkpoint.public_key;
      if (values.pinned && values.pinned.toLowerCase() !== checkpoint.public_key.toLowerCase()) {
        return { checkpoint, signature: false, why: 'it is signed by another key than the pinned one' };
      }
      let signature;
      try {
        const publicKey = await crypto.subtle.importKey('raw', hexBytes(key), { name: 'Ed25519' }, false, ['verify']);
        const message = new TextEncoder().encode(`${SIGNED_PREFIX}\nseq=${checkpoint.seq}\nhash=${checkpoint.hash}\nat=${checkpoint.at}\n`);
        signature = await crypto.subtle.verify({ name: 'Ed25519' }, publicKey, hexBytes(checkpoint.signature), message);
      } catch (error) {
        return { checkpoint, signature: false, why: `the key or signature is not usable (${error.message})` };
      }
      if (!signature) return { checkpoint, signature: false, why: 'its signature does not verify' };
      const event = await eventAt(checkpoint.seq);
      return { checkpoint, signature: true, event, pinned: Boolean(values.pinned) };
    },
    done: (outcome) => {
      const { checkpoint } = outcome;
      if (!outcome.signature) {
        put(result, notice('error', `This checkpoint does not verify: ${outcome.why}.`));
        return;
      }
      const holds = outcome.event && outcome.event.hash === checkpoint.hash;
      put(result,
        notice(holds ? 'ok' : 'error', holds
          ? `The chain still holds seq ${checkpoint.seq} with the checkpointed hash (signed ${time(checkpoint.at)}${outcome.pinned ? ', by the pinned key' : ', key not pinned'}).`
          : outcome.event
            ? `The event at seq ${checkpoint.seq} has another hash than the checkpoint: the chain was rewritten.`
            : `The chain has no event at seq ${checkpoint.seq}: it was cut back.`),
      );
    },
  });
  return [h('p', { class: 'muted' }, 'The database alone cannot show a chain rewritten end to end; a signed checkpoint kept elsewhere can.'), element, result];
}
