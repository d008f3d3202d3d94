// The Segments page (docs/console.md): the serving model's learned user
// segments (GET /api/segments, i.e. ListSegments) as a chart of their sizes
// and one profile each (label, top categories with their shares, price
// band, top items as item cards), and a segment's members (POST
// /api/segments/users, i.e. ExportSegment's first page). A member opens on
// the Shopper page through the page's own state: no user id goes into a
// URL.
import { ApiError, get, post } from './api.js';
import { barChart } from './charts.js';
import { catalogCard, el, explain, facts, shareList } from './widgets.js';

// Members listed per segment: one ExportSegment page.
const MEMBERS_PAGE = 50;

// The segment to scroll to on the next drawing (set from the Shopper page).
let focusId = null;

export function focusSegment(id) {
  focusId = id;
}

async function showMembers(segment, box, openShopper) {
  const answer = await post('/api/segments/users', { segmentId: segment.id, pageSize: MEMBERS_PAGE });
  const ids = answer.page.userIds || [];
  const note = answer.more
    ? `The first ${ids.length} of ${Number(segment.members).toLocaleString()} (in id order; all of them: aisle segments export ${segment.id}). Open one on the Shopper page:`
    : `All ${ids.length}. Open one on the Shopper page:`;
  const users = el('div', { class: 'members' });
  for (const id of ids) {
    const button = el('button', { type: 'button', class: 'secondary small', 'data-user-id': id, text: id });
    button.addEventListener('click', () => openShopper(id));
    users.append(button);
  }
  box.replaceChildren(el('p', { class: 'muted note', text: ids.length ? note : 'No members now.' }), users);
}

function segmentPanel(segment, cards, showError, openShopper) {
  const panel = el('div', { class: 'panel segment', id: `segment-${segment.id}`, 'data-segment-id': String(segment.id) });
  panel.append(el('h3', { class: 'label', text: `#${segment.id} · ${segment.label}` }));
  const members = Number(segment.members);
  const trained = Number(segment.trainedMembers);
  const items = el('div', { class: 'cards-list' },
    ...(segment.topItemIds || []).map((id, k) => catalogCard(k + 1, id, cards.get(id))));
  const membersBox = el('div', { class: 'members-box' });
  const button = el('button', { type: 'button', class: 'secondary members-open', text: `Members (first ${MEMBERS_PAGE})` });
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await showMembers(segment, membersBox, openShopper);
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
  panel.append(
    facts([
      ['Members now', members.toLocaleString()],
      ['At training', trained.toLocaleString()],
      ['Price band', segment.priceBand || '— (no prices in the catalog)'],
    ]),
    el('h3', { class: 'sub', text: 'Top categories (what sets the members apart; share of their weight)' }),
    shareList(segment.topCategories, 'No categories.'),
    el('h3', { class: 'sub', text: 'Top items' }), items,
    el('div', { class: 'members-row' }, button), membersBox);
  return panel;
}

// Draws the page; `openShopper(userId)` shows a member on the Shopper page.
export async function segments(showError, openShopper) {
  const sizes = document.getElementById('sg-sizes');
  const list = document.getElementById('sg-list');
  let answer;
  try {
    answer = await get('/api/segments');
  } catch (error) {
    // FAILED_PRECONDITION: no model serving, or one trained without
    // segments; the server's message says which.
    if (!(error instanceof ApiError) || error.status !== 409) throw error;
    document.getElementById('sg-model').textContent = '';
    sizes.replaceChildren();
    list.replaceChildren(el('div', { class: 'panel unavailable', id: 'sg-none' },
      el('h3', { text: 'No segments' }), el('p', { text: explain(error) }),
      el('p', { class: 'muted', text: 'Train a model with segments: aisle train --segments K (docs/segments.md).' })));
    return;
  }
  const found = answer.segments.segments || [];
  document.getElementById('sg-model').textContent =
    `(${found.length} segments of model ${answer.segments.modelVersion})`;
  barChart(sizes, found.map((s) => `#${s.id} ${s.label}`), [
    { name: 'members now', values: found.map((s) => Number(s.members)) },
    { name: 'at training', values: found.map((s) => Number(s.trainedMembers)) },
  ], 'No segments.');
  sizes.dataset.members = JSON.stringify(Object.fromEntries(found.map((s) => [s.id, Number(s.members)])));
  const cards = new Map((answer.items || []).map((i) => [i.itemId, i]));
  list.replaceChildren(...found.map((s) => segmentPanel(s, cards, showError, openShopper)));
  if (focusId !== null) {
    const panel = document.getElementById(`segment-${focusId}`);
    focusId = null;
    if (panel) {
      panel.classList.add('focus');
      panel.scrollIntoView();
    }
  }
}
