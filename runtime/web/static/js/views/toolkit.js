// Replies & labels: the agent's own canned responses and the tenant's (managed with
// canned:write), and the tenant's label catalogue (managed with labels:write).
import { api } from '../api.js';
import { auth } from '../auth.js';
import { button, field, h, replace, showError, toast } from '../dom.js';
import { t } from '../i18n.js';
import { page, table } from './admin-lib.js';

export function mount(root) {
  const cannedBox = h('section', { 'aria-labelledby': 'canned-title' });
  const labelsBox = h('section', { 'aria-labelledby': 'labels-title' });
  page(root, t('shell.section.toolkit'), cannedBox, labelsBox);

  async function load() {
    try {
      const [canned, labels] = await Promise.all([api('/api/canned-responses'), api('/api/labels').catch(() => [])]);
      renderCanned(canned);
      renderLabels(labels);
    } catch (err) { showError(err, t('shell.section.toolkit')); }
  }

  async function remove(url, done) {
    try { await api(url, { method: 'DELETE' }); toast(done); load(); } catch (err) { showError(err, t('common.not_deleted')); }
  }

  function mayManage(c) {
    return c.scope === 'personal' || auth.can('canned:write');
  }

  function renderCanned(canned) {
    const shortcut = h('input', { required: true, name: 'shortcut', pattern: '[a-z0-9][a-z0-9_\\-]{0,31}', placeholder: 'thanks' });
    const body = h('textarea', { required: true, name: 'body', rows: 3, maxlength: '4096' });
    const scope = h('select', { name: 'scope' },
      h('option', { value: 'personal' }, t('toolkit.scope.personal')),
      auth.can('canned:write') ? h('option', { value: 'tenant' }, t('toolkit.scope.tenant')) : null);
    const form = h('form', { class: 'card stack', 'aria-label': t('toolkit.new_canned'), onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/canned-responses', { method: 'POST', body: { scope: scope.value, shortcut: shortcut.value.trim(), body: body.value } });
        toast(t('toolkit.canned_saved', { shortcut: shortcut.value.trim() }));
        load();
      } catch (err) { showError(err, t('common.not_saved')); }
    } },
    h('div', { class: 'inline-form' }, field(t('toolkit.shortcut'), shortcut, t('toolkit.shortcut_hint')), field(t('toolkit.scope'), scope)),
    field(t('toolkit.text'), body, t('toolkit.placeholders_hint')),
    h('button', { type: 'submit', class: 'primary' }, t('toolkit.add_canned')));
    replace(cannedBox, h('h2', { id: 'canned-title' }, t('toolkit.canned_title')),
      table(t('toolkit.canned_title'), [
        [t('toolkit.shortcut'), (c) => h('code', {}, `/${c.shortcut}`)],
        [t('toolkit.scope'), (c) => t(`toolkit.scope.${c.scope}`)],
        [t('toolkit.text'), (c) => c.body],
        ['', (c) => (mayManage(c) ? button(t('common.delete'), () => remove(`/api/canned-responses/${c.id}`, t('toolkit.canned_deleted')),
          { class: 'link', 'aria-label': t('toolkit.delete_canned', { shortcut: c.shortcut }) }) : null)],
      ], canned, t('toolkit.no_canned')),
      form);
  }

  function renderLabels(labels) {
    const canWrite = auth.can('labels:write');
    const name = h('input', { required: true, name: 'name', maxlength: '50' });
    const colour = h('input', { type: 'color', name: 'colour', value: '#2563eb' });
    const form = canWrite ? h('form', { class: 'card inline-form', 'aria-label': t('toolkit.new_label'), onsubmit: async (e) => {
      e.preventDefault();
      try {
        await api('/api/labels', { method: 'POST', body: { name: name.value.trim(), colour: colour.value } });
        toast(t('toolkit.label_saved', { name: name.value.trim() }));
        load();
      } catch (err) { showError(err, t('common.not_saved')); }
    } }, field(t('toolkit.label_name'), name), field(t('toolkit.colour'), colour), h('button', { type: 'submit', class: 'primary' }, t('toolkit.add_label_button'))) : null;
    const swatch = (label) => {
      const el = h('span', { class: 'swatch', 'aria-hidden': 'true' });
      el.style.background = label.colour; // the CSP refuses inline styles
      return h('span', { class: 'label-chip' }, el, label.name);
    };
    replace(labelsBox, h('h2', { id: 'labels-title' }, t('toolkit.labels')),
      table(t('toolkit.labels'), [
        [t('toolkit.label_name'), swatch],
        ['', (label) => (canWrite ? button(t('common.delete'), () => remove(`/api/labels/${label.id}`, t('toolkit.label_deleted')),
          { class: 'link', 'aria-label': t('toolkit.delete_label', { name: label.name }) }) : null)],
      ], labels, t('toolkit.no_labels')),
      form);
  }

  load();
  return { permissionsChanged: load };
}
