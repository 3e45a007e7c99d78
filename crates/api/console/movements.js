// Transfers and transactions: the lists (by account, by label), one transfer with both of its
// legs, one transaction with every posting, and the forms to send money.

import { api, walk } from './api.js';
import { h, add, badge, card, chips, errorNotice, id, kv, pagedList, table, time } from './dom.js';
import { form, metadataProblem, parseMetadata, uuidProblem } from './forms.js';
import { amountProblem, currencyScale } from './money.js';
import { accountLink } from './accounts.js';

function filterForm(filters, list, label) {
  return form({
    name: label, label: 'Filter', keep: true,
    fields: [
      { name: 'account_id', label: 'Account id', check: uuidProblem },
      { name: 'key', label: 'Metadata key' },
      { name: 'value', label: 'Metadata value' },
    ],
    submit: async (values) => {
      Object.assign(filters, values);
      await list.reload();
    },
  });
}

function listQuery(filters) {
  return () => ({
    account_id: filters.account_id || undefined,
    metadata: filters.key ? { [filters.key]: filters.value } : undefined,
  });
}

/** The caller's own active accounts, for a "from" select. */
async function ownAccounts(ctx) {
  const { items } = await walk('/v1/accounts', {}, () => false, 5);
  return items.filter((account) => account.owner_id === ctx.me.id && account.status === 'active');
}

export const transfers = {
  async render(view, ctx, [transferId]) {
    if (transferId) return renderTransfer(view, transferId);
    add(view, h('h1', {}, 'Transfers'));
    const filters = {};
    const list = pagedList('/v1/transfers', listQuery(filters), [
      { label: 'When', cell: (t) => h('a', { href: `#/transfers/${t.id}` }, time(t.created_at)) },
      { label: 'Kind', cell: (t) => badge(t.kind) },
      { label: 'From', cell: (t) => accountLink(t.from_account_id) },
      { label: 'To', cell: (t) => accountLink(t.to_account_id) },
      { label: 'Amount', cell: (t) => `${t.amount} ${t.currency}`, num: true },
      { label: 'Description', cell: (t) => t.description || '' },
      { label: 'Metadata', cell: (t) => chips(t.metadata) },
    ], { empty: 'No transfers match.' });
    add(view, card(null, filterForm(filters, list, 'Filter transfers')), card('Newest first', list));
    const mine = await ownAccounts(ctx);
    if (mine.length) add(view, card('Send money', sendForm(mine, ctx)));
    return undefined;
  },
};

function sendForm(mine, ctx) {
  const byId = new Map(mine.map((account) => [account.id, account]));
  return form({
    name: 'Send money', label: 'Send', idempotent: true,
    fields: [
      { name: 'from_account_id', label: 'From', type: 'select', options: mine.map((a) => [a.id, `${a.name || 'Unnamed'} · ${a.available} ${a.currency} available`]) },
      { name: 'to_account_id', label: 'To account (id)', required: true, check: uuidProblem },
      { name: 'amount', label: 'Amount', required: true, inputmode: 'decimal', check: (v, all) => amountProblem(v, currencyScale(byId.get(all.from_account_id)?.currency)) },
      { name: 'description', label: 'Description' },
      { name: 'metadata', label: 'Metadata', type: 'textarea', placeholder: 'key=value, one a line', check: metadataProblem, wide: true },
    ],
    submit: (values, key) => {
      const from = byId.get(values.from_account_id);
      const body = { from_account_id: from.id, to_account_id: values.to_account_id, amount: values.amount, currency: from.currency };
      if (values.description) body.description = values.description;
      if (values.metadata) body.metadata = parseMetadata(values.metadata);
      return api('POST', '/v1/transfers', { body, key });
    },
    done: (transfer) => ctx.go(`#/transfers/${transfer.id}`),
  });
}

async function renderTransfer(view, transferId) {
  const transfer = await api('GET', `/v1/transfers/${transferId}`);
  add(view,
    h('p', {}, h('a', { href: '#/transfers' }, '← Transfers')),
    h('h1', {}, `${transfer.amount} ${transfer.currency} `, badge(transfer.kind)),
    h('div', { class: 'grid two' },
      card('Transfer', kv([
        ['Id', h('span', { class: 'mono' }, transfer.id)],
        ['Kind', transfer.kind],
        ['Amount', `${transfer.amount} ${transfer.currency}`],
        ['Description', transfer.description],
        ['Hold', transfer.hold_id ? id(transfer.hold_id, `#/holds/${transfer.hold_id}`) : null],
        ['Transaction', transfer.transaction_id ? id(transfer.transaction_id, `#/transactions/${transfer.transaction_id}`) : null],
        ['Metadata', chips(transfer.metadata)],
        ['Created', time(transfer.created_at)],
      ])),
      card('Legs', table([
        { label: 'Account', cell: (leg) => accountLink(leg.account) },
        { label: 'Side', cell: (leg) => leg.side },
        { label: 'Amount', cell: (leg) => leg.amount, num: true },
      ], [
        { account: transfer.from_account_id, side: 'debit', amount: `-${transfer.amount}` },
        { account: transfer.to_account_id, side: 'credit', amount: transfer.amount },
      ]), h('p', { class: 'muted' }, 'Every transfer writes these two ledger lines; they sum to zero.'))),
  );
  return undefined;
}

export const transactions = {
  async render(view, ctx, [transactionId]) {
    if (transactionId) return renderTransaction(view, transactionId);
    add(view, h('h1', {}, 'Transactions'));
    const filters = {};
    const list = pagedList('/v1/transactions', listQuery(filters), [
      { label: 'When', cell: (t) => h('a', { href: `#/transactions/${t.id}` }, time(t.created_at)) },
      { label: 'Postings', cell: (t) => String(t.postings.length), num: true },
      { label: 'Moves', cell: (t) => summary(t), num: true },
      { label: 'Description', cell: (t) => t.description || '' },
      { label: 'Metadata', cell: (t) => chips(t.metadata) },
    ], { empty: 'No transactions match.' });
    add(view, card(null, filterForm(filters, list, 'Filter transactions')), card('Newest first', list));
    return undefined;
  },
};

/** "12.50 EUR + 3.00 USD": what a transaction's postings move, per currency in order. */
function summary(transaction) {
  const currencies = [...new Set(transaction.postings.map((p) => p.currency))];
  return currencies.map((currency) => `${transaction.postings.filter((p) => p.currency === currency).length}× ${currency}`).join(', ');
}

async function renderTransaction(view, transactionId) {
  try {
    const transaction = await api('GET', `/v1/transactions/${transactionId}`);
    add(view,
      h('p', {}, h('a', { href: '#/transactions' }, '← Transactions')),
      h('h1', {}, 'Transaction'),
      card('Transaction', kv([
        ['Id', h('span', { class: 'mono' }, transaction.id)],
        ['Description', transaction.description],
        ['Metadata', chips(transaction.metadata)],
        ['Created', time(transaction.created_at)],
      ])),
      card(`Postings, in the order applied (${transaction.postings.length})`, table([
        { label: '#', cell: (p) => String(transaction.postings.indexOf(p)), num: true },
        { label: 'Transfer', cell: (p) => id(p.id, `#/transfers/${p.id}`) },
        { label: 'From', cell: (p) => accountLink(p.from_account_id) },
        { label: 'To', cell: (p) => accountLink(p.to_account_id) },
        { label: 'Amount', cell: (p) => `${p.amount} ${p.currency}`, num: true },
        { label: 'Description', cell: (p) => p.description || '' },
      ], transaction.postings)),
    );
  } catch (error) {
    add(view, errorNotice(error));
  }
  return undefined;
}
