// Forms that check every field before sending and put the server's refusal beside the field it
// is about. A form that moves money sends an Idempotency-Key, kept until the server gives a
// verdict: pressing the button again after a lost answer or a 503 retries the same request,
// which the server then runs at most once.

import { newKey } from './api.js';
import { h } from './dom.js';

/** Which field a refusal is about, when its code says so (else its message's first word). */
const CODE_FIELDS = {
  INSUFFICIENT_FUNDS: ['amount'],
  AMOUNT_EXCEEDS_AUTHORIZED: ['amount'],
  AMOUNT_EXCEEDS_REFUNDABLE: ['amount'],
  AMOUNT_EXCEEDS_HELD: ['amount'],
  BALANCE_LIMIT_EXCEEDED: ['amount', 'max_balance'],
  CURRENCY_MISMATCH: ['currency', 'to_account_id', 'payee_account_id'],
  SAME_ACCOUNT: ['to_account_id', 'payee_account_id'],
  ACCOUNT_FROZEN: ['from_account_id', 'account_id', 'payer_account_id'],
  ACCOUNT_NOT_FOUND: ['to_account_id', 'payee_account_id', 'account_id', 'from_account_id', 'payer_account_id', 'owner_id'],
  EMAIL_TAKEN: ['email'],
  INVALID_CREDENTIALS: ['password'],
  USER_NOT_FOUND: ['owner_id'],
  LAST_ADMIN: ['role', 'disabled'],
};

let serial = 0;

/**
 * `fields`: `[{name, label, type, options: [[value, text]], suggest: [[value, text]], value,
 * required, placeholder, hint, check(value, values) → problem|null, wide}]` (`suggest` offers
 * values to a text field, as a datalist). `submit(values, key)` sends; what it answers goes
 * to `done(result)`; `wide` fields take a line, `quarter` ones four to a line. The form resets its fields after success unless `keep` is set; a `compact`
 * one sits on a table's row, its labels read by screen readers only.
 */
export function form({ fields, submit, done, label = 'Save', idempotent = false, keep = false, stacked = false, compact = false, name }) {
  let key = idempotent ? newKey() : null;
  const controls = new Map();
  const errors = new Map();
  const formError = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit' }, label);
  serial += 1;
  const prefix = `f${serial}`;

  const rows = fields.map((field) => {
    const fieldId = `${prefix}-${field.name}`;
    const error = h('p', { class: 'field-error', id: `${fieldId}-error`, 'aria-live': 'polite' });
    const common = {
      id: fieldId,
      name: field.name,
      required: field.required || null,
      placeholder: field.placeholder || null,
      'aria-describedby': `${fieldId}-error`,
      autocomplete: field.autocomplete || (field.type === 'password' ? 'current-password' : 'off'),
    };
    let control;
    if (field.type === 'select') {
      control = h('select', common, field.options.map(([value, text]) => h('option', { value }, text)));
      if (field.value !== undefined) control.value = field.value;
    } else if (field.type === 'textarea') {
      control = h('textarea', common);
      control.value = field.value ?? '';
    } else if (field.type === 'checkbox') {
      control = h('input', { ...common, type: 'checkbox' });
      control.checked = Boolean(field.value);
    } else {
      const list = field.suggest && field.suggest.length ? `${fieldId}-list` : null;
      control = h('input', { ...common, type: field.type || 'text', inputmode: field.inputmode || null, list });
      control.value = field.value ?? '';
    }
    control.addEventListener('input', () => setError(field.name, ''));
    controls.set(field.name, control);
    errors.set(field.name, error);
    return h(
      'div',
      { class: `field${field.wide ? ' wide' : ''}${field.quarter ? ' quarter' : ''}` },
      h('label', { for: fieldId }, field.label),
      control,
      field.suggest && field.suggest.length
        ? h('datalist', { id: `${fieldId}-list` }, field.suggest.map(([value, text]) => h('option', { value }, text)))
        : null,
      field.hint ? h('span', { class: 'hint' }, field.hint) : null,
      error,
    );
  });

  function setError(fieldName, text) {
    const control = controls.get(fieldName);
    errors.get(fieldName).textContent = text;
    if (text) control.setAttribute('aria-invalid', 'true');
    else control.removeAttribute('aria-invalid');
  }

  function values() {
    const result = {};
    for (const [fieldName, control] of controls) {
      result[fieldName] = control.type === 'checkbox' ? control.checked : control.value.trim();
    }
    return result;
  }

  /**
   * The field a refusal names: by its code, else by its message's first word ("amount: …"); a
   * transaction's refused posting `n` (`details.posting_index`) points at that posting's row,
   * whose fields are named `p{n}_…`.
   */
  function fieldFor(error) {
    const index = error.details && error.details.posting_index;
    const prefix = Number.isInteger(index) ? `p${index}_` : '';
    const named = /^([a-z_]+)[\s:[]/.exec(error.message || '');
    if (named && controls.has(prefix + named[1])) return prefix + named[1];
    const byCode = (CODE_FIELDS[error.code] || []).find((candidate) => controls.has(prefix + candidate));
    if (byCode) return prefix + byCode;
    return prefix && controls.has(`${prefix}amount`) ? `${prefix}amount` : null;
  }

  const element = h('form', { class: `form${stacked ? ' stacked' : ''}${compact ? ' compact' : ''}`, novalidate: true, 'aria-label': name || null }, rows,
    h('div', { class: 'form-end' }, button, formError));

  element.addEventListener('submit', async (event) => {
    event.preventDefault();
    formError.textContent = '';
    const current = values();
    let first = null;
    for (const field of fields) {
      const value = current[field.name];
      let problem = null;
      if (field.required && (value === '' || value === false)) problem = `${field.label} is required.`;
      else if (field.check && value !== '') problem = field.check(value, current);
      setError(field.name, problem || '');
      if (problem && !first) first = field.name;
    }
    if (first) {
      controls.get(first).focus();
      return;
    }
    button.disabled = true;
    try {
      const result = await submit(current, key);
      if (idempotent) key = newKey();
      if (!keep) {
        for (const field of fields) {
          const control = controls.get(field.name);
          if (field.type === 'checkbox') control.checked = Boolean(field.value);
          else control.value = field.value ?? '';
        }
      }
      if (done) await done(result, current);
    } catch (error) {
      // A verdict (any 4xx) ends this key's use; a lost answer or a 503 keeps it for the retry.
      if (idempotent && error.status >= 400 && error.status < 500) key = newKey();
      const target = error.status ? fieldFor(error) : null;
      if (target) {
        setError(target, error.message);
        controls.get(target).focus();
      } else {
        formError.textContent = error.message || String(error);
      }
    } finally {
      button.disabled = false;
    }
  });
  return element;
}

/** `key=value` lines (a textarea) as a metadata object; a bad line names itself. */
export function parseMetadata(text) {
  const metadata = {};
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const at = line.indexOf('=');
    if (at < 1) throw new Error(`Line ${index + 1}: write key=value.`);
    metadata[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return metadata;
}

export function metadataProblem(text) {
  try {
    parseMetadata(text);
    return null;
  } catch (error) {
    return error.message;
  }
}

/** A `datetime-local` value (the browser's zone) as RFC 3339 UTC. */
export function toRfc3339(local) {
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? null : date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function uuidProblem(value) {
  return UUID.test(value) ? null : 'Paste a whole id (a UUID).';
}
