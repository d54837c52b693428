// The one WebSocket client of the UI (desk, wallboard, any live page).
//
// Server protocol (app/ws_hub.py): on connect, {"type":"snapshot","items":[...]} with everything this user
// may see, then deltas; {"type":"heartbeat"} every 15 s; the client may send "ping" and gets
// {"type":"pong"}. A connection the server closes for being slow just reconnects and resyncs.
//
// What this module guarantees to the page:
// - a visible banner (#conn-banner, role=status) while disconnected, with the next retry time;
// - reconnection with exponential backoff and full jitter (retryDelayMs: the n-th retry waits a random
//   time below 0.5 s·2^n, at most 4 s), the attempts counted again from the first once a connection has
//   delivered its snapshot;
// - a dead-connection watchdog: no message at all for `staleMs` means the socket is gone even if the
//   browser has not noticed (NAT timeout, server killed), so it is closed and reopened;
// - a LiveStore: the snapshot REPLACES the store, deltas are applied after it (see keyOf); a delta
//   carrying a `version` older than the stored item's is ignored, so a delta racing the snapshot is
//   harmless. Domain events (agent_state_changed, pop, …) reach the views as "event".
import { t } from "./i18n.js";

export class LiveStore extends EventTarget {
  constructor() { super(); this.items = new Map(); this.snapshots = 0; }

  // Key: the item's kind/type plus its identity (key, id, agent, queue or linkedid); an item with a type
  // and no identity (e.g. {"type":"pbx_link"}) is a singleton keyed by its type.
  static keyOf(item) {
    if (item == null || typeof item !== "object") return null;
    const ns = item.kind ?? item.type ?? "";
    const id = item.key ?? item.id ?? item.agent ?? item.queue ?? item.linkedid ?? null;
    if (id === null) return ns ? String(ns) : null;
    return ns ? `${ns}:${id}` : String(id);
  }

  applySnapshot(items) {
    this.items.clear();
    for (const item of Array.isArray(items) ? items : []) {
      const k = LiveStore.keyOf(item);
      if (k !== null) this.items.set(k, item);
    }
    this.snapshots += 1;
    this.dispatchEvent(new CustomEvent("snapshot", { detail: { items: [...this.items.values()] } }));
  }

  // Generic deltas: {"type":"upsert","item":{...}} / {"type":"remove","key":"..."}; any other message type
  // is handed to listeners untouched ("event"), for views that interpret domain events themselves.
  applyDelta(msg) {
    if (msg.type === "upsert" && msg.item) {
      const k = LiveStore.keyOf(msg.item);
      if (k === null) return;
      const old = this.items.get(k);
      if (old && old.version !== undefined && msg.item.version !== undefined && msg.item.version < old.version) return;
      this.items.set(k, msg.item);
    } else if (msg.type === "remove" && msg.key !== undefined) {
      this.items.delete(String(msg.key));
    }
    this.dispatchEvent(new CustomEvent("event", { detail: msg }));
  }
}

// How long the retry numbered `attempt` (0 for the first after a loss) waits: "full jitter", a uniformly
// random time in [0, min(maxMs, baseMs·2^attempt)). When a node dies, every desk on it loses its socket
// at the same instant; equal delays (or ±20 % around them) would bring them back to the survivors in
// waves, each retry step at once. Spread over the whole window, the first retries come back within
// baseMs, and a node gone for longer is tried at most every maxMs by each desk.
export function retryDelayMs(attempt, baseMs = 500, maxMs = 4000, random = Math.random) {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

export class LiveSocket {
  constructor({ url = "/ws", store = new LiveStore(), banner = document.getElementById("conn-banner"),
                status = document.getElementById("live-status"), retryBaseMs = 500, retryMaxMs = 4000,
                staleMs = 40000, pingMs = 20000 } = {}) {
    Object.assign(this, { url, store, banner, status, retryBaseMs, retryMaxMs, staleMs, pingMs });
    this.attempt = 0;  // retries since the last snapshot
    this.retryInMs = null;  // the pending retry's delay (null: none pending)
    this.ws = null;
    this.timers = {};
    this.everConnected = false;
    this.stopped = false;
    this.state = "connecting";
  }

  absoluteUrl() {
    if (/^wss?:/.test(this.url)) return this.url;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${this.url}`;
  }

  start() {
    this.stopped = false;
    this.open();
    window.addEventListener("online", () => this.retryNow());
    return this;
  }

  stop() {
    this.stopped = true;
    for (const id of Object.values(this.timers)) clearTimeout(id);
    if (this.ws) this.ws.close(1000, "page closed");
  }

  retryNow() {
    if (this.stopped || (this.ws && this.ws.readyState <= 1)) return;
    clearTimeout(this.timers.retry);
    this.retryInMs = null;
    this.open();
  }

  open() {
    this.setState("connecting");
    let ws;
    try { ws = new WebSocket(this.absoluteUrl()); } catch { this.scheduleRetry(); return; }
    this.ws = ws;
    ws.addEventListener("message", (ev) => this.onMessage(ev));
    ws.addEventListener("close", () => { if (this.ws === ws) this.onClose(); });
    ws.addEventListener("error", () => { /* a close event always follows */ });
    this.armWatchdog();
  }

  onMessage(ev) {
    this.armWatchdog();
    let msg;
    try { msg = JSON.parse(ev.data); } catch { return; }
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "batch") {  // several events sent in one frame, in order
      for (const item of Array.isArray(msg.items) ? msg.items : []) this.handle(item);
      return;
    }
    this.handle(msg);
  }

  handle(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "snapshot") {
      const wasDown = this.everConnected && this.state !== "ok";
      this.attempt = 0;
      this.store.applySnapshot(msg.items);
      this.everConnected = true;
      this.setState("ok", wasDown);
      this.schedulePing();
    } else if (msg.type === "heartbeat" || msg.type === "pong") {
      // liveness only
    } else {
      this.store.applyDelta(msg);
    }
  }

  onClose() {
    clearTimeout(this.timers.watchdog);
    clearTimeout(this.timers.ping);
    this.ws = null;
    if (!this.stopped) this.scheduleRetry();
  }

  scheduleRetry() {
    const delay = retryDelayMs(this.attempt, this.retryBaseMs, this.retryMaxMs);
    this.attempt += 1;
    this.retryInMs = delay;
    this.setState("down", false, Math.max(1, Math.round(delay / 1000)));
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => { this.retryInMs = null; this.open(); }, delay);
  }

  armWatchdog() {
    clearTimeout(this.timers.watchdog);
    this.timers.watchdog = setTimeout(() => { if (this.ws) this.ws.close(4000, "stale"); }, this.staleMs);
  }

  schedulePing() {
    clearTimeout(this.timers.ping);
    this.timers.ping = setTimeout(() => {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send("ping");
      this.schedulePing();
    }, this.pingMs);
  }

  setState(state, recovered = false, seconds = 0) {
    this.state = state;
    document.documentElement.dataset.live = state;
    if (this.status) {
      this.status.dataset.state = state;
      this.status.textContent = state === "ok" ? t("connected") : state === "down" ? t("reconnecting") : t("connecting");
    }
    if (!this.banner) return;
    if (state === "down") {
      this.banner.dataset.state = "down";
      this.banner.textContent = t("disconnected", { s: seconds });
      this.banner.hidden = false;
    } else if (state === "ok" && recovered) {
      this.banner.dataset.state = "ok";
      this.banner.textContent = t("resynced");
      this.banner.hidden = false;
      clearTimeout(this.timers.banner);
      this.timers.banner = setTimeout(() => { if (this.state === "ok") this.banner.hidden = true; }, 3000);
    } else if (state === "ok") {
      this.banner.hidden = true;
    }
    // "connecting" keeps whatever the banner says: a first connection shows nothing, a retry keeps "down".
  }
}

export function connectLive(options = {}) {
  const live = new LiveSocket(options).start();
  window.plateauLive = live; // for the views plugged in later, and for tests
  window.addEventListener("pagehide", () => live.stop());
  return live;
}
