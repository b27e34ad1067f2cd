// The agent inbox: conversation list (tabs, filter, search, live re-ordering), chat view
// (history with infinite scroll, ticks, 24-hour-window-aware composer), contact panel.
import { api, ApiError } from '../api.js';
import { auth } from '../auth.js';
import { button, debounce, field, fmtTime, h, parseTime, replace, showError, toast } from '../dom.js';
import { attachControl, mediaContent } from './inbox-media.js';
import { formatNumber, t } from '../i18n.js';
import { addNote, composerTools, labelChips, labelEditor, labelFilter, noteItem } from './inbox-toolkit.js';
import { componentText, fill, placeholders } from './templates-lib.js';
import * as rich from './inbox-rich.js';

// queued → (unknown: Meta's answer was lost) → sent → delivered → read, or failed; a
// status webhook may resolve unknown either way.
const STATUS_RANK = { pending: 0, queued: 0, unknown: 0.5, sent: 1, delivered: 2, read: 3, failed: 4, received: 0 };
// Status → [symbol, label key].
const TICKS = {
  pending: ['🕓', 'inbox.tick.pending'],
  queued: ['🕓', 'inbox.tick.queued'],
  unknown: ['?', 'inbox.tick.unknown'],
  sent: ['✓', 'inbox.tick.sent'],
  delivered: ['✓✓', 'inbox.tick.delivered'],
  read: ['✓✓', 'inbox.tick.read'],
  failed: ['⚠', 'inbox.tick.failed'],
};
// A customer may be known only by Meta's business-scoped user id until their phone is.
const contactLabel = (contact) => contact.name || contact.phone || contact.wa_user_id || '';

// Type → symbol (its label is `inbox.media.<type>`).
const MEDIA = {
  image: '🖼', video: '🎞', audio: '🎵', document: '📄', sticker: '🗒', location: '📍',
  contacts: '👤', reaction: '💬',
};
const SNOOZES = [['inbox.snooze.hour', 3600], ['inbox.snooze.hours4', 4 * 3600], ['inbox.snooze.day', 86400], ['inbox.snooze.week', 7 * 86400]];
const STATUS_FILTERS = ['open', 'pending', 'snoozed', 'resolved'];

export function mount(root, args, { navigate, realtime }) {
  const me = auth.me;
  const state = {
    tab: sessionStorage.getItem('scrm.inbox.tab') || (auth.can('inbox:read:all') ? 'all' : 'mine'),
    status: sessionStorage.getItem('scrm.inbox.status') || '',
    labelId: sessionStorage.getItem('scrm.inbox.label') || '',
    labels: new Map(),
    q: '',
    convs: new Map(),
    nextCursor: null,
    selected: null,
    conv: null,
    messages: new Map(),
    olderCursor: null,
    loadingOlder: false,
    templates: null,
    senders: new Map(),
    agents: new Map(),
    teams: new Map(),
    panelOpen: false,
    templateMode: false,
    listToken: 0,
    // While a fresh list load is in flight: the list events that arrived meanwhile, applied
    // again over its answer (which may have been read before them).
    listEvents: null,
    convToken: 0,
    // The same for the conversation being opened: the events about it that arrived while its
    // load was in flight, applied again over its answer.
    convEvents: null,
  };

  // ---------- layout ----------
  const list = h('ul', { class: 'conv-items', role: 'list' });
  const more = button(t('inbox.load_more'), () => loadList(true), { class: 'more', hidden: true });
  const tabs = h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('inbox.views') });
  const statusSelect = h('select', { onchange: () => { state.status = statusSelect.value; sessionStorage.setItem('scrm.inbox.status', state.status); loadList(); } },
    h('option', { value: '', selected: !state.status }, t('inbox.any_status')),
    STATUS_FILTERS.map((v) => h('option', { value: v, selected: v === state.status }, t(`inbox.filter.${v}`))));
  const search = h('input', { type: 'search', placeholder: t('inbox.search_placeholder'), oninput: debounce(() => { state.q = search.value.trim(); loadList(); }, 250) });
  const labelSlot = h('div', { class: 'label-filter' });
  const listPane = h('section', { class: 'conv-list', 'aria-label': t('inbox.conversations') },
    tabs,
    h('div', { class: 'filters' }, field(t('inbox.status'), statusSelect), field(t('inbox.search'), search), labelSlot),
    list, more);
  const chat = h('section', { class: 'chat', 'aria-label': t('inbox.conversation') },
    h('div', { class: 'empty' }, t('inbox.select')));
  const panel = h('aside', { class: 'contact-panel', 'aria-label': t('inbox.contact_details'), hidden: true });
  const layout = h('div', { class: 'inbox', dataset: { pane: 'list' } }, listPane, chat, panel);
  root.append(layout);

  function tabsAllowed() {
    const all = auth.can('inbox:read:all');
    return [['mine', true], ['unassigned', all], ['team', all], ['all', all]]
      .filter(([, ok]) => ok).map(([value]) => [value, t(`inbox.tab.${value}`)]);
  }

  function renderTabs() {
    const allowedTabs = tabsAllowed();
    if (!allowedTabs.some(([v]) => v === state.tab)) state.tab = allowedTabs[0][0];
    replace(tabs, allowedTabs.map(([value, label]) => h('button', {
      type: 'button', role: 'tab', id: `tab-${value}`,
      'aria-selected': String(value === state.tab), tabindex: value === state.tab ? '0' : '-1',
      onclick: () => { state.tab = value; sessionStorage.setItem('scrm.inbox.tab', value); renderTabs(); loadList(); },
      onkeydown: (e) => {
        const buttons = [...tabs.querySelectorAll('[role=tab]')];
        const i = buttons.indexOf(e.currentTarget);
        const next = e.key === 'ArrowRight' ? buttons[(i + 1) % buttons.length]
          : e.key === 'ArrowLeft' ? buttons[(i - 1 + buttons.length) % buttons.length] : null;
        if (next) { next.focus(); next.click(); }
      },
    }, label)));
  }

  // ---------- conversation list ----------
  function matches(c) {
    if (state.tab === 'mine' && c.assigned_agent_id !== me.id) return false;
    if (state.tab === 'unassigned' && c.assigned_agent_id) return false;
    if (state.tab === 'team' && !(me.team_ids || []).includes(c.assigned_team_id)) return false;
    if (state.status && c.status !== state.status) return false;
    if (state.labelId && !(c.label_ids || []).includes(state.labelId)) return false;
    if (state.q) {
      const q = state.q.toLowerCase();
      if (!(c.contact.name || '').toLowerCase().includes(q) && !(c.contact.phone || '').includes(q)) return false;
    }
    return true;
  }

  async function loadList(append = false) {
    const token = ++state.listToken;
    if (!append) state.listEvents = [];
    try {
      const page = await api('/api/conversations', {
        query: { view: state.tab, status: state.status, label_id: state.labelId, q: state.q, cursor: append ? state.nextCursor : null, limit: 50 },
      });
      if (token !== state.listToken) return;
      if (!append) state.convs.clear();
      for (const c of page.items) state.convs.set(c.id, c);
      state.nextCursor = page.next_cursor;
      const missed = append ? [] : state.listEvents;
      state.listEvents = null;
      missed.forEach(applyListEvent);
      renderList();
    } catch (err) {
      if (token === state.listToken) state.listEvents = null;
      showError(err, t('inbox.conversations'));
    }
  }

  function sorted() {
    return [...state.convs.values()].sort((a, b) => parseTime(b.last_message_at || b.created_at) - parseTime(a.last_message_at || a.created_at));
  }

  function renderList() {
    const items = sorted();
    replace(list, items.length ? items.map(convItem) : h('li', { class: 'empty' }, t('inbox.no_conversations')));
    more.hidden = !state.nextCursor;
  }

  function convItem(c) {
    const unread = c.unread_count > 0;
    return h('li', { dataset: { id: c.id } },
      h('a', {
        class: `conv${unread ? ' unread' : ''}`, href: `#/inbox/${c.id}`,
        'aria-current': c.id === state.selected ? 'true' : null,
      },
      h('span', { class: 'conv-top' },
        h('span', { class: 'conv-name' }, contactLabel(c.contact)),
        h('time', { datetime: c.last_message_at || '' }, fmtTime(c.last_message_at))),
      h('span', { class: 'conv-bottom' },
        h('span', { class: 'preview' }, c.last_message_preview || ''),
        labelChips(c.label_ids, state.labels),
        c.status !== 'open' ? h('span', { class: `chip ${c.status}` }, t(`inbox.status.${c.status}`)) : null,
        unread ? h('span', { class: 'badge', 'aria-label': t('inbox.unread', { n: formatNumber(c.unread_count) }) }, formatNumber(c.unread_count)) : null)));
  }

  function upsertConversation(update) {
    // Events carry no labels (conversation.labels does): keep the ones we know.
    const known = state.convs.get(update.id) || (state.conv?.id === update.id ? state.conv : null);
    const c = { ...update, label_ids: update.label_ids ?? known?.label_ids ?? [] };
    if (matches(c)) state.convs.set(c.id, c);
    else state.convs.delete(c.id);
    renderList();
    if (c.id === state.selected) {
      const windowChanged = state.conv && state.conv.window_open !== c.window_open;
      state.conv = c;
      renderHeader();
      if (windowChanged) renderComposer();
    }
  }

  // Reassigned away from me: it leaves the list (and the chat, if open).
  function hideConversation(id) {
    state.convs.delete(id);
    if (id === state.selected) navigate('inbox');
    else renderList();
  }

  // ---------- chat ----------
  const header = h('header', { class: 'chat-header' });
  const scroller = h('div', { class: 'messages', tabindex: '0', 'aria-label': t('inbox.messages') });
  const olderButton = button(t('inbox.load_older'), () => loadOlder(), { class: 'more', hidden: true });
  const msgList = h('ol', { class: 'msg-items', 'aria-live': 'polite', 'aria-relevant': 'additions' });
  scroller.append(olderButton, msgList);
  const composer = h('div', { class: 'composer' });
  scroller.addEventListener('scroll', () => { if (scroller.scrollTop < 60) loadOlder(); });

  async function select(id) {
    if (id && id === state.selected) return;
    const token = ++state.convToken;
    state.convEvents = id ? [] : null;
    if (!id) {
      state.selected = null;
      layout.dataset.pane = 'list';
      replace(chat, h('div', { class: 'empty' }, t('inbox.select')));
      panel.hidden = true;
      renderList();
      return;
    }
    state.selected = id;
    state.conv = state.convs.get(id) || null;
    state.messages.clear();
    state.olderCursor = null;
    state.templateMode = false;
    state.interactiveMode = false;
    state.replyTo = null;
    state.noteOnly = false;
    layout.dataset.pane = 'chat';
    replace(chat, header, scroller, composer);
    replace(msgList);
    renderList();
    try {
      const [conv, page] = await Promise.all([
        api(`/api/conversations/${id}`),
        api(`/api/conversations/${id}/messages`, { query: { limit: 30 } }),
      ]);
      if (token !== state.convToken) return;
      // Events that came while loading may be newer than this answer: keep what they brought.
      state.conv = conv;
      const missed = state.convEvents;
      state.convEvents = null;
      missed.forEach(applyListEvent);
      for (const m of page.items) state.messages.set(m.id, merged(state.messages.get(m.id), m));
      state.olderCursor = page.next_cursor;
      renderHeader();
      renderMessages();
      renderComposer();
      if (state.panelOpen) renderPanel();
      scroller.scrollTop = scroller.scrollHeight;
      if (state.conv.unread_count > 0) markRead();
    } catch (err) {
      if (token !== state.convToken) return;
      state.convEvents = null;
      replace(chat, h('div', { class: 'empty', role: 'alert' }, err.status === 404 ? t('inbox.not_visible') : err.message));
    }
  }

  const markRead = debounce(async () => {
    const id = state.selected;
    if (!id || document.hidden) return;
    try {
      const conv = await api(`/api/conversations/${id}/read`, { method: 'POST' });
      upsertConversation(conv);
    } catch { /* not important */ }
  }, 300);

  async function loadOlder() {
    if (!state.olderCursor || state.loadingOlder) return;
    state.loadingOlder = true;
    const id = state.selected;
    try {
      const page = await api(`/api/conversations/${id}/messages`, { query: { cursor: state.olderCursor, limit: 30 } });
      if (state.selected !== id) return;
      const before = scroller.scrollHeight;
      for (const m of page.items) if (!state.messages.has(m.id)) state.messages.set(m.id, m);
      state.olderCursor = page.next_cursor;
      renderMessages();
      scroller.scrollTop += scroller.scrollHeight - before; // keep the reader's place
    } catch (err) { showError(err, t('inbox.older_messages')); } finally { state.loadingOlder = false; }
  }

  function senderLabel(id) {
    const s = state.senders.get(id);
    return s ? `${s.verified_name} ${s.display_number}` : t('inbox.business_number');
  }

  function renderHeader() {
    const c = state.conv;
    if (!c) return;
    const canAssign = auth.can('inbox:assign');
    const canSend = auth.can('inbox:send', 'inbox:assign');
    const windowText = c.window_open
      ? t('inbox.window_open', { time: fmtTime(c.window_expires_at) })
      : t('inbox.window_closed');
    const actions = [];
    if (canAssign && c.assigned_agent_id !== me.id) {
      actions.push(button(t('inbox.assign_to_me'), () => patch({ assigned_agent_id: me.id })));
    }
    if (canAssign) {
      const agentSelect = h('select', { onchange: () => patch({ assigned_agent_id: agentSelect.value || null }) },
        h('option', { value: '' }, t('inbox.unassigned')),
        agentOptions(c.assigned_agent_id).map(([id, name]) => h('option', { value: id, selected: id === c.assigned_agent_id }, name)));
      actions.push(field(t('inbox.assignee'), agentSelect));
      if (state.teams.size) {
        const teamSelect = h('select', { onchange: () => patch({ assigned_team_id: teamSelect.value || null }) },
          h('option', { value: '' }, t('inbox.no_team')),
          [...state.teams.values()].map((team) => h('option', { value: team.id, selected: team.id === c.assigned_team_id }, team.name)));
        actions.push(field(t('inbox.team'), teamSelect));
      }
    }
    const others = [...state.senders.values()].filter((s) => s.status === 'active' && s.id !== c.sender_id);
    if (canSend && others.length) {
      // Another number means another conversation with the same customer (one per sender).
      const senderSelect = h('select', { onchange: () => switchSender(c, senderSelect.value) },
        h('option', { value: c.sender_id }, senderLabel(c.sender_id)),
        others.map((s) => h('option', { value: s.id }, senderLabel(s.id))));
      actions.push(field(t('inbox.send_from'), senderSelect));
    }
    if (canSend) {
      if (c.status === 'resolved' || c.status === 'snoozed') actions.push(button(t('inbox.reopen'), () => patch({ status: 'open' })));
      if (c.status !== 'resolved') actions.push(button(t('inbox.resolve'), () => patch({ status: 'resolved' }), { class: 'primary' }));
      if (c.status !== 'snoozed') {
        const snooze = h('select', {
          onchange: () => {
            if (!snooze.value) return;
            const until = new Date(Date.now() + Number(snooze.value) * 1000).toISOString();
            patch({ status: 'snoozed', snoozed_until: until });
          },
        }, h('option', { value: '' }, t('inbox.snooze_menu')), SNOOZES.map(([key, s]) => h('option', { value: String(s) }, t(key))));
        actions.push(field(t('inbox.snooze'), snooze));
      }
    }
    if (canSend && state.labels.size) {
      actions.push(labelEditor(c, state.labels, (labelIds) => upsertConversation({ ...c, label_ids: labelIds })));
    }
    const panelToggle = button(t('inbox.contact'), () => { state.panelOpen = !state.panelOpen; renderPanel(); renderHeader(); },
      { 'aria-expanded': String(state.panelOpen), 'aria-controls': 'contact-panel' });
    replace(header,
      h('div', { class: 'chat-title' },
        button(t('inbox.back'), () => navigate('inbox'), { class: 'back link', 'aria-label': t('inbox.back_label') }),
        h('div', {},
          h('h2', {}, contactLabel(c.contact)),
          h('p', { class: 'sub' },
            h('span', {}, c.contact.phone || t('inbox.whatsapp_user', { id: c.contact.wa_user_id })), ' · ',
            h('span', { title: t('inbox.sender_title') }, t('inbox.via', { sender: senderLabel(c.sender_id) })), ' · ',
            h('span', { class: `chip ${c.status}` }, t(`inbox.status.${c.status}`)),
            c.status === 'snoozed' && c.snoozed_until ? ` ${t('inbox.until', { time: fmtTime(c.snoozed_until) })}` : '', ' · ',
            h('span', { class: c.window_open ? 'window open' : 'window closed', id: 'window-state' }, windowText))),
        panelToggle),
      rich.referralNote(c),
      h('div', { class: 'chat-actions' }, actions));
  }

  function agentOptions(current) {
    const options = [...state.agents.values()].map((a) => [a.id, a.name]);
    if (!state.agents.has(me.id)) options.unshift([me.id, t('inbox.me', { name: me.name })]);
    if (current && !options.some(([id]) => id === current)) options.push([current, t('inbox.another_agent')]);
    return options;
  }

  async function switchSender(c, senderId) {
    if (senderId === c.sender_id) return;
    try {
      const conv = await api('/api/conversations', {
        method: 'POST', body: { contact_id: c.contact.id, sender_id: senderId },
      });
      upsertConversation(conv);
      navigate(`inbox/${conv.id}`);
      toast(t('inbox.now_writing_from', { sender: senderLabel(senderId) }));
    } catch (err) { showError(err, t('inbox.sender_not_switched')); renderHeader(); }
  }

  async function patch(body) {
    try {
      const conv = await api(`/api/conversations/${state.selected}`, { method: 'PATCH', body });
      upsertConversation(conv);
      renderHeader();
      toast(t('inbox.updated'));
    } catch (err) { showError(err, t('common.not_updated')); renderHeader(); }
  }

  // ---------- messages ----------
  function renderMessages() {
    // Meta's delivery order: several messages often share one second of created_at.
    const ordered = [...state.messages.values()].filter((m) => !rich.hiddenInList(m))
      .sort((a, b) => a.conversation_seq - b.conversation_seq);
    replace(msgList, ordered.map(messageItem));
    olderButton.hidden = !state.olderCursor;
  }

  function content(m) {
    if (m.media) return mediaContent(m, (media) => upsertMessage({ ...m, media }));
    const p = m.payload || {};
    const shown = rich.richContent(m);
    if (shown) return shown;
    if (m.type === 'text') return h('p', { class: 'text' }, m.body);
    if (m.type === 'template') {
      return [h('p', { class: 'tpl-name' }, t('inbox.template_name', { name: p.template?.name || p.name || '' })), h('p', { class: 'text' }, m.body)];
    }
    const media = MEDIA[m.type];
    if (media) {
      const inner = p[m.type] || {};
      const caption = inner.caption || inner.filename || inner.emoji || inner.name || inner.address || m.body || '';
      return h('p', { class: 'media' }, h('span', { 'aria-hidden': 'true' }, `${media} `), h('strong', {}, t(`inbox.media.${m.type}`)), caption ? ` — ${caption}` : '');
    }
    if (m.type === 'interactive' || m.type === 'button') return h('p', { class: 'text' }, m.body || t('inbox.reply_of_type', { type: m.type }));
    return h('p', { class: 'unsupported' }, m.body || t('inbox.unsupported', { type: m.type }));
  }

  function authorName(id) {
    return id === me.id ? me.name : state.agents.get(id)?.name || t('inbox.an_agent');
  }

  function messageItem(m) {
    if (m.direction === 'note') return noteItem(m, authorName);
    const out = m.direction === 'outbound';
    const tick = out && TICKS[m.status];
    return h('li', { class: `msg ${out ? 'outbound' : 'inbound'}`, dataset: { id: m.id, status: m.status } },
      h('div', { class: 'bubble' },
        rich.quote(m, state.messages),
        content(m),
        rich.reactionBadges(m),
        h('div', { class: 'meta' },
          h('time', { datetime: m.created_at }, fmtTime(m.created_at)),
          tick ? h('span', { class: `tick ${m.status}`, role: 'img', 'aria-label': t(tick[1]), title: t(tick[1]), dataset: { status: m.status } }, tick[0]) : null),
        out ? outcomeNote(m) : null,
        rich.messageActions(m, { canSend: auth.can('inbox:send') && state.conv?.window_open, onReply: startReply, onReact: (x, emoji) => rich.react(state.selected, x, emoji) })));
  }

  function startReply(m) {
    state.replyTo = m;
    state.templateMode = false;
    state.interactiveMode = false;
    renderComposer();
    composer.querySelector('textarea')?.focus();
  }

  // What the agent should know about an outbound message that is not simply on its way.
  function outcomeNote(m) {
    const resend = auth.can('inbox:send') && (m.status === 'failed' || m.not_confirmed)
      ? button(t('inbox.send_again'), () => resendMessage(m), { class: 'link' })
      : null;
    if (m.status === 'failed') {
      return h('div', { class: 'msg-error', role: 'note' },
        h('p', {}, t('inbox.not_delivered', { error: `${m.error_message || t('inbox.unknown_error')}${m.error_code ? ` (${m.error_code})` : ''}` })),
        m.error_advice ? h('p', { class: 'hint' }, m.error_advice) : null, resend);
    }
    if (m.status === 'unknown') {
      const text = m.not_confirmed
        ? t('inbox.not_confirmed')
        : t('inbox.answer_lost');
      return h('div', { class: 'msg-error', role: 'note' }, h('p', {}, text), resend);
    }
    if (m.status === 'queued' && m.queue?.reason) {
      return h('p', { class: 'hint', role: 'note' }, t('inbox.waiting', { reason: m.queue.reason.replace('_', ' '), time: fmtTime(m.queue.not_before) }));
    }
    return null;
  }

  async function resendMessage(m) {
    try {
      upsertMessage(await api(`/api/conversations/${m.conversation_id}/messages/${m.id}/resend`, { method: 'POST' }));
    } catch (err) { showError(err, t('inbox.not_sent_again')); }
  }

  // The newer of two versions of a message (an outbound status never goes back), keeping the
  // file either knows (status events omit it).
  function merged(old, next) {
    if (!old) return next;
    const newer = old.direction === 'outbound' && STATUS_RANK[next.status] < STATUS_RANK[old.status] ? old : next;
    const media = newer.media || old.media || next.media;
    return media && !newer.media ? { ...newer, media } : newer;
  }

  function upsertMessage(next) {
    const old = state.messages.get(next.id);
    const m = merged(old, next);
    if (m === old) return; // stale
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
    state.messages.set(m.id, m);
    renderMessages();
    if (nearBottom || !old) scroller.scrollTop = scroller.scrollHeight;
  }

  // ---------- composer ----------
  function renderComposer() {
    const c = state.conv;
    if (!c) return;
    if (!auth.can('inbox:send')) {
      replace(composer, h('p', { class: 'notice' }, t('inbox.read_only')));
      return;
    }
    if (!state.noteOnly && (!c.window_open || state.templateMode)) {
      replace(composer, templateForm(c));
      return;
    }
    const clearReply = () => { state.replyTo = null; renderComposer(); };
    if (state.interactiveMode) {
      replace(composer, rich.replyingTo(state.replyTo, clearReply), rich.interactiveForm(c.id, {
        replyTo: state.replyTo,
        onSent: (m) => { state.interactiveMode = false; state.replyTo = null; upsertMessage(m); renderComposer(); },
        onClose: () => { state.interactiveMode = false; renderComposer(); },
      }));
      return;
    }
    const tools = composerTools(c.id, {
      replyAllowed: c.window_open,
      canTypeToCustomer: () => Boolean(state.conv?.window_open),
    });
    const text = h('textarea', { rows: 2, name: 'text', placeholder: t('inbox.reply_placeholder') });
    text.value = state.draft || '';
    text.addEventListener('input', () => { state.draft = text.value; });
    const sendBtn = h('button', { type: 'submit', class: 'primary' }, t('inbox.send'));
    const form = h('form', {
      class: 'compose-text',
      onsubmit: async (e) => {
        e.preventDefault();
        const value = text.value.trim();
        if (!value) return;
        const shortcut = tools.pendingShortcut(value);
        if (shortcut) { tools.expand(shortcut); return; }
        sendBtn.disabled = true;
        try {
          const m = tools.isNote()
            ? await addNote(c.id, value, tools.mentionIds(value))
            : await api(`/api/conversations/${c.id}/messages`, { method: 'POST', body: { type: 'text', text: value, reply_to_message_id: state.replyTo?.id } });
          state.draft = '';
          if (state.replyTo) { state.replyTo = null; renderComposer(); }
          text.value = '';
          tools.reset();
          upsertMessage(m);
        } catch (err) {
          if (err instanceof ApiError && err.code === 'template_required') {
            state.conv = { ...state.conv, window_open: false };
            toast(t('inbox.window_closed_toast'), 'error');
            renderHeader();
            renderComposer();
            return;
          }
          showError(err, t('inbox.not_sent'));
        } finally { sendBtn.disabled = false; }
        text.focus();
      },
    },
    tools.modes,
    field(t('inbox.reply'), text),
    tools.suggestions,
    h('div', { class: 'row' },
      c.window_open
        ? button(t('inbox.use_template'), () => { state.templateMode = true; state.noteOnly = false; renderComposer(); }, { class: 'link' })
        : button(t('inbox.back_to_template'), () => { state.noteOnly = false; renderComposer(); }, { class: 'link' }),
      c.window_open ? rich.interactiveToggle(() => { state.interactiveMode = true; renderComposer(); }) : null,
      c.window_open ? attachControl(c, upsertMessage) : null,
      sendBtn));
    tools.attach(text);
    text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
    });
    replace(composer, rich.replyingTo(state.replyTo, clearReply), form);
  }

  function templateForm(c) {
    const wrap = h('form', { class: 'compose-template', 'aria-label': t('inbox.send_template_label') });
    const notice = c.window_open
      ? null
      : h('p', { class: 'notice', role: 'status' }, t('inbox.window_closed_notice'));
    const approved = (state.templates || []).filter((t) => t.status === 'APPROVED');
    if (state.templates === null) {
      loadTemplates().then(renderComposer);
      replace(wrap, notice, h('p', {}, t('inbox.loading_templates')));
      return wrap;
    }
    if (!approved.length) {
      replace(wrap, notice, h('p', { class: 'notice' }, t('inbox.no_templates')));
      return wrap;
    }
    const picker = h('select', { name: 'template' }, approved.map((tpl, i) => h('option', { value: String(i) }, `${tpl.name} (${tpl.language})`)));
    const params = h('div', { class: 'params' });
    const preview = h('div', { class: 'preview-box', 'aria-live': 'polite', id: 'template-preview' });
    const sendBtn = h('button', { type: 'submit', class: 'primary' }, t('inbox.send_template'));
    let inputs = { header: [], body: [] };
    let extras = null;

    function draw() {
      const tpl = approved[Number(picker.value)];
      inputs = { header: [], body: [] };
      const rows = [];
      for (const part of ['header', 'body']) {
        for (const n of placeholders(componentText(tpl, part.toUpperCase()))) {
          const input = h('input', { type: 'text', required: true, oninput: renderPreview, dataset: { part, n: String(n) } });
          inputs[part].push(input);
          rows.push(field(t(`inbox.${part}_parameter`, { n: `{{${n}}}` }), input));
        }
      }
      extras = rich.templateExtras(tpl, renderPreview);
      rows.push(...extras.rows);
      replace(params, rows.length ? rows : h('p', { class: 'hint' }, t('inbox.no_parameters')));
      renderPreview();
    }

    function renderPreview() {
      const tpl = approved[Number(picker.value)];
      const headerText = componentText(tpl, 'HEADER');
      const footer = componentText(tpl, 'FOOTER');
      replace(preview,
        h('span', { class: 'sr-only' }, `${t('inbox.preview')}: `),
        headerText ? h('strong', {}, fill(headerText, inputs.header.map((i) => i.value))) : extras.header(),
        h('p', {}, fill(componentText(tpl, 'BODY'), inputs.body.map((i) => i.value))),
        footer ? h('small', {}, footer) : null);
    }

    picker.addEventListener('change', draw);
    wrap.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!extras.check()) return; // shown under its inputs; nothing is sent
      const tpl = approved[Number(picker.value)];
      const parameters = { body: inputs.body.map((i) => i.value) };
      if (inputs.header.length) parameters.header = inputs.header.map((i) => i.value);
      extras.collect(parameters);
      sendBtn.disabled = true;
      try {
        const m = await api(`/api/conversations/${c.id}/messages`, {
          method: 'POST', body: { type: 'template', template: { name: tpl.name, language: tpl.language, parameters } },
        });
        state.templateMode = false;
        if (m.conversation_id !== c.id) {
          // Failover: this number may not start new outreach; the next healthy one took it.
          toast(t('inbox.failed_over', { name: tpl.name }));
          navigate(`inbox/${m.conversation_id}`);
          return;
        }
        upsertMessage(m);
        toast(t('inbox.template_queued', { name: tpl.name }));
        renderComposer();
      } catch (err) { showError(err, t('inbox.template_not_sent')); } finally { sendBtn.disabled = false; }
    });
    replace(wrap, notice,
      h('div', { class: 'tpl-grid' },
        h('div', {}, field(t('inbox.template'), picker), params),
        h('div', {}, h('p', { class: 'label' }, t('inbox.preview')), preview)),
      h('div', { class: 'row' },
        c.window_open
          ? button(t('inbox.back_to_text'), () => { state.templateMode = false; renderComposer(); }, { class: 'link' })
          : button(t('inbox.write_note'), () => { state.noteOnly = true; renderComposer(); }, { class: 'link' }),
        sendBtn));
    draw();
    return wrap;
  }

  async function loadTemplates() {
    try { state.templates = auth.can('templates:read') ? await api('/api/templates') : []; } catch { state.templates = []; }
  }

  // ---------- contact panel ----------
  async function renderPanel() {
    panel.id = 'contact-panel';
    panel.hidden = !state.panelOpen;
    if (!state.panelOpen || !state.conv) return;
    const c = state.conv;
    replace(panel, h('h2', {}, t('inbox.contact')), h('p', {}, t('common.loading')));
    if (!auth.can('contacts:read:all', 'contacts:read:assigned')) {
      replace(panel, h('h2', {}, t('inbox.contact')), h('p', {}, c.contact.name), h('p', {}, c.contact.phone));
      return;
    }
    try {
      const [contact, history] = await Promise.all([
        api(`/api/contacts/${c.contact.id}`),
        api(`/api/contacts/${c.contact.id}/assignments`).catch(() => []),
      ]);
      const entries = Array.isArray(history) ? history : history.items || [];
      const name = (id) => (id ? (state.agents.get(id)?.name || (id === me.id ? me.name : t('inbox.an_agent'))) : null);
      const team = (id) => (id ? (state.teams.get(id)?.name || t('inbox.a_team')) : null);
      replace(panel,
        h('div', { class: 'panel-head' }, h('h2', {}, t('inbox.contact')),
          button(t('inbox.close'), () => { state.panelOpen = false; renderPanel(); renderHeader(); }, { class: 'link', 'aria-label': t('inbox.close_contact') })),
        h('dl', { class: 'attrs' },
          h('dt', {}, t('inbox.name')), h('dd', {}, contact.name || '—'),
          h('dt', {}, t('inbox.phone')), h('dd', {}, contact.phone),
          h('dt', {}, t('inbox.email')), h('dd', {}, contact.email || '—'),
          h('dt', {}, t('inbox.marketing')), h('dd', { id: 'consent-state' }, t(`inbox.consent.${contact.consent_state || 'unknown'}`)),
          Object.entries(contact.attributes || {}).map(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'string' ? v : JSON.stringify(v))])),
        h('h3', {}, t('inbox.tags')),
        contact.tags.length ? h('ul', { class: 'tags' }, contact.tags.map((tag) => h('li', {}, tag))) : h('p', { class: 'hint' }, t('inbox.no_tags')),
        h('h3', {}, t('inbox.assignment_history')),
        entries.length
          ? h('ol', { class: 'history' }, entries.map((a) => h('li', {},
            h('time', { datetime: a.created_at }, fmtTime(a.created_at)), ' ',
            `${a.action}: ${name(a.from_agent_id) || team(a.from_team_id) || t('inbox.pool')} → ${name(a.to_agent_id) || team(a.to_team_id) || t('inbox.pool')}`)))
          : h('p', { class: 'hint' }, t('inbox.never_assigned')));
    } catch (err) {
      replace(panel, h('h2', {}, t('inbox.contact')), h('p', { role: 'alert' }, err.message));
    }
  }

  // ---------- live events ----------
  // An event about the list; true if it was one.
  function applyListEvent({ type, payload }) {
    if (type === 'conversation.updated' && payload.conversation) upsertConversation(payload.conversation);
    else if (type === 'conversation.labels') setLabels(payload.conversation_id, payload.label_ids);
    else if (type === 'conversation.hidden') hideConversation(payload.conversation_id);
    else return false;
    return true;
  }

  function onEvent(event) {
    const { type, payload } = event.detail;
    if (applyListEvent(event.detail)) {
      state.listEvents?.push(event.detail);
      if ((payload.conversation?.id ?? payload.conversation_id) === state.selected) state.convEvents?.push(event.detail);
    } else if ((type === 'message.created' || type === 'message.status' || type === 'message.updated' || type === 'message.media') && payload.conversation_id === state.selected) {
      upsertMessage(payload.message);
      if (type === 'message.created' && payload.message.direction === 'inbound') markRead();
    } else if ((type === 'contact.assigned' || type === 'contact.consent_changed') && state.panelOpen && state.conv?.contact.id === payload.contact_id) renderPanel();
  }
  realtime.addEventListener('event', onEvent);
  const onReady = (event) => {
    if (event.detail?.resumed) return; // the replay brought everything we missed
    loadList();
    const id = state.selected;
    if (id) { state.selected = null; select(id); }
  };
  realtime.addEventListener('ready', onReady);
  const onVisible = () => { if (!document.hidden && state.conv?.unread_count) markRead(); };
  document.addEventListener('visibilitychange', onVisible);

  function setLabels(id, labelIds) {
    const known = state.convs.get(id) || (state.conv?.id === id ? state.conv : null);
    if (known) upsertConversation({ ...known, label_ids: labelIds });
  }

  async function loadLabels() {
    try { state.labels = new Map((await api('/api/labels')).map((label) => [label.id, label])); } catch { return; }
    if (state.labelId && !state.labels.has(state.labelId)) state.labelId = '';
    replace(labelSlot, state.labels.size ? field(t('toolkit.label'), labelFilter(state.labels, state.labelId, (value) => {
      state.labelId = value;
      sessionStorage.setItem('scrm.inbox.label', value);
      loadList();
    })) : null);
    renderList();
    if (state.conv) renderHeader();
  }

  // ---------- start ----------
  async function loadDirectory() {
    const jobs = [];
    if (auth.can('senders:read')) jobs.push(api('/api/senders').then((xs) => xs.forEach((s) => state.senders.set(s.id, s))));
    if (auth.can('agents:read')) jobs.push(api('/api/agents', { query: { limit: 200 } }).then((p) => p.items.forEach((a) => state.agents.set(a.id, a))));
    if (auth.can('teams:read')) jobs.push(api('/api/teams', { query: { limit: 200 } }).then((p) => p.items.forEach((t) => state.teams.set(t.id, t))));
    await Promise.allSettled(jobs);
    if (state.conv) renderHeader();
  }

  renderTabs();
  loadList();
  loadDirectory();
  loadLabels();
  select(args[0] || null);

  return {
    update(nextArgs) { select(nextArgs[0] || null); },
    permissionsChanged() { renderTabs(); loadList(); if (state.conv) { renderHeader(); renderComposer(); } },
    destroy() {
      realtime.removeEventListener('event', onEvent);
      realtime.removeEventListener('ready', onReady);
      document.removeEventListener('visibilitychange', onVisible);
    },
  };
}
