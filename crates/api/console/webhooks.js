// Webhooks (admins): the endpoints (subscribe, enable or disable, change, rotate the secret,
// delete; a secret is shown once, as the API answers it once), each endpoint's deliveries with
// every attempt, and the event log they are fed from, where an event is queued again.

import { api } from './api.js';
import { h, add, put, actionButton, badge, card, errorNotice, id, json, kv, notice, pagedList, table, time } from './dom.js';
import { form, toRfc3339 } from './forms.js';

/** Every event type of docs/API.md "Events". */
export const EVENT_TYPES = [
  'account.created', 'account.updated', 'transfer.created', 'transfer.updated', 'transaction.created',
  'transaction.updated', 'payment.created', 'payment.authorized', 'payment.captured', 'payment.refunded',
  'payment.canceled', 'payment.failed', 'payment.expired', 'payment.updated', 'hold.created', 'hold.posted',
  'hold.voided', 'hold.expired', 'hold.updated',
];

const NOUNS = [...new Set(EVENT_TYPES.map((type) => type.split('.')[0]))];

/** Why a comma-separated list of subscriptions is not one the API takes, or null. */
function typesProblem(text) {
  const types = splitTypes(text);
  if (types.length === 0) return 'Name at least one type, a noun’s every type (payment.*) or all (*).';
  const bad = types.find((type) => type !== '*' && !EVENT_TYPES.includes(type) && !(type.endsWith('.*') && NOUNS.includes(type.slice(0, -2))));
  return bad ? `${bad} is not an event type.` : null;
}

function splitTypes(text) {
  return text.split(/[\s,]+/).filter(Boolean);
}

function urlProblem(text) {
  try {
    const url = new URL(text);
    return ['https:', 'http:'].includes(url.protocol) ? null : 'An https:// address.';
  } catch {
    return 'A whole address, such as https://example.com/hooks.';
  }
}

function secretNotice(endpoint) {
  return notice('ok', 'The signing secret, shown this once (the server never shows it again):',
    h('code', { class: 'secret', 'data-secret': '' }, endpoint.secret));
}

export const endpoints = {
  async render(view, ctx, [endpointId]) {
    if (endpointId) return renderEndpoint(view, ctx, endpointId);
    add(view, h('h1', {}, 'Webhooks'));
    const created = h('div', { 'aria-live': 'polite' });
    const list = pagedList('/v1/webhook-endpoints', () => ({}), [
      { label: 'URL', cell: (e) => h('a', { href: `#/webhooks/${e.id}` }, e.url) },
      { label: 'Events', cell: (e) => e.event_types.join(', ') },
      { label: 'Status', cell: (e) => badge(e.enabled ? 'enabled' : 'disabled') },
      { label: 'Description', cell: (e) => e.description || '' },
      { label: 'Created', cell: (e) => time(e.created_at) },
    ], { empty: 'No endpoints yet.' });
    add(view,
      card('Endpoints', list),
      card('Subscribe an endpoint', created, form({
        name: 'Subscribe an endpoint', label: 'Create endpoint',
        fields: [
          { name: 'url', label: 'URL', required: true, placeholder: 'https://example.com/hooks', check: urlProblem, wide: true },
          { name: 'event_types', label: 'Event types', required: true, placeholder: 'payment.*, transfer.created', check: typesProblem, wide: true, hint: `Comma-separated: ${NOUNS.map((noun) => `${noun}.*`).join(', ')}, *, or single types.` },
          { name: 'description', label: 'Description', wide: true },
        ],
        submit: (values) => {
          const body = { url: values.url, event_types: splitTypes(values.event_types) };
          if (values.description) body.description = values.description;
          return api('POST', '/v1/webhook-endpoints', { body });
        },
        done: async (endpoint) => {
          put(created, secretNotice(endpoint), h('p', {}, h('a', { href: `#/webhooks/${endpoint.id}` }, 'Open the endpoint')));
          await list.reload();
        },
      })),
    );
    return undefined;
  },
};

async function renderEndpoint(view, ctx, endpointId) {
  const endpoint = await api('GET', `/v1/webhook-endpoints/${endpointId}`);
  const path = `/v1/webhook-endpoints/${endpointId}`;
  const reload = () => ctx.go(`#/webhooks/${endpointId}`);
  const rotated = h('div', { 'aria-live': 'polite' });
  add(view,
    h('p', {}, h('a', { href: '#/webhooks' }, '← Webhooks')),
    h('div', { class: 'head' },
      h('h1', {}, 'Endpoint ', badge(endpoint.enabled ? 'enabled' : 'disabled')),
      h('div', { class: 'actions' },
        actionButton(endpoint.enabled ? 'Disable' : 'Enable', async () => { await api('PATCH', path, { body: { enabled: !endpoint.enabled } }); reload(); }),
        actionButton('Rotate secret', async () => {
          const answer = await api('POST', `${path}/rotate-secret`);
          put(rotated, secretNotice(answer), notice('warn', `The old secret keeps signing beside it until ${time(answer.previous_secret_expires_at)}.`));
        }, { tone: 'secondary', confirm: 'Rotate the signing secret? The old one keeps signing for 24 hours.' }),
        actionButton('Delete', async () => { await api('DELETE', path); ctx.go('#/webhooks'); }, { tone: 'danger', confirm: 'Delete this endpoint? Nothing more is sent to it.' }))),
    rotated,
    h('div', { class: 'grid two' },
      card('Endpoint', kv([
        ['Id', h('span', { class: 'mono' }, endpoint.id)],
        ['URL', endpoint.url],
        ['Events', endpoint.event_types.join(', ')],
        ['Description', endpoint.description],
        ['Previous secret until', endpoint.previous_secret_expires_at ? time(endpoint.previous_secret_expires_at) : null],
        ['Created', time(endpoint.created_at)],
        ['Updated', time(endpoint.updated_at)],
      ])),
      card('Change', form({
        name: 'Change the endpoint', label: 'Save', keep: true,
        fields: [
          { name: 'url', label: 'URL', required: true, value: endpoint.url, check: urlProblem, wide: true },
          { name: 'event_types', label: 'Event types', required: true, value: endpoint.event_types.join(', '), check: typesProblem, wide: true },
        ],
        submit: (values) => api('PATCH', path, { body: { url: values.url, event_types: splitTypes(values.event_types) } }),
        done: reload,
      }))),
  );
  const filters = { status: '' };
  const deliveries = pagedList(`${path}/deliveries`, () => ({ status: filters.status || undefined }), [
    { label: 'Created', cell: (d) => time(d.created_at) },
    { label: 'Event', cell: (d) => [h('code', {}, d.event_type), ' ', id(d.event_id, `#/events/${d.event_id}`)] },
    { label: 'Status', cell: (d) => h('span', { 'data-delivery': d.status }, badge(d.status)) },
    { label: 'Last answer', cell: (d) => lastAnswer(d) },
    { label: 'Next attempt', cell: (d) => (d.next_attempt_at ? time(d.next_attempt_at) : '') },
    { label: 'Attempts', cell: (d) => (d.attempts.length ? h('details', {}, h('summary', {}, String(d.attempts.length)), attemptsTable(d)) : '0') },
  ], { empty: 'Nothing delivered to this endpoint yet.' });
  add(view, card('Deliveries', h('div', { class: 'toolbar' }, form({
    name: 'Filter deliveries', label: 'Filter', keep: true, compact: true,
    fields: [{ name: 'status', label: 'Status', type: 'select', options: [['', 'Any status'], ...DELIVERY_STATES.map((state) => [state, state])] }],
    submit: async (values) => {
      filters.status = values.status;
      await deliveries.reload();
    },
  }), h('button', { type: 'button', class: 'secondary', onclick: () => deliveries.reload() }, 'Refresh')), deliveries));
  return undefined;
}

const DELIVERY_STATES = ['pending', 'succeeded', 'failed'];

/** What the endpoint said last: its status, or why it said nothing. */
function lastAnswer(delivery) {
  const last = delivery.attempts[delivery.attempts.length - 1];
  if (!last) return h('span', { class: 'muted' }, 'not tried yet');
  return `${last.response_code ?? last.error} in ${last.duration_ms} ms`;
}

function attemptsTable(delivery) {
  return table([
    { label: '#', cell: (a) => String(a.number), num: true },
    { label: 'When', cell: (a) => time(a.attempted_at) },
    { label: 'Answer', cell: (a) => (a.response_code === null ? a.error : String(a.response_code)) },
    { label: 'Took', cell: (a) => `${a.duration_ms} ms`, num: true },
    { label: 'Body', cell: (a) => (a.response_body ? h('code', {}, a.response_body.slice(0, 200)) : '') },
  ], delivery.attempts);
}

export const events = {
  async render(view, ctx, [eventId]) {
    if (eventId) return renderEvent(view, eventId);
    add(view, h('h1', {}, 'Events'));
    const filters = {};
    const list = pagedList('/v1/events', () => ({ ...filters }), [
      { label: 'When', cell: (e) => h('a', { href: `#/events/${e.id}` }, time(e.created_at)) },
      { label: 'Type', cell: (e) => h('code', {}, e.type) },
      { label: 'Object', cell: (e) => objectLink(e) },
      { label: 'Id', cell: (e) => id(e.id) },
    ], { empty: 'No events match.' });
    add(view,
      card(null, form({
        name: 'Filter events', label: 'Filter', keep: true,
        fields: [
          { name: 'type', label: 'Type', placeholder: 'payment.*', check: (v) => (/^[a-z_.]+\*?$/.test(v) ? null : 'A type, or a prefix ending in * (payment.*).') },
          { name: 'created_gte', label: 'From', type: 'datetime-local' },
          { name: 'created_lt', label: 'Before', type: 'datetime-local' },
        ],
        submit: async (values) => {
          for (const key of Object.keys(filters)) delete filters[key];
          if (values.type) filters.type = values.type;
          if (values.created_gte) filters.created_gte = toRfc3339(values.created_gte);
          if (values.created_lt) filters.created_lt = toRfc3339(values.created_lt);
          await list.reload();
        },
      })),
      card('Newest first', list),
    );
    return undefined;
  },
};

function objectLink(event) {
  const object = event.data && event.data.object;
  if (!object || !object.id) return '';
  const screen = { account: 'accounts', transfer: 'transfers', transaction: 'transactions', payment: 'payments', hold: 'holds' }[event.type.split('.')[0]];
  return id(object.id, screen ? `#/${screen}/${object.id}` : undefined);
}

async function renderEvent(view, eventId) {
  try {
    const event = await api('GET', `/v1/events/${eventId}`);
    const queued = h('div', { 'aria-live': 'polite' });
    add(view,
      h('p', {}, h('a', { href: '#/events' }, '← Events')),
      h('div', { class: 'head' },
        h('h1', {}, h('code', {}, event.type)),
        actionButton('Redeliver', async () => {
          const { data } = await api('POST', `/v1/events/${eventId}/redeliver`);
          put(queued, data.length === 0
            ? notice('warn', 'No enabled endpoint is subscribed to this type: nothing was queued.')
            : notice('ok', `Queued ${data.length} deliver${data.length === 1 ? 'y' : 'ies'}, due now: `,
              data.map((delivery, index) => [index ? ', ' : '', h('a', { href: `#/webhooks/${delivery.endpoint_id}` }, 'endpoint ', id(delivery.endpoint_id))])));
        }, { tone: 'secondary', confirm: 'Send this event again to every endpoint enabled and subscribed to it?' })),
      queued,
      card('Event', kv([
        ['Id', h('span', { class: 'mono' }, event.id)],
        ['Created', time(event.created_at)],
        ['Object', objectLink(event)],
      ]), json(event)),
    );
  } catch (error) {
    add(view, errorNotice(error));
  }
  return undefined;
}
