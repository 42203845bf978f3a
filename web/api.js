// REST client. Adds the bearer token, refreshes it once when a request is refused
// with 401 (one refresh at a time, shared by concurrent requests, since refresh
// tokens rotate), and reports an ended session through `onExpired`.

import { loadAuth, saveAuth } from './session.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }

  get isNetwork() {
    return this.status === 0;
  }
}

const REFRESH_MARGIN_MS = 60_000;
/** Chats per page of `GET /api/chats` (the server's largest). */
const CHAT_PAGE = 200;

export class Api {
  /** `onExpired()` is called once the session cannot be renewed (back to login). */
  constructor({ onExpired }) {
    this.auth = loadAuth();
    this.onExpired = onExpired;
    this.refreshing = null;
  }

  setAuth(auth) {
    this.auth = auth;
    if (auth) saveAuth(auth);
  }

  get token() {
    return this.auth && this.auth.access_token;
  }

  // ---- transport ----------------------------------------------------------------

  async request(method, path, { body, auth = true, retried = false } = {}) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth && this.token) headers.authorization = `Bearer ${this.token}`;
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new ApiError(0, 'network', 'The server cannot be reached.');
    }
    if (res.ok) return res.status === 204 ? null : res.json();

    const err = await errorOf(res);
    if (auth && res.status === 401 && !retried
        && (err.code === 'unauthorized' || err.code === 'invalid_token')) {
      await this.refresh();
      return this.request(method, path, { body, auth, retried: true });
    }
    if (auth && res.status === 401) this.expire();
    if (res.status === 429 && method === 'GET' && !retried) {
      const wait = Number(res.headers.get('retry-after')) || 1;
      if (wait <= 10) {
        await new Promise((r) => setTimeout(r, wait * 1000));
        return this.request(method, path, { body, auth, retried: true });
      }
    }
    throw err;
  }

  /** Renews the token pair; one refresh runs at a time. Ends the session on 401. */
  refresh() {
    if (!this.refreshing) {
      // Tabs of one browser share the pair (localStorage). A refresh token used
      // twice ends its session, so tabs take turns (Web Locks, where the page is a
      // secure context) and each re-reads what the previous one stored.
      const run = () => this.doRefresh();
      const turn = navigator.locks
        ? navigator.locks.request('webchat-refresh', run)
        : run();
      this.refreshing = turn.finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  async doRefresh() {
    const current = this.auth;
    if (!current) throw this.expire();
    // Another tab may have rotated the pair already: take its result.
    const stored = loadAuth();
    if (stored && stored.refresh_token !== current.refresh_token
        && stored.user && stored.user.id === current.user.id) {
      this.auth = stored;
      return;
    }
    try {
      const pair = await this.request('POST', '/api/auth/refresh', {
        body: { refresh_token: current.refresh_token },
        auth: false,
      });
      this.setAuth(pair);
    } catch (e) {
      if (e.status === 401) throw this.expire();
      throw e; // network or 503: keep the session, the caller may try again later
    }
  }

  /** An access token good for at least a minute (for opening a socket). */
  async freshToken() {
    const expires = this.auth && Date.parse(this.auth.expires_at);
    if (this.auth && expires && expires - Date.now() < REFRESH_MARGIN_MS) {
      await this.refresh();
    }
    return this.token;
  }

  expire() {
    const err = new ApiError(401, 'unauthorized', 'Your session has ended. Please log in again.');
    if (this.auth) {
      this.auth = null;
      this.onExpired(err);
    }
    return err;
  }

  // ---- endpoints ----------------------------------------------------------------

  register(username, password) {
    return this.request('POST', '/api/auth/register', { body: { username, password }, auth: false });
  }

  async login(username, password) {
    const pair = await this.request('POST', '/api/auth/login', {
      body: { username, password },
      auth: false,
    });
    this.setAuth(pair);
    return pair;
  }

  logout() {
    return this.request('POST', '/api/auth/logout', { retried: true });
  }

  me() {
    return this.request('GET', '/api/users/me');
  }

  searchUsers(prefix, limit = 50) {
    const q = new URLSearchParams({ q: prefix, limit: String(limit) });
    return this.request('GET', `/api/users?${q}`);
  }

  /** A user by id. Not in the API yet: answers 404 until it is, callers fall back. */
  user(id) {
    return this.request('GET', `/api/users/${id}`);
  }

  presence(userId) {
    return this.request('GET', `/api/users/${userId}/presence`);
  }

  /** One page of the user's chats, by id: up to `limit` (1..200) after the id `after`. */
  chatsPage({ limit = CHAT_PAGE, after } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (after) q.set('after', after);
    return this.request('GET', `/api/chats?${q}`);
  }

  /** Every chat of the user: follows the pages until a short one. */
  async chats() {
    const all = [];
    for (;;) {
      const after = all.length ? all[all.length - 1].id : undefined;
      const page = await this.chatsPage({ after });
      all.push(...page);
      if (page.length < CHAT_PAGE) return all;
    }
  }

  chat(id) {
    return this.request('GET', `/api/chats/${id}`);
  }

  createChat(name, memberIds) {
    return this.request('POST', '/api/chats', { body: { name, member_ids: memberIds } });
  }

  /** Newest first: up to `limit` messages with seq < beforeSeq. */
  history(chatId, { limit = 50, beforeSeq } = {}) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (beforeSeq !== undefined && beforeSeq !== null) q.set('before_seq', String(beforeSeq));
    return this.request('GET', `/api/chats/${chatId}/messages?${q}`);
  }

  sendMessage(chatId, content, clientMsgId) {
    return this.request('POST', `/api/chats/${chatId}/messages`, {
      body: { content, client_msg_id: clientMsgId },
    });
  }

  editMessage(id, content) {
    return this.request('PATCH', `/api/messages/${id}`, { body: { content } });
  }

  deleteMessage(id) {
    return this.request('DELETE', `/api/messages/${id}`);
  }
}

async function errorOf(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON
  }
  const code = (body && body.error) || `http_${res.status}`;
  const message = (body && body.message) || res.statusText;
  return new ApiError(res.status, code, message);
}
