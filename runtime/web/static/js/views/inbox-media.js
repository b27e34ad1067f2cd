// Media in the inbox: previews of a message's file (image, sticker, audio, video,
// document) and the composer's attach control. Files are fetched with the bearer token and
// shown from blob: URLs (the page's CSP allows img-src / media-src 'self' blob: only).
import { api, ApiError, upload } from '../api.js';
import { auth } from '../auth.js';
import { button, h, showError } from '../dom.js';
import { formatNumber, t } from '../i18n.js';

const ACCEPT = [
  'image/jpeg', 'image/png', 'audio/aac', 'audio/amr', 'audio/mpeg', 'audio/mp4', 'audio/ogg',
  'video/mp4', 'video/3gpp', 'text/plain', 'application/pdf', 'application/msword',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  'application/vnd.ms-excel', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.ms-powerpoint',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation',
].join(',');

const blobs = new Map(); // media id → Promise of an object URL (kept for the page's life)

async function fetchFile(url) {
  const get = () => fetch(url, { headers: auth.access ? { Authorization: `Bearer ${auth.access}` } : {} });
  let res = await get();
  if (res.status === 401 && auth.signedIn) {
    await auth.refresh();
    res = await get();
  }
  if (!res.ok) throw new ApiError(res.status, 'media_unavailable', t('media.unavailable'));
  return URL.createObjectURL(await res.blob());
}

function objectUrl(media) {
  if (!blobs.has(media.id)) {
    const pending = fetchFile(media.url);
    pending.catch(() => blobs.delete(media.id)); // try again next render
    blobs.set(media.id, pending);
  }
  return blobs.get(media.id);
}

/** "1.2 MB" in the agent's locale. */
export function fileSize(bytes) {
  if (bytes === null || bytes === undefined) return '';
  const units = [['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]];
  const [unit, size] = units.find(([, s]) => bytes >= s) || ['B', 1];
  return `${formatNumber(bytes / size, { maximumFractionDigits: unit === 'B' ? 0 : 1 })} ${unit}`;
}

function preview(media) {
  const label = t(`media.kind.${media.kind}`);
  if (media.kind === 'image' || media.kind === 'sticker') {
    const img = h('img', { class: `media-${media.kind}`, alt: label });
    objectUrl(media).then((src) => { img.src = src; }, () => { img.alt = t('media.unavailable'); });
    return img;
  }
  if (media.kind === 'audio' || media.kind === 'video') {
    const player = h(media.kind, { controls: true, preload: 'metadata', class: `media-${media.kind}`, 'aria-label': label });
    objectUrl(media).then((src) => { player.src = src; }, () => player.replaceWith(t('media.unavailable')));
    return player;
  }
  const name = media.filename || label;
  return button(`📄 ${name}`, () => download(media, name), {
    class: 'media-download', title: t('media.download', { name }),
  });
}

async function download(media, name) {
  try {
    const link = h('a', { href: await objectUrl(media), download: name });
    document.body.append(link);
    link.click();
    link.remove();
  } catch (err) { showError(err, t('media.download_failed')); }
}

function waiting(media, onChanged) {
  if (media.status === 'pending') {
    return h('p', { class: 'hint media-pending', role: 'status' },
      media.attempts ? t('media.retrying', { attempts: media.attempts }) : t('media.fetching'));
  }
  return h('div', { class: 'msg-error media-failed', role: 'note' },
    h('p', {}, t('media.failed', { error: media.error || '' })),
    button(t('media.retry'), () => retry(media, onChanged), { class: 'link' }));
}

async function retry(media, onChanged) {
  try {
    onChanged(await api(`/api/media/${media.id}/retry`, { method: 'POST' }));
  } catch (err) { showError(err, t('media.retry_failed')); }
}

/** The body of a message that carries a file: its preview (or why not yet), size and
 * caption. `onMediaChanged(media)` is told of a retried fetch. */
export function mediaContent(m, onMediaChanged) {
  const media = m.media;
  const size = fileSize(media.size_bytes);
  return h('div', { class: `media-message media-${media.kind}`, dataset: { mediaStatus: media.status, mediaKind: media.kind } },
    media.status === 'stored' ? preview(media) : waiting(media, onMediaChanged),
    h('small', { class: 'hint media-facts' }, size ? `${t(`media.kind.${media.kind}`)} · ${size}` : t(`media.kind.${media.kind}`)),
    m.body ? h('p', { class: 'text caption' }, m.body) : null);
}

/** The composer's attach control: pick a file, add a caption, send; `onSent(message)`. */
export function attachControl(conversation, onSent) {
  const input = h('input', { type: 'file', accept: ACCEPT, class: 'sr-only', 'aria-label': t('media.attach') });
  const caption = h('input', { type: 'text', maxlength: 1024, placeholder: t('media.caption'), 'aria-label': t('media.caption') });
  const chosen = h('span', { class: 'hint media-chosen' });
  const progress = h('progress', { max: 1, value: 0, hidden: true });
  const send = h('button', { type: 'button', class: 'primary', disabled: true }, t('media.send'));
  const panel = h('div', { class: 'media-attach', hidden: true }, chosen, caption, progress, send,
    button(t('media.cancel'), () => reset(), { class: 'link' }));
  const reset = () => { input.value = ''; caption.value = ''; panel.hidden = true; send.disabled = true; progress.hidden = true; };
  input.addEventListener('change', () => {
    const file = input.files[0];
    if (!file) return reset();
    chosen.textContent = `${file.name} (${fileSize(file.size)})`;
    panel.hidden = false;
    send.disabled = false;
    caption.focus();
  });
  send.addEventListener('click', async () => {
    const form = new FormData();
    form.append('file', input.files[0]);
    if (caption.value.trim()) form.append('caption', caption.value.trim());
    send.disabled = true;
    progress.hidden = false;
    try {
      onSent(await upload(`/api/conversations/${conversation.id}/media`, form, (p) => { progress.value = p; }));
      reset();
    } catch (err) {
      showError(err, t('media.not_sent'));
      send.disabled = false;
      progress.hidden = true;
    }
  });
  const open = button(`📎 ${t('media.attach')}`, () => input.click(), { class: 'link attach' });
  return h('div', { class: 'media-compose' }, open, input, panel);
}
