// Shared bits of the admin pages.
import { h } from '../dom.js';
import { t } from '../i18n.js';

export function page(root, title, ...children) {
  const wrap = h('div', { class: 'admin' }, h('h1', {}, title), ...children);
  root.append(wrap);
  return wrap;
}

/** A table: columns = [[header, (row) => cell, className?]]. */
export function table(caption, columns, rows, empty = t('admin.nothing_yet')) {
  return h('div', { class: 'table-wrap' },
    h('table', {},
      h('caption', { class: 'sr-only' }, caption),
      h('thead', {}, h('tr', {}, columns.map(([head, , cls]) => h('th', { scope: 'col', class: cls }, head)))),
      h('tbody', {}, rows.length
        ? rows.map((row) => h('tr', { dataset: { id: row.id || '' } }, columns.map(([, cell, cls]) => h('td', { class: cls }, cell(row)))))
        : h('tr', {}, h('td', { colspan: String(columns.length), class: 'empty' }, empty)))));
}

export function checkboxes(legend, options, checked, name) {
  return h('fieldset', {}, h('legend', {}, legend),
    h('div', { class: 'checks' }, options.map(([value, label]) => h('label', {},
      h('input', { type: 'checkbox', name, value, checked: checked.includes(value) }), label))));
}

export function checkedValues(container, name) {
  return [...container.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
}
