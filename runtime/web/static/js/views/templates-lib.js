// Template helpers shared by the composer, the campaign builder and the templates list.

const PLACEHOLDER = /\{\{(\d+)\}\}/g;

const MEDIA_HEADERS = ['IMAGE', 'VIDEO', 'DOCUMENT'];

function component(template, type) {
  return (template.components || []).find((c) => (c.type || '').toUpperCase() === type);
}

export function componentText(template, type) {
  return component(template, type)?.text || '';
}

/** IMAGE, VIDEO or DOCUMENT when the template's header is that media, else null. */
export function mediaHeaderFormat(template) {
  const format = (component(template, 'HEADER')?.format || '').toUpperCase();
  return MEDIA_HEADERS.includes(format) ? format : null;
}

/** Whether the template's header is a LOCATION (the send gives the place). */
export function hasLocationHeader(template) {
  return (component(template, 'HEADER')?.format || '').toUpperCase() === 'LOCATION';
}

export function templateButtons(template) {
  return component(template, 'BUTTONS')?.buttons || [];
}

/** What a template button needs at send time: a URL suffix, a coupon or one-time code, an
 *  optional quick-reply payload, or nothing (null). */
export function buttonNeeds(b) {
  const type = (b.type || '').toUpperCase();
  if (type === 'URL' && /\{\{\s*\w+\s*\}\}/.test(b.url || '')) return 'url';
  if (type === 'COPY_CODE') return 'coupon';
  if (type === 'OTP' && (b.otp_type || 'COPY_CODE').toUpperCase() !== 'ZERO_TAP') return 'otp';
  if (type === 'QUICK_REPLY') return 'payload';
  return null;
}

/** Placeholder numbers in order of first appearance, e.g. [1, 2]. */
export function placeholders(text) {
  const seen = [];
  for (const match of text.matchAll(PLACEHOLDER)) {
    const n = Number(match[1]);
    if (!seen.includes(n)) seen.push(n);
  }
  return seen.sort((a, b) => a - b);
}

/** Placeholder names, numbered or named, in order of first appearance: ['1', '2'] or ['name']. */
export function placeholderNames(text) {
  return [...new Set([...text.matchAll(/\{\{\s*(\w+)\s*\}\}/g)].map((m) => m[1]))];
}

export function fill(text, values) {
  return text.replace(PLACEHOLDER, (whole, n) => {
    const value = values[Number(n) - 1];
    return value ? value : whole;
  });
}
