// JSON client for /api: bearer token, one retry after a refresh on 401, errors as ApiError.
import { auth } from './auth.js';
import { locale, t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export const events = new EventTarget();

function url(path, query) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  }
  return u.pathname + u.search;
}

async function send(path, { method = 'GET', body, query, form } = {}) {
  const headers = { 'Accept-Language': locale() }; // error messages in the agent's language
  if (auth.access) headers.Authorization = `Bearer ${auth.access}`;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  return fetch(url(path, query), { method, headers, body: payload });
}

export async function api(path, options = {}) {
  let res = await send(path, options);
  if (res.status === 401 && auth.signedIn) {
    await auth.refresh();
    res = await send(path, options);
  }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = data?.error || {};
    if (res.status === 403) events.dispatchEvent(new Event('forbidden'));
    throw new ApiError(res.status, err.code, err.message, err.details);
  }
  return data;
}

/** Every page of a paginated list (admin pickers: agents, teams). */
export async function all(path, query = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(path, { query: { ...query, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/** Multipart upload with progress (fetch has no upload progress; XHR does). */
export function upload(path, form, onProgress) {
  const attempt = () => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', path);
    xhr.setRequestHeader('Accept-Language', locale());
    if (auth.access) xhr.setRequestHeader('Authorization', `Bearer ${auth.access}`);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => resolve(xhr);
    xhr.onerror = () => reject(new Error(t('shell.upload_network_error')));
    xhr.send(form);
  });
  return (async () => {
    let xhr = await attempt();
    if (xhr.status === 401 && auth.signedIn) {
      await auth.refresh();
      xhr = await attempt();
    }
    let data = null;
    try { data = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status >= 400) {
      const err = data?.error || {};
      throw new ApiError(xhr.status, err.code, err.message, err.details);
    }
    return data;
  })();
}
