// The browser phone: JsSIP (web/static/vendor/jssip.min.js, from npm by `make setup`) registered with the
// session's own credentials (GET /api/v1/agent/softphone: the digest hash, never a password).
//
// - One registration per agent: a Web Lock held for the page's life keeps a second tab of this browser
//   from registering (it says so); Asterisk refuses a second browser (its AOR takes one contact).
// - A ring shows with its pop: the ring (sound, answer button) waits for the pop of the same call (the
//   X-Plateau-Call header is its Linkedid), at most POP_WAIT_MS.
// - Auto-answer (a short beep, then connected) for calls whose INVITE says `Call-Info: …;answer-after=0`:
//   the calls Plateau's dialer connects, the rings the user asked for (click-to-call, supervision), and
//   queues set to auto-answer; any other call is answered by the agent.
// - Hold goes through Plateau's hold (the desk's button): the media session stays up, Asterisk plays the
//   music. JsSIP reconnects by itself after a network cut or an Asterisk restart and registers again.
import { api, h } from "./desk_util.js";

const POP_WAIT_MS = 1500;
const LOCK_PREFIX = "plateau-softphone-";
const DTMF_KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];

function loadJsSIP() {
  if (window.JsSIP) return Promise.resolve(window.JsSIP);
  return new Promise((resolve, reject) => {
    const s = document.createElement("script");
    s.src = "/static/vendor/jssip.min.js";
    s.onload = () => (window.JsSIP ? resolve(window.JsSIP) : reject(new Error("JsSIP missing")));
    s.onerror = () => reject(new Error("JsSIP missing"));
    document.head.append(s);
  });
}

// Tones from an oscillator: no sound file to ship, and the ring stops the moment the call does.
class Tones {
  constructor() { this.ctx = null; this.timer = null; this.sinkId = ""; }
  context() {
    if (!this.ctx) this.ctx = new AudioContext();
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    return this.ctx;
  }
  beep(freq, ms, gainValue = 0.15) {
    const ctx = this.context();
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = freq;
    gain.gain.value = gainValue;
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + ms / 1000);
    return new Promise((r) => { osc.onended = r; });
  }
  ring() {
    this.stop();
    const burst = () => { this.beep(440, 400); setTimeout(() => this.beep(480, 400), 450); };
    burst();
    this.timer = setInterval(burst, 3000);
  }
  stop() { clearInterval(this.timer); this.timer = null; }
}

export function createSoftphone({ root, t, popOf, onState = () => {} }) {
  const $ = (sel) => root.querySelector(sel);
  const audio = $("[data-sp-audio]");
  const tones = new Tones();
  const sp = {
    state: "starting", // starting | no_mic | other_tab | connecting | registered | unregistered | refused | failed | unavailable
    ua: null, session: null, ringing: false, muted: false, config: null,
    micId: localStorage.getItem("plateau.sp.mic") || "",
    speakerId: localStorage.getItem("plateau.sp.speaker") || "",
    stats: { invites: [], answers: [] }, // timings for the tests and the bench
    history: [], // the states it went through
  };

  function setState(state, detail = "") {
    if (state !== sp.state) sp.history.push(state);
    sp.state = state;
    const box = $("[data-sp-state]");
    box.dataset.state = state;
    box.textContent = t(`sp_${state}`, { detail });
    $("[data-sp-help]").hidden = state !== "no_mic";
    onState(state);
  }

  function renderCall() {
    const s = sp.session;
    const up = !!s && s.isEstablished();
    $("[data-sp-incoming]").hidden = !sp.ringing;
    $("[data-sp-answer]").disabled = !sp.ringing;
    $("[data-sp-decline]").disabled = !sp.ringing;
    const mute = $("[data-sp-mute]");
    mute.disabled = !up;
    mute.setAttribute("aria-pressed", sp.muted ? "true" : "false");
    mute.textContent = sp.muted ? t("sp_unmute") : t("sp_mute");
    for (const b of root.querySelectorAll("[data-dtmf]")) b.disabled = !up;
    root.dataset.call = up ? "up" : sp.ringing ? "ringing" : "none";
  }

  // --- media devices, level meter ------------------------------------------------------------------------
  let meterStream = null, meterTimer = null;
  async function startMeter() {
    stopMeter();
    try {
      meterStream = await navigator.mediaDevices.getUserMedia(micConstraints());
    } catch (exc) {
      return exc;
    }
    const ctx = tones.context();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(meterStream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const meter = $("[data-sp-level]");
    meterTimer = setInterval(() => {
      analyser.getFloatTimeDomainData(buf);
      let sum = 0;
      for (const v of buf) sum += v * v;
      meter.value = sp.muted ? 0 : Math.min(1, Math.sqrt(sum / buf.length) * 4);
    }, 100);
    return null;
  }
  function stopMeter() {
    clearInterval(meterTimer);
    if (meterStream) for (const tr of meterStream.getTracks()) tr.stop();
    meterStream = null;
  }
  const micConstraints = () => ({ audio: sp.micId ? { deviceId: { exact: sp.micId } } : true });

  async function listDevices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    fill($("[data-sp-mic]"), devices.filter((d) => d.kind === "audioinput"), sp.micId);
    const speakers = devices.filter((d) => d.kind === "audiooutput");
    const sel = $("[data-sp-speaker]");
    sel.disabled = !("setSinkId" in HTMLMediaElement.prototype) || !speakers.length;
    fill(sel, speakers, sp.speakerId);
  }
  function fill(select, devices, chosen) {
    select.replaceChildren(...devices.map((d, i) =>
      h("option", { value: d.deviceId, text: d.label || `${select.dataset.label} ${i + 1}` })));
    if (chosen && devices.some((d) => d.deviceId === chosen)) select.value = chosen;
  }

  // --- calls ---------------------------------------------------------------------------------------------
  function header(request, name) {
    try { return request.getHeader(name) || ""; } catch { return ""; }
  }

  async function waitForPop(linkedid) {
    const deadline = performance.now() + POP_WAIT_MS;
    while (performance.now() < deadline && !popOf(linkedid)) await new Promise((r) => setTimeout(r, 20));
  }

  function answer() {
    const s = sp.session;
    if (!s || !sp.ringing) return;
    sp.ringing = false;
    tones.stop();
    sp.stats.answers.push({ clickedAt: performance.now(), timeOrigin: performance.timeOrigin });
    s.answer({
      mediaConstraints: micConstraints(),
      pcConfig: { iceServers: [] }, // host candidates only: no STUN server to wait for
      rtcOfferConstraints: { offerToReceiveAudio: true },
    });
    renderCall();
  }

  function decline() {
    const s = sp.session;
    if (!s || !sp.ringing) return;
    s.terminate({ status_code: 486, reason_phrase: "Busy Here" });
  }

  function onSession({ session, originator, request }) {
    if (originator !== "remote") return;
    if (sp.session) { // one call at a time: the queue rings someone else
      session.terminate({ status_code: 486, reason_phrase: "Busy Here" });
      return;
    }
    const linkedid = header(request, "X-Plateau-Call");
    const auto = /answer-after=0/.test(header(request, "Call-Info"));
    sp.session = session;
    sp.muted = false;
    const invite = { at: performance.now(), linkedid, auto };
    sp.stats.invites.push(invite);
    session.on("peerconnection", ({ peerconnection }) => {
      peerconnection.addEventListener("track", (ev) => {
        audio.srcObject = ev.streams[0];
        if (sp.speakerId && audio.setSinkId) audio.setSinkId(sp.speakerId).catch(() => {});
        audio.play().catch(() => {});
      });
    });
    const done = () => {
      if (sp.session !== session) return;
      sp.session = null;
      sp.ringing = false;
      sp.muted = false;
      tones.stop();
      audio.srcObject = null;
      renderCall();
    };
    session.on("ended", done);
    session.on("failed", done);
    session.on("confirmed", renderCall);
    if (auto) {
      sp.ringing = true;
      tones.beep(880, 180).then(answer);
      renderCall();
      return;
    }
    waitForPop(linkedid).then(() => {
      if (sp.session !== session || session.isEnded()) return;
      invite.ringAt = performance.now();
      sp.ringing = true;
      tones.ring();
      renderCall();
      $("[data-sp-answer]").focus();
    });
  }

  function toggleMute() {
    const s = sp.session;
    if (!s || !s.isEstablished()) return;
    if (sp.muted) s.unmute({ audio: true }); else s.mute({ audio: true });
    sp.muted = !sp.muted;
    renderCall();
  }

  function dtmf(key) {
    const s = sp.session;
    if (s && s.isEstablished()) s.sendDTMF(key, { transportType: "RFC2833", duration: 160 });
  }

  // --- registration --------------------------------------------------------------------------------------
  function startUA(JsSIP, config) {
    const socket = new JsSIP.WebSocketInterface(config.ws_url);
    const ua = new JsSIP.UA({
      sockets: [socket], uri: config.uri, authorization_user: config.endpoint, ha1: config.ha1,
      realm: config.realm, display_name: config.display_name, register: true, session_timers: false,
      register_expires: 300, connection_recovery_min_interval: 1, connection_recovery_max_interval: 8,
      user_agent: "Plateau desk",
    });
    ua.on("connecting", () => { if (sp.state !== "refused") setState("connecting"); });
    ua.on("disconnected", () => { if (sp.state !== "refused") setState("connecting"); });
    ua.on("registered", () => setState("registered"));
    ua.on("unregistered", () => setState("unregistered"));
    ua.on("registrationFailed", ({ response, cause }) => {
      // 403 from the AOR's single contact: this agent's phone is registered in another browser
      if (response && response.status_code === 403) setState("refused");
      else setState("failed", cause || "");
    });
    ua.on("newRTCSession", onSession);
    ua.start();
    sp.ua = ua;
  }

  async function start() {
    renderCall();
    let config;
    try {
      config = await api("GET", "/api/v1/agent/softphone");
    } catch (exc) {
      setState("unavailable", exc.detail || String(exc));
      return sp;
    }
    sp.config = config;
    const lockName = LOCK_PREFIX + config.endpoint;
    const got = navigator.locks
      ? await new Promise((resolve) => {
        navigator.locks.request(lockName, { ifAvailable: true }, (lock) => {
          resolve(!!lock);
          return lock ? new Promise(() => {}) : undefined; // held as long as the page lives
        });
      })
      : true;
    if (!got) { setState("other_tab"); return sp; }
    const denied = await startMeter();
    if (denied) { setState("no_mic"); return sp; }
    listDevices().catch(() => {});
    let JsSIP;
    try {
      JsSIP = await loadJsSIP();
    } catch {
      setState("unavailable", "JsSIP");
      return sp;
    }
    startUA(JsSIP, config);
    return sp;
  }

  $("[data-sp-answer]").addEventListener("click", answer);
  $("[data-sp-decline]").addEventListener("click", decline);
  $("[data-sp-mute]").addEventListener("click", toggleMute);
  for (const b of root.querySelectorAll("[data-dtmf]")) b.addEventListener("click", () => dtmf(b.dataset.dtmf));
  $("[data-sp-mic]").addEventListener("change", (ev) => {
    sp.micId = ev.target.value;
    localStorage.setItem("plateau.sp.mic", sp.micId);
    startMeter();
  });
  $("[data-sp-speaker]").addEventListener("change", (ev) => {
    sp.speakerId = ev.target.value;
    localStorage.setItem("plateau.sp.speaker", sp.speakerId);
    if (audio.setSinkId) audio.setSinkId(sp.speakerId).catch(() => {});
  });
  $("[data-sp-retry]").addEventListener("click", () => window.location.reload());
  navigator.mediaDevices?.addEventListener?.("devicechange", () => listDevices().catch(() => {}));

  Object.assign(sp, { start, answer, decline, toggleMute, dtmf, keys: DTMF_KEYS });
  return sp;
}
