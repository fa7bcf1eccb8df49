// The gate page at /gate. Staff name their gate once (kept on this device) and enter the
// gate token (kept in this tab only), which is checked at once (GET /api/gate/session).
// Then each scanned or typed code is one request: a check-in ("Let it in", the default) or
// a verify ("Only check it"), and the answer covers the screen until the next scan.

import { log } from "./common.js";
import * as api from "./gate-api.js";
import { countBlock, followCount } from "./gate-count.js";
import { OFFLINE_MORE, OfflineGate, keepPageOffline } from "./gate-offline.js";
import { Scanner, canScan } from "./gate-scanner.js";
import { signal, unlockSound, verdictOf } from "./gate-verdict.js";
import { languageSwitch, serverWords, t } from "./i18n.js";

const TOKEN_KEY = "gate:token";
const DOOR_KEY = "gate:door";
// How long a verdict stays before scanning resumes by itself: a refusal needs reading.
const RESUME_AFTER_MS = { admit: 2500, valid: 4000 };
const RESUME_AFTER_REFUSAL_MS = 6000;
// The QR still in front of the camera after its verdict is not a new scan.
const SAME_CODE_QUIET_MS = 5000;

const byId = (id) => document.getElementById(id);
const root = byId("gate");
const tokenForm = byId("token-form");
const codeForm = byId("code-form");
const codeInput = byId("code");
const verdict = byId("verdict");
let busy = false;
let resumeTimer = null;
let last = { code: "", until: 0 };
let events = [];
languageSwitch();
let following = [];
let doublesKnown = 0;

// The list this phone judges by when the network is down, and what it queued meanwhile.
const offline = new OfflineGate(showOffline);
function showOffline() {
  byId("list-fresh").textContent = offline.freshness();
  const doubles = offline.doubles();
  byId("doubles").hidden = doubles.length === 0;
  byId("doubles-list").replaceChildren(
    ...doubles.map((text) => Object.assign(document.createElement("li"), { textContent: text })),
  );
}
setInterval(showOffline, 30000);

const memory = {};
function stored(storage, key) {
  try {
    return window[storage].getItem(key) ?? memory[key] ?? "";
  } catch {
    return memory[key] ?? ""; // storage off (private mode): kept as long as this page
  }
}
function store(storage, key, value) {
  memory[key] = value;
  try {
    if (value) window[storage].setItem(key, value);
    else window[storage].removeItem(key);
  } catch {
    // Storage off: kept in memory only.
  }
}
const token = () => stored("sessionStorage", TOKEN_KEY);
const door = () => stored("localStorage", DOOR_KEY);
const mode = () => (document.querySelector('input[name="mode"]:checked')?.value === "check" ? "check" : "admit");

function announce(text) {
  const region = byId("gate-announce");
  region.textContent = "";
  setTimeout(() => (region.textContent = text), 50);
}

function fieldError(id, message) {
  byId(`${id}-error`).textContent = message;
  if (message) byId(id).setAttribute("aria-invalid", "true");
  else byId(id).removeAttribute("aria-invalid");
}

// The typed code stays in its field whatever happens here: a refused token costs no retyping.
function showToken(message = "") {
  stopCounts();
  root.dataset.state = "token";
  tokenForm.hidden = false;
  byId("checker").hidden = true;
  verdict.hidden = true;
  byId("door").value = door();
  fieldError("token", message);
  fieldError("door", "");
  (byId("door").value ? byId("token") : byId("door")).focus();
}

// Who is in, for each event this gate admits to, moving with every door's check-ins.
function followCounts() {
  stopCounts();
  const blocks = events.map((event) => {
    const block = countBlock(event);
    following.push(
      followCount(token(), event.slug, (count) => {
        block.show(count);
        // Another door found a ticket let in twice: fetch the lists, which name it.
        if ((count.doubles ?? 0) > doublesKnown) {
          doublesKnown = count.doubles;
          offline.refresh(token()).catch(() => {});
        }
      }),
    );
    return block.element;
  });
  byId("gate-counts").replaceChildren(...blocks);
}
function stopCounts() {
  for (const follower of following) follower.stop();
  following = [];
}

function showChecker() {
  root.dataset.state = "checking";
  tokenForm.hidden = true;
  byId("checker").hidden = false;
  byId("scanner").hidden = !canScan();
  const names = events.map((event) => event.name).join(", ");
  byId("gate-where").textContent = t("gate.where", { door: door() }) + (names ? ` · ${names}` : "");
  showMode();
  followCounts();
  showOffline();
  backToScanning();
}

// After the token was accepted: keep the page and the lists for a time without network.
function goOnline() {
  offline.start(token(), events);
  keepPageOffline([new URL("./vendor/zxing-library/index.min.js", import.meta.url).href]);
}

function showMode() {
  byId("check").textContent = mode() === "check" ? t("gate.checkOnly") : t("gate.letIn");
}

function backToScanning() {
  clearTimeout(resumeTimer);
  last.until = Date.now() + SAME_CODE_QUIET_MS;
  root.dataset.state = "checking";
  verdict.hidden = true;
  codeInput.focus();
}

function showVerdict(found) {
  root.dataset.state = "verdict";
  verdict.dataset.verdict = found.kind;
  byId("verdict-title").textContent = found.title;
  byId("verdict-detail").textContent = found.detail;
  byId("verdict-more").textContent = found.more;
  verdict.hidden = false;
  byId("next").focus();
  announce(`${found.title}. ${found.detail} ${found.more}`);
  signal(found.kind);
  clearTimeout(resumeTimer);
  resumeTimer = setTimeout(backToScanning, RESUME_AFTER_MS[found.kind] ?? RESUME_AFTER_REFUSAL_MS);
}

async function ask(code) {
  if (navigator.onLine !== false) {
    try {
      return mode() === "check" ? await api.check(token(), code) : await api.admit(token(), code, door());
    } catch (error) {
      const judged = await offline.judge(mode(), code, door());
      if (!judged) throw error;
      return judged;
    }
  }
  const judged = await offline.judge(mode(), code, door());
  if (!judged) throw new Error("offline, and no ticket list on this phone");
  return judged;
}

async function judge(code) {
  const answered = await ask(code);
  if (answered.status === 401) {
    store("sessionStorage", TOKEN_KEY, "");
    showToken(t("gate.tokenRefusedKept"));
    return;
  }
  if (!answered.offline) offline.noteCheckedIn(answered.body?.ticket ?? answered.body);
  const found = verdictOf(mode(), answered);
  if (answered.offline) found.more = [found.more.replace(/([^.])$/, "$1."), OFFLINE_MORE].filter(Boolean).join(" ");
  // A typed code that was let in is done; one refused stays, to be corrected.
  if (found.kind === "admit" || found.kind === "valid") codeInput.value = "";
  showVerdict(found);
}

// One request at a time; a failed connection is said in words, never left silent.
async function guarded(action) {
  if (busy) return;
  busy = true;
  root.setAttribute("aria-busy", "true");
  try {
    await action();
  } catch (error) {
    log("gate request failed", String(error));
    showVerdict({
      kind: "problem",
      title: t("gate.noConnection"),
      detail: t("gate.noConnectionDetail"),
      more: t("gate.notCheckedIn"),
    });
  } finally {
    busy = false;
    root.removeAttribute("aria-busy");
  }
}

tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  unlockSound();
  const name = byId("door").value.trim();
  const typed = byId("token").value.trim();
  fieldError("door", name ? "" : t("gate.doorRequired"));
  fieldError("token", typed ? "" : t("gate.tokenRequired"));
  if (!name || !typed) {
    byId(name ? "token" : "door").focus();
    return;
  }
  guarded(async () => {
    const answered = await api.openSession(typed);
    if (answered.status !== 200) {
      const refused = answered.status === 401 ? t("gate.tokenRefused") : serverWords(answered.body?.message, "gate.answered", { status: answered.status });
      fieldError("token", refused);
      byId("token").focus();
      return;
    }
    events = answered.body.events ?? [];
    store("localStorage", DOOR_KEY, name);
    store("sessionStorage", TOKEN_KEY, typed);
    byId("token").value = "";
    fieldError("token", "");
    showChecker();
    goOnline();
  });
});

codeForm.addEventListener("submit", (event) => {
  event.preventDefault();
  unlockSound();
  const code = codeInput.value.trim();
  if (!code) {
    fieldError("code", t("gate.codeRequired"));
    codeInput.focus();
    return;
  }
  fieldError("code", "");
  guarded(() => judge(code));
});

for (const radio of document.querySelectorAll('input[name="mode"]')) radio.addEventListener("change", showMode);
byId("next").addEventListener("click", backToScanning);
byId("forget").addEventListener("click", () => {
  scanner.stop();
  offline.stop();
  store("sessionStorage", TOKEN_KEY, "");
  showToken();
});

const scanner = new Scanner(byId("camera"), (code) => {
  const now = Date.now();
  if (busy || !verdict.hidden || (code === last.code && now < last.until)) return;
  last = { code, until: now + SAME_CODE_QUIET_MS };
  guarded(() => judge(code));
});
byId("scan").addEventListener("click", async () => {
  unlockSound();
  try {
    await scanner.start();
    byId("torch").hidden = !scanner.hasTorch;
  } catch (error) {
    log("camera unavailable", String(error));
    fieldError("code", t("gate.noCamera"));
  }
});
byId("torch").addEventListener("click", async () => {
  try {
    const on = await scanner.setTorch(!scanner.torchOn);
    byId("torch").setAttribute("aria-pressed", String(on));
  } catch (error) {
    log("torch unavailable", String(error));
    byId("torch").hidden = true;
  }
});

// A token kept from earlier in this tab is checked again before any ticket; with no
// network, the lists this phone keeps say which events it admits to.
const kept = offline.load();
if (token() && door()) {
  guarded(async () => {
    let answered;
    try {
      answered = await api.openSession(token());
    } catch (error) {
      events = await kept;
      if (!events.length) throw error;
      showChecker();
      offline.start(token(), events);
      return;
    }
    if (answered.status === 200) {
      events = answered.body.events ?? [];
      showChecker();
      goOnline();
    } else {
      store("sessionStorage", TOKEN_KEY, "");
      showToken(answered.status === 401 ? t("gate.tokenRefusedAgain") : "");
    }
  });
} else {
  showToken();
}
