// Client state: chats, each chat's loaded messages (deduplicated by id, ordered by
// seq, plus our pending sends), users, presence, typing, unread counts. Views
// subscribe to topics; nothing here talks to the server.
//
// Topics: 'chats' (list, names, unread), 'messages' (detail: chat id),
// 'members' (names or presence changed), 'typing' (detail: chat id), 'open',
// 'connection', 'notice'.

import { ReadMarks, UserNames } from './session.js';

const TYPING_SHOWN_MS = 4000;

export class Store {
  constructor(me) {
    this.me = me;
    this.chats = new Map();
    this.openChatId = null;
    this.names = new UserNames();
    this.names.remember(me);
    this.reads = new ReadMarks(me.id);
    this.presence = new Map([[me.id, 'online']]);
    this.typing = new Map(); // chat id -> Map(user id -> timer)
    this.connection = { state: 'connecting' };
    this.listeners = new Map();
  }

  // ---- events -------------------------------------------------------------------

  on(topic, fn) {
    if (!this.listeners.has(topic)) this.listeners.set(topic, new Set());
    this.listeners.get(topic).add(fn);
    return () => this.listeners.get(topic).delete(fn);
  }

  emit(topic, detail) {
    for (const fn of this.listeners.get(topic) || []) fn(detail);
  }

  notice(text) {
    this.emit('notice', text);
  }

  // ---- chats --------------------------------------------------------------------

  /** Adds or updates a chat from a Chat/ChatDetail object; returns it. */
  upsertChat(c) {
    let chat = this.chats.get(c.id);
    if (!chat) {
      chat = {
        id: c.id,
        name: c.name,
        createdAt: c.created_at,
        memberIds: null,
        lastSeq: null, // newest seq known to exist
        probed: false,
        probedSeq: 0, // newest seq when first counted (everything up to it counted at once)
        lastPts: null, // newest change sequence seen, when the server sends one
        liveUnread: new Set(), // seqs of others' messages that arrived after probedSeq
        lastActivity: ms(c.created_at), // for ordering the list
        newest: null, // the message with the highest seq seen (the list's preview)
        messages: new Map(), // id -> message
        pending: new Map(), // client_msg_id -> pending message
        deleted: new Set(),
        loaded: false,
        oldestSeq: null,
        hasOlder: true,
      };
      this.chats.set(c.id, chat);
    }
    chat.name = c.name ?? chat.name;
    if (Array.isArray(c.member_ids)) chat.memberIds = c.member_ids;
    if (Array.isArray(c.members)) {
      for (const u of c.members) this.names.remember(u);
      if (!chat.memberIds) chat.memberIds = c.members.map((u) => u.id);
    }
    // The list's last_seq says where the chat stands; the preview still needs the
    // newest message itself, which the probe fetches.
    if (typeof c.last_seq === 'number') this.noteSeq(chat, c.last_seq);
    const pts = typeof c.pts === 'number' ? c.pts : c.last_pts;
    if (typeof pts === 'number') this.notePts(chat, pts);
    this.emit('chats');
    return chat;
  }

  chatList() {
    return [...this.chats.values()].sort((a, b) => b.lastActivity - a.lastActivity);
  }

  /** Records that `seq` exists in `chat`; `counted` when it came from a probe. */
  noteSeq(chat, seq, counted = false) {
    if (typeof seq !== 'number') return;
    if (chat.lastSeq === null || seq > chat.lastSeq) chat.lastSeq = seq;
    if (counted) {
      chat.probed = true;
      if (seq > chat.probedSeq) chat.probedSeq = seq;
    }
  }

  notePts(chat, pts) {
    if (typeof pts === 'number' && (chat.lastPts === null || pts > chat.lastPts)) chat.lastPts = pts;
  }

  unread(chat) {
    const read = this.reads.get(chat.id);
    let n = Math.max(0, chat.probedSeq - read);
    for (const seq of chat.liveUnread) if (seq > read && seq > chat.probedSeq) n += 1;
    return n;
  }

  totalUnread() {
    let n = 0;
    for (const chat of this.chats.values()) n += this.unread(chat);
    return n;
  }

  markRead(chatId) {
    const chat = this.chats.get(chatId);
    if (!chat || chat.lastSeq === null) return;
    const had = this.unread(chat) > 0;
    this.reads.advance(chatId, chat.lastSeq);
    chat.liveUnread.clear();
    if (had) this.emit('chats');
  }

  setOpen(chatId) {
    this.openChatId = chatId;
    this.emit('open', chatId);
    this.emit('chats');
  }

  get openChat() {
    return this.openChatId ? this.chats.get(this.openChatId) : null;
  }

  // ---- messages -----------------------------------------------------------------

  /**
   * Merges a message from the server. `live` marks a new message event (it may
   * count as unread); returns true when it was new.
   */
  putMessage(m, { live = false, pts } = {}) {
    const chat = this.chats.get(m.chat_id);
    if (!chat || chat.deleted.has(m.id)) return false;
    const known = chat.messages.get(m.id);
    if (known && !isNewer(m, known, pts)) return false;
    // Outside the loaded window (older than what was paged in): ignore, paging will bring it.
    if (!known && chat.loaded && chat.oldestSeq !== null && m.seq < chat.oldestSeq) return false;
    const entry = { ...m, pts: typeof pts === 'number' ? pts : known && known.pts };
    chat.messages.set(m.id, entry);
    if (m.sender_id === this.me.id && m.client_msg_id) chat.pending.delete(m.client_msg_id);
    this.noteSeq(chat, m.seq);
    // By seq, not time: events and history answers may arrive in any order.
    if (!chat.newest || m.seq >= chat.newest.seq) {
      chat.newest = entry;
      chat.lastActivity = Math.max(chat.lastActivity, ms(m.created_at));
    }
    if (!known && live && m.sender_id !== this.me.id) chat.liveUnread.add(m.seq);
    return !known;
  }

  removeMessage(m) {
    const chat = this.chats.get(m.chat_id);
    if (!chat) return;
    chat.deleted.add(m.id);
    chat.messages.delete(m.id);
    chat.liveUnread.delete(m.seq);
    if (chat.newest && chat.newest.id === m.id) {
      chat.newest = null;
      for (const x of chat.messages.values()) if (!chat.newest || x.seq > chat.newest.seq) chat.newest = x;
    }
  }

  /** What the chat list shows under a chat's name: my latest unsent message, else the newest one. */
  preview(chat) {
    let last = null;
    for (const p of chat.pending.values()) if (!last || p.created_at > last.created_at) last = p;
    return last || chat.newest;
  }

  addPending(p) {
    const chat = this.chats.get(p.chat_id);
    chat.pending.set(p.client_msg_id, p);
    chat.lastActivity = Math.max(chat.lastActivity, ms(p.created_at));
  }

  pending(chatId, clientMsgId) {
    const chat = this.chats.get(chatId);
    return chat && chat.pending.get(clientMsgId);
  }

  /** The chat's messages oldest first, then pending sends. */
  messagesOf(chatId) {
    const chat = this.chats.get(chatId);
    if (!chat) return [];
    const list = [...chat.messages.values()].sort((a, b) => a.seq - b.seq);
    const pending = [...chat.pending.values()].sort((a, b) => a.created_at.localeCompare(b.created_at));
    return list.concat(pending);
  }

  // ---- users, presence, typing --------------------------------------------------

  nameOf(userId) {
    if (userId === this.me.id) return this.me.display_name || this.me.username;
    const u = this.names.get(userId);
    return u ? u.display_name || u.username : `user …${String(userId).slice(-6)}`;
  }

  rememberUser(user) {
    if (this.names.remember(user)) this.emit('members');
  }

  setPresence(userId, status) {
    if (this.presence.get(userId) === status) return;
    this.presence.set(userId, status);
    this.emit('members');
  }

  setTyping(chatId, userId) {
    if (!this.typing.has(chatId)) this.typing.set(chatId, new Map());
    const users = this.typing.get(chatId);
    clearTimeout(users.get(userId));
    users.set(userId, setTimeout(() => this.clearTyping(chatId, userId), TYPING_SHOWN_MS));
    this.emit('typing', chatId);
  }

  clearTyping(chatId, userId) {
    const users = this.typing.get(chatId);
    if (!users || !users.has(userId)) return;
    clearTimeout(users.get(userId));
    users.delete(userId);
    this.emit('typing', chatId);
  }

  typingIn(chatId) {
    return [...(this.typing.get(chatId) || new Map()).keys()];
  }

  setConnection(state) {
    this.connection = state;
    this.emit('connection', state);
  }

  dispose() {
    for (const users of this.typing.values()) for (const t of users.values()) clearTimeout(t);
    this.listeners.clear();
  }
}

/** Whether `incoming` should replace `known`: by change sequence when both have one, else by edit time. */
function isNewer(incoming, known, pts) {
  if (typeof pts === 'number' && typeof known.pts === 'number') return pts > known.pts;
  const a = ms(incoming.edited_at);
  const b = ms(known.edited_at);
  if (a !== b) return a > b;
  return incoming.pinned_at !== known.pinned_at || incoming.content !== known.content;
}

/** Milliseconds of an RFC 3339 time (0 for none). */
function ms(iso) {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? 0 : t;
}
