// The console's shell: sign-in, the frame, and the screens by hash route (#/accounts/ID), so
// the server serves one page and every screen has an address to bookmark or share.
//
// Each screen is shown to the roles docs/API.md lets read what it shows; that only spares
// people refusals, since the server decides every request on its own.

import { api, login, logout, onSessionEnd, signedIn } from './api.js';
import { h, add, put, errorNotice, notice } from './dom.js';
import { form } from './forms.js';
import * as overview from './overview.js';
import * as accounts from './accounts.js';
import { forgetAccounts, readAccounts } from './accounts.js';
import * as movements from './movements.js';
import * as payments from './payments.js';
import * as holds from './holds.js';
import * as audit from './audit.js';
import * as users from './users.js';
import * as webhooks from './webhooks.js';

const RANK = { user: 0, manager: 1, admin: 2 };

/** The screens, in the sidebar's order: `[route, label, least role, module]`. */
const SCREENS = [
  ['overview', 'Overview', 'user', overview],
  ['accounts', 'Accounts', 'user', accounts],
  ['transfers', 'Transfers', 'user', movements.transfers],
  ['transactions', 'Transactions', 'user', movements.transactions],
  ['payments', 'Payments', 'user', payments],
  ['holds', 'Holds', 'user', holds],
  ['audit', 'Audit log', 'admin', audit],
  ['users', 'Users', 'admin', users],
  ['webhooks', 'Webhooks', 'admin', webhooks.endpoints],
  ['events', 'Events', 'admin', webhooks.events],
];

const root = document.getElementById('app');
let me = null;
let main = null;
let nav = null;

function may(role) {
  return me !== null && RANK[me.role] >= RANK[role];
}

/** What every screen is given. */
function context() {
  return {
    me,
    may,
    go: (hash) => {
      if (window.location.hash === hash) route();
      else window.location.hash = hash;
    },
  };
}

function showLogin(message) {
  me = null;
  document.title = 'Sign in · Coffre console';
  const signIn = form({
    name: 'Sign in',
    label: 'Sign in',
    stacked: true,
    fields: [
      { name: 'email', label: 'Email', type: 'email', required: true, autocomplete: 'username', check: (v) => (v.includes('@') ? null : 'Write an email address.') },
      { name: 'password', label: 'Password', type: 'password', required: true, check: (v) => (v.length >= 12 ? null : 'Passwords are at least 12 characters.') },
    ],
    submit: ({ email, password }) => login(email, password),
    done: start,
  });
  put(root,
    h('div', { class: 'login' },
      h('section', { class: 'card' },
        h('div', { class: 'brand' }, h('img', { src: '/console/favicon.svg', alt: '' }), 'Coffre console'),
        message ? notice('warn', message) : null,
        h('h1', {}, 'Sign in'),
        signIn,
        h('p', { class: 'muted hint-first' }, 'No one to sign in as yet? The first admin is made on the server: ',
          h('code', {}, 'coffre admin create --email … --password-stdin'), '; admins then add people under Users.'))),
  );
  signIn.querySelector('input')?.focus();
}

async function start() {
  try {
    me = await api('GET', '/v1/me');
  } catch (error) {
    put(root, errorNotice(error));
    return;
  }
  nav = h('ul', {}, SCREENS.filter(([, , role]) => may(role)).map(([path, label]) => h('li', {}, h('a', { href: `#/${path}`, 'data-screen': path }, label))));
  main = h('main', { id: 'main', tabindex: '-1' });
  put(root,
    h('div', { class: 'frame' },
      h('header', { class: 'side' },
        h('div', { class: 'brand' }, h('img', { src: '/console/favicon.svg', alt: '' }), 'Coffre'),
        h('nav', { 'aria-label': 'Screens' }, nav),
        h('div', { class: 'who' },
          h('span', {}, me.email, ' · ', h('strong', { 'data-role': me.role }, me.role)),
          h('button', { type: 'button', onclick: () => logout() }, 'Sign out'))),
      main),
  );
  if (!window.location.hash.startsWith('#/')) window.location.hash = '#/overview';
  else route();
}

async function route() {
  if (!main || !window.location.hash.startsWith('#/')) return;
  const [screen, ...rest] = window.location.hash.slice(2).split('/').map(decodeURIComponent);
  const found = SCREENS.find(([path]) => path === screen);
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.screen === screen) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  const view = h('div', { class: 'screen', 'data-screen': screen || '' });
  put(main, view);
  if (!found) {
    add(view, h('h1', {}, 'Not found'), notice('warn', 'This console has no such screen.'));
  } else if (!may(found[2])) {
    add(view, h('h1', {}, found[1]), notice('warn', `This screen is for ${found[2]}s; you are signed in as a ${me.role}.`));
  } else {
    document.title = `${found[1]} · Coffre console`;
    await readAccounts();
    try {
      await found[3].render(view, context(), rest.filter(Boolean));
    } catch (error) {
      add(view, errorNotice(error));
    }
  }
  const heading = view.querySelector('h1');
  if (heading) {
    heading.tabIndex = -1;
    heading.focus();
  }
}

window.addEventListener('hashchange', () => {
  if (signedIn()) route();
});
onSessionEnd((reason) => {
  forgetAccounts();
  showLogin(reason);
});
showLogin(null);
