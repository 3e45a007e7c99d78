// Transfers and transactions: the lists (by account, by label), one transfer with both of its
// legs, one transaction with every posting, and the forms to send money.

import { api } from './api.js';
import { h, add, badge, card, chips, errorNotice, id, kv, pagedList, table, time } from './dom.js';
import { form, metadataProblem, parseMetadata, uuidProblem } from './forms.js';
import { Totals, amountProblem, currencyScale } from './money.js';
import { accountChoices, accountLink, visibleAccounts } from './accounts.js';

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
function own(accounts, ctx) {
  return accounts.filter((account) => account.owner_id === ctx.me.id && account.status === 'active');
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
    const accounts = await visibleAccounts();
    const mine = own(accounts, ctx);
    if (mine.length) add(view, card('Send money', sendForm(mine, accountChoices(accounts), ctx)));
    return undefined;
  },
};

function sendForm(mine, choices, ctx) {
  const byId = new Map(mine.map((account) => [account.id, account]));
  return form({
    name: 'Send money', label: 'Send', idempotent: true,
    fields: [
      { name: 'from_account_id', label: 'From', type: 'select', options: mine.map((a) => [a.id, `${a.name || 'Unnamed'} · ${a.available} ${a.currency} available`]) },
      { name: 'to_account_id', label: 'To account (id)', required: true, check: uuidProblem, suggest: choices },
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
    const choices = accountChoices(await visibleAccounts());
    add(view, card(null, filterForm(filters, list, 'Filter transactions')), card('Newest first', list),
      card('Post a transaction', transactionForm(ctx, choices)));
    return undefined;
  },
};

/** Posting rows the form offers; a transaction takes up to 64 (API.md), a person types a few. */
const FORM_POSTINGS = 4;

/** A posting row: all of its fields or none (rows left empty are not sent). */
function postingCheck(index, part) {
  return (value, all) => {
    const row = ['from_account_id', 'to_account_id', 'amount', 'currency'].map((name) => all[`p${index}_${name}`]);
    if (row.every((cell) => cell === '')) return null;
    if (value === '') return 'Fill in the whole posting, or none of it.';
    if (part === 'currency') return /^[A-Z]{3}$/.test(value) ? null : 'Three capital letters, e.g. EUR.';
    if (part === 'amount') return amountProblem(value, currencyScale(all[`p${index}_currency`]));
    return uuidProblem(value);
  };
}

function transactionForm(ctx, choices) {
  const fields = [];
  for (let index = 0; index < FORM_POSTINGS; index += 1) {
    const n = index + 1;
    fields.push(
      { name: `p${index}_from_account_id`, label: `${n}. from account`, required: index === 0, check: postingCheck(index, 'from'), quarter: true, suggest: choices },
      { name: `p${index}_to_account_id`, label: `${n}. to account`, required: index === 0, check: postingCheck(index, 'to'), quarter: true, suggest: choices },
      { name: `p${index}_amount`, label: `${n}. amount`, required: index === 0, inputmode: 'decimal', check: postingCheck(index, 'amount'), quarter: true },
      { name: `p${index}_currency`, label: `${n}. currency`, required: index === 0, placeholder: 'EUR', check: postingCheck(index, 'currency'), quarter: true },
    );
  }
  fields.push(
    { name: 'description', label: 'Description', wide: true },
    { name: 'metadata', label: 'Metadata', type: 'textarea', check: metadataProblem, wide: true },
  );
  return [
    h('p', { class: 'muted' }, 'Postings apply in order, all or nothing; a later one may spend what an earlier one brought. ',
      ctx.may('admin') ? 'Admins may move any customer account.' : 'Each must come from an account of yours.'),
    form({
      name: 'Post a transaction', label: 'Post transaction', idempotent: true, fields,
      submit: (values, key) => {
        const postings = [];
        for (let index = 0; index < FORM_POSTINGS; index += 1) {
          const at = (name) => values[`p${index}_${name}`];
          if (at('from_account_id') === '') continue;
          postings.push({ from_account_id: at('from_account_id'), to_account_id: at('to_account_id'), amount: at('amount'), currency: at('currency') });
        }
        const body = { postings };
        if (values.description) body.description = values.description;
        if (values.metadata) body.metadata = parseMetadata(values.metadata);
        return api('POST', '/v1/transactions', { body, key });
      },
      done: (transaction) => ctx.go(`#/transactions/${transaction.id}`),
    }),
  ];
}

/** "12.50 EUR, 3.00 USD": what a transaction's postings move in all, per currency. */
function summary(transaction) {
  const totals = new Totals();
  for (const posting of transaction.postings) totals.add(posting.currency, posting.amount);
  return totals.entries().map(([currency, total]) => `${total.amount} ${currency}`).join(', ');
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
