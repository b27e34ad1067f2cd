// Tiny DOM helpers. User data is only ever set as text (never innerHTML).
import { formatDateTime } from './i18n.js';

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key in el && typeof value !== 'string') el[key] = value;
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let fieldCounter = 0;
/** A labelled form control: <label for=…>text</label><control id=…> wrapped in a div. */
export function field(labelText, control, hint) {
  if (!control.id) control.id = `f${++fieldCounter}`;
  const hintEl = hint ? h('small', { class: 'hint', id: `${control.id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', { class: 'field' }, h('label', { for: control.id }, labelText), control, hintEl);
}

export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

export function fmtTime(iso) {
  if (!iso) return '';
  const d = new Date(iso.endsWith('Z') || iso.includes('+') ? iso : `${iso}Z`);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  return sameDay
    ? formatDateTime(d, { hour: '2-digit', minute: '2-digit' })
    : formatDateTime(d, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

export function parseTime(iso) {
  if (!iso) return 0;
  return Date.parse(iso.endsWith('Z') || iso.includes('+') ? iso : `${iso}Z`);
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** Shows an error from the api (ApiError) or anything else as a toast. */
export function showError(err, prefix = '') {
  const text = err && err.message ? err.message : String(err);
  toast(prefix ? `${prefix}: ${text}` : text, 'error');
}

export function button(label, onclick, attrs = {}) {
  return h('button', { type: 'button', onclick, ...attrs }, label);
}
