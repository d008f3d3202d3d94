// The page's side of the console's JSON API (docs/console.md): the bearer
// token (typed in by the user, kept in sessionStorage for this tab only,
// sent in the Authorization header, never in a URL), the per-process CSRF
// token echoed on every POST, and errors as ApiError.

const TOKEN_KEY = 'aisle.console.token';
let csrfToken = '';

// What GET /api/session said: {authRequired, experiments, segments,
// exploration}.
export const session = { authRequired: true, experiments: false, segments: false, exploration: false };

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function loadSession() {
  const answer = await fetch('/api/session', { cache: 'no-store', credentials: 'omit' });
  const json = await answer.json();
  csrfToken = json.csrfToken || '';
  session.authRequired = !!json.authRequired;
  session.experiments = !!json.experiments;
  session.segments = !!json.segments;
  session.exploration = !!json.exploration;
}

async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const bearer = token();
  if (bearer) headers.Authorization = 'Bearer ' + bearer;
  if (method === 'POST') {
    headers['Content-Type'] = 'application/json';
    headers['X-Aisle-Csrf'] = csrfToken;
  }
  const answer = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
    credentials: 'omit',
  });
  const json = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    throw new ApiError(answer.status, json.code || 'HTTP ' + answer.status,
      json.message || answer.statusText);
  }
  return json;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body || {});
