// The login / sign-up form.

import { h } from './dom.js';

/** `onLoggedIn()` runs once `api` holds a session; `message` is shown first (e.g. "session ended"). */
export function loginView({ api, onLoggedIn, message }) {
  const username = h('input', {
    name: 'username',
    'data-testid': 'login-username',
    autocomplete: 'username',
    placeholder: 'alice',
    required: true,
    autofocus: true,
  });
  const password = h('input', {
    name: 'password',
    type: 'password',
    'data-testid': 'login-password',
    autocomplete: 'current-password',
    placeholder: 'at least 8 characters',
    required: true,
  });
  const error = h('p', { class: 'form-error', 'data-testid': 'login-error', role: 'alert' }, message || '');
  const loginButton = h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, 'Log in');
  const registerButton = h('button', { type: 'button', 'data-testid': 'register-submit' }, 'Create account');

  async function run(register) {
    const name = username.value.trim();
    if (!name || !password.value) {
      error.textContent = 'Enter a username and a password.';
      return;
    }
    error.textContent = '';
    loginButton.disabled = registerButton.disabled = true;
    try {
      if (register) await api.register(name, password.value);
      await api.login(name, password.value);
      onLoggedIn();
    } catch (e) {
      error.textContent = describe(e, register);
      loginButton.disabled = registerButton.disabled = false;
    }
  }

  const form = h('form', { class: 'card login-card', novalidate: true, onsubmit: (e) => { e.preventDefault(); run(false); } },
    h('h1', {}, 'webchat'),
    h('p', { class: 'muted' }, 'Log in, or create an account with a new username.'),
    h('label', {}, 'Username', username),
    h('label', {}, 'Password', password),
    error,
    h('div', { class: 'row' }, loginButton, registerButton));
  registerButton.addEventListener('click', () => run(true));
  return h('main', { class: 'login' }, form);
}

function describe(e, register) {
  switch (e.code) {
    case 'invalid_credentials':
      return 'Wrong username or password.';
    case 'username_taken':
      return 'That username is taken.';
    case 'too_many_requests':
      return 'Too many attempts; wait a minute and try again.';
    case 'network':
      return 'The server cannot be reached.';
    default:
      return e.message || (register ? 'Could not create the account.' : 'Could not log in.');
  }
}
