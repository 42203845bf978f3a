// Tiny DOM helpers: build elements without innerHTML (so user text is never parsed
// as markup) and keep keyed lists in place across re-renders.

/**
 * h('button', {class: 'x', 'data-testid': 'y', onclick: fn}, 'label', child, ...)
 * Attributes starting with "on" become listeners; `null`/`false` ones are skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.className = value;
    } else if (name in el && typeof value !== 'string') {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : value);
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces all children of `el`. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * Makes `container`'s children match `items` in order. An element is reused while
 * its item's key and version stay the same (so focus, selection and scroll inside it
 * survive), re-rendered when the version changes, removed when its item is gone.
 */
export function syncList(container, items, { key, version, render }) {
  const existing = new Map();
  for (const el of container.children) existing.set(el.dataset.key, el);
  const kept = new Set();
  let previous = null;
  for (const item of items) {
    const k = String(key(item));
    const v = String(version(item));
    let el = existing.get(k);
    if (!el || el.dataset.version !== v) {
      const fresh = render(item);
      fresh.dataset.key = k;
      fresh.dataset.version = v;
      if (el) el.replaceWith(fresh);
      el = fresh;
    }
    kept.add(k);
    const wanted = previous ? previous.nextSibling : container.firstChild;
    if (wanted !== el) container.insertBefore(el, wanted);
    previous = el;
  }
  for (const [k, el] of existing) if (!kept.has(k)) el.remove();
}

/** A presence dot: green online, yellow away, grey offline/unknown. */
export function presenceDot(status, label) {
  const s = status || 'offline';
  return h('span', {
    class: `dot dot-${s}`,
    'data-testid': 'presence-dot',
    'data-status': s,
    title: label ? `${label}: ${s}` : s,
    'aria-label': s,
  });
}

/** "14:03" today, "Mon 14:03" this week, else a date. */
export function shortTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  if (now - d < 6 * 24 * 3600 * 1000) {
    return `${d.toLocaleDateString([], { weekday: 'short' })} ${time}`;
  }
  return d.toLocaleDateString();
}
