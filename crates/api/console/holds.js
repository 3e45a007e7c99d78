// Holds: the list by state and account, one hold with what is still held, posted and released,
// posting (whole or part) and voiding; and placing a hold from one's own account.

import { api } from './api.js';
import { h, add, actionButton, badge, card, chips, id, kv, pagedList, time } from './dom.js';
import { form, metadataProblem, parseMetadata, uuidProblem } from './forms.js';
import { amountProblem, currencyScale, scaleOf } from './money.js';
import { accountChoices, accountLink, owns, visibleAccounts } from './accounts.js';

const STATES = ['held', 'posted', 'voided', 'expired'];

export async function render(view, ctx, [holdId]) {
  if (holdId) return renderOne(view, ctx, holdId);
  add(view, h('h1', {}, 'Holds'));
  const filters = { state: 'held', account_id: '' };
  const list = pagedList('/v1/holds', () => ({ state: filters.state || undefined, account_id: filters.account_id || undefined }), [
    { label: 'Created', cell: (x) => h('a', { href: `#/holds/${x.id}` }, time(x.created_at)) },
    { label: 'State', cell: (x) => badge(x.state) },
    { label: 'From', cell: (x) => accountLink(x.from_account_id) },
    { label: 'To', cell: (x) => accountLink(x.to_account_id) },
    { label: 'Amount', cell: (x) => `${x.amount} ${x.currency}`, num: true },
    { label: 'Held', cell: (x) => x.held_amount, num: true },
    { label: 'Payment', cell: (x) => (x.payment_id ? id(x.payment_id, `#/payments/${x.payment_id}`) : '') },
    { label: 'Expires', cell: (x) => time(x.expires_at) },
  ], { empty: 'No holds match.' });
  const filterForm = form({
    name: 'Filter holds', label: 'Filter', keep: true,
    fields: [
      { name: 'state', label: 'State', type: 'select', value: 'held', options: [['', 'Any'], ...STATES.map((state) => [state, state])] },
      { name: 'account_id', label: 'Account id (either side)', check: uuidProblem },
    ],
    submit: async (values) => {
      Object.assign(filters, values);
      await list.reload();
    },
  });
  add(view, card(null, filterForm), card('Newest first', list));

  const accounts = await visibleAccounts();
  const mine = accounts.filter((account) => account.owner_id === ctx.me.id && account.status === 'active');
  if (mine.length) add(view, card('Place a hold', createForm(mine, accountChoices(accounts), ctx)));
  return undefined;
}

function createForm(mine, choices, ctx) {
  const byId = new Map(mine.map((account) => [account.id, account]));
  return form({
    name: 'Place a hold', label: 'Hold', idempotent: true,
    fields: [
      { name: 'from_account_id', label: 'From (your account)', type: 'select', options: mine.map((a) => [a.id, `${a.name || 'Unnamed'} · ${a.available} ${a.currency}`]) },
      { name: 'to_account_id', label: 'For account (id)', required: true, check: uuidProblem, suggest: choices },
      { name: 'amount', label: 'Amount', required: true, inputmode: 'decimal', check: (v, all) => amountProblem(v, currencyScale(byId.get(all.from_account_id)?.currency)) },
      { name: 'expires_in_secs', label: 'Expires in (seconds)', inputmode: 'numeric', placeholder: '604800', check: (v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 2592000 ? null : 'From 1 to 2592000 (30 days).') },
      { name: 'metadata', label: 'Metadata', type: 'textarea', check: metadataProblem, wide: true },
    ],
    submit: (values, key) => {
      const from = byId.get(values.from_account_id);
      const body = { from_account_id: from.id, to_account_id: values.to_account_id, amount: values.amount, currency: from.currency };
      if (values.expires_in_secs) body.expires_in_secs = Number(values.expires_in_secs);
      if (values.metadata) body.metadata = parseMetadata(values.metadata);
      return api('POST', '/v1/holds', { body, key });
    },
    done: (hold) => ctx.go(`#/holds/${hold.id}`),
  });
}

async function renderOne(view, ctx, holdId) {
  const hold = await api('GET', `/v1/holds/${holdId}`);
  const [source, destination] = await Promise.all([owns(ctx, hold.from_account_id), owns(ctx, hold.to_account_id)]);
  const party = source || destination;
  const reload = () => ctx.go(`#/holds/${holdId}`);
  const steps = h('div');
  // Whoever sees a hold is a party or a manager, and either may void it; posting is the
  // parties' and admins'.
  if (hold.state === 'held' && hold.payment_id === null) {
    if (party || ctx.may('admin')) {
      add(steps, h('h3', {}, 'Post'), form({
        name: 'Post', label: 'Post', idempotent: true,
        fields: [{ name: 'amount', label: `Amount (empty: all ${hold.held_amount})`, inputmode: 'decimal', check: (v) => amountProblem(v, scaleOf(hold.amount)) }],
        submit: (values, key) => api('POST', `/v1/holds/${holdId}/post`, { body: values.amount ? { amount: values.amount } : {}, key }),
        done: reload,
      }));
    }
    add(steps,
      h('h3', {}, 'Void'),
      actionButton('Void the hold', async () => { await api('POST', `/v1/holds/${holdId}/void`); reload(); }, { tone: 'danger', confirm: 'Void this hold? What is held goes back to the source.' }),
    );
  } else if (hold.payment_id !== null) {
    add(steps, h('p', {}, 'This hold is a payment’s authorization: it moves with ', h('a', { href: `#/payments/${hold.payment_id}` }, 'its payment'), '.'));
  } else {
    add(steps, h('p', { class: 'muted' }, `A ${hold.state} hold does not move any more.`));
  }
  add(view,
    h('p', {}, h('a', { href: '#/holds' }, '← Holds')),
    h('h1', {}, `Hold of ${hold.amount} ${hold.currency} `, badge(hold.state)),
    h('div', { class: 'grid two' },
      card('Hold', kv([
        ['Id', h('span', { class: 'mono' }, hold.id)],
        ['From', accountLink(hold.from_account_id)],
        ['To', accountLink(hold.to_account_id)],
        ['Amount', `${hold.amount} ${hold.currency}`],
        ['Still held', hold.held_amount],
        ['Posted', hold.posted_amount],
        ['Released', hold.released_amount],
        ['Payment', hold.payment_id ? id(hold.payment_id, `#/payments/${hold.payment_id}`) : null],
        ['Expires', time(hold.expires_at)],
        ['Metadata', chips(hold.metadata)],
        ['Created', time(hold.created_at)],
        ['Updated', time(hold.updated_at)],
      ])),
      card('Next steps', steps)),
  );
  return undefined;
}
