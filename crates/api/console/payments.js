// Payments: the list by state, one payment with its amounts, its history from the audit log
// (for admins, who may read it) and the transitions its reader may make: authorize, capture
// (whole or part), cancel, fail, refund (whole or part).

import { api, walk, MAX_PAGES } from './api.js';
import { h, add, put, actionButton, badge, card, chips, errorNotice, id, kv, notice, pagedList, table, time } from './dom.js';
import { form, metadataProblem, parseMetadata, uuidProblem } from './forms.js';
import { amountProblem, currencyScale, scaleOf } from './money.js';
import { accountChoices, accountLink, owns, visibleAccounts } from './accounts.js';

const STATES = ['pending', 'authorized', 'captured', 'refunded', 'canceled', 'failed'];

const COLUMNS = [
  { label: 'Created', cell: (p) => h('a', { href: `#/payments/${p.id}` }, time(p.created_at)) },
  { label: 'State', cell: (p) => badge(p.state) },
  { label: 'Payer', cell: (p) => accountLink(p.payer_account_id) },
  { label: 'Payee', cell: (p) => accountLink(p.payee_account_id) },
  { label: 'Amount', cell: (p) => `${p.amount} ${p.currency}`, num: true },
  { label: 'Captured', cell: (p) => p.captured_amount, num: true },
  { label: 'Refunded', cell: (p) => p.refunded_amount, num: true },
  { label: 'Metadata', cell: (p) => chips(p.metadata) },
];

export async function render(view, ctx, [paymentId]) {
  if (paymentId) return renderOne(view, ctx, paymentId);
  add(view, h('h1', {}, 'Payments'));
  const filters = { state: '', account_id: '' };
  const results = h('div');
  const all = pagedList('/v1/payments', () => ({ account_id: filters.account_id || undefined }), COLUMNS, { empty: 'No payments yet.' });

  // The API lists payments by account and label, not by state: a state is found by reading
  // the newest pages and keeping the payments in it.
  async function show() {
    if (!filters.state) {
      put(results, all);
      await all.reload();
      return;
    }
    put(results, h('p', { class: 'muted' }, 'Reading…'));
    const { items, complete } = await walk('/v1/payments', { account_id: filters.account_id || undefined });
    const matching = items.filter((payment) => payment.state === filters.state);
    put(results,
      table(COLUMNS, matching, `No ${filters.state} payments among the ${items.length} newest.`),
      h('p', { class: 'muted' }, `${matching.length} ${filters.state} of the ${items.length} newest payments`, complete ? '.' : ` (the newest ${MAX_PAGES * 100} only).`),
    );
  }

  const filterForm = form({
    name: 'Filter payments', label: 'Filter', keep: true,
    fields: [
      { name: 'state', label: 'State', type: 'select', options: [['', 'Any'], ...STATES.map((state) => [state, state])] },
      { name: 'account_id', label: 'Account id (payer or payee)', check: uuidProblem },
    ],
    submit: async (values) => {
      Object.assign(filters, values);
      await show();
    },
  });
  add(results, all);
  add(view, card(null, filterForm), card('Newest first', results));

  const accounts = await visibleAccounts();
  const mine = accounts.filter((account) => account.owner_id === ctx.me.id && account.status === 'active');
  if (mine.length) add(view, card('New payment', createForm(mine, accountChoices(accounts), ctx)));
  return undefined;
}

function createForm(mine, choices, ctx) {
  const byId = new Map(mine.map((account) => [account.id, account]));
  return form({
    name: 'New payment', label: 'Create payment', idempotent: true,
    fields: [
      { name: 'payer_account_id', label: 'Payer (your account)', type: 'select', options: mine.map((a) => [a.id, `${a.name || 'Unnamed'} · ${a.available} ${a.currency}`]) },
      { name: 'payee_account_id', label: 'Payee account (id)', required: true, check: uuidProblem, suggest: choices },
      { name: 'amount', label: 'Amount', required: true, inputmode: 'decimal', check: (v, all) => amountProblem(v, currencyScale(byId.get(all.payer_account_id)?.currency)) },
      { name: 'metadata', label: 'Metadata', type: 'textarea', placeholder: 'order=1234', check: metadataProblem, wide: true },
    ],
    submit: (values, key) => {
      const payer = byId.get(values.payer_account_id);
      const body = { payer_account_id: payer.id, payee_account_id: values.payee_account_id, amount: values.amount, currency: payer.currency };
      if (values.metadata) body.metadata = parseMetadata(values.metadata);
      return api('POST', '/v1/payments', { body, key });
    },
    done: (payment) => ctx.go(`#/payments/${payment.id}`),
  });
}

async function renderOne(view, ctx, paymentId) {
  const payment = await api('GET', `/v1/payments/${paymentId}`);
  const [payer, payee] = await Promise.all([owns(ctx, payment.payer_account_id), owns(ctx, payment.payee_account_id)]);
  const reload = () => ctx.go(`#/payments/${paymentId}`);
  const scale = scaleOf(payment.amount);
  const path = `/v1/payments/${paymentId}`;

  const steps = h('div', { class: 'payment-actions' });
  if (payment.state === 'pending' && payer) {
    add(steps, actionButton('Authorize', async () => { await api('POST', `${path}/authorize`); reload(); }));
  }
  if (['pending', 'authorized'].includes(payment.state) && (payer || payee || ctx.may('manager'))) {
    add(steps, actionButton('Cancel', async () => { await api('POST', `${path}/cancel`); reload(); }, { tone: 'danger', confirm: 'Cancel this payment? Its hold is released.' }));
  }
  if (payment.state === 'authorized' && (payee || ctx.may('admin'))) {
    add(steps, h('h3', {}, 'Capture'), form({
      name: 'Capture', label: 'Capture',
      fields: [{ name: 'amount', label: `Amount (empty: all ${payment.authorized_amount})`, inputmode: 'decimal', check: (v) => amountProblem(v, scale) }],
      submit: (values) => api('POST', `${path}/capture`, { body: values.amount ? { amount: values.amount } : {} }),
      done: reload,
    }));
  }
  if (payment.state === 'captured' && (payee || ctx.may('admin'))) {
    add(steps, h('h3', {}, 'Refund'), form({
      name: 'Refund', label: 'Refund', idempotent: true,
      fields: [{ name: 'amount', label: 'Amount (empty: all that is left)', inputmode: 'decimal', check: (v) => amountProblem(v, scale) }],
      submit: (values, key) => api('POST', `${path}/refunds`, { body: values.amount ? { amount: values.amount } : {}, key }),
      done: reload,
    }));
  }
  if (payment.state === 'pending' && ctx.may('manager')) {
    add(steps, h('h3', {}, 'Mark as failed'), form({
      name: 'Fail', label: 'Mark failed',
      fields: [{ name: 'reason', label: 'Reason', required: true }],
      submit: (values) => api('POST', `${path}/fail`, { body: { reason: values.reason } }),
      done: reload,
    }));
  }

  add(view,
    h('p', {}, h('a', { href: '#/payments' }, '← Payments')),
    h('h1', {}, `Payment of ${payment.amount} ${payment.currency} `, h('span', { 'data-field': 'state' }, badge(payment.state))),
    h('div', { class: 'grid two' },
      card('Payment', kv([
        ['Id', h('span', { class: 'mono' }, payment.id)],
        ['Payer', accountLink(payment.payer_account_id)],
        ['Payee', accountLink(payment.payee_account_id)],
        ['Amount', `${payment.amount} ${payment.currency}`],
        ['Authorized', payment.authorized_amount],
        ['Captured', payment.captured_amount],
        ['Refunded', payment.refunded_amount],
        ['Authorization code', payment.authorization_code],
        ['Failure reason', payment.failure_reason],
        ['Expires', payment.expires_at ? time(payment.expires_at) : null],
        ['Metadata', chips(payment.metadata)],
        ['Created', time(payment.created_at)],
        ['Updated', time(payment.updated_at)],
      ])),
      card('Next steps', steps.childElementCount ? steps : h('p', { class: 'muted' }, `Nothing more you may do with a ${payment.state} payment.`))),
  );

  const history = card('History (audit log)');
  add(view, history);
  if (!ctx.may('admin')) {
    add(history, h('p', { class: 'muted' }, 'The audit log is read by admins.'));
    return undefined;
  }
  try {
    const { items } = await walk('/v1/audit-events', { resource_type: 'payment', resource_id: paymentId }, () => false, 5);
    add(history, table([
      { label: 'Seq', cell: (e) => String(e.seq), num: true },
      { label: 'When', cell: (e) => time(e.occurred_at) },
      { label: 'Action', cell: (e) => e.action },
      { label: 'State after', cell: (e) => (e.new_value && e.new_value.state ? badge(e.new_value.state) : '') },
      { label: 'Moved', cell: (e) => (e.new_value && e.new_value.transfer_id ? h('a', { href: `#/transfers/${e.new_value.transfer_id}` }, e.new_value.transfer_amount) : ''), num: true },
      { label: 'Actor', cell: (e) => (e.actor_id ? id(e.actor_id) : 'the server') },
    ], items.filter((event) => event.action !== 'READ').reverse(), 'No audit events for this payment.'));
  } catch (error) {
    add(history, errorNotice(error));
  }
  if (payment.state === 'authorized') add(history, notice('warn', `Authorized funds are held until ${time(payment.expires_at)}.`));
  return undefined;
}
