// The console's one way to the server: the public API under /v1, exactly as docs/API.md states it.
// The session's tokens live in this module's variables only, never in the browser's storage
// or a cookie: a script injected elsewhere cannot read them back, and closing or
// reloading the tab ends the console's hold on the session.

/** A refusal, carrying the error envelope's fields (`status` 0: the server was not reached). */
export class ApiError extends Error {
  constructor(status, code, message, details = null, requestId = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }
}

/** Refresh this long before the access token expires, but never later than at 80% of its life. */
const REFRESH_LEAD_SECS = 60;
/** After a refresh that failed without a verdict (network, 503), try again this much later. */
const REFRESH_RETRY_SECS = 10;
/** The most pages a bounded walk through a list reads (each up to 100 items). */
export const MAX_PAGES = 20;

let session = null;
let refreshTimer = null;
let refreshing = null;
const endListeners = new Set();

/** Calls `listener(reason)` whenever the session ends: logout, a refused refresh, revocation. */
export function onSessionEnd(listener) {
  endListeners.add(listener);
}

export function signedIn() {
  return session !== null;
}

export async function login(email, password) {
  const pair = await send('POST', '/v1/auth/login', { body: { email, password } });
  begin(pair);
}

export async function logout() {
  if (!session) return;
  try {
    await api('POST', '/v1/auth/logout');
  } catch {
    // The session ends here whatever the server said; an expired one is already dead.
  }
  end(null);
}

function begin(pair) {
  session = { access: pair.access_token, refresh: pair.refresh_token };
  const lifetime = Number(pair.expires_in) || 0;
  const lead = Math.min(REFRESH_LEAD_SECS, lifetime * 0.2);
  schedule(Math.max(1, lifetime - lead));
}

function schedule(secs) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    refresh().catch(() => {});
  }, secs * 1000);
}

function end(reason) {
  clearTimeout(refreshTimer);
  session = null;
  for (const listener of endListeners) listener(reason);
}

/** Trades the refresh token for a new pair; concurrent callers share one request. */
export function refresh() {
  if (!session) return Promise.reject(new ApiError(401, 'MISSING_TOKEN', 'Not signed in.'));
  if (!refreshing) {
    const token = session.refresh;
    refreshing = send('POST', '/v1/auth/refresh', { body: { refresh_token: token } })
      .then(begin, (error) => {
        if (error.status === 401) end('Your session has ended; please sign in again.');
        else schedule(REFRESH_RETRY_SECS);
        throw error;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/**
 * One authenticated request. `query` is an object (arrays repeat a key; `metadata` an object of
 * pairs, sent as `metadata[KEY]=VALUE`), `key` an Idempotency-Key. An expired access token is
 * refreshed once and the request sent again; any other refusal is thrown as an ApiError.
 */
export async function api(method, path, options = {}) {
  if (!session) throw new ApiError(401, 'MISSING_TOKEN', 'Not signed in.');
  try {
    return await send(method, path, { ...options, token: session.access });
  } catch (error) {
    if (error.status === 401 && error.code === 'TOKEN_EXPIRED') {
      await refresh();
      return send(method, path, { ...options, token: session.access });
    }
    if (error.status === 401 && ['SESSION_REVOKED', 'INVALID_TOKEN'].includes(error.code)) {
      end('Your session has ended; please sign in again.');
    }
    throw error;
  }
}

/** A request without a token, for the endpoints anyone may call (registration). */
export function anonymous(method, path, options = {}) {
  return send(method, path, options);
}

/** `GET` of one page: `{data, has_more}`. */
export function page(path, query = {}) {
  return api('GET', path, { query });
}

/**
 * Walks a list newest first, a page of 100 at a time, until `stop(item)` says so, the list
 * ends, or MAX_PAGES pages were read. Answers `{items, complete}`: `complete` is false when the
 * walk stopped at the page bound with more left.
 */
export async function walk(path, query = {}, stop = () => false, maxPages = MAX_PAGES) {
  const items = [];
  let after = null;
  for (let read = 0; read < maxPages; read += 1) {
    const q = { ...query, limit: 100 };
    if (after) q.starting_after = after;
    const { data, has_more: more } = await page(path, q);
    for (const item of data) {
      if (stop(item)) return { items, complete: true };
      items.push(item);
    }
    if (!more || data.length === 0) return { items, complete: true };
    after = data[data.length - 1].id;
  }
  return { items, complete: false };
}

export function queryString(query) {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query || {})) {
    if (value === undefined || value === null || value === '') continue;
    if (name === 'metadata' && typeof value === 'object') {
      for (const [key, pair] of Object.entries(value)) params.append(`metadata[${key}]`, pair);
    } else if (Array.isArray(value)) {
      for (const item of value) params.append(name, item);
    } else {
      params.append(name, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function send(method, path, { body, query, key, accept, token } = {}) {
  const headers = { accept: accept || 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  if (key) headers['idempotency-key'] = key;
  let response;
  try {
    response = await fetch(path + queryString(query), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch {
    throw new ApiError(0, 'NETWORK', 'The server could not be reached; try again.');
  }
  if (response.ok && accept && accept !== 'application/json') return response.blob();
  if (response.status === 204) return null;
  const text = await response.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!response.ok) {
    const envelope = json && json.error;
    if (envelope && envelope.code) {
      throw new ApiError(response.status, envelope.code, envelope.message, envelope.details || null, envelope.request_id);
    }
    throw new ApiError(response.status, `HTTP_${response.status}`, `The server answered ${response.status}.`);
  }
  return json;
}

/** A fresh Idempotency-Key: a random UUID (v4), from the browser's CSPRNG. */
export function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
