// The right pane: the open chat's header (members with presence), its messages
// (older pages load as you scroll up; newest at the bottom), who is typing, and the
// composer.

import { h, presenceDot, setChildren, shortTime, syncList } from './dom.js';

const MAX_CONTENT = 4000;
const MEMBERS_SHOWN = 8;

export class ChatView {
  constructor(store, sync) {
    this.store = store;
    this.sync = sync;
    this.editing = null; // id of the message being edited
    this.confirming = null; // id of the message whose delete awaits a second click

    this.title = h('h2', { class: 'chat-title', 'data-testid': 'chat-title' });
    this.members = h('div', { class: 'members', 'data-testid': 'chat-members' });
    this.historyState = h('div', { class: 'history-state muted' });
    this.items = h('div', { class: 'message-items' });
    this.scroller = h('div', { class: 'messages', 'data-testid': 'message-list', onscroll: () => this.onScroll() },
      this.historyState, this.items);
    this.typing = h('div', { class: 'typing', 'data-testid': 'typing-indicator', 'aria-live': 'polite' });
    this.input = h('textarea', {
      'data-testid': 'message-input',
      rows: 1,
      placeholder: 'Write a message…',
      onkeydown: (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.submit();
        }
      },
      oninput: () => {
        this.autosize();
        if (this.input.value.trim()) this.sync.typing(this.store.openChatId);
      },
    });
    this.composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); this.submit(); } },
      this.input,
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'message-send' }, 'Send'));

    this.placeholder = h('div', { class: 'placeholder muted' }, 'Pick a chat, or start a new one.');
    this.pane = h('section', { class: 'chat-pane' },
      h('header', { class: 'chat-header' },
        h('button', { class: 'back link', 'aria-label': 'Back to chats', onclick: () => store.setOpen(null) }, '‹ Chats'),
        h('div', { class: 'chat-heading' }, this.title, this.members)),
      this.scroller, this.typing, this.composer);
    this.el = h('main', { class: 'chat' }, this.placeholder, this.pane);

    store.on('open', () => this.show());
    store.on('chats', () => this.renderHeader());
    store.on('messages', (id) => { if (id === store.openChatId) this.renderMessages(); });
    store.on('members', () => {
      this.renderHeader();
      this.renderMessages();
      this.renderTyping();
    });
    store.on('typing', (id) => { if (id === store.openChatId) this.renderTyping(); });
    this.show();
  }

  get chat() {
    return this.store.openChat;
  }

  show() {
    const chat = this.chat;
    this.placeholder.hidden = !!chat;
    this.pane.hidden = !chat;
    document.body.classList.toggle('chat-open', !!chat);
    this.editing = this.confirming = null;
    this.items.replaceChildren();
    if (!chat) return;
    this.renderHeader();
    this.renderMessages({ toBottom: true });
    this.renderTyping();
    this.input.value = '';
    this.autosize();
    this.input.focus();
  }

  renderHeader() {
    const chat = this.chat;
    if (!chat) return;
    this.title.textContent = chat.name;
    const ids = chat.memberIds || [];
    const others = ids.filter((id) => id !== this.store.me.id);
    const shown = [...others.slice(0, MEMBERS_SHOWN), this.store.me.id];
    setChildren(this.members, shown.map((id) => h('span', { class: 'member', 'data-testid': 'chat-member', 'data-user-id': id },
      presenceDot(this.store.presence.get(id), this.store.nameOf(id)),
      id === this.store.me.id ? 'you' : this.store.nameOf(id))),
    others.length > MEMBERS_SHOWN ? h('span', { class: 'muted' }, `+${others.length - MEMBERS_SHOWN}`) : null);
  }

  // ---- messages -----------------------------------------------------------------

  renderMessages({ toBottom = false } = {}) {
    const chat = this.chat;
    if (!chat) return;
    const { scroller, store } = this;
    const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
    // Keep the first visible message where it is (older pages arrive above it).
    let anchorKey = null;
    let anchorOffset = 0;
    if (!atBottom && !toBottom) {
      for (const el of this.items.children) {
        if (el.offsetTop + el.offsetHeight > scroller.scrollTop) {
          anchorKey = el.dataset.key;
          anchorOffset = el.offsetTop - scroller.scrollTop;
          break;
        }
      }
    }

    const messages = store.messagesOf(chat.id);
    syncList(this.items, messages, {
      key: (m) => m.id || `pending:${m.client_msg_id}`,
      version: (m) => [m.content, m.edited_at, m.pinned_at, m.pending, m.failed, store.nameOf(m.sender_id),
        this.editing === m.id, this.confirming === m.id].join('\u0001'),
      render: (m) => this.renderMessage(m),
    });

    if (!chat.loaded) this.historyState.textContent = 'Loading…';
    else if (chat.hasOlder) this.historyState.textContent = chat.loadingOlder ? 'Loading older messages…' : '';
    else this.historyState.textContent = messages.length ? 'This is the beginning of the chat.' : 'No messages yet. Say hello!';

    if (toBottom || atBottom) {
      scroller.scrollTop = scroller.scrollHeight;
    } else if (anchorKey) {
      const anchor = [...this.items.children].find((el) => el.dataset.key === anchorKey);
      if (anchor) scroller.scrollTop = anchor.offsetTop - anchorOffset;
    }
    if (this.editInput && this.editInput.isConnected && document.activeElement !== this.editInput) {
      this.editInput.focus();
    }
    // Not enough to scroll yet: fetch more so the user can.
    if (chat.loaded && chat.hasOlder && scroller.scrollHeight <= scroller.clientHeight) this.loadOlder();
  }

  onScroll() {
    if (this.scroller.scrollTop < 150) this.loadOlder();
  }

  async loadOlder() {
    const chat = this.chat;
    if (!chat || chat.loadingOlder || !chat.hasOlder || !chat.loaded) return;
    const pending = this.sync.loadOlder(chat.id);
    this.historyState.textContent = 'Loading older messages…';
    await pending;
  }

  renderMessage(m) {
    const { store } = this;
    const mine = m.sender_id === store.me.id;
    const classes = ['msg', mine ? 'mine' : 'theirs'];
    if (m.pending) classes.push('pending');
    if (m.failed) classes.push('failed');

    const meta = [h('time', { datetime: m.created_at, title: new Date(m.created_at).toLocaleString() }, shortTime(m.created_at))];
    if (m.edited_at) meta.push(h('span', { class: 'edited', title: new Date(m.edited_at).toLocaleString() }, 'edited'));
    if (m.pinned_at) meta.push(h('span', { class: 'pinned' }, 'pinned'));
    if (m.pending && !m.failed) meta.push(h('span', { class: 'sending', 'data-testid': 'message-pending' }, 'sending…'));

    const body = this.editing === m.id ? this.editor(m)
      : h('div', { class: 'text', 'data-testid': 'message-text' }, m.content);

    return h('div', { class: classes.join(' '), 'data-testid': 'message', 'data-message-id': m.id || '', 'data-seq': m.seq ?? '' },
      h('div', { class: 'bubble' },
        mine ? null : h('div', { class: 'author' }, store.nameOf(m.sender_id)),
        body,
        h('div', { class: 'meta' }, meta)),
      mine && !m.pending && this.editing !== m.id ? this.actions(m) : null,
      m.failed ? h('div', { class: 'failed-note' }, m.failed, ' ',
        h('button', { class: 'link', 'data-testid': 'message-retry', onclick: () => this.sync.retry(m.chat_id, m.client_msg_id) }, 'Retry'),
        ' · ',
        h('button', { class: 'link', onclick: () => this.sync.discard(m.chat_id, m.client_msg_id) }, 'Discard')) : null);
  }

  actions(m) {
    const confirming = this.confirming === m.id;
    return h('div', { class: 'actions' },
      h('button', { class: 'link', 'data-testid': 'message-edit', onclick: () => this.startEdit(m) }, 'Edit'),
      h('button', {
        class: `link${confirming ? ' danger' : ''}`,
        'data-testid': 'message-delete',
        onclick: () => this.askDelete(m),
      }, confirming ? 'Really delete?' : 'Delete'));
  }

  editor(m) {
    const input = h('textarea', {
      class: 'edit-input',
      'data-testid': 'message-edit-input',
      rows: 2,
      onkeydown: (e) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          this.saveEdit(m, input.value);
        } else if (e.key === 'Escape') {
          this.stopEdit();
        }
      },
    });
    input.value = m.content;
    this.editInput = input;
    return h('div', { class: 'editor' }, input,
      h('div', { class: 'row' },
        h('button', { class: 'primary small', 'data-testid': 'message-edit-save', onclick: () => this.saveEdit(m, input.value) }, 'Save'),
        h('button', { class: 'small', onclick: () => this.stopEdit() }, 'Cancel')));
  }

  startEdit(m) {
    this.editing = m.id;
    this.confirming = null;
    this.renderMessages();
  }

  stopEdit() {
    this.editing = null;
    this.editInput = null;
    this.renderMessages();
    this.input.focus();
  }

  async saveEdit(m, text) {
    const content = text.trim();
    if (!content || content === m.content) {
      this.stopEdit();
      return;
    }
    try {
      await this.sync.edit(m, content);
      this.stopEdit();
    } catch (e) {
      this.store.notice(`Could not edit: ${e.message}`);
    }
  }

  askDelete(m) {
    clearTimeout(this.confirmTimer);
    if (this.confirming !== m.id) {
      this.confirming = m.id;
      this.confirmTimer = setTimeout(() => {
        this.confirming = null;
        this.renderMessages();
      }, 4000);
      this.renderMessages();
      return;
    }
    this.confirming = null;
    this.sync.remove(m).catch((e) => {
      this.store.notice(`Could not delete: ${e.message}`);
      this.renderMessages();
    });
  }

  // ---- typing and composing -----------------------------------------------------

  renderTyping() {
    const chat = this.chat;
    const names = chat ? this.store.typingIn(chat.id).map((id) => this.store.nameOf(id)) : [];
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = `${names.length} people are typing…`;
    this.typing.textContent = text;
  }

  submit() {
    const chat = this.chat;
    const content = this.input.value.trim();
    if (!chat || !content) return;
    if (content.length > MAX_CONTENT) {
      this.store.notice(`Messages are limited to ${MAX_CONTENT} characters.`);
      return;
    }
    this.sync.send(chat.id, content);
    this.input.value = '';
    this.autosize();
    this.renderMessages({ toBottom: true });
  }

  autosize() {
    const el = this.input;
    el.style.height = 'auto';
    const borders = el.offsetHeight - el.clientHeight;
    el.style.height = `${Math.min(el.scrollHeight + borders, 160)}px`;
  }
}
