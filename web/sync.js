// Keeps the store in step with the server: initial load, live events, recovery after
// a reconnect (`join` with `since_seq`, and `since_pts` once the server sends change
// sequences), history paging, and sending with a REST fallback.

import { Socket } from './socket.js';

const HISTORY_PAGE = 50;
const ACK_TIMEOUT_MS = 8000;
const TYPING_EVERY_MS = 2000;
const JOIN_READ_CAP = 1000; // a `joined` this long may have been cut: ask again

export class Sync {
  constructor(api, store) {
    this.api = api;
    this.store = store;
    this.typingSent = new Map(); // chat id -> time of the last typing frame
    this.nameLookups = new Map(); // user id -> promise
    this.presenceLookups = new Set();
    this.presenceEvents = new Map(); // user id -> presence events seen (a lookup must not undo one)
    this.socket = new Socket({
      token: () => api.freshToken(),
      onFrame: (f) => this.onFrame(f),
      onOpen: () => this.onOpen(),
      onDown: () => this.onDown(),
      onRefused: () => this.onRefused(),
      onState: (s) => store.setConnection(s),
    });
  }

  async start() {
    const chats = await this.api.chats();
    for (const c of chats) this.store.upsertChat(c);
    this.socket.start();
    // Unread counts: the newest seq of each chat against the last one read here.
    await eachLimited([...this.store.chats.values()], 4, (chat) => this.probe(chat));
  }

  stop() {
    this.socket.stop();
  }

  // ---- loading ------------------------------------------------------------------

  /** Learns a chat's newest seq (from `last_seq` when the server sends it). */
  async probe(chat) {
    if (chat.probed) return;
    try {
      const [newest] = await this.api.history(chat.id, { limit: 1 });
      this.store.noteSeq(chat, newest ? newest.seq : 0, true);
      if (newest) this.store.putMessage(newest);
      if (this.store.openChatId === chat.id && document.visibilityState === 'visible') {
        this.store.markRead(chat.id);
      }
      this.store.emit('chats');
    } catch (e) {
      console.warn('probe failed', chat.id, e);
    }
  }

  async openChat(chatId) {
    const { store } = this;
    const chat = store.chats.get(chatId);
    if (!chat) return;
    store.setOpen(chatId);
    if (!chat.memberIds) {
      try {
        store.upsertChat(await this.api.chat(chatId));
      } catch (e) {
        store.notice(`Could not load the chat's members: ${e.message}`);
      }
    }
    this.lookUpMembers(chat);
    if (!chat.loaded) await this.loadLatest(chat);
    if (store.openChatId === chatId) this.markReadIfSeen();
  }

  async loadLatest(chat) {
    try {
      const page = await this.api.history(chat.id, { limit: HISTORY_PAGE });
      this.takePage(chat, page, true);
    } catch (e) {
      this.store.notice(`Could not load messages: ${e.message}`);
    }
  }

  /** The next older page of the open chat; resolves false when there is none. */
  async loadOlder(chatId) {
    const chat = this.store.chats.get(chatId);
    if (!chat || !chat.loaded || !chat.hasOlder || chat.loadingOlder) return false;
    chat.loadingOlder = true;
    try {
      const page = await this.api.history(chat.id, { limit: HISTORY_PAGE, beforeSeq: chat.oldestSeq });
      this.takePage(chat, page, false);
      return page.length > 0;
    } catch (e) {
      this.store.notice(`Could not load older messages: ${e.message}`);
      return false;
    } finally {
      chat.loadingOlder = false;
    }
  }

  takePage(chat, page, latest) {
    const seqs = page.map((m) => m.seq);
    const oldest = seqs.length ? Math.min(...seqs) : null;
    if (latest && oldest !== null) {
      // Drop strays older than the page (the window starts here), then merge.
      for (const [id, m] of chat.messages) if (m.seq < oldest) chat.messages.delete(id);
    }
    chat.loaded = true;
    if (oldest !== null && (chat.oldestSeq === null || oldest < chat.oldestSeq)) chat.oldestSeq = oldest;
    if (latest && oldest === null && chat.messages.size) {
      chat.oldestSeq = Math.min(...[...chat.messages.values()].map((m) => m.seq));
    }
    chat.hasOlder = page.length > 0 && oldest > 1;
    for (const m of page) this.store.putMessage(m);
    this.store.emit('messages', chat.id);
    this.store.emit('chats');
  }

  /** Names and presence of the chat's members. */
  lookUpMembers(chat) {
    for (const id of chat.memberIds || []) {
      this.lookUpName(id);
      if (!this.presenceLookups.has(id)) this.fetchPresence(id);
    }
  }

  /** A member's presence over REST, unless a `presence` event overtakes the answer. */
  fetchPresence(id) {
    if (id === this.store.me.id) return;
    this.presenceLookups.add(id);
    const seen = this.presenceEvents.get(id) || 0;
    this.api.presence(id)
      .then((p) => {
        if ((this.presenceEvents.get(id) || 0) === seen) this.store.setPresence(id, p.status);
      })
      .catch(() => this.presenceLookups.delete(id));
  }

  /** A name for a user id we have not seen: `GET /api/users/{id}`, once (404 until the server has it). */
  lookUpName(id) {
    if (this.store.names.get(id) || id === this.store.me.id || this.nameLookups.has(id)) return;
    this.nameLookups.set(id, this.api.user(id)
      .then((u) => this.store.rememberUser(u))
      .catch(() => {}));
  }

  // ---- the socket ---------------------------------------------------------------

  onOpen() {
    // Recover what was missed since the last seq (and change) seen in each chat.
    for (const chat of this.store.chats.values()) {
      if (chat.lastSeq !== null) this.join(chat, chat.lastSeq);
    }
    // Presence changes while we were away were not heard: ask again for the members
    // shown, and again for the others when their chat is opened.
    if (this.wasOpen) {
      this.presenceLookups.clear();
      const open = this.store.openChat;
      if (open) for (const id of open.memberIds || []) this.fetchPresence(id);
      this.addNewChats(); // `chat.joined` events sent while we were away
    }
    this.wasOpen = true;
    this.store.setPresence(this.store.me.id, 'online');
    if (document.visibilityState === 'hidden') this.socket.send({ type: 'status', status: 'away' });
    // Sends that failed for want of a connection go out again now.
    for (const chat of this.store.chats.values()) {
      for (const p of chat.pending.values()) if (p.failed && p.offline) this.dispatch(p);
    }
  }

  async addNewChats() {
    try {
      for (const c of await this.api.chats()) {
        if (!this.store.chats.has(c.id)) this.probe(this.store.upsertChat(c));
      }
    } catch (e) {
      console.warn('could not refresh the chat list', e);
    }
  }

  join(chat, sinceSeq) {
    const frame = { type: 'join', chat_id: chat.id, since_seq: sinceSeq };
    if (chat.lastPts !== null) frame.since_pts = chat.lastPts;
    this.socket.send(frame);
  }

  onDown() {
    // Sends still waiting for an ack go over REST (same client_msg_id: idempotent).
    for (const chat of this.store.chats.values()) {
      for (const p of chat.pending.values()) if (p.via === 'ws') this.sendViaRest(p);
    }
    // Typing and presence we can no longer follow.
    for (const chat of this.store.chats.values()) {
      for (const user of this.store.typingIn(chat.id)) this.store.clearTyping(chat.id, user);
    }
  }

  onRefused() {
    // Maybe the token: a REST call refreshes it, or ends the session.
    this.api.me().catch(() => {});
  }

  onFrame(f) {
    switch (f.type) {
      case 'message.created':
      case 'message.updated':
      case 'message.deleted':
      case 'message.pinned':
      case 'message.unpinned':
        this.applyMessageEvent(f, true);
        break;
      case 'joined':
        this.applyJoined(f);
        break;
      case 'ack':
        if (f.message) this.sent(f.message);
        break;
      case 'chat.joined':
        this.chatJoined(f.chat);
        break;
      case 'typing':
        if (f.user_id !== this.store.me.id && this.store.chats.has(f.chat_id)) {
          this.lookUpName(f.user_id);
          this.store.setTyping(f.chat_id, f.user_id);
        }
        break;
      case 'presence':
        this.presenceEvents.set(f.user_id, (this.presenceEvents.get(f.user_id) || 0) + 1);
        this.store.setPresence(f.user_id, f.status);
        break;
      case 'subscribed':
        // The server could not load our chats at connect (`degraded`) and now has:
        // recover what was missed meanwhile, as after a reconnect.
        for (const chat of this.store.chats.values()) {
          if (chat.lastSeq !== null) this.join(chat, chat.lastSeq);
        }
        this.addNewChats();
        break;
      case 'error':
        this.onErrorFrame(f);
        break;
      default:
        break; // pong, and frame types this client does not know
    }
  }

  /**
   * One `message.*` event (live, from a `joined` frame, or our own REST answer).
   * `live`: a new message may count as unread. `quiet`: the caller re-renders.
   */
  applyMessageEvent(ev, live, quiet = false) {
    const { store } = this;
    const m = ev.message;
    const chat = store.chats.get(ev.chat_id || (m && m.chat_id));
    if (!m || !chat) return;
    store.notePts(chat, ev.pts);
    if (ev.type === 'message.deleted') {
      store.removeMessage(m);
    } else if (ev.type === 'message.created') {
      const p = m.sender_id === store.me.id && m.client_msg_id && store.pending(chat.id, m.client_msg_id);
      if (p) {
        clearTimeout(p.timer); // stored: no REST fallback needed any more
        p.via = null;
      }
      store.putMessage(m, { live, pts: ev.pts });
      store.clearTyping(chat.id, m.sender_id);
      this.lookUpName(m.sender_id);
    } else {
      store.putMessage(m, { pts: ev.pts });
    }
    if (!quiet) this.changed(chat.id);
  }

  changed(chatId) {
    this.store.emit('messages', chatId);
    this.store.emit('chats');
    if (chatId === this.store.openChatId) this.markReadIfSeen();
  }

  applyJoined(f) {
    const chat = this.store.chats.get(f.chat_id);
    if (!chat) return;
    const missed = Array.isArray(f.missed) ? f.missed : [];
    const changes = Array.isArray(f.changes) ? f.changes : [];
    for (const m of missed) {
      this.applyMessageEvent({ type: 'message.created', chat_id: chat.id, message: m }, true, true);
    }
    for (const c of changes) this.applyMessageEvent({ ...c, chat_id: c.chat_id || chat.id }, true, true);
    this.store.notePts(chat, f.pts);
    if (missed.length || changes.length) this.changed(chat.id);
    const received = missed.length + changes.length;
    if (received > 0 && (f.has_more === true || missed.length >= JOIN_READ_CAP)) {
      const last = missed.length ? missed[missed.length - 1].seq : chat.lastSeq;
      this.join(chat, last);
    }
  }

  chatJoined(c) {
    if (!c || !c.id) return;
    const isNew = !this.store.chats.has(c.id);
    const chat = this.store.upsertChat(c);
    if (isNew) {
      if (c.created_by) this.lookUpName(c.created_by);
      this.probe(chat);
    }
  }

  onErrorFrame(f) {
    if (f.client_msg_id && f.chat_id) {
      const p = this.store.pending(f.chat_id, f.client_msg_id);
      if (p) {
        clearTimeout(p.timer);
        p.via = null;
        p.failed = f.message || f.code;
        this.store.emit('messages', f.chat_id);
      }
      return;
    }
    if (f.code === 'too_many_requests') this.store.notice('Slow down a little.');
    else if (f.code === 'degraded') this.store.notice('The server cannot load your chats yet: new messages may be late.');
    else console.warn('server error frame', f);
  }

  // ---- actions ------------------------------------------------------------------

  send(chatId, content) {
    const me = this.store.me;
    const p = {
      id: null,
      client_msg_id: newClientMsgId(),
      chat_id: chatId,
      sender_id: me.id,
      content,
      seq: null,
      created_at: new Date().toISOString(),
      edited_at: null,
      pending: true,
      failed: null,
      via: null,
    };
    this.store.addPending(p);
    this.dispatch(p);
  }

  /** Sends (or re-sends) a pending message: over the socket when open, else REST. */
  dispatch(p) {
    p.failed = null;
    p.offline = false;
    const frame = { type: 'send', chat_id: p.chat_id, content: p.content, client_msg_id: p.client_msg_id };
    if (this.socket.send(frame)) {
      p.via = 'ws';
      clearTimeout(p.timer);
      p.timer = setTimeout(() => {
        if (p.via === 'ws') this.sendViaRest(p);
      }, ACK_TIMEOUT_MS);
    } else {
      this.sendViaRest(p);
    }
    this.store.emit('messages', p.chat_id);
  }

  async sendViaRest(p) {
    clearTimeout(p.timer);
    p.via = 'rest';
    try {
      this.sent(await this.api.sendMessage(p.chat_id, p.content, p.client_msg_id));
    } catch (e) {
      if (!this.store.pending(p.chat_id, p.client_msg_id)) return; // the ack won the race
      p.via = null;
      p.offline = e.isNetwork;
      p.failed = e.isNetwork ? 'Not sent yet: offline, will retry' : `Not sent: ${e.message}`;
      this.store.emit('messages', p.chat_id);
    }
  }

  /** The server stored our message (ack or REST answer). */
  sent(message) {
    this.applyMessageEvent({ type: 'message.created', chat_id: message.chat_id, message }, false);
  }

  retry(chatId, clientMsgId) {
    const p = this.store.pending(chatId, clientMsgId);
    if (p) this.dispatch(p);
  }

  discard(chatId, clientMsgId) {
    const chat = this.store.chats.get(chatId);
    if (chat && chat.pending.delete(clientMsgId)) this.store.emit('messages', chatId);
  }

  async edit(message, content) {
    const m = await this.api.editMessage(message.id, content);
    this.applyMessageEvent({ type: 'message.updated', chat_id: m.chat_id, message: m }, false);
  }

  async remove(message) {
    await this.api.deleteMessage(message.id);
    this.applyMessageEvent({ type: 'message.deleted', chat_id: message.chat_id, message }, false);
  }

  /** Call on each keystroke in the composer: one typing frame per 2 s at most. */
  typing(chatId) {
    const last = this.typingSent.get(chatId) || 0;
    if (Date.now() - last < TYPING_EVERY_MS) return;
    if (this.socket.send({ type: 'typing', chat_id: chatId })) this.typingSent.set(chatId, Date.now());
  }

  setAway(away) {
    this.socket.send({ type: 'status', status: away ? 'away' : 'online' });
    this.store.setPresence(this.store.me.id, away ? 'away' : 'online');
    if (!away) this.markReadIfSeen();
  }

  markReadIfSeen() {
    const id = this.store.openChatId;
    if (id && document.visibilityState === 'visible') this.store.markRead(id);
  }

  /** Resolves comma-separated usernames to users (exact match, any case). */
  async resolveUsernames(text) {
    const names = [...new Set(text.split(',').map((s) => s.trim()).filter(Boolean))];
    const users = [];
    const unknown = [];
    for (const name of names) {
      const found = await this.api.searchUsers(name, 50).catch((e) => {
        if (e.code === 'validation') return [];
        throw e;
      });
      const user = found.find((u) => u.username.toLowerCase() === name.toLowerCase());
      if (user) {
        this.store.rememberUser(user);
        users.push(user);
      } else {
        unknown.push(name);
      }
    }
    return { users, unknown };
  }

  async createChat(name, membersText) {
    const { users, unknown } = await this.resolveUsernames(membersText);
    if (unknown.length) throw new Error(`No such user: ${unknown.join(', ')}`);
    const memberIds = users.map((u) => u.id).filter((id) => id !== this.store.me.id);
    const detail = await this.api.createChat(name, memberIds);
    const isNew = !this.store.chats.has(detail.id);
    const chat = this.store.upsertChat(detail);
    if (isNew) this.store.noteSeq(chat, 0, true);
    return chat;
  }
}

/** A fresh idempotency key: 1..64 printable ASCII characters, no spaces. */
function newClientMsgId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `c-${[...bytes].map((b) => b.toString(16).padStart(2, '0')).join('')}`;
}

/** Runs `fn` over `items` with at most `limit` at a time. */
async function eachLimited(items, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
