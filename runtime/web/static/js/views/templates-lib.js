// Template helpers shared by the composer and the templates list.

const PLACEHOLDER = /\{\{(\d+)\}\}/g;

export function componentText(template, type) {
  return (template.components || []).find((c) => (c.type || '').toUpperCase() === type)?.text || '';
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

export function fill(text, values) {
  return text.replace(PLACEHOLDER, (whole, n) => {
    const value = values[Number(n) - 1];
    return value ? value : whole;
  });
}
