// Entry point: shows the login form or the chat UI and wires api, store, sync and views.

import { Api } from './api.js';
import { h, setChildren } from './dom.js';
import { clearAuth, onAuthChangedElsewhere } from './session.js';
import { Store } from './store.js';
import { Sync } from './sync.js';
import { ChatView } from './view-chat.js';
import { loginView } from './view-login.js';
import { Sidebar } from './view-sidebar.js';

const AWAY_AFTER_HIDDEN_MS = 30_000;

const root = document.getElementById('app');
const api = new Api({ onExpired: (err) => endSession(err.message) });
let session = null; // { store, sync, cleanup }

function showLogin(message) {
  document.title = 'webchat';
  document.body.classList.remove('chat-open');
  setChildren(root, loginView({ api, onLoggedIn: startSession, message }));
}

function startSession() {
  const store = new Store(api.auth.user);
  const sync = new Sync(api, store);
  const sidebar = new Sidebar(store, sync, { onLogout: logout });
  const chat = new ChatView(store, sync);
  const toasts = h('div', { class: 'toasts', 'aria-live': 'polite' });
  setChildren(root, h('div', { class: 'shell' }, sidebar.el, chat.el), toasts);

  store.on('notice', (text) => {
    const toast = h('div', { class: 'toast', 'data-testid': 'notice' }, text);
    toasts.append(toast);
    setTimeout(() => toast.remove(), 5000);
  });
  store.on('chats', () => {
    const n = store.totalUnread();
    document.title = n ? `(${n}) webchat` : 'webchat';
  });

  // Away after a while in the background; back online (and read) when seen again.
  let awayTimer = null;
  const onVisibility = () => {
    clearTimeout(awayTimer);
    if (document.visibilityState === 'hidden') {
      awayTimer = setTimeout(() => sync.setAway(true), AWAY_AFTER_HIDDEN_MS);
    } else if (store.presence.get(store.me.id) === 'away') {
      sync.setAway(false);
    } else {
      sync.markReadIfSeen();
    }
  };
  document.addEventListener('visibilitychange', onVisibility);

  session = {
    store,
    sync,
    cleanup: () => {
      clearTimeout(awayTimer);
      document.removeEventListener('visibilitychange', onVisibility);
      sync.stop();
      store.dispose();
    },
  };
  // The server may be unreachable right now: try again with backoff.
  const begin = (delay) => sync.start().catch((e) => {
    if (e.status === 401 || !session || session.sync !== sync) return;
    store.notice(`Could not load your chats (${e.message}); retrying…`);
    setTimeout(() => {
      if (session && session.sync === sync) begin(Math.min(delay * 2, 30_000));
    }, delay);
  });
  begin(1000);
}

function endSession(message) {
  if (session) {
    session.cleanup();
    session = null;
  }
  api.auth = null;
  clearAuth();
  showLogin(message);
}

async function logout() {
  try {
    await api.logout();
  } catch {
    // the session ends here either way
  }
  endSession();
}

onAuthChangedElsewhere((auth) => {
  if (!auth) {
    if (session) endSession('You logged out in another tab.');
  } else if (session && auth.user.id !== session.store.me.id) {
    location.reload();
  } else {
    api.auth = auth; // another tab refreshed the tokens
    if (!session) startSession();
  }
});

if (api.auth && api.auth.user) startSession();
else showLogin();
