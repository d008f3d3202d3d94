// DOM helpers and the pieces several pages show: item cards with their
// reasons, fact lists, banners. Text always goes in as textContent.

export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child);
  }
  return node;
}

const SOURCES = {
  SOURCE_FACTOR_MODEL: 'factor model',
  SOURCE_CO_OCCURRENCE: 'co-occurrence',
  SOURCE_POPULARITY: 'popularity',
  SOURCE_TRENDING: 'trending',
  SOURCE_USER_HISTORY: 'user history',
  SOURCE_CONTENT: 'content',
  SOURCE_ITEM_SIMILARITY: 'item similarity',
  SOURCE_PEOPLE_LIKE_YOU: 'people like you',
};
export const sourceName = (s) => SOURCES[s] || String(s || 'unknown').toLowerCase();

const REASONS = {
  REASON_MATCHES_YOUR_TASTE: 'Matches their taste',
  REASON_BECAUSE_YOU_INTERACTED: 'Because they interacted with',
  REASON_BOUGHT_TOGETHER: 'Bought together with',
  REASON_SIMILAR_TO: 'Similar to',
  REASON_POPULAR: 'Popular',
  REASON_TRENDING: 'Trending',
  REASON_RECENTLY_VIEWED_BY_YOU: 'Recently viewed',
  REASON_SAME_CATEGORY: 'Same category',
  REASON_NEW_USER_FALLBACK: 'New shopper: popular items',
  REASON_PEOPLE_LIKE_YOU: 'People with similar taste',
};

export function reasonText(reason) {
  if (reason.detail) return reason.detail;
  const base = REASONS[reason.code] || String(reason.code);
  return reason.relatedItemId ? `${base} ${reason.relatedItemId}` : base;
}

export function price(value) {
  return typeof value === 'number' ? value.toFixed(2) : '';
}

export function time(ms) {
  const n = Number(ms);
  return n > 0 ? new Date(n).toLocaleString() : '—';
}

export function age(ms) {
  const n = Number(ms);
  if (!(n > 0)) return '—';
  const s = Math.max(0, (Date.now() - n) / 1000);
  if (s < 120) return `${Math.round(s)} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} days`;
}

// One recommended item: rank, title, category, price, score, source and
// reasons. `isNew`: not in the previous list for the same request.
export function itemCard(rank, rec, item, isNew) {
  const card = cardHead(rank, rec.itemId, item, isNew);
  // Every category path, for whoever checks a filter (the browser test).
  if (item) card.dataset.categories = (item.categories || []).join('|');
  const meta = el('div', { class: 'meta' });
  if (isNew) meta.append(el('span', { class: 'badge new', text: 'new' }));
  meta.append(
    el('span', { class: 'badge', text: rec.itemId }),
    el('span', { class: 'badge', text: sourceName(rec.source) }),
    `score ${Number(rec.score).toFixed(3)}`,
    item && item.categories && item.categories.length ? ` · ${item.categories[0]}` : '',
    item && item.available === false ? ' · unavailable' : '',
  );
  card.append(meta);
  if (rec.reasons && rec.reasons.length) {
    const list = el('ul', { class: 'reasons' });
    for (const r of rec.reasons) list.append(el('li', { text: reasonText(r) }));
    card.append(list);
  }
  return card;
}

// An item card's first line: rank, title (the id when the item is gone)
// and price.
function cardHead(rank, itemId, item, isNew) {
  const card = el('div', { class: 'item-card' + (isNew ? ' new' : ''), 'data-item-id': itemId });
  card.append(
    el('span', { class: 'rank', text: String(rank) }),
    el('span', { class: 'title', text: item ? item.title || itemId : itemId }),
    el('span', { class: 'price', text: item ? price(item.price) : '' }),
  );
  return card;
}

// An item's card outside a recommendation list (a segment's top items):
// rank, title, price, id and category.
export function catalogCard(rank, itemId, item) {
  const card = cardHead(rank, itemId, item, false);
  card.append(el('div', { class: 'meta' },
    el('span', { class: 'badge', text: itemId }),
    !item ? 'no longer in the catalog' : (item.categories || [])[0] || '',
    item && item.available === false ? ' · unavailable' : ''));
  return card;
}

// Category paths with their share (0..1) of a user's or a segment's
// weight: [{category, share}], each with its percentage and a meter
// scaled to the largest share of the list (shares of a few percent would
// not show on a 0..1 scale).
export function shareList(weights, emptyText) {
  if (!weights || !weights.length) return el('p', { class: 'muted', text: emptyText || '—' });
  const list = el('ul', { class: 'shares' });
  const top = Math.max(...weights.map((w) => Number(w.share) || 0)) || 1;
  for (const w of weights) {
    const share = Number(w.share) || 0;
    list.append(el('li', { 'data-category': w.category },
      el('meter', { min: '0', max: String(top), value: String(share) }),
      el('span', { class: 'share', text: `${(100 * share).toFixed(1)}%` }),
      el('span', { text: w.category })));
  }
  return list;
}

// A titled list of recommendations: answer is {response, items} from the
// API; previous (optional) the item ids of the last answer.
export function recommendationList(title, answer, previous) {
  const box = el('div', { class: 'panel list' });
  const response = answer.response;
  const cards = new Map((answer.items || []).map((i) => [i.itemId, i]));
  const head = el('h3', { text: title + ' ' });
  head.append(el('span', { class: 'muted', text: `(${sourceName(response.source)}${response.fallback ? ', fallback' : ''})` }));
  box.append(head);
  // An A/B arm's settings replace the request's diversity and exploration.
  if (response.variant && response.variant !== 'default') {
    box.append(el('p', { class: 'muted note arm', text: `A/B arm "${response.variant}": what the arm sets replaces the request's knobs` }));
  }
  if (response.fallback && response.fallbackReason) {
    box.append(el('p', { class: 'muted note', text: response.fallbackReason }));
  }
  if (!response.items.length) box.append(el('p', { class: 'muted', text: 'No items.' }));
  response.items.forEach((rec, i) => {
    const isNew = previous ? !previous.includes(rec.itemId) : false;
    box.append(itemCard(i + 1, rec, cards.get(rec.itemId), isNew));
  });
  return box;
}

export function facts(pairs) {
  const dl = el('dl', { class: 'facts' });
  for (const [k, v] of pairs) dl.append(el('dt', { text: k }), el('dd', { text: String(v) }));
  return dl;
}

export function banner(message, kind) {
  const node = document.getElementById('banner');
  if (!message) {
    node.hidden = true;
    return;
  }
  node.className = 'banner' + (kind === 'info' ? ' info' : '');
  node.textContent = message;
  node.hidden = false;
}

// A human message for an API error.
export function explain(error) {
  if (error.status === 401) return `Needs a token: ${error.message}. Enter one above.`;
  if (error.status === 403) return `Refused: ${error.message}`;
  return `${error.code || 'Error'}: ${error.message}`;
}

// Asks in the page's own dialog; resolves true when confirmed.
export function confirmAction(message) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-text').textContent = message;
  return new Promise((resolve) => {
    const ok = document.getElementById('confirm-ok');
    const cancel = document.getElementById('confirm-cancel');
    const done = (value) => {
      ok.onclick = cancel.onclick = dialog.oncancel = null;
      dialog.close();
      resolve(value);
    };
    ok.onclick = () => done(true);
    cancel.onclick = () => done(false);
    dialog.oncancel = () => done(false);
    dialog.showModal();
  });
}
