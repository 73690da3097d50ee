// Shared by the dashboard's modules: the JSON API with the token from sessionStorage, DOM
// helpers, money, and the signed-in user's allowed actions (GET /me).
export const API = document.body.dataset.api;
export const TOKEN_KEY = "budgetpilot.token";
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];
export const session = { me: null };

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("data-") || key.startsWith("aria-") || key === "for" || key === "scope")
      node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// A message next to what the user clicked (``box`` is that place's status line).
export function note(box, text, ok = false) {
  box.textContent = text;
  box.classList.toggle("ok", ok);
  box.classList.toggle("error", !ok && Boolean(text));
  box.hidden = !text;
}

export const say = (text, ok = false) => note($("#message"), text, ok);

export async function api(path, options = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const headers = { Accept: "application/json", Authorization: `Bearer ${token}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method: options.method || "GET", headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(body.detail || `${response.status} ${response.statusText}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

// A file from the API (a CSV) handed to the browser as a download: fetched with the token, as
// a plain link could not carry the Authorization header. `path` is under the API (a query
// included), `options` as api()'s; the file is named as the response's Content-Disposition
// says, else `fallback`. Resolves to the name and the response (for its other headers);
// throws the API's detail on an error.
export async function download(path, fallback, options = {}) {
  const headers = { Accept: "text/csv",
                    Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}` };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method: options.method || "GET", headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.detail || `${response.status} ${response.statusText}`);
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = (disposition.match(/filename="([^"]+)"/) || [])[1] || fallback;
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
  return { name, response };
}

export const can = (action) => Boolean(session.me && session.me.actions.includes(action));

export const money = (value, currency) =>
  `${Number(value).toLocaleString("en", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`
  + ` ${currency}`;

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
export const portfolio = () => encodeURIComponent($("#portfolio").value || "default");

// The filter bar: network, account and a name search, applied to shift items and pacing rows.
export function filters() {
  return {
    network: $("#filter-network").value,
    account: $("#filter-account").value,
    search: $("#filter-search").value.trim().toLowerCase(),
  };
}

export function matches(row, f = filters()) {
  if (f.network && row.network !== f.network) return false;
  if (f.account && row.account !== f.account) return false;
  return !f.search || row.names.some((n) => (n || "").toLowerCase().includes(f.search));
}

// The portfolio picker offers what the token may see: a token limited to some portfolios gets
// only those; signed out, every configured one again.
function pickable(only) {
  const pick = $("#portfolio");
  if (!pick) return;
  pick.dataset.all ??= JSON.stringify([...pick.options].map((o) => o.value));
  const names = only || JSON.parse(pick.dataset.all);
  const was = pick.value;
  pick.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  if (names.includes(was)) pick.value = was;
}

// Sign-in, the same on every page: the token lives in this tab's sessionStorage; `page` is the
// element shown once signed in, `load` fills it after /me named the caller. Returns the
// refresh function (call it to load again, e.g. when the portfolio changes).
export function signInPage(page, load) {
  async function refresh() {
    const signedIn = Boolean(sessionStorage.getItem(TOKEN_KEY));
    $(page).hidden = !signedIn;
    $("#signout").hidden = !signedIn;
    $("#signin-fields").hidden = signedIn;
    $("#who").textContent = "";
    delete document.body.dataset.ready;
    if (!signedIn) return;
    try {
      session.me = await api("/me");
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      session.me = null;
      say(`Sign-in failed: ${error.message}`);
      return refresh();
    }
    const only = session.me.portfolios;
    $("#who").textContent = `Signed in as ${session.me.name} (${session.me.role})`
      + (only ? ` for ${only.join(", ")}` : "");
    pickable(only);
    document.body.dataset.role = session.me.role;
    await load();
    document.body.dataset.ready = "1";
  }
  $("#signin-form").onsubmit = (event) => {
    event.preventDefault();
    const token = $("#token").value.trim();
    if (!token) return say("Paste an API token first.");
    sessionStorage.setItem(TOKEN_KEY, token);
    $("#token").value = "";
    say("");
    return refresh();
  };
  $("#signout").onclick = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    session.me = null;
    pickable(null);
    say("");
    return refresh();
  };
  return refresh;
}
