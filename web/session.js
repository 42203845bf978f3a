// The logged-in session: the token pair and the user, kept in localStorage so a
// reload (or another tab) stays logged in. Also small per-user local records: the
// last read seq per chat and the names of users seen.

const AUTH_KEY = 'webchat.auth';

export function loadAuth() {
  return readJson(AUTH_KEY);
}

export function saveAuth(auth) {
  localStorage.setItem(AUTH_KEY, JSON.stringify(auth));
}

export function clearAuth() {
  localStorage.removeItem(AUTH_KEY);
}

/** Calls `fn(auth|null)` when another tab changes the stored session. */
export function onAuthChangedElsewhere(fn) {
  window.addEventListener('storage', (e) => {
    if (e.key === AUTH_KEY) fn(loadAuth());
  });
}

/** The last read seq per chat, for unread counts across reloads. */
export class ReadMarks {
  constructor(userId) {
    this.key = `webchat.read.${userId}`;
    this.marks = readJson(this.key) || {};
  }

  get(chatId) {
    return this.marks[chatId] || 0;
  }

  /** Moves the mark forward (never back); true when it moved. */
  advance(chatId, seq) {
    if (typeof seq !== 'number' || seq <= this.get(chatId)) return false;
    this.marks[chatId] = seq;
    localStorage.setItem(this.key, JSON.stringify(this.marks));
    return true;
  }
}

/** Usernames by user id, remembered across reloads (the API has no user-by-id read). */
export class UserNames {
  constructor() {
    this.key = 'webchat.users';
    this.users = readJson(this.key) || {};
  }

  get(id) {
    return this.users[id];
  }

  remember(user) {
    if (!user || !user.id || !user.username) return false;
    const known = this.users[user.id];
    const entry = { username: user.username, display_name: user.display_name || user.username };
    if (known && known.username === entry.username && known.display_name === entry.display_name) {
      return false;
    }
    this.users[user.id] = entry;
    localStorage.setItem(this.key, JSON.stringify(this.users));
    return true;
  }
}

function readJson(key) {
  try {
    return JSON.parse(localStorage.getItem(key));
  } catch {
    return null;
  }
}
