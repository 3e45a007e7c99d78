// Building the page. Every text goes in through text nodes, never parsed as markup, so nothing the
// server or a user wrote can become markup; no element gets an inline style or handler
// attribute, which the console's Content-Security-Policy would refuse anyway.

import { page } from './api.js';

/**
 * `h('a', {href: '#/x', class: 'y', onclick: fn}, 'text', child, [more])`: an element.
 * Attributes whose value is false, null or undefined are left out; true sets an empty one.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  applyAttrs(element, attrs);
  append(element, children);
  return element;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/** An SVG element, as `h` makes HTML ones. */
export function s(tag, attrs = {}, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  applyAttrs(element, attrs);
  append(element, children);
  return element;
}

function applyAttrs(element, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'value' && 'value' in element) {
      element.value = value;
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
}

/** Appends children as `h` takes them: strings, nodes, nested arrays; null and false skipped. */
export function add(element, ...children) {
  append(element, children);
  return element;
}

/** Replaces an element's children, taking them as `add` does. */
export function put(element, ...children) {
  element.replaceChildren();
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** `2026-12-02 14:05:09 UTC`: operators compare times across zones, so the console says UTC. */
export function time(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * An id, shortened to its end (a UUID v7 begins with its time, so ids made together share their
 * start), with the whole of it as its title (and a link when `href` is given).
 */
export function id(value, href) {
  if (!value) return h('span', { class: 'muted' }, '—');
  const text = value.length > 13 ? `…${value.slice(-8)}` : value;
  return href
    ? h('a', { href, title: value, class: 'mono' }, text)
    : h('span', { title: value, class: 'mono' }, text);
}

const STATE_TONES = {
  active: 'ok', held: 'info', authorized: 'info', pending: 'warn', captured: 'ok', posted: 'ok',
  refunded: 'ok', succeeded: 'ok', frozen: 'bad', failed: 'bad', canceled: 'bad', voided: 'warn', expired: 'warn',
  enabled: 'ok', disabled: 'bad', admin: 'info', manager: 'warn', user: '',
  ok: 'ok', broken: 'bad',
};

export function badge(text) {
  return h('span', { class: `badge ${STATE_TONES[text] ?? ''}` }, text);
}

/** `key=value` chips for a resource's metadata. */
export function chips(metadata) {
  const pairs = Object.entries(metadata || {});
  if (pairs.length === 0) return h('span', { class: 'muted' }, '—');
  return pairs.map(([key, value]) => h('span', { class: 'chip' }, `${key}=${value}`));
}

export function card(title, ...children) {
  return h('section', { class: 'card' }, title ? h('h2', {}, title) : null, ...children);
}

/** A list of terms and descriptions; rows whose value is undefined are left out. */
export function kv(rows) {
  return h(
    'dl',
    { class: 'kv' },
    rows.filter(([, value]) => value !== undefined).map(([term, value]) => [
      h('dt', {}, term),
      h('dd', {}, value === null || value === '' ? h('span', { class: 'muted' }, '—') : value),
    ]),
  );
}

export function notice(tone, ...children) {
  return h('p', { class: `notice ${tone}`, role: tone === 'error' ? 'alert' : 'status' }, ...children);
}

/** The envelope's message, with its code and request id for a report. */
export function errorNotice(error) {
  const extra = error.requestId ? ` (${error.code}, request ${error.requestId})` : ` (${error.code})`;
  return notice('error', error.message || String(error), h('span', { class: 'muted' }, extra));
}

export function json(value) {
  return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
}

/**
 * A table: `columns` are `{label, cell(row), num}`; `empty` is said when there are no rows. On a
 * phone each row becomes a block of labelled lines (console.css reads `data-label`).
 */
export function table(columns, rows, empty = 'Nothing here yet.') {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, columns.map((column) => h('th', { class: column.num ? 'num' : null, scope: 'col' }, column.label)))),
      h('tbody', {}, rows.map((row) => h('tr', {}, columns.map((column) => h('td', { class: column.num ? 'num' : null, 'data-label': column.label }, column.cell(row)))))),
    ),
  );
}

/**
 * A list read a page at a time with `starting_after`: Newer goes back a page, Older on to the
 * next. `query()` is read on every load, so a filter form can change it and call `reload()`.
 */
export function pagedList(path, query, columns, { empty, limit = 20, filter } = {}) {
  const root = h('div', { class: 'paged' });
  let cursors = [null];
  let index = 0;

  async function load() {
    put(root, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const q = { ...query(), limit };
      if (cursors[index]) q.starting_after = cursors[index];
      const result = await page(path, q);
      const rows = filter ? result.data.filter(filter) : result.data;
      const last = result.data[result.data.length - 1];
      const next = result.has_more && last ? last.id : null;
      const newer = h('button', { type: 'button', class: 'secondary', disabled: index === 0, onclick: () => { index -= 1; load(); } }, '← Newer');
      const older = h('button', { type: 'button', class: 'secondary', disabled: !next, onclick: () => { cursors = cursors.slice(0, index + 1).concat(next); index += 1; load(); } }, 'Older →');
      put(root,
        table(columns, rows, empty),
        h('div', { class: 'pager' }, newer, older, h('span', { class: 'muted' }, `page ${index + 1}`)),
      );
    } catch (error) {
      put(root, errorNotice(error));
    }
  }

  root.reload = () => {
    cursors = [null];
    index = 0;
    return load();
  };
  load();
  return root;
}

/** A button that runs `action`, disabled while it runs; a refusal shows beside it. */
export function actionButton(label, action, { tone, confirm: question } = {}) {
  const message = h('span', { class: 'form-error', role: 'alert' });
  const button = h('button', {
    type: 'button',
    class: tone || null,
    onclick: async () => {
      if (question && !window.confirm(question)) return;
      button.disabled = true;
      message.textContent = '';
      try {
        await action();
      } catch (error) {
        message.textContent = error.message || String(error);
      } finally {
        button.disabled = false;
      }
    },
  }, label);
  return h('span', { class: 'actions' }, button, message);
}
