// UI strings for scripts, translated on the server (app/web/render.py JS_STRINGS) and embedded in the
// page as JSON: the browser never needs a catalogue of its own.
let strings = null;

export function t(key, params = {}) {
  if (strings === null) {
    const el = document.getElementById("plateau-strings");
    try { strings = el ? JSON.parse(el.textContent) : {}; } catch { strings = {}; }
  }
  let text = strings[key] ?? key;
  for (const [k, v] of Object.entries(params)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}
