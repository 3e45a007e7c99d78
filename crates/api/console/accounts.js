// Accounts: the list with its filters and labels, and one account with its balance through
// time, its ledger lines, a balance at any instant, a statement (shown or downloaded as CSV),
// the money forms its reader may use, and freezing for managers.

import { api, walk } from './api.js';
import { h, add, put, actionButton, badge, card, chips, errorNotice, id, kv, notice, pagedList, table, time } from './dom.js';
import { form, metadataProblem, parseMetadata, toRfc3339, uuidProblem } from './forms.js';
import { stepChart } from './chart.js';
import { amountProblem, scaleOf, toMinor, fromMinor, toNumber } from './money.js';

/** Ledger lines the balance chart reads at most (newest first, then drawn oldest first). */
const CHART_PAGES = 5;

/** Emails by user id, for managers and admins (who may list users); empty for others. */
export async function userNames(ctx) {
  const names = new Map();
  if (!ctx.may('manager')) return names;
  try {
    const { items } = await walk('/v1/users', {}, () => false, 5);
    for (const user of items) names.set(user.id, user.email);
  } catch {
    // Names are a convenience; ids still show.
  }
  return names;
}

export function owner(account, names, ctx) {
  if (account.owner_id === null) return h('span', { class: 'muted' }, 'system');
  if (account.owner_id === ctx.me.id) return 'you';
  return names.get(account.owner_id) || id(account.owner_id);
}

/** Whether the caller owns the account: a user cannot read another's (404), so it does not. */
export async function owns(ctx, accountId) {
  try {
    const account = await api('GET', `/v1/accounts/${accountId}`);
    return account.owner_id === ctx.me.id;
  } catch {
    return false;
  }
}

/** Accounts read once per screen: the pickers' choices and the names links show. */
let readable = null;
const accountNames = new Map();

/**
 * Reads afresh the accounts the caller may read (a user: its own; bounded to 500), for the
 * screen about to be shown; the shell calls it on every route, and forgets them at sign-out so
 * that the next person in this tab learns nothing of them.
 */
export function readAccounts() {
  accountNames.clear();
  readable = walk('/v1/accounts', {}, () => false, 5).then(({ items }) => {
    for (const account of items) accountNames.set(account.id, account.name || (account.owner_id === null ? `${account.currency} system` : 'Unnamed'));
    return items;
  });
  return readable.catch(() => []);
}

export function forgetAccounts() {
  readable = null;
  accountNames.clear();
}

/** The accounts of this screen's reading (see readAccounts). */
export function visibleAccounts() {
  return readable || readAccounts();
}

/** `[[id, "Name · EUR"]]` for an account field's suggestions (system accounts left out). */
export function accountChoices(accounts, exceptId) {
  return accounts
    .filter((account) => account.owner_id !== null && account.id !== exceptId)
    .map((account) => [account.id, `${account.name || 'Unnamed'} · ${account.currency}`]);
}

/** A link to an account, by its name when the caller may read it, else by its id. */
export function accountLink(accountId) {
  const name = accountNames.get(accountId);
  return name ? h('a', { href: `#/accounts/${accountId}`, title: accountId }, name) : id(accountId, `#/accounts/${accountId}`);
}

export async function render(view, ctx, [accountId]) {
  if (accountId) return renderOne(view, ctx, accountId);
  const names = await userNames(ctx);
  add(view, h('div', { class: 'head' }, h('h1', {}, 'Accounts')));

  const filters = { owner_id: '', key: '', value: '' };
  const list = pagedList('/v1/accounts', () => ({
    owner_id: filters.owner_id || undefined,
    metadata: filters.key ? { [filters.key]: filters.value } : undefined,
  }), [
    { label: 'Name', cell: (a) => h('a', { href: `#/accounts/${a.id}` }, a.name || (a.owner_id === null ? `${a.currency} system` : 'Unnamed')) },
    { label: 'Owner', cell: (a) => owner(a, names, ctx) },
    { label: 'Currency', cell: (a) => a.currency },
    { label: 'Balance', cell: (a) => a.balance, num: true },
    { label: 'Available', cell: (a) => a.available, num: true },
    { label: 'Status', cell: (a) => badge(a.status) },
    { label: 'Metadata', cell: (a) => chips(a.metadata) },
    { label: 'Opened', cell: (a) => time(a.created_at) },
  ], { empty: 'No accounts match.' });

  const filterFields = [
    { name: 'key', label: 'Metadata key', placeholder: 'e.g. team' },
    { name: 'value', label: 'Metadata value' },
  ];
  if (ctx.may('manager')) {
    filterFields.unshift({
      name: 'owner_id', label: 'Owner', type: 'select',
      options: [['', 'Anyone'], ...[...names].map(([userId, email]) => [userId, email])],
    });
  }
  const filterForm = form({
    name: 'Filter accounts', label: 'Filter', keep: true, fields: filterFields,
    submit: async (values) => {
      Object.assign(filters, values);
      await list.reload();
    },
  });

  add(view, card(null, filterForm), card('All accounts', list), card('Open an account', openForm(ctx, names)));
  return undefined;
}

function openForm(ctx, names) {
  const fields = [
    { name: 'currency', label: 'Currency', required: true, placeholder: 'EUR', check: (v) => (/^[A-Z]{3}$/.test(v) ? null : 'Three capital letters (ISO 4217), e.g. EUR.') },
    { name: 'name', label: 'Name', placeholder: 'Main' },
  ];
  if (ctx.may('admin')) {
    fields.push({
      name: 'owner_id', label: 'Owner', type: 'select',
      options: [['', 'Me'], ...[...names].filter(([userId]) => userId !== ctx.me.id).map(([userId, email]) => [userId, email])],
    });
  }
  fields.push({ name: 'metadata', label: 'Metadata', type: 'textarea', placeholder: 'key=value, one a line', check: metadataProblem, wide: true });
  return form({
    name: 'Open an account', label: 'Open account', fields,
    submit: (values) => {
      const body = { currency: values.currency };
      if (values.name) body.name = values.name;
      if (values.owner_id) body.owner_id = values.owner_id;
      if (values.metadata) body.metadata = parseMetadata(values.metadata);
      return api('POST', '/v1/accounts', { body });
    },
    done: (account) => ctx.go(`#/accounts/${account.id}`),
  });
}

async function renderOne(view, ctx, accountId) {
  const [account, names] = await Promise.all([api('GET', `/v1/accounts/${accountId}`), userNames(ctx)]);
  const system = account.owner_id === null;
  const mine = account.owner_id === ctx.me.id;
  const scale = scaleOf(account.balance);
  const reload = () => ctx.go(`#/accounts/${accountId}`);
  const held = fromMinor(toMinor(account.balance, scale) - toMinor(account.available, scale), scale);

  const actions = h('div', { class: 'actions' });
  if (ctx.may('manager') && account.status === 'active' && !system) {
    add(actions, actionButton('Freeze', async () => { await api('POST', `/v1/accounts/${accountId}/freeze`); reload(); }, { tone: 'danger', confirm: 'Freeze this account? It will neither send nor receive.' }));
  }
  if (ctx.may('manager') && account.status === 'frozen') {
    add(actions, actionButton('Unfreeze', async () => { await api('POST', `/v1/accounts/${accountId}/unfreeze`); reload(); }));
  }

  add(view,
    h('p', {}, h('a', { href: '#/accounts' }, '← Accounts')),
    h('div', { class: 'head' }, h('h1', {}, account.name || (system ? `${account.currency} system account` : 'Account'), ' ', badge(account.status)), actions),
    h('div', { class: 'grid two' },
      card('Account', kv([
        ['Id', h('span', { class: 'mono' }, account.id)],
        ['Owner', owner(account, names, ctx)],
        ['Balance', h('strong', { 'data-field': 'balance' }, `${account.balance} ${account.currency}`)],
        ['Available', `${account.available} ${account.currency}`],
        ['Held', `${held} ${account.currency}`],
        ['Overdraft limit', system ? 'none (system account)' : account.overdraft_limit],
        ['Maximum balance', account.max_balance ?? (system ? 'none' : 'no ceiling')],
        ['Metadata', chips(account.metadata)],
        ['Opened', time(account.created_at)],
        ['Updated', time(account.updated_at)],
      ])),
      card('Balance over time', h('div', { class: 'balance-chart' }, h('p', { class: 'muted' }, 'Loading…')))),
  );
  const chartHolder = view.querySelector('.balance-chart');
  drawBalance(chartHolder, account);

  const moneyCard = card('Move money');
  const moneyForms = [];
  if (ctx.may('admin') && !system) moneyForms.push(['Deposit', movementForm('deposit', account, reload)]);
  if ((mine || ctx.may('admin')) && !system) moneyForms.push(['Withdraw', movementForm('withdrawal', account, reload)]);
  if (mine) moneyForms.push(['Transfer to another account', movementForm('transfer', account, reload, accountChoices(await visibleAccounts(), account.id))]);
  if (moneyForms.length) {
    for (const [title, element] of moneyForms) add(moneyCard, h('h3', {}, title), element);
    add(view, moneyCard);
  }

  const history = h('div', { class: 'grid two' }, card('Balance at an instant', asOfForm(account)), card('Statement', statementForm(account)));
  add(view, history);

  if ((mine || ctx.may('admin')) && !system) add(view, card('Labels and limits', settingsForms(account, ctx, reload)));

  add(view, card('Ledger lines', pagedList(`/v1/accounts/${accountId}/entries`, () => ({}), [
    { label: 'When', cell: (line) => time(line.created_at) },
    { label: 'Transfer', cell: (line) => id(line.transfer_id, `#/transfers/${line.transfer_id}`) },
    { label: 'Amount', cell: (line) => line.amount, num: true },
    { label: 'Balance after', cell: (line) => line.balance_after, num: true },
  ], { empty: 'No ledger lines yet.' })));
  return undefined;
}

async function drawBalance(into, account) {
  try {
    const { items } = await walk(`/v1/accounts/${account.id}/entries`, {}, () => false, CHART_PAGES);
    const points = items.reverse().map((line) => ({
      at: new Date(line.created_at),
      value: toNumber(line.balance_after),
      title: `${time(line.created_at)}: ${line.balance_after} ${account.currency}`,
    }));
    put(into, stepChart(`Balance of ${account.name || account.id} in ${account.currency} over time`, points));
  } catch (error) {
    put(into, errorNotice(error));
  }
}

function movementForm(kind, account, reload, choices = []) {
  const scale = scaleOf(account.balance);
  const fields = [];
  if (kind === 'transfer') fields.push({ name: 'to_account_id', label: 'To account (id)', required: true, check: uuidProblem, suggest: choices });
  fields.push(
    { name: 'amount', label: `Amount (${account.currency})`, required: true, inputmode: 'decimal', check: (v) => amountProblem(v, scale) },
    { name: 'description', label: 'Description' },
  );
  const path = { deposit: '/v1/deposits', withdrawal: '/v1/withdrawals', transfer: '/v1/transfers' }[kind];
  return form({
    name: kind, label: { deposit: 'Deposit', withdrawal: 'Withdraw', transfer: 'Send' }[kind], fields, idempotent: true,
    submit: (values, key) => {
      const body = { amount: values.amount, currency: account.currency };
      if (kind === 'transfer') {
        body.from_account_id = account.id;
        body.to_account_id = values.to_account_id;
      } else {
        body.account_id = account.id;
      }
      if (values.description) body.description = values.description;
      return api('POST', path, { body, key });
    },
    done: reload,
  });
}

function asOfForm(account) {
  const answer = h('div', { 'aria-live': 'polite' });
  const element = form({
    name: 'Balance as of', label: 'Show balance', keep: true,
    fields: [{ name: 'as_of', label: 'As of (your time zone)', type: 'datetime-local', required: true, check: (v) => (toRfc3339(v) ? null : 'Pick a date and time.') }],
    submit: (values) => api('GET', `/v1/accounts/${account.id}/balance`, { query: { as_of: toRfc3339(values.as_of) } }),
    done: (result) => put(answer, kv([
      ['Balance', h('strong', {}, `${result.balance} ${account.currency}`)],
      ['As of', time(result.as_of)],
      ['Last line', result.last_entry_id ? h('span', { class: 'mono' }, result.last_entry_id) : null],
    ])),
  });
  return [element, answer];
}

function statementForm(account) {
  const answer = h('div', { 'aria-live': 'polite' });
  const fields = [
    { name: 'from', label: 'From (inclusive)', type: 'datetime-local', check: (v) => (toRfc3339(v) ? null : 'Pick a date and time.') },
    { name: 'to', label: 'To (exclusive; default now)', type: 'datetime-local', check: (v, all) => {
      if (!toRfc3339(v)) return 'Pick a date and time.';
      if (all.from && new Date(all.from) >= new Date(v)) return 'The end comes after the start.';
      return null;
    } },
  ];
  const windowOf = (values) => ({ from: values.from ? toRfc3339(values.from) : undefined, to: values.to ? toRfc3339(values.to) : undefined });
  let lastWindow = {};
  const download = h('button', { type: 'button', class: 'secondary', onclick: async () => {
    try {
      const blob = await api('GET', `/v1/accounts/${account.id}/statement`, { query: lastWindow, accept: 'text/csv' });
      const link = h('a', { href: URL.createObjectURL(blob), download: `statement-${account.id}.csv` });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (error) {
      put(answer, errorNotice(error));
    }
  } }, 'Download CSV');
  const element = form({
    name: 'Statement', label: 'Show statement', keep: true, fields,
    submit: (values) => {
      lastWindow = windowOf(values);
      return api('GET', `/v1/accounts/${account.id}/statement`, { query: { ...lastWindow, limit: 100 } });
    },
    done: (statement) => put(answer,
      kv([
        ['Window', `${time(statement.from)} → ${time(statement.to)}`],
        ['Opening balance', statement.opening_balance],
        ['Credits', statement.total_credits],
        ['Debits', statement.total_debits],
        ['Closing balance', h('strong', {}, statement.closing_balance)],
      ]),
      table([
        { label: 'When', cell: (line) => time(line.created_at) },
        { label: 'Amount', cell: (line) => line.amount, num: true },
        { label: 'Balance after', cell: (line) => line.balance_after, num: true },
      ], statement.entries, 'No lines in this window.'),
      statement.has_more ? notice('warn', 'More lines than shown: download the CSV for all of them.') : null,
    ),
  });
  return [element, h('p', {}, download, ' ', h('span', { class: 'muted' }, 'the window last shown, every line')), answer];
}

function settingsForms(account, ctx, reload) {
  const scale = scaleOf(account.balance);
  const parts = [];
  const metadataText = Object.entries(account.metadata).map(([key, value]) => `${key}=${value}`).join('\n');
  parts.push(h('h3', {}, 'Metadata'), form({
    name: 'Account metadata', label: 'Save labels',
    fields: [{ name: 'metadata', label: 'Labels', type: 'textarea', value: metadataText, check: metadataProblem, wide: true, hint: 'key=value, one a line; a key left out is removed.' }],
    submit: (values) => {
      const wanted = parseMetadata(values.metadata);
      const patch = { ...wanted };
      for (const key of Object.keys(account.metadata)) if (!(key in wanted)) patch[key] = null;
      return api('PATCH', `/v1/accounts/${account.id}`, { body: { metadata: patch } });
    },
    done: reload,
  }));
  if (ctx.may('admin')) {
    parts.push(h('h3', {}, 'Balance limits'), form({
      name: 'Balance limits', label: 'Save limits',
      fields: [
        { name: 'overdraft_limit', label: `Overdraft limit (${account.currency})`, value: account.overdraft_limit, required: true, check: (v) => amountProblem(v, scale, { allowZero: true }) },
        { name: 'max_balance', label: 'Maximum balance (empty: no ceiling)', value: account.max_balance ?? '', check: (v) => amountProblem(v, scale, { allowZero: true }) },
      ],
      submit: (values) => api('PATCH', `/v1/accounts/${account.id}`, { body: { overdraft_limit: values.overdraft_limit, max_balance: values.max_balance || null } }),
      done: reload,
    }));
  }
  return parts;
}
