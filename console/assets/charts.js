// Plain SVG charts: a line chart for time series and a grouped bar chart.
// Built with DOM calls (no markup strings), coloured by CSS classes c0..c3.

const NS = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, parent) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, value, anchor) {
  const t = svg('text', { x, y, 'text-anchor': anchor || 'start' }, parent);
  t.textContent = value;
  return t;
}

function niceMax(value) {
  if (!(value > 0)) return 1;
  const power = Math.pow(10, Math.floor(Math.log10(value)));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function formatNumber(v) {
  if (Math.abs(v) >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 1) + 'k';
  if (Number.isInteger(v)) return v.toFixed(0);
  return v.toFixed(Math.abs(v) >= 10 ? 1 : 2).replace(/0+$/, '');
}

function legend(container, names) {
  const box = document.createElement('div');
  box.className = 'legend';
  names.forEach((name, i) => {
    const entry = document.createElement('span');
    const swatch = document.createElement('span');
    swatch.className = 'swatch c' + (i % 4);
    entry.append(swatch, name);
    box.appendChild(entry);
  });
  container.appendChild(box);
}

// Clears `container` for a new chart. Returns the width to draw at (the
// container's own, so that text keeps its CSS size), or 0 when `empty`:
// then it shows `emptyText` instead.
function startChart(container, empty, emptyText) {
  const width = Math.max(320, container.clientWidth || 560);
  container.replaceChildren();
  if (!empty) return width;
  const p = document.createElement('p');
  p.className = 'muted';
  p.textContent = emptyText;
  container.appendChild(p);
  return 0;
}

// series: [{name, points: [[t_ms, value], ...]}]
export function lineChart(container, series, emptyText) {
  const all = series.flatMap((s) => s.points);
  const width = startChart(container, all.length < 2, emptyText || 'Collecting samples…');
  if (!width) return;
  const height = 200, left = 44, right = 10, top = 10, bottom = 24;
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]));
  const ymax = niceMax(Math.max(...all.map((p) => p[1])));
  const x = (t) => left + ((t - t0) / Math.max(1, t1 - t0)) * (width - left - right);
  const y = (v) => top + (1 - v / ymax) * (height - top - bottom);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' });
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    svg('line', { class: 'axis', x1: left, x2: width - right, y1: y(v), y2: y(v) }, root);
    text(root, left - 6, y(v) + 4, formatNumber(v), 'end');
  }
  text(root, left, height - 6, new Date(t0).toLocaleTimeString());
  text(root, width - right, height - 6, new Date(t1).toLocaleTimeString(), 'end');
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const d = s.points.map((p, k) => `${k ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
    svg('path', { class: 'line c' + (i % 4), d }, root);
  });
  container.appendChild(root);
  legend(container, series.map((s) => s.name));
}

// groups: category labels; series: [{name, values: [one per group]}]
export function barChart(container, groups, series, emptyText) {
  const width = startChart(container, groups.length === 0 || series.length === 0, emptyText || 'Nothing to show.');
  if (!width) return;
  const height = 220, left = 44, right = 10, top = 10, bottom = 36;
  const ymax = niceMax(Math.max(...series.flatMap((s) => s.values.filter((v) => v > 0)), 0));
  const y = (v) => top + (1 - v / ymax) * (height - top - bottom);
  const groupWidth = (width - left - right) / groups.length;
  const barWidth = Math.max(2, (groupWidth * 0.8) / series.length);
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' });
  for (let i = 0; i <= 4; i++) {
    const v = (ymax * i) / 4;
    svg('line', { class: 'axis', x1: left, x2: width - right, y1: y(v), y2: y(v) }, root);
    text(root, left - 6, y(v) + 4, formatNumber(v), 'end');
  }
  groups.forEach((label, g) => {
    const gx = left + g * groupWidth + groupWidth * 0.1;
    series.forEach((s, i) => {
      const v = s.values[g] || 0;
      const rect = svg('rect', {
        class: 'bar c' + (i % 4),
        x: gx + i * barWidth, y: y(v), width: barWidth - 1, height: Math.max(0, y(0) - y(v)),
      }, root);
      svg('title', {}, rect).textContent = `${s.name} ${label}: ${v}`;
    });
    const short = label.length > 22 ? label.slice(0, 21) + '…' : label;
    text(root, left + g * groupWidth + groupWidth / 2, height - bottom + 14, short, 'middle');
  });
  container.appendChild(root);
  legend(container, series.map((s) => s.name));
}

// A proportion per row with its confidence interval: a bar from low to
// high and a dot at the value, on a shared axis from 0.
// rows: [{name, value, low, high}] (fractions); shown as percentages.
export function intervalChart(container, rows, emptyText) {
  const width = startChart(container, rows.length === 0, emptyText || 'Nothing to show.');
  if (!width) return;
  const rowHeight = 26, left = 110, right = 150, top = 6, bottom = 22;
  const height = top + rows.length * rowHeight + bottom;
  const xmax = niceMax(Math.max(...rows.map((r) => r.high)));
  const x = (v) => left + (v / xmax) * (width - left - right);
  const pct = (v) => `${(100 * v).toFixed(2)}%`;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img' });
  for (let i = 0; i <= 4; i++) {
    const v = (xmax * i) / 4;
    svg('line', { class: 'axis', x1: x(v), x2: x(v), y1: top, y2: height - bottom }, root);
    text(root, x(v), height - 6, `${formatNumber(100 * v)}%`, 'middle');
  }
  rows.forEach((r, i) => {
    const y = top + i * rowHeight + rowHeight / 2;
    const row = svg('g', { class: 'interval', 'data-name': r.name }, root);
    const short = r.name.length > 16 ? r.name.slice(0, 15) + '…' : r.name;
    text(row, left - 8, y + 4, short, 'end');
    svg('rect', {
      class: 'bar c' + (i % 4), x: x(r.low), y: y - 4,
      width: Math.max(1, x(r.high) - x(r.low)), height: 8, rx: 2,
    }, row);
    svg('circle', { class: 'dot', cx: x(r.value), cy: y, r: 5 }, row);
    text(row, width - right + 8, y + 4, `${pct(r.value)} [${pct(r.low)}, ${pct(r.high)}]`);
    svg('title', {}, row).textContent = `${r.name}: ${pct(r.value)}, interval ${pct(r.low)} to ${pct(r.high)}`;
  });
  container.appendChild(root);
}
