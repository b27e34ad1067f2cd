// The place a LOCATION-header template is sent with: one set of inputs for the campaign
// builder and the inbox's template composer, checked as the API checks it
// (runtime/domain/template_params.py), and how a place is shown in their previews.
import { field, h } from '../dom.js';
import { t } from '../i18n.js';

const TEXT_MAX = 1000; // a place's name or address
const DECIMAL = /^[-+]?(\d+([.,]\d*)?|[.,]\d+)$/; // a comma too: Indonesian writes -6,1754

/** OpenStreetMap link for coordinates (a link, not tiles: the CSP allows no external images). */
export function mapLink(latitude, longitude) {
  const lat = Number(latitude).toFixed(6);
  const lon = Number(longitude).toFixed(6);
  return `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
}

/** A header's place as a preview shows it: name, address, coordinates and a map link. */
export function placeShown(place) {
  const where = [place.name, place.address].filter(Boolean).join(', ');
  return h('span', { class: 'header-preview', dataset: { type: 'location' } }, t('place.shown'), ' ',
    where ? `${where} ` : '', `(${place.latitude}, ${place.longitude}) `,
    h('a', { href: mapLink(place.latitude, place.longitude), target: '_blank', rel: 'noopener noreferrer' }, t('rich.openMap')));
}

/** Latitude -90..90, longitude -180..180, an optional name and address. ``check()`` shows
 *  what is wrong under the inputs (and marks the input ``aria-invalid``) and says whether
 *  it may be sent, ``valid()`` says so quietly; ``parameter()`` is the header parameter the
 *  API takes. */
export function placeInputs() {
  const coordinate = (example) => h('input', { inputmode: 'decimal', autocomplete: 'off', placeholder: example });
  const latitude = coordinate('-6.1754');
  const longitude = coordinate('106.8272');
  const name = h('input', { maxlength: String(TEXT_MAX) });
  const address = h('input', { maxlength: String(TEXT_MAX) });
  const problem = h('p', { class: 'field-error', role: 'alert', hidden: true });
  const text = (input) => input.value.trim();
  const number = (input) => (DECIMAL.test(text(input)) ? Number(text(input).replace(',', '.')) : NaN);
  const within = (input, limit) => Math.abs(number(input)) <= limit; // false for NaN

  function check() {
    const fault = !within(latitude, 90) ? [latitude, 'place.latitude_invalid']
      : !within(longitude, 180) ? [longitude, 'place.longitude_invalid'] : null;
    problem.hidden = !fault;
    problem.textContent = fault ? t(fault[1]) : '';
    for (const input of [latitude, longitude]) input.setAttribute('aria-invalid', String(input === fault?.[0]));
    return !fault;
  }

  for (const input of [latitude, longitude]) input.addEventListener('input', () => { if (!problem.hidden) check(); });
  return {
    box: h('fieldset', { class: 'header-location' }, h('legend', {}, t('place.title')),
      field(t('place.latitude'), latitude), field(t('place.longitude'), longitude),
      field(t('place.name'), name), field(t('place.address'), address), problem),
    check,
    valid: () => within(latitude, 90) && within(longitude, 180),
    parameter: () => ({
      type: 'location', latitude: number(latitude), longitude: number(longitude),
      ...(text(name) ? { name: text(name) } : {}), ...(text(address) ? { address: text(address) } : {}),
    }),
  };
}
