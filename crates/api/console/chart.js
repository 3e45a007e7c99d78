// Two small charts drawn as SVG, instead of a vendored library: a bar per day and a balance
// stepping through time are all the console draws, and these ~120 lines are easier to review
// than a dependency. Colours come from console.css; each chart has a text label for screen
// readers and a <title> per mark for hover.

import { h, add, s } from './dom.js';

const WIDTH = 640;
const HEIGHT = 220;
const PAD = { top: 12, right: 12, bottom: 28, left: 64 };

/** Up to five round values from 0 (or min) to max, for the vertical axis. */
function ticks(min, max) {
  if (max === min) return [min];
  const span = max - min;
  const step0 = span / 4;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((m) => m >= step0) || step0;
  const first = Math.ceil(min / step) * step;
  const values = [];
  for (let value = first, n = 0; value <= max + step * 1e-9 && n < 8; value += step, n += 1) values.push(value);
  return values;
}

function compact(value) {
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${(value / 1e9).toFixed(1)}B`;
  if (abs >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e4) return `${(value / 1e3).toFixed(1)}k`;
  return String(Math.round(value * 100) / 100);
}

function frame(label, min, max, y) {
  const children = [];
  for (const value of ticks(min, max)) {
    const at = y(value);
    children.push(
      s('line', { class: 'grid-line', x1: PAD.left, x2: WIDTH - PAD.right, y1: at, y2: at }),
      s('text', { class: 'label', x: PAD.left - 6, y: at + 4, 'text-anchor': 'end' }, compact(value)),
    );
  }
  children.push(s('line', { class: 'axis', x1: PAD.left, x2: WIDTH - PAD.right, y1: y(min), y2: y(min) }));
  return s('svg', { class: 'chart', viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label }, children);
}

/**
 * Bars: `[{label, value, title}]`, left to right (value a Number for drawing; `title` says the
 * exact amount).
 */
export function barChart(label, bars) {
  if (bars.length === 0 || bars.every((bar) => bar.value === 0)) {
    return h('p', { class: 'chart-empty' }, 'No movements in this period.');
  }
  const max = Math.max(...bars.map((bar) => bar.value));
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const y = (value) => PAD.top + plotHeight - (value / max) * plotHeight;
  const svg = frame(label, 0, max, y);
  const slot = (WIDTH - PAD.left - PAD.right) / bars.length;
  const every = Math.ceil(bars.length / 8);
  bars.forEach((bar, index) => {
    const x = PAD.left + index * slot + slot * 0.15;
    const top = y(bar.value);
    add(svg,
      s('rect', { class: 'bar', x, y: top, width: slot * 0.7, height: Math.max(0, y(0) - top) }, s('title', {}, bar.title)),
    );
    if (index % every === 0 || index === bars.length - 1) {
      add(svg, s('text', { class: 'label', x: x + slot * 0.35, y: HEIGHT - 8, 'text-anchor': 'middle' }, bar.label));
    }
  });
  return svg;
}

/**
 * A balance through time: `[{at: Date, value, title}]`, oldest first; it holds each value until
 * the next (a balance changes only at its ledger lines), and runs on to `until`.
 */
export function stepChart(label, points, until = new Date()) {
  if (points.length === 0) return h('p', { class: 'chart-empty' }, 'No ledger lines yet.');
  const values = points.map((point) => point.value);
  const min = Math.min(0, ...values);
  const max = Math.max(0, ...values);
  const t0 = points[0].at.getTime();
  const t1 = Math.max(until.getTime(), t0 + 1);
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const x = (at) => PAD.left + ((at.getTime() - t0) / (t1 - t0)) * plotWidth;
  const y = (value) => PAD.top + plotHeight - (max === min ? 0.5 : (value - min) / (max - min)) * plotHeight;
  const svg = frame(label, min, max === min ? min + 1 : max, y);
  let path = `M ${x(points[0].at)} ${y(points[0].value)}`;
  for (const point of points.slice(1)) path += ` H ${x(point.at)} V ${y(point.value)}`;
  path += ` H ${x(new Date(t1))}`;
  const area = `${path} V ${y(Math.max(min, 0))} H ${x(points[0].at)} Z`;
  add(svg, s('path', { class: 'area', d: area }), s('path', { class: 'line', d: path }));
  for (const point of points.slice(-60)) {
    add(svg, s('circle', { class: 'dot', cx: x(point.at), cy: y(point.value), r: 2.5 }, s('title', {}, point.title)));
  }
  const day = (date) => date.toISOString().slice(5, 10);
  add(svg,
    s('text', { class: 'label', x: PAD.left, y: HEIGHT - 8 }, day(points[0].at)),
    s('text', { class: 'label', x: WIDTH - PAD.right, y: HEIGHT - 8, 'text-anchor': 'end' }, day(new Date(t1))),
  );
  return svg;
}
