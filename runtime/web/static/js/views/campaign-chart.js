// The results page's chart: a campaign's messages per time bucket as SVG lines, drawn here
// (no chart library; the CSP allows scripts and styles from this origin only: colours come
// from CSS classes, never inline styles).
import { h } from '../dom.js';
import { formatDateTime, formatNumber, t } from '../i18n.js';

const SVG = 'http://www.w3.org/2000/svg';
export const SERIES = ['queued', 'sent', 'delivered', 'read', 'replied', 'failed'];
const WIDTH = 640;
const HEIGHT = 200;
const PAD = { left: 40, right: 12, top: 10, bottom: 24 };
const MARKERS_UP_TO = 60; // buckets: beyond this, the lines alone

function svg(name, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, String(value));
  for (const child of children) el.append(child);
  return el;
}

/** A figure: the lines of `timeline` (GET …/timeline) with axes and a legend of totals. */
export function timelineChart(timeline) {
  const buckets = timeline.buckets;
  const minutes = Math.round(timeline.bucket_seconds / 60);
  const caption = h('figcaption', {}, t('campaigns.chart.caption', { minutes }));
  if (!buckets.length) {
    return h('figure', { class: 'timeline-chart' }, caption, h('p', { class: 'hint' }, t('campaigns.chart.empty')));
  }
  const top = Math.max(1, ...buckets.flatMap((b) => SERIES.map((s) => b[s])));
  const x = (i) => PAD.left + (buckets.length === 1 ? 0.5 : i / (buckets.length - 1)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const totals = Object.fromEntries(SERIES.map((s) => [s, buckets.reduce((n, b) => n + b[s], 0)]));
  const label = t('campaigns.chart.label', {
    minutes, from: formatDateTime(buckets[0].at), to: formatDateTime(buckets[buckets.length - 1].at),
  });
  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label },
    svg('title', {}, label), ...axes(buckets, top, x, y),
    ...SERIES.map((s) => line(s, buckets, x, y)));
  const legend = h('ul', { class: 'timeline-legend' }, SERIES.map((s) => h('li', { class: `series-${s}` },
    h('span', { class: 'swatch', 'aria-hidden': 'true' }),
    t('campaigns.chart.total', { series: t(`campaigns.series.${s}`), count: formatNumber(totals[s]) }))));
  return h('figure', { class: 'timeline-chart' }, caption, chart, legend);
}

function line(series, buckets, x, y) {
  const points = buckets.map((b, i) => `${x(i).toFixed(1)},${y(b[series]).toFixed(1)}`);
  const group = svg('g', { class: `series series-${series}`, 'data-series': series },
    svg('polyline', { points: points.join(' '), fill: 'none' }));
  if (buckets.length <= MARKERS_UP_TO) {
    buckets.forEach((b, i) => group.append(svg('circle', { cx: x(i).toFixed(1), cy: y(b[series]).toFixed(1), r: 2.5 },
      svg('title', {}, `${t(`campaigns.series.${series}`)} ${formatDateTime(b.at, { timeStyle: 'short' })}: ${b[series]}`))));
  }
  return group;
}

function axes(buckets, top, x, y) {
  const bottom = HEIGHT - PAD.bottom;
  const ticks = [...new Set([0, Math.floor((buckets.length - 1) / 2), buckets.length - 1])];
  return [
    svg('line', { class: 'axis', x1: PAD.left, y1: bottom, x2: WIDTH - PAD.right, y2: bottom }),
    svg('line', { class: 'axis', x1: PAD.left, y1: PAD.top, x2: PAD.left, y2: bottom }),
    svg('text', { class: 'tick', x: PAD.left - 6, y: y(top) + 4, 'text-anchor': 'end' }, formatNumber(top)),
    svg('text', { class: 'tick', x: PAD.left - 6, y: bottom + 4, 'text-anchor': 'end' }, '0'),
    ...ticks.map((i) => svg('text', { class: 'tick', x: x(i), y: HEIGHT - 6, 'text-anchor': 'middle' },
      formatDateTime(buckets[i].at, { timeStyle: 'short' }))),
  ];
}
