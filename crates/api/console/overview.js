// Overview: money per currency, what moved today and over the last days, what is held, and
// whether the ledger and the audit chain verify. The API has no aggregate endpoint, so this
// screen reads the lists (bounded walks, newest first) and adds them up exactly; when a walk
// stops at its bound the card says the figure covers only what was read.

import { api, walk } from './api.js';
import { h, add, put, badge, card, errorNotice, notice, table } from './dom.js';
import { barChart } from './chart.js';
import { Totals, toNumber } from './money.js';

/** Days the volume chart shows, today included. */
export const VOLUME_DAYS = 14;

function utcDay(date) {
  return date.toISOString().slice(0, 10);
}

function partial(complete, what) {
  return complete ? null : notice('warn', `Only the newest ${what} were read; the figures above cover those.`);
}

export async function render(view, ctx) {
  add(view, h('h1', {}, 'Overview'));
  const top = h('div', { class: 'grid' });
  const bottom = h('div', { class: 'grid two' });
  add(view, top, bottom);

  const balances = card('Balances');
  const today = card('Moved today (UTC)');
  const held = card('Open holds and authorizations');
  const checks = card('Verification');
  const volume = card(`Volume, last ${VOLUME_DAYS} days`);
  add(top, balances, today, held);
  add(bottom, volume, checks);

  const since = new Date();
  since.setUTCHours(0, 0, 0, 0);
  since.setUTCDate(since.getUTCDate() - (VOLUME_DAYS - 1));

  await Promise.all([
    showBalances(balances, ctx),
    showMovements(today, volume, since),
    showHolds(held),
    showChecks(checks, ctx),
  ]);
}

async function showBalances(into, ctx) {
  try {
    const { items, complete } = await walk('/v1/accounts');
    const customers = items.filter((account) => account.owner_id !== null);
    const balance = new Totals();
    const available = new Totals();
    for (const account of customers) {
      balance.add(account.currency, account.balance);
      available.add(account.currency, account.available);
    }
    const availableBy = new Map(available.entries());
    const rows = balance.entries().map(([currency, total]) => ({ currency, ...total, available: availableBy.get(currency).amount }));
    const frozen = customers.filter((account) => account.status === 'frozen').length;
    add(into,
      table([
        { label: 'Currency', cell: (row) => row.currency },
        { label: 'Balance', cell: (row) => row.amount, num: true },
        { label: 'Available', cell: (row) => row.available, num: true },
      ], rows, ctx.may('manager') ? 'No customer accounts yet.' : 'You have no accounts yet.'),
      h('p', { class: 'muted' }, `${customers.length} ${ctx.may('manager') ? 'customer ' : ''}account${customers.length === 1 ? '' : 's'}`,
        frozen ? `, ${frozen} frozen` : '', rows.length > 1 ? ` in ${rows.length} currencies` : ''),
      partial(complete, 'accounts'),
    );
  } catch (error) {
    add(into, errorNotice(error));
  }
}

async function showMovements(todayCard, volumeCard, since) {
  try {
    const { items, complete } = await walk('/v1/transfers', {}, (transfer) => new Date(transfer.created_at) < since);
    const todayKey = utcDay(new Date());
    const todayTotals = new Totals();
    const byDay = new Map();
    for (const transfer of items) {
      const day = utcDay(new Date(transfer.created_at));
      if (day === todayKey) todayTotals.add(transfer.currency, transfer.amount);
      if (!byDay.has(day)) byDay.set(day, new Totals());
      byDay.get(day).add(transfer.currency, transfer.amount);
    }
    const rows = todayTotals.entries();
    add(todayCard,
      rows.length === 0
        ? h('p', { class: 'muted' }, 'Nothing has moved today.')
        : rows.map(([currency, total]) => h('div', { class: 'stat-row' },
          h('span', { class: 'stat' }, `${total.amount} ${currency}`),
          h('span', { class: 'muted' }, `${total.count} transfer${total.count === 1 ? '' : 's'}`))),
      h('p', { class: 'muted' }, 'Every kind: transfers, deposits, withdrawals, captures, refunds.'),
      partial(complete, 'transfers'),
    );

    const currencies = [...new Set(items.map((transfer) => transfer.currency))].sort();
    const days = [];
    for (let n = 0; n < VOLUME_DAYS; n += 1) {
      const day = new Date(since);
      day.setUTCDate(since.getUTCDate() + n);
      days.push(utcDay(day));
    }
    const chartHolder = h('div', { class: 'chart-holder' });
    const draw = (currency) => {
      const bars = days.map((day) => {
        const entry = byDay.get(day)?.entries().find(([code]) => code === currency);
        const amount = entry ? entry[1].amount : '0';
        const count = entry ? entry[1].count : 0;
        return { label: day.slice(5), value: toNumber(amount), title: `${day}: ${amount} ${currency} in ${count} transfer${count === 1 ? '' : 's'}` };
      });
      put(chartHolder, barChart(`Daily volume in ${currency} over the last ${VOLUME_DAYS} days`, bars));
    };
    if (currencies.length === 0) {
      add(chartHolder, h('p', { class: 'chart-empty' }, 'No movements in this period.'));
    } else {
      const picker = h('select', { 'aria-label': 'Currency', onchange: (event) => draw(event.target.value) },
        currencies.map((currency) => h('option', { value: currency }, currency)));
      add(volumeCard, h('div', { class: 'toolbar' }, picker));
      draw(currencies[0]);
    }
    add(volumeCard, chartHolder, partial(complete, 'transfers'));
  } catch (error) {
    add(todayCard, errorNotice(error));
    add(volumeCard, errorNotice(error));
  }
}

async function showHolds(into) {
  try {
    const { items, complete } = await walk('/v1/holds', { state: 'held' });
    const totals = new Totals();
    for (const hold of items) totals.add(hold.currency, hold.held_amount);
    const authorizations = items.filter((hold) => hold.payment_id !== null).length;
    add(into,
      h('div', { class: 'stat-row' }, h('span', {}, 'Holds open'), h('span', { class: 'stat' }, String(items.length))),
      h('div', { class: 'stat-row' }, h('span', {}, 'of which payment authorizations'), h('span', { class: 'stat' }, String(authorizations))),
      totals.entries().map(([currency, total]) => h('div', { class: 'stat-row' }, h('span', { class: 'muted' }, `held in ${currency}`), h('span', {}, `${total.amount} ${currency}`))),
      h('p', {}, h('a', { href: '#/holds' }, 'See the holds'), ' · ', h('a', { href: '#/payments' }, 'the payments')),
      partial(complete, 'holds'),
    );
  } catch (error) {
    add(into, errorNotice(error));
  }
}

async function showChecks(into, ctx) {
  if (!ctx.may('admin')) {
    add(into, h('p', { class: 'muted' }, 'The ledger and audit checks are run by admins.'));
    return;
  }
  const [ledger, chain] = await Promise.allSettled([
    api('GET', '/v1/ledger/verify'),
    api('GET', '/v1/audit-events/verify'),
  ]);
  if (ledger.status === 'fulfilled') {
    const result = ledger.value;
    add(into,
      h('div', { class: 'stat-row', 'data-check': 'ledger' }, h('span', {}, 'Ledger'), badge(result.ok ? 'ok' : 'broken')),
      h('p', { class: 'muted' }, `${result.accounts_checked} accounts checked; every currency sums to zero: `,
        result.currencies.map((row) => `${row.currency} ${row.sum}`).join(', ') || 'no currency yet'),
      result.mismatched_accounts.length ? notice('error', `Mismatched accounts: ${result.mismatched_accounts.join(', ')}`) : null,
    );
  } else {
    add(into, errorNotice(ledger.reason));
  }
  if (chain.status === 'fulfilled') {
    const result = chain.value;
    add(into,
      h('div', { class: 'stat-row', 'data-check': 'audit' }, h('span', {}, 'Audit chain'), badge(result.ok ? 'ok' : 'broken')),
      h('p', { class: 'muted' }, `${result.events_checked} events checked`, result.first_bad_seq !== null ? `; first bad seq ${result.first_bad_seq}` : ''),
      h('p', {}, h('a', { href: '#/audit' }, 'Open the audit log')),
    );
  } else {
    add(into, errorNotice(chain.reason));
  }
}
