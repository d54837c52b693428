// Small helpers shared by the desk and the wallboard: DOM building (text only), REST calls with the CSRF
// header, page strings, time formatting. Nothing here ever parses a string as HTML: whatever a caller,
// an agent or a CRM record says is inserted with textContent.

// Page strings, translated on the server and embedded as JSON (<script type="application/json" id=…>).
export function loadStrings(id) {
  const node = document.getElementById(id);
  let table = {};
  try { table = node ? JSON.parse(node.textContent) : {}; } catch { table = {}; }
  return (key, params = {}) => {
    let text = table[key] ?? key;
    for (const [k, v] of Object.entries(params)) text = text.replaceAll(`{${k}}`, String(v));
    return text;
  };
}

export function loadJson(id, fallback = {}) {
  const node = document.getElementById(id);
  try { return node ? JSON.parse(node.textContent) : fallback; } catch { return fallback; }
}

// h("p", {class: "x", dataset: {id: 1}, onclick: fn}, "text", child…): children are nodes or text.
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = String(v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const [k, ...rest] = part.trim().split("=");
    if (k === name) return decodeURIComponent(rest.join("="));
  }
  return "";
}

export class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; this.detail = detail; }
}

// FastAPI errors: {"detail": "text"} or {"detail": [{"loc": [...], "msg": ...}]} → one readable line.
function detailOf(body, status) {
  const d = body && body.detail;
  if (typeof d === "string") return d;
  if (Array.isArray(d)) {
    return d.map((e) => `${(e.loc || []).filter((x) => x !== "body").join(".")}: ${e.msg}`).join("; ");
  }
  return `HTTP ${status}`;
}

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("plateau_csrf");
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network");
  }
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) throw new ApiError(r.status, detailOf(data, r.status));
  return data;
}

// Seconds → m:ss or h:mm:ss (the way wallboards show times).
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}

export const nowS = () => Date.now() / 1000;

// One timer for every "time in state" on the page: elements with data-since (epoch seconds) tick.
export function startTicker(root = document) {
  const tick = () => {
    const now = nowS();
    for (const node of root.querySelectorAll("[data-since]")) {
      const since = Number(node.dataset.since);
      node.textContent = Number.isFinite(since) && since > 0 ? duration(now - since) : "—";
    }
  };
  tick();
  return setInterval(tick, 1000);
}

// Dates: every one is shown in the centre's zone (the page's <meta name="plateau-zone">, PLATEAU_TIMEZONE),
// whatever the zone of the PC, with the same rule as the server's pages (app/web/i18n.py fmt_datetime).
export const ZONE = document.querySelector('meta[name="plateau-zone"]')?.content || undefined;
const dateLocale = (lang) => (lang === "en" ? "en-GB" : "fr-FR");

export function formatDate(iso, lang) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString(dateLocale(lang), { dateStyle: "short", timeStyle: "short", timeZone: ZONE });
}

export function formatTime(value, lang) {
  const d = value === undefined ? new Date() : new Date(value);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleTimeString(dateLocale(lang), { timeZone: ZONE });
}

// A wall-clock time typed in a datetime-local field ("2030-01-15T10:30") is the centre's: its instant.
export function zonedToIso(local) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(local || "");
  if (!m) return null;
  const asUtc = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5]);
  // The zone's offset at that instant, read back through Intl (twice: the first guess may cross a DST change).
  let t = asUtc;
  for (let i = 0; i < 2; i++) t = asUtc - offsetMs(t);
  return new Date(t).toISOString();
}

function offsetMs(t) {
  if (!ZONE) return -new Date(t).getTimezoneOffset() * 60000;
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
    timeZone: ZONE, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).formatToParts(new Date(t)).map((p) => [p.type, p.value]));
  const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return wall - Math.floor(t / 1000) * 1000;
}

// Keyboard shortcuts on Alt+letter, by physical key (ev.code), so that layouts and macOS's Option
// characters do not matter. Ignored while an IME composes.
export function shortcuts(map) {
  document.addEventListener("keydown", (ev) => {
    if (!ev.altKey || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.isComposing) return;
    const fn = map[ev.code];
    if (!fn) return;
    ev.preventDefault();
    fn(ev);
  });
}
