// UI strings and formats per locale. Every string the page shows comes from a catalogue:
// `t('area.key', { name })` looks the key up in the agent's locale, then in English, and
// fills `{name}` placeholders (as text: callers still set the result with textContent).
// Catalogues live one per area under ./i18n/<area>.js as `{ en: {...}, id: {...} }`, so
// features add their strings without touching each other's files.
import { CATALOGUES } from './i18n/index.js';

export const LOCALES = ['en', 'id'];
const FALLBACK = 'en';
const STORAGE_KEY = 'scrm.locale';

const table = { en: {}, id: {} };
for (const catalogue of CATALOGUES) {
  for (const locale of LOCALES) Object.assign(table[locale], catalogue[locale] || {});
}

let current = pick(localStorage.getItem(STORAGE_KEY) || navigator.language);

function pick(tag) {
  const base = String(tag || '').toLowerCase().split('-')[0];
  return LOCALES.includes(base) ? base : FALLBACK;
}

/** The active locale ('en' or 'id'). */
export function locale() {
  return current;
}

/** Switch locale (e.g. from the agent's profile); listeners re-render on 'scrm:locale'. */
export function setLocale(tag) {
  const next = pick(tag);
  localStorage.setItem(STORAGE_KEY, next);
  document.documentElement.lang = next;
  if (next === current) return;
  current = next;
  window.dispatchEvent(new CustomEvent('scrm:locale', { detail: { locale: next } }));
}

/** The string for `key` in the active locale with `{placeholders}` filled. */
export function t(key, params = {}) {
  const template = table[current][key] ?? table[FALLBACK][key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
}

/** Whether `key` exists in the English catalogue (tests check catalogues are complete). */
export function known(key) {
  return key in table[FALLBACK];
}

/** Date and time in the active locale. */
export function formatDateTime(value, options = { dateStyle: 'medium', timeStyle: 'short' }) {
  return new Intl.DateTimeFormat(current, options).format(new Date(value));
}

/** A number in the active locale (thousands separators differ: 1,234 vs 1.234). */
export function formatNumber(value, options = {}) {
  return new Intl.NumberFormat(current, options).format(value);
}

document.documentElement.lang = current;
