// Charts on the vendored uPlot (a global from vendor/uPlot.iife.min.js),
// plus an SVG gauge. Every chart sits in a <figure> whose caption says
// what it shows; the same numbers are in a table next to it.
import { el } from './app.js';

const COLORS = ['#2458c6', '#d9730d', '#1b7f4b', '#9c27b0', '#b3261e', '#00838f'];
const SVG = 'http://www.w3.org/2000/svg';

function figure(parent, caption, summary) {
  const box = el('div', { class: 'chart', role: 'img', 'aria-label': summary || caption });
  parent.append(el('figure', {}, el('figcaption', {}, caption), box));
  return box;
}

function width(box) {
  return Math.max(300, Math.floor(box.getBoundingClientRect().width || 600));
}

/** Vertical [lo, hi] bars with caps at each x, on the chart's canvas. */
function drawWhiskers(u, xs, lo, hi, color) {
  if (!lo || !hi) return;
  const { ctx } = u;
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5 * devicePixelRatio;
  const cap = 5 * devicePixelRatio;
  for (let i = 0; i < xs.length; i++) {
    if (lo[i] == null || hi[i] == null) continue;
    const x = u.valToPos(xs[i], 'x', true);
    const y0 = u.valToPos(lo[i], 'y', true);
    const y1 = u.valToPos(hi[i], 'y', true);
    ctx.beginPath();
    ctx.moveTo(x, y0); ctx.lineTo(x, y1);
    ctx.moveTo(x - cap, y0); ctx.lineTo(x + cap, y0);
    ctx.moveTo(x - cap, y1); ctx.lineTo(x + cap, y1);
    ctx.stroke();
  }
  ctx.restore();
}

/**
 * Lines over UTC days: days are 'YYYY-MM-DD', series [{label, values}],
 * each optionally with lo/hi arrays drawn as error bars (95% intervals).
 */
export function dayChart(parent, { caption, summary, days, series, percent = false, unit = '', dayLabel = 'Day (UTC)' }) {
  const box = figure(parent, caption, summary);
  const xs = days.map((d) => Date.parse(`${d}T00:00:00Z`) / 1000);
  const lowest = Math.min(0, ...series.flatMap((s) => s.lo || []));
  const highest = Math.max(0, ...series.flatMap((s) => s.hi || []));
  const opts = {
    width: width(box),
    height: 240,
    hooks: { draw: [(u) => series.forEach((s, i) => drawWhiskers(u, xs, s.lo, s.hi, COLORS[i % COLORS.length]))] },
    scales: { x: { time: true }, y: percent ? { range: [0, 1] } : { range: (u, min, max) => [Math.min(0, min, lowest), Math.max(1, max, highest) * 1.1] } },
    axes: [
      // Whole days only: ticks at 1, 2, 7 or 28-day steps, labelled MM-DD.
      { label: dayLabel, incrs: [1, 2, 7, 28].map((d) => d * 86400), values: (u, vals) => vals.map((v) => new Date(v * 1000).toISOString().slice(5, 10)) },
      { label: unit, size: 60, values: (u, vals) => vals.map((v) => (percent ? `${Math.round(v * 100)}%` : v.toLocaleString('en-US'))) },
    ],
    // The legend names the hovered day ('—' before any), never an empty "Time:".
    series: [{ label: 'Day', value: (u, v) => (v == null ? '—' : new Date(v * 1000).toISOString().slice(0, 10)) },
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        points: { show: days.length < 40 },
        value: (u, v) => (v == null ? '—' : percent ? `${(v * 100).toFixed(1)}%` : v.toLocaleString('en-US')),
      }))],
  };
  return new uPlot(opts, [xs, ...series.map((s) => s.values)], box);
}

/**
 * Bars over named categories, optionally with [lo, hi] error bars (a 95%
 * interval), drawn after the bars on the same canvas.
 */
export function barChart(parent, { caption, summary, categories, values, lo, hi, label = 'value' }) {
  const box = figure(parent, caption, summary);
  const xs = categories.map((_, i) => i);
  const whiskers = (u) => drawWhiskers(u, xs, lo, hi, '#1d2430');
  const top = Math.max(1, ...values, ...(hi || []));
  const bottom = Math.min(0, ...values, ...(lo || []));
  const opts = {
    width: width(box),
    height: 260,
    legend: { show: false },
    scales: { x: { time: false, range: [-0.6, xs.length - 0.4] }, y: { range: [bottom, top * 1.1] } },
    axes: [
      { values: (u, vals) => vals.map((v) => (Number.isInteger(v) && categories[v] !== undefined ? categories[v] : '')), splits: () => xs },
      { label, size: 60, values: (u, vals) => vals.map((v) => v.toLocaleString('en-US')) },
    ],
    series: [{}, {
      label,
      fill: 'rgba(36, 88, 198, 0.55)',
      stroke: '#2458c6',
      paths: uPlot.paths.bars({ size: [0.6, 80] }),
      points: { show: false },
    }],
    hooks: { draw: [whiskers] },
  };
  return new uPlot(opts, [xs, values], box);
}

/** A half-circle gauge of `fraction` (0..1) with a text label. */
export function gauge(parent, { fraction, label, caption }) {
  const f = Math.min(1, Math.max(0, fraction));
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 200 120');
  svg.setAttribute('width', '220');
  svg.setAttribute('class', 'gauge');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', `${caption}: ${label}`);
  const arc = (cls, to) => {
    const a = Math.PI * (1 - to);
    const p = document.createElementNS(SVG, 'path');
    p.setAttribute('d', `M 20 100 A 80 80 0 0 1 ${100 + 80 * Math.cos(a)} ${100 - 80 * Math.sin(a)}`);
    p.setAttribute('fill', 'none');
    p.setAttribute('stroke-width', '18');
    p.setAttribute('class', cls);
    return p;
  };
  svg.append(arc('track', 0.9999));
  if (f > 0) svg.append(arc(f < 0.2 ? 'fill low' : 'fill', Math.min(f, 0.9999)));
  const t = document.createElementNS(SVG, 'text');
  t.setAttribute('x', '100');
  t.setAttribute('y', '95');
  t.setAttribute('text-anchor', 'middle');
  t.textContent = `${Math.round(f * 100)}%`;
  svg.append(t);
  parent.append(el('figure', {}, el('figcaption', {}, caption), svg));
}
