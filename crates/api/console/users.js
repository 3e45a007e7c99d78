// Users (admins): who has which role, enabling and disabling, and adding a person (through the
// public registration, then a role). The server keeps the last active admin (409 LAST_ADMIN).

import { anonymous, api } from './api.js';
import { h, add, put, badge, card, errorNotice, pagedList, time } from './dom.js';
import { form } from './forms.js';

const ROLES = ['user', 'manager', 'admin'];

export async function render(view, ctx) {
  add(view, h('h1', {}, 'Users'));
  const list = pagedList('/v1/users', () => ({}), [
    { label: 'Email', cell: (u) => [u.email, u.id === ctx.me.id ? h('span', { class: 'muted' }, ' (you)') : null] },
    { label: 'Role', cell: (u) => badge(u.role) },
    { label: 'Status', cell: (u) => badge(u.disabled ? 'disabled' : 'enabled') },
    { label: 'Since', cell: (u) => time(u.created_at) },
    { label: 'Change', cell: (u) => changeForm(u, () => list.reload()) },
  ], { empty: 'No users.', limit: 50 });
  add(view, card('People', list), card('Add a user', addForm(() => list.reload())));
}

function changeForm(user, reload) {
  return form({
    name: `Change ${user.email}`, label: 'Apply', keep: true, compact: true,
    fields: [
      { name: 'role', label: 'Role', type: 'select', value: user.role, options: ROLES.map((role) => [role, role]) },
      { name: 'disabled', label: 'Disabled', type: 'checkbox', value: user.disabled },
    ],
    submit: (values) => {
      const body = {};
      if (values.role !== user.role) body.role = values.role;
      if (values.disabled !== user.disabled) body.disabled = values.disabled;
      if (Object.keys(body).length === 0) return Promise.resolve(null);
      return api('PATCH', `/v1/users/${user.id}`, { body });
    },
    done: (changed) => (changed ? reload() : undefined),
  });
}

function addForm(reload) {
  const result = h('div', { 'aria-live': 'polite' });
  return [form({
    name: 'Add a user', label: 'Add user',
    fields: [
      { name: 'email', label: 'Email', type: 'email', required: true, check: (v) => (/^[^@\s]+@[^@\s]+$/.test(v) ? null : 'Write an email address.') },
      { name: 'password', label: 'Initial password', type: 'password', required: true, autocomplete: 'new-password', check: (v) => (v.length >= 12 && v.length <= 128 ? null : 'From 12 to 128 characters.') },
      { name: 'role', label: 'Role', type: 'select', value: 'user', options: ROLES.map((role) => [role, role]) },
    ],
    submit: async (values) => {
      // Registration is public and makes a user; an admin then gives the role.
      const user = await anonymous('POST', '/v1/auth/register', { body: { email: values.email, password: values.password } });
      if (values.role !== 'user') {
        try {
          return await api('PATCH', `/v1/users/${user.id}`, { body: { role: values.role } });
        } catch (error) {
          put(result, errorNotice(error));
        }
      }
      return user;
    },
    done: async (user) => {
      put(result, h('p', { class: 'notice ok' }, `${user.email} can now sign in as a ${user.role}.`));
      await reload();
    },
  }), result];
}
