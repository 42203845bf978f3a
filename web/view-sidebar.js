// The left pane: who I am, the connection state, the new-chat form and the chat list.

import { h, presenceDot, setChildren, syncList } from './dom.js';

export class Sidebar {
  constructor(store, sync, { onLogout }) {
    this.store = store;
    this.sync = sync;

    this.meRow = h('div', { class: 'me', 'data-testid': 'me' });
    this.status = h('div', { class: 'connection', 'data-testid': 'connection-status' });
    this.list = h('ul', { class: 'chat-list', 'data-testid': 'chat-list' });
    this.empty = h('p', { class: 'muted empty-list' }, 'No chats yet. Start one above.');

    const header = h('header', { class: 'sidebar-header' },
      h('span', { class: 'brand' }, 'webchat'),
      this.meRow,
      h('button', { class: 'link', 'data-testid': 'logout', onclick: onLogout }, 'Log out'));

    this.el = h('aside', { class: 'sidebar' }, header, this.status, this.newChatForm(), this.list, this.empty);

    store.on('chats', () => this.renderList());
    store.on('members', () => {
      this.renderMe();
      this.renderList();
    });
    store.on('connection', () => this.renderStatus());
    this.renderMe();
    this.renderList();
    this.renderStatus();
  }

  newChatForm() {
    const name = h('input', { 'data-testid': 'chat-new-name', placeholder: 'Chat name', maxlength: 100 });
    const members = h('input', {
      'data-testid': 'chat-new-members',
      placeholder: 'Members: alice, bob',
      autocomplete: 'off',
    });
    const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'chat-new-submit' }, 'Start chat');
    const error = h('p', { class: 'form-error', 'data-testid': 'chat-new-error', role: 'alert' });
    return h('form', {
      class: 'new-chat',
      onsubmit: async (e) => {
        e.preventDefault();
        if (!name.value.trim()) {
          error.textContent = 'Give the chat a name.';
          return;
        }
        error.textContent = '';
        submit.disabled = true;
        try {
          const chat = await this.sync.createChat(name.value.trim(), members.value);
          name.value = '';
          members.value = '';
          this.sync.openChat(chat.id);
        } catch (err) {
          error.textContent = err.message;
        } finally {
          submit.disabled = false;
        }
      },
    }, h('div', { class: 'new-chat-fields' }, name, members), submit, error);
  }

  renderMe() {
    const { store } = this;
    setChildren(this.meRow, presenceDot(store.presence.get(store.me.id), 'you'), store.nameOf(store.me.id));
  }

  renderStatus() {
    const { state, retryAt } = this.store.connection;
    clearInterval(this.countdown);
    this.status.dataset.state = state;
    if (state === 'open') {
      setChildren(this.status);
      return;
    }
    if (state === 'connecting') {
      setChildren(this.status, 'Connecting…');
      return;
    }
    const tick = () => {
      const secs = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      setChildren(this.status, `Offline · retrying in ${secs}s `,
        h('button', { class: 'link', onclick: () => this.sync.socket.reconnectNow() }, 'Retry now'));
    };
    tick();
    this.countdown = setInterval(tick, 1000);
  }

  renderList() {
    const { store } = this;
    const chats = store.chatList();
    this.empty.hidden = chats.length > 0;
    syncList(this.list, chats, {
      key: (c) => c.id,
      version: (c) => [c.name, store.unread(c), c.id === store.openChatId, previewText(store, c)].join('\u0001'),
      render: (c) => this.renderItem(c),
    });
  }

  renderItem(chat) {
    const { store } = this;
    const unread = store.unread(chat);
    const open = chat.id === store.openChatId;
    return h('li', {},
      h('button', {
        class: `chat-item${open ? ' open' : ''}${unread ? ' has-unread' : ''}`,
        'data-testid': 'chat-item',
        'data-chat-id': chat.id,
        'aria-current': open ? 'true' : null,
        onclick: () => this.sync.openChat(chat.id),
      },
      h('span', { class: 'chat-name', 'data-testid': 'chat-name' }, chat.name),
      unread ? h('span', { class: 'badge', 'data-testid': 'chat-unread' }, unread > 99 ? '99+' : String(unread)) : null,
      h('span', { class: 'chat-preview' }, previewText(store, chat))));
  }
}

function previewText(store, chat) {
  const p = store.preview(chat);
  if (!p) return '';
  const who = p.sender_id === store.me.id ? 'You' : store.nameOf(p.sender_id);
  return `${who}: ${p.content}`;
}
