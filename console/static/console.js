// walhook console. Plain JavaScript, no framework, no build step.
//
// Rules kept throughout: API data is only ever put in the page as text (textContent and
// DOM building; strings are never parsed as HTML); the token lives in sessionStorage unless the operator
// ticks "remember on this device"; routes that a walhook version lacks (404 without a
// field, 405, 501) are reported as "not available in this version", so the screens light
// up once the API lands.
"use strict";

(() => {
  const TOKEN_KEY = "walhook.console.token";
  const SPACE_KEY = "walhook.console.space";
  const METRICS_EVERY_MS = 5000;

  // ---- DOM helpers -----------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  // el builds an element: attrs are attributes, except "text" (textContent), "class",
  // and "on<event>" (listeners); children are nodes or strings (text nodes).
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") node.textContent = String(v);
      else if (k === "class") node.className = v;
      else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) {
      if (c === undefined || c === null || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  // cell returns a table cell labelled for the narrow (card) layout.
  function cell(label, content, cls) {
    const td = el("td", { "data-label": label, class: cls });
    if (content instanceof Node) td.append(content);
    else td.textContent = content === undefined || content === null ? "" : String(content);
    return td;
  }

  // ---- Formatting ------------------------------------------------------------------------

  function fmtBytes(n) {
    if (!Number.isFinite(n)) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + units[i];
  }

  function fmtSeconds(s) {
    if (!Number.isFinite(s)) return "—";
    if (s < 1) return Math.round(s * 1000) + " ms";
    if (s < 120) return s.toFixed(1) + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }

  function fmtRate(r) {
    if (!Number.isFinite(r)) return "—";
    return r >= 100 ? String(Math.round(r)) : r.toFixed(1);
  }

  function fmtTime(s) {
    if (!s) return "—";
    const d = new Date(s);
    if (Number.isNaN(d.getTime())) return String(s);
    return d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function short(id) {
    return typeof id === "string" && id.length > 8 ? id.slice(0, 8) + "…" : String(id ?? "");
  }

  // pretty renders a JSON text or value indented; other text as is.
  function pretty(v) {
    if (v === undefined || v === null) return "";
    if (typeof v === "string") {
      try { return JSON.stringify(JSON.parse(v), null, 2); } catch { return v; }
    }
    return JSON.stringify(v, null, 2);
  }

  const statusClass = { active: "ok", paused: "warn", disabled: "bad" };
  const outcomeClass = { delivered: "ok", http_error: "bad", timeout: "warn", connection_error: "bad", blocked: "bad" };
  const stateClass = { streaming: "ok", standby: "info", connecting: "warn", stopped: "bad", slot_lost: "bad" };

  function badge(text, cls) {
    return el("span", { class: "badge " + (cls || ""), text });
  }

  // ---- Session ---------------------------------------------------------------------------

  const session = {
    get token() { return sessionStorage.getItem(TOKEN_KEY) || localStorage.getItem(TOKEN_KEY) || ""; },
    get space() { return sessionStorage.getItem(SPACE_KEY) || localStorage.getItem(SPACE_KEY) || "default"; },
    save(token, space, remember) {
      this.forget();
      const store = remember ? localStorage : sessionStorage;
      store.setItem(TOKEN_KEY, token);
      store.setItem(SPACE_KEY, space);
    },
    forget() {
      for (const s of [sessionStorage, localStorage]) { s.removeItem(TOKEN_KEY); s.removeItem(SPACE_KEY); }
    },
  };

  // ---- API -------------------------------------------------------------------------------

  function base(space) {
    return "/api/v100/rest/spaces/" + encodeURIComponent(space ?? session.space) + "/entities/Webhooks";
  }

  // api calls the REST API and resolves to {ok, status, data, body, message}; it never
  // rejects (a network failure is status 0).
  async function api(method, path, payload, opts) {
    const token = (opts && opts.token) || session.token;
    const init = { method, headers: { Accept: "application/json" }, cache: "no-store", credentials: "omit" };
    if (token) init.headers.Authorization = "Bearer " + token;
    if (payload !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(payload);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      return { ok: false, status: 0, body: null, data: null, message: "walhook is unreachable (" + e.message + ")" };
    }
    let body = null;
    const text = await res.text();
    try { body = text ? JSON.parse(text) : null; } catch { body = null; }
    const ok = res.ok && (!body || body.success !== false);
    const message = body && typeof body.message === "string" ? body.message
      : body && typeof body.error === "string" ? body.error : res.status + " " + res.statusText;
    if (res.status === 401 && !(opts && opts.token)) signedOut("The API refused the token: sign in again.");
    return { ok, status: res.status, body, data: body && "data" in body ? body.data : body, message };
  }

  // unavailable reports whether a route is missing from this walhook version: 405, 501,
  // or a 404 that is not "this webhook does not exist".
  function unavailable(r) {
    return r.status === 405 || r.status === 501 || (r.status === 404 && !(r.body && r.body.field));
  }

  // ---- Notices ---------------------------------------------------------------------------

  function notify(kind, text) {
    const box = $("notice");
    clear(box);
    if (text) box.append(el("div", { class: kind, text }));
  }

  // keepNotice keeps the notice across the next navigation (set by an action that
  // navigates after reporting).
  let keepNotice = false;

  function navigate(hash) {
    if (location.hash === hash) { route(); return; }
    keepNotice = true;
    location.hash = hash;
  }

  // ---- Dialogs: modal, focus trapped, Escape closes, focus returns to the opener ----------

  const openers = new WeakMap();

  function openDialog(dlg, focus) {
    openers.set(dlg, document.activeElement);
    dlg.showModal();
    const target = focus || dlg.querySelector("input:not([type=hidden]), select, textarea, button");
    if (target) target.focus();
  }

  function setupDialog(dlg) {
    dlg.addEventListener("close", () => {
      const back = openers.get(dlg);
      openers.delete(dlg);
      // The close event comes a task after the dialog closed (and the browser may already
      // have put the focus back): never take it from an element it has moved to since.
      const now = document.activeElement;
      const free = !now || now === document.body || dlg.contains(now) || now === back;
      if (free && back && back.isConnected && typeof back.focus === "function") back.focus();
    });
    for (const b of dlg.querySelectorAll("[data-close]")) b.addEventListener("click", () => dlg.close(""));
    dlg.addEventListener("keydown", (e) => {
      if (e.key !== "Tab") return;
      const items = [...dlg.querySelectorAll("a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])")]
        .filter((n) => !n.disabled && n.offsetParent !== null);
      if (items.length === 0) return;
      const first = items[0], last = items[items.length - 1];
      if (e.shiftKey && document.activeElement === first) { last.focus(); e.preventDefault(); }
      else if (!e.shiftKey && document.activeElement === last) { first.focus(); e.preventDefault(); }
    });
    // A click on the backdrop (outside the dialog box) closes it too.
    dlg.addEventListener("click", (e) => { if (e.target === dlg) dlg.close(""); });
  }

  // showDetail opens the detail dialog with title and the nodes of body.
  function showDetail(title, ...nodes) {
    $("detail-title").textContent = title;
    const body = $("detail-body");
    clear(body);
    body.append(...nodes);
    openDialog($("detail-dialog"), $("detail-dialog").querySelector("[data-close]"));
  }

  function confirmAction(title, text, okLabel) {
    const dlg = $("confirm-dialog");
    $("confirm-title").textContent = title;
    $("confirm-text").textContent = text;
    $("confirm-ok").textContent = okLabel || "Confirm";
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
      dlg.returnValue = "";
      openDialog(dlg, $("confirm-ok"));
    });
  }

  // whileBusy runs fn with btn marked busy (aria-busy; a press meanwhile is ignored). It
  // does not disable btn: a disabled button drops the keyboard focus to the page, and the
  // dialog fn may open would then give it back to nothing.
  async function whileBusy(btn, fn) {
    if (btn.getAttribute("aria-busy") === "true") return;
    btn.setAttribute("aria-busy", "true");
    try { await fn(); } finally { btn.removeAttribute("aria-busy"); }
  }

  function section(title, ...nodes) {
    return [el("h3", { text: title }), ...nodes];
  }

  function facts(pairs) {
    const dl = el("dl", { class: "facts" });
    for (const [k, v] of pairs) {
      if (v === undefined) continue;
      dl.append(el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v ?? "—")));
    }
    return dl;
  }

  // ---- Reader metrics (Prometheus text format) -------------------------------------------

  // parseMetrics parses the Prometheus text exposition format into samples
  // {name, labels, value}; comments and malformed lines are skipped. Label values are
  // unescaped (\\, \", \n) in one pass.
  function parseMetrics(text) {
    const out = [];
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
      if (!m) continue;
      const labels = {};
      if (m[3]) {
        const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
        let lm;
        while ((lm = re.exec(m[3])) !== null) {
          labels[lm[1]] = lm[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
        }
      }
      const value = m[4] === "+Inf" ? Infinity : m[4] === "-Inf" ? -Infinity : m[4] === "NaN" ? NaN : Number(m[4]);
      if (Number.isNaN(value) && m[4] !== "NaN") continue; // not a sample line
      out.push({ name: m[1], labels, value });
    }
    return out;
  }

  function sum(samples, name, where) {
    let total = 0, found = false;
    for (const s of samples) {
      if (s.name !== name) continue;
      if (where && !Object.entries(where).every(([k, v]) => s.labels[k] === v)) continue;
      total += s.value;
      found = true;
    }
    return found ? total : NaN;
  }

  let lastSample = null;

  async function refreshMetrics() {
    let text;
    try {
      const res = await fetch("/metrics", { cache: "no-store", credentials: "omit" });
      if (!res.ok) throw new Error(res.status + " " + res.statusText);
      text = await res.text();
    } catch (e) {
      const st = $("m-state");
      st.className = "badge bad";
      st.textContent = "unreachable";
      return;
    }
    const samples = parseMetrics(text);
    const now = performance.now();
    const state = samples.find((s) => s.name === "walhook_reader_state" && s.value === 1);
    const st = $("m-state");
    st.textContent = state ? state.labels.state : "unknown";
    st.className = "badge " + (state ? stateClass[state.labels.state] || "" : "");
    $("m-lag").textContent = fmtBytes(sum(samples, "walhook_replication_lag_bytes"));
    $("m-lag-seconds").textContent = fmtSeconds(sum(samples, "walhook_replication_lag_seconds"));
    $("m-queue").textContent = fmtCount(sum(samples, "walhook_delivery_queue_chunks"));
    $("m-dead").textContent = fmtCount(sum(samples, "walhook_dead_letters_total"));
    const cur = {
      t: now,
      events: sum(samples, "walhook_events_raised_total"),
      delivered: sum(samples, "walhook_deliveries_total", { outcome: "delivered" }),
    };
    if (lastSample && cur.t > lastSample.t) {
      const dt = (cur.t - lastSample.t) / 1000;
      $("m-events-rate").textContent = fmtRate(Math.max(0, cur.events - lastSample.events) / dt);
      $("m-delivered-rate").textContent = fmtRate(Math.max(0, cur.delivered - lastSample.delivered) / dt);
      $("reader-cards").dataset.rates = "1";
    } else {
      $("m-events-rate").textContent = "—";
      $("m-delivered-rate").textContent = "—";
    }
    lastSample = cur;
  }

  function fmtCount(n) {
    return Number.isFinite(n) ? String(Math.round(n)) : "—";
  }

  // ---- Views and routing -----------------------------------------------------------------

  const views = ["view-webhooks", "view-webhook", "view-inbound", "view-signedout"];

  function showView(id) {
    for (const v of views) $(v).hidden = v !== id;
    const nav = id === "view-inbound" ? "inbound" : id === "view-signedout" ? "" : "webhooks";
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    }
  }

  function route() {
    if (!session.token) { signedOut(); return; }
    $("space-button").textContent = "Space: " + session.space;
    $("space-button").hidden = false;
    $("signin-button").hidden = true;
    $("signout-button").hidden = false;
    const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
    if (parts[0] === "inbound") { showView("view-inbound"); loadInbound(); return; }
    if (parts[0] === "webhooks" && parts[1]) { showWebhook(parts[1], parts[2] || "deliveries"); return; }
    showView("view-webhooks");
    loadWebhooks();
  }

  function signedOut(message) {
    $("space-button").hidden = true;
    $("signin-button").hidden = false;
    $("signout-button").hidden = true;
    showView("view-signedout");
    if (message) {
      session.forget();
      notify("warn", message);
    }
    if (!$("login-dialog").open) openLogin(message);
  }

  // openLogin asks for the token and space; signed in, the token may be left empty to
  // keep it (changing only the space).
  function openLogin(message) {
    const signedIn = !!session.token;
    $("login-title").textContent = signedIn ? "Change space or token" : "Sign in";
    $("login-token-hint").hidden = !signedIn;
    $("login-error").textContent = message || "";
    $("login-token").value = "";
    $("login-space").value = session.space;
    $("login-remember").checked = signedIn && localStorage.getItem(TOKEN_KEY) !== null;
    openDialog($("login-dialog"), signedIn ? $("login-space") : $("login-token"));
  }

  async function submitLogin(e) {
    e.preventDefault();
    const token = $("login-token").value.trim() || session.token;
    const space = $("login-space").value.trim() || "default";
    if (!token) { $("login-error").textContent = "Enter an API token."; return; }
    $("login-submit").disabled = true;
    const r = await api("GET", base(space) + "?limit=1", undefined, { token });
    $("login-submit").disabled = false;
    if (r.status === 401 || r.status === 403) { $("login-error").textContent = "walhook refused this token."; return; }
    if (!r.ok) { $("login-error").textContent = "Could not reach the API: " + r.message; return; }
    const spaceChanged = !!session.token && space !== session.space;
    session.save(token, space, $("login-remember").checked);
    $("login-dialog").close("ok");
    notify("", "");
    // A webhook page of the old space means nothing in the new one.
    if (!location.hash || location.hash === "#" || (spaceChanged && /^#\/webhooks\/./.test(location.hash))) navigate("#/webhooks");
    else route();
  }

  // ---- Webhooks list ---------------------------------------------------------------------

  let webhooksSeq = 0;

  async function loadWebhooks() {
    const seq = ++webhooksSeq;
    const r = await api("GET", base() + "?limit=1000");
    if (seq !== webhooksSeq) return;
    if (!r.ok) { if (r.status !== 401) notify("bad", "Could not list webhooks: " + r.message); return; }
    const list = Array.isArray(r.data) ? r.data : [];
    const tbody = $("webhooks-body");
    clear(tbody);
    for (const wh of list) tbody.append(webhookRow(wh));
    $("webhooks-empty").hidden = list.length > 0;
    $("webhooks-table").hidden = list.length === 0;
  }

  function eventChips(events) {
    const box = el("div", { class: "events" });
    for (const ev of events || []) box.append(el("span", { class: "chip", text: ev }));
    return box;
  }

  function webhookRow(wh) {
    const status = wh.status || "active";
    const statusCell = el("div", { class: "status" }, badge(status, statusClass[status]));
    if (wh.disabled_reason) statusCell.append(el("div", { class: "reason small", text: wh.disabled_reason }));
    const link = el("a", { href: "#/webhooks/" + encodeURIComponent(wh.id), text: wh.url });
    const toggle = status === "active"
      ? el("button", { type: "button", class: "small", "aria-label": "Pause " + wh.url, text: "Pause",
        onclick: () => setStatus(wh.id, "pause") })
      : el("button", { type: "button", class: "small", "aria-label": "Resume " + wh.url, text: "Resume",
        onclick: () => setStatus(wh.id, "resume") });
    const tr = el("tr", { "data-id": wh.id, "data-status": status, "data-name": wh.name || undefined });
    tr.append(
      cell("Status", statusCell),
      cell("Name", wh.name ? el("span", { text: wh.name }) : el("span", { class: "muted", text: "—" }), "name"),
      cell("URL", link, "url"),
      cell("Events", eventChips(wh.events)),
      cell("Signing", (wh.signing || "pipeliner") + (wh.signature ? " · signed" : "")),
      cell("Modified", fmtTime(wh.modified)),
      cell("", toggle, "act"),
    );
    return tr;
  }

  async function setStatus(id, op) {
    const r = await api("POST", base() + "/" + encodeURIComponent(id) + "/" + op);
    if (!r.ok) {
      notify("bad", unavailable(r) ? op + " is not available in this version of walhook." : op + " failed: " + r.message);
      return;
    }
    notify("ok", "Webhook " + (op === "pause" ? "paused" : "resumed") + ": status " + (r.data && r.data.status) + ".");
    route();
  }

  // ---- Create and edit -------------------------------------------------------------------

  let editing = null; // the webhook being edited, or null when creating

  function openWebhookForm(wh) {
    editing = wh || null;
    $("webhook-dialog-title").textContent = wh ? "Edit webhook" : "New webhook";
    $("wf-submit").textContent = wh ? "Save" : "Create";
    $("wf-url").value = wh ? wh.url : "";
    $("wf-events").value = wh ? (wh.events || []).join(", ") : "";
    $("wf-name").value = (wh && wh.name) || "";
    $("wf-signature").value = "";
    $("wf-signature").placeholder = wh && wh.signature ? "unchanged (" + wh.signature + ")" : "e.g. 3f2a1b4c-…";
    $("wf-signing").value = (wh && wh.signing) || "pipeliner";
    $("wf-options").value = wh ? JSON.stringify(wh.options || {}, null, 2) : "{}";
    $("wf-insecure").checked = !!(wh && wh.insecure_ssl);
    $("webhook-error").textContent = "";
    openDialog($("webhook-dialog"), $("wf-url"));
  }

  // webhookFormBody reads the create/edit form into an API body, or reports what is wrong
  // in the form and returns null.
  function webhookFormBody() {
    const events = $("wf-events").value.split(",").map((s) => s.trim()).filter(Boolean);
    let options;
    try {
      options = JSON.parse($("wf-options").value.trim() || "{}");
      if (options === null || typeof options !== "object" || Array.isArray(options)) throw new Error("not an object");
    } catch (err) {
      $("webhook-error").textContent = "Options: not a JSON object (" + err.message + ").";
      $("wf-options").focus();
      return null;
    }
    const body = { url: $("wf-url").value.trim(), events, options, signing: $("wf-signing").value,
      insecure_ssl: $("wf-insecure").checked };
    const sig = $("wf-signature").value.trim();
    if (sig) body.signature = sig;
    return body;
  }

  // focusField puts the focus on the form field an API error names.
  function focusField(field) {
    const input = { url: "wf-url", events: "wf-events", signature: "wf-signature", signing: "wf-signing", name: "wf-name" }[field];
    if (input) $(input).focus();
    else if (field && field.startsWith("options")) $("wf-options").focus();
  }

  async function submitWebhook(e) {
    e.preventDefault();
    const body = webhookFormBody();
    if (!body) return;
    // The name: set on create when given; on edit sent only when changed (null removes it).
    const name = $("wf-name").value.trim();
    if (!editing && name) body.name = name;
    if (editing && name !== (editing.name || "")) body.name = name || null;
    $("wf-submit").disabled = true;
    const r = editing
      ? await api("PATCH", base() + "/" + encodeURIComponent(editing.id), body)
      : await api("POST", base(), body);
    $("wf-submit").disabled = false;
    if (!r.ok) {
      $("webhook-error").textContent = r.message;
      focusField(r.body && r.body.field);
      return;
    }
    const wh = r.data;
    const created = !editing;
    $("webhook-dialog").close("ok");
    if (created) {
      notify("ok", "Webhook created.");
      navigate("#/webhooks/" + encodeURIComponent(wh.id));
      if (wh.signature) {
        showDetail("Webhook created",
          el("p", { text: "Copy the signature now: later responses show it masked (Reveal secret reads it again)." }),
          el("pre", { class: "secret", id: "created-signature", text: wh.signature }));
      }
    } else {
      notify("ok", "Webhook saved.");
      route();
    }
  }

  // ---- One webhook -----------------------------------------------------------------------

  let current = null; // the webhook shown in view-webhook
  let deliveries = [];
  let deliveriesSeq = 0; // the latest loadDeliveries: older answers are ignored

  async function showWebhook(id, tab) {
    showView("view-webhook");
    // Until the answer, the buttons must not act on the webhook shown before.
    if (current && current.id !== id) current = null;
    const view = $("view-webhook");
    view.setAttribute("aria-busy", "true");
    const r = await api("GET", base() + "/" + encodeURIComponent(id));
    view.removeAttribute("aria-busy");
    if (!r.ok) {
      if (r.status !== 401) notify("bad", r.status === 404 ? "No webhook " + id + " in this space." : "Could not read the webhook: " + r.message);
      return;
    }
    current = r.data;
    renderWebhook(current);
    selectTab(tab, false);
  }

  function renderWebhook(wh) {
    const status = wh.status || "active";
    // A named webhook is headed by its name (the key of walhook apply), its URL in the facts.
    $("webhook-heading").textContent = wh.name || wh.url;
    const st = $("wh-status");
    st.textContent = status;
    st.className = "badge " + (statusClass[status] || "");
    $("wh-reason").textContent = wh.disabled_reason ? wh.disabled_reason : "";
    $("wh-pause").hidden = status !== "active";
    $("wh-resume").hidden = status === "active";
    $("wh-secret").hidden = !wh.signature;
    const dl = $("wh-facts");
    clear(dl);
    const rows = [
      ["ID", el("span", { class: "mono", text: wh.id })],
      ["Name", wh.name ? el("span", { id: "wh-name", text: wh.name }) : el("span", { class: "muted", text: "— (walhook apply leaves it alone)" })],
      ["URL", el("span", { class: "wrap", text: wh.url })],
      ["Events", eventChips(wh.events)],
      ["Signing", (wh.signing || "pipeliner") + (wh.signature ? " · signature " + wh.signature : " · unsigned")],
      ["Options", el("code", { text: JSON.stringify(wh.options || {}) })],
      ["Created", fmtTime(wh.created)],
      ["Modified", fmtTime(wh.modified)],
    ];
    if (wh.disabled_at) rows.push(["Disabled at", fmtTime(wh.disabled_at)]);
    if (wh.insecure_ssl) rows.push(["TLS", "verification off (insecure_ssl)"]);
    for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", {}, v));
  }

  const tabs = { deliveries: "tab-deliveries", dead: "tab-dead", backfill: "tab-backfill" };

  function selectTab(name, focus) {
    if (!tabs[name]) name = "deliveries";
    for (const [key, id] of Object.entries(tabs)) {
      const t = $(id);
      const on = key === name;
      t.setAttribute("aria-selected", String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute("aria-controls")).hidden = !on;
      if (on && focus) t.focus();
    }
    if (name === "deliveries") loadDeliveries();
    else if (name === "dead") loadDeadLetters();
    else if (name === "backfill") openBackfillTab();
  }

  function tabKeys(e) {
    const names = Object.keys(tabs);
    const i = names.findIndex((n) => $(tabs[n]) === e.target);
    if (i < 0) return;
    let j = -1;
    if (e.key === "ArrowRight") j = (i + 1) % names.length;
    else if (e.key === "ArrowLeft") j = (i + names.length - 1) % names.length;
    else if (e.key === "Home") j = 0;
    else if (e.key === "End") j = names.length - 1;
    if (j < 0) return;
    e.preventDefault();
    selectTab(names[j], true);
  }

  // ---- Deliveries ------------------------------------------------------------------------

  async function loadDeliveries() {
    if (!current) return;
    const id = current.id;
    // Event id, entity id and outcome are searched by the API (each from an index); the
    // free text and status class filter the page here.
    const q = new URLSearchParams({ limit: "1000" });
    const eventID = $("f-event-id").value.trim();
    const entityID = $("f-entity-id").value.trim();
    const outcome = $("f-outcome").value;
    if (eventID) q.set("event_id", eventID);
    if (entityID) q.set("entity_id", entityID);
    if (outcome) q.set("status", outcome);
    const seq = ++deliveriesSeq;
    const r = await api("GET", base() + "/" + encodeURIComponent(id) + "/deliveries?" + q.toString());
    if (!current || current.id !== id || seq !== deliveriesSeq) return; // a newer search answers
    if (!r.ok) {
      deliveries = [];
      renderDeliveries();
      $("deliveries-count").textContent = unavailable(r) ? "The delivery log is not available on this instance." : "Could not read deliveries: " + r.message;
      return;
    }
    deliveries = Array.isArray(r.data) ? r.data : [];
    renderDeliveries(r.body && r.body.total);
  }

  function deliveryMatches(d) {
    const q = $("f-search").value.trim().toLowerCase();
    const outcome = $("f-outcome").value;
    const status = $("f-status").value;
    if (outcome && d.outcome !== outcome) return false;
    if (status === "none" && d.status != null) return false;
    if (status && status !== "none" && !(d.status != null && String(d.status)[0] === status)) return false;
    if (!q) return true;
    const hay = [d.delivery_id, d.outcome, d.status, d.error, d.response, d.event_id, d.entity_id,
      typeof d.request_body === "string" ? d.request_body : ""].join(" ").toLowerCase();
    return hay.includes(q);
  }

  function renderDeliveries(total) {
    const tbody = $("deliveries-body");
    clear(tbody);
    const shown = deliveries.filter(deliveryMatches);
    for (const d of shown) {
      const tr = el("tr", { "data-delivery": d.delivery_id, "data-outcome": d.outcome });
      tr.append(
        cell("Attempted", fmtTime(d.attempted_at)),
        cell("Outcome", badge(d.outcome, outcomeClass[d.outcome])),
        cell("Status", d.status == null ? "—" : String(d.status), "num"),
        cell("Delivery", el("span", { class: "mono", title: d.delivery_id, text: short(d.delivery_id) })),
        cell("Attempt", d.attempt, "num"),
        cell("Items", d.items, "num"),
        cell("Duration", fmtSeconds(d.duration_seconds), "num"),
        cell("", el("button", { type: "button", class: "small", text: "View",
          "aria-label": "View delivery " + short(d.delivery_id) + " attempt " + d.attempt,
          onclick: () => showDelivery(d) }), "act"),
      );
      tbody.append(tr);
    }
    $("deliveries-empty").hidden = shown.length > 0;
    const all = typeof total === "number" ? total : deliveries.length;
    $("deliveries-count").textContent = shown.length + " of " + deliveries.length + " attempts shown" +
      (all > deliveries.length ? " (the newest " + deliveries.length + " of " + all + ")" : "") + ".";
  }

  // requestBody returns a delivery's request body when the API keeps it (see DESIGN.md §14,
  // "request bodies are kept"); null when this version does not.
  function requestBody(d) {
    if (d.request_body !== undefined && d.request_body !== null) return d.request_body;
    if (d.request && d.request.body !== undefined && d.request.body !== null) return d.request.body;
    if (d.body !== undefined && d.body !== null) return d.body;
    return null;
  }

  // showDelivery shows one attempt with its chunk as GET …/deliveries/{delivery_id}
  // answers it: the request body while WALHOOK_PAYLOAD_RETENTION keeps it, the items'
  // event and entity ids, and every attempt of the chunk with its response.
  async function showDelivery(d) {
    const r = await api("GET", base() + "/" + encodeURIComponent(current.id) + "/deliveries/" + encodeURIComponent(d.delivery_id));
    const chunk = r.ok && r.data ? r.data : null;
    const body = chunk ? chunk.body ?? null : requestBody(d);
    const headers = d.request_headers || (d.request && d.request.headers);
    const eventIDs = (chunk && chunk.event_ids) || d.event_ids || [];
    const entities = (chunk && chunk.entities) || d.entities || [];
    const req = [
      facts([["Delivery id", el("span", { class: "mono", text: d.delivery_id })], ["Attempt", d.attempt], ["Items", d.items],
        ["Attempted", fmtTime(d.attempted_at)],
        ["Entities", entities.length ? entities.map((e) => e.entity + " " + e.entity_id).join(", ") : undefined],
        ["Event ids", eventIDs.length ? el("span", { id: "delivery-event-ids", class: "mono", text: eventIDs.join(" ") }) : undefined]]),
    ];
    if (headers) req.push(el("pre", { id: "delivery-request-headers", text: pretty(headers) }));
    req.push(body !== null
      ? el("pre", { id: "delivery-request-body", tabindex: "0", "aria-label": "Request body", text: pretty(body) })
      : el("p", { id: "delivery-request-body-missing", class: "muted",
        text: chunk ? "The request body is no longer kept (WALHOOK_PAYLOAD_RETENTION)."
          : "This version of walhook does not keep the request bodies of delivered chunks; a dead-lettered chunk's body is on the Dead letters tab." }));
    const attempts = chunk && Array.isArray(chunk.attempts) && chunk.attempts.length > 1
      ? section("All attempts of this chunk", el("ol", { id: "delivery-attempts" }, ...chunk.attempts.map((a) =>
        el("li", { text: fmtTime(a.attempted_at) + " · " + a.outcome + (a.status == null ? "" : " " + a.status) +
          " · " + fmtSeconds(a.duration_seconds) + (a.error ? " · " + a.error : "") + (a.response ? " · " + a.response.slice(0, 200) : "") }))))
      : [];
    const resp = [
      facts([["Outcome", badge(d.outcome, outcomeClass[d.outcome])], ["Status", d.status == null ? "no response" : d.status],
        ["Duration", fmtSeconds(d.duration_seconds)], ["Error", d.error || "—"]]),
      d.response ? el("pre", { id: "delivery-response-body", text: pretty(d.response) }) : el("p", { class: "muted", text: "Empty response body." }),
    ];
    showDetail("Delivery " + short(d.delivery_id) + " · attempt " + d.attempt, ...section("Request", ...req), ...section("Response", ...resp), ...attempts);
  }

  // ---- Dead letters ----------------------------------------------------------------------

  async function loadDeadLetters() {
    if (!current) return;
    const id = current.id;
    const tbody = $("dead-body");
    tbody.setAttribute("aria-busy", "true");
    const r = await api("GET", base() + "/" + encodeURIComponent(id) + "/dead-letters?limit=1000");
    if (!current || current.id !== id) return;
    tbody.removeAttribute("aria-busy");
    clear(tbody);
    if (!r.ok) {
      $("dead-count").textContent = unavailable(r) ? "Dead letters are not available on this instance." : "Could not read dead letters: " + r.message;
      $("dead-empty").hidden = true;
      return;
    }
    const list = Array.isArray(r.data) ? r.data : [];
    for (const d of list) {
      const tr = el("tr", { "data-dead": d.id });
      tr.append(
        cell("Dead since", fmtTime(d.dead_at)),
        cell("Delivery", el("span", { class: "mono", title: d.id, text: short(d.id) })),
        cell("Items", d.items, "num"),
        cell("Attempts", d.attempts, "num"),
        cell("Last failure", (d.last_status != null ? d.last_status + " " : "") + (d.last_error || "")),
        cell("", el("span", {},
          el("button", { type: "button", class: "small", text: "View", "aria-label": "View dead letter " + short(d.id),
            onclick: () => showDeadLetter(d) }),
          el("button", { type: "button", class: "small", text: "Redeliver", "aria-label": "Redeliver " + short(d.id),
            onclick: () => redeliver(d.id) })), "act"),
      );
      tbody.append(tr);
    }
    const total = r.body && typeof r.body.total === "number" ? r.body.total : list.length;
    $("dead-count").textContent = total + " dead-lettered chunk" + (total === 1 ? "" : "s") + ".";
    $("dead-empty").hidden = list.length > 0;
    $("redeliver-all").disabled = list.length === 0;
  }

  function showDeadLetter(d) {
    showDetail("Dead letter " + short(d.id),
      facts([["Delivery id", el("span", { class: "mono", text: d.id })], ["Items", d.items], ["Attempts", d.attempts],
        ["First failed", fmtTime(d.first_failed_at)], ["Dead since", fmtTime(d.dead_at)],
        ["Last status", d.last_status == null ? "no response" : d.last_status], ["Last error", d.last_error || "—"]]),
      ...section("Request body", el("pre", { id: "dead-request-body", text: pretty(d.body) })));
  }

  async function redeliver(deadID) {
    if (!current) return;
    if (!deadID && !(await confirmAction("Redeliver all dead letters?", "Every dead-lettered chunk of this webhook is queued for delivery again.", "Redeliver all"))) return;
    const r = await api("POST", base() + "/" + encodeURIComponent(current.id) + "/redeliver", deadID ? { dead_letter_id: deadID } : {});
    if (!r.ok) {
      notify("bad", unavailable(r) ? "Redeliver is not available in this version of walhook." : "Redeliver failed: " + r.message);
      return;
    }
    const n = r.data && r.data.redelivered;
    notify("ok", "Queued " + n + " dead letter" + (n === 1 ? "" : "s") + " for redelivery.");
    loadDeadLetters();
  }

  // ---- Test-send -------------------------------------------------------------------------

  // sendTest calls POST …/{id}/test (README "Test-send") and shows what the receiver did:
  // the API answers 200 whatever the receiver answered (the outcome says), 409 when no
  // subscribed entity has a row to build the sample from.
  function sendTest() {
    if (current) whileBusy($("wh-test"), () => testCurrent(current.id));
  }

  async function testCurrent(id) {
    notify("info", "Sending a test event…");
    const r = await api("POST", base() + "/" + encodeURIComponent(id) + "/test", {});
    if (!current || current.id !== id) return;
    if (unavailable(r)) {
      notify("warn", "Send test is not available in this version of walhook.");
      return;
    }
    if (!r.ok) {
      notify("bad", (r.status === 409 ? "Nothing to test with: " : "Test-send failed: ") + r.message);
      return;
    }
    const d = r.data || {};
    const good = d.outcome === "delivered";
    const summary = testSummary(d);
    notify(good ? "ok" : "bad", summary);
    showTestResult(d, summary);
  }

  function testSummary(d) {
    const latency = typeof d.latency_ms === "number" ? " in " + fmtSeconds(d.latency_ms / 1000) : "";
    if (d.outcome === "delivered") return "Test delivered: the receiver answered " + d.status + latency + ".";
    if (d.status != null) return "Test failed: the receiver answered " + d.status + latency + " (" + d.outcome + ").";
    return "Test failed (" + (d.outcome || "no outcome") + "): " + (d.error || "no response") + ".";
  }

  function showTestResult(d, summary) {
    const good = d.outcome === "delivered";
    const kids = [
      el("p", { id: "test-summary", class: "summary-line " + (good ? "ok" : "bad"), text: summary }),
      facts([
        ["Outcome", badge(d.outcome || "unknown", outcomeClass[d.outcome])],
        ["Status", el("span", { id: "test-status", text: d.status == null ? "no response" : String(d.status) })],
        ["Latency", typeof d.latency_ms === "number" ? fmtSeconds(d.latency_ms / 1000) : "—"],
        ["Error", d.error || "—"],
        ["Sample", (d.event || "?") + " of " + (d.entity || "?") + " " + (d.entity_id || "")],
        ["Event id", el("span", { class: "mono", text: d.event_id || "—" })],
        ["Delivery id", el("span", { class: "mono", text: d.delivery_id || "—" })],
      ]),
    ];
    if (d.filtered_out) {
      kids.push(el("p", { class: "summary-line warn", id: "test-filtered-out",
        text: "No recent row passes this webhook's filters; the sample is the newest row, which they would leave out: " + d.filtered_out }));
    }
    kids.push(...section("Response excerpt"),
      d.response ? el("pre", { id: "test-response", tabindex: "0", "aria-label": "Response excerpt", text: pretty(d.response) })
        : el("p", { class: "muted", text: "Empty response body." }),
      ...section("Request body sent"),
      el("pre", { id: "test-body", tabindex: "0", "aria-label": "Request body sent", text: pretty(d.body) }));
    showDetail("Test result", el("div", { id: "test-result", "data-outcome": d.outcome, "data-status": d.status == null ? "" : String(d.status) }, ...kids));
  }

  // ---- Preview (create form) -------------------------------------------------------------

  // previewWebhook calls POST …/Webhooks/preview with the form's body: nothing is stored or
  // sent; it shows the items the webhook would send for the latest rows of its entities and
  // why the other rows are filtered out.
  function previewWebhook() {
    const body = webhookFormBody();
    if (body) whileBusy($("wf-preview"), () => showPreview(body));
  }

  async function showPreview(body) {
    $("webhook-error").textContent = "";
    const r = await api("POST", base() + "/preview", body);
    if (unavailable(r)) { $("webhook-error").textContent = "Preview is not available in this version of walhook."; return; }
    if (!r.ok) {
      $("webhook-error").textContent = "Preview: " + r.message;
      focusField(r.body && r.body.field);
      return;
    }
    const d = r.data || {};
    const items = Array.isArray(d.items) ? d.items : [];
    const out = Array.isArray(d.filtered_out) ? d.filtered_out : [];
    const kids = [el("p", { id: "preview-summary", class: "summary-line " + (items.length ? "ok" : "warn"),
      text: items.length + " item" + (items.length === 1 ? "" : "s") + " would be sent, " + out.length + " row" +
        (out.length === 1 ? "" : "s") + " filtered out (the latest " + d.limit + " rows of each entity)." })];
    kids.push(...section("Items"));
    if (!items.length) kids.push(el("p", { class: "muted", text: "None." }));
    for (const it of items) {
      kids.push(el("details", { class: "preview-item" },
        el("summary", { text: (it.event || "") + " · " + (it.entity_id ?? "") }),
        el("pre", { text: pretty(it) })));
    }
    kids.push(...section("Filtered out"));
    if (!out.length) kids.push(el("p", { class: "muted", text: "None." }));
    else {
      const tbody = el("tbody", {});
      for (const f of out) {
        tbody.append(el("tr", {}, cell("Entity", f.entity), cell("Entity id", el("span", { class: "mono", text: f.entity_id })),
          cell("Event", f.event), cell("Reason", f.reason)));
      }
      kids.push(el("div", { class: "table-wrap" }, el("table", { class: "list", id: "preview-filtered" },
        el("thead", {}, el("tr", {}, ...["Entity", "Entity id", "Event", "Reason"].map((h) => el("th", { scope: "col", text: h })))),
        tbody)));
    }
    showDetail("Preview: nothing stored, nothing sent", el("div", { id: "preview-result" }, ...kids));
  }

  // ---- Backfill --------------------------------------------------------------------------

  let backfillTimer = 0;
  let backfillSeq = 0;
  const BACKFILL_POLL_MS = 1000;

  function backfillPath() {
    return base() + "/" + encodeURIComponent(current.id) + "/backfill";
  }

  // webhookEntities returns the entities a webhook's events name, in order: "Contact" for
  // Contact.Create or Contact.*; "*" and inbound keys (webhook.…) name none.
  function webhookEntities(wh) {
    const out = [];
    for (const ev of (wh && wh.events) || []) {
      const dot = ev.indexOf(".");
      if (dot <= 0 || ev.startsWith("webhook.")) continue;
      const entity = ev.slice(0, dot);
      if (!out.includes(entity)) out.push(entity);
    }
    return out;
  }

  // openBackfillTab offers the webhook's entities and shows its latest backfill.
  function openBackfillTab() {
    const box = $("bf-choices");
    clear(box);
    const entities = webhookEntities(current);
    for (const name of entities) {
      box.append(el("label", { class: "check" },
        el("input", { type: "checkbox", name: "bf-entity", value: name, checked: true }), name));
    }
    $("bf-choices-none").hidden = entities.length > 0;
    $("bf-error").textContent = "";
    loadBackfill();
  }

  // backfillBody reads the form, or reports what is wrong and returns null.
  function backfillBody() {
    const err = $("bf-error");
    err.textContent = "";
    const entities = [...document.querySelectorAll("#bf-choices input:checked")].map((c) => c.value);
    for (const s of $("bf-entities").value.split(",").map((x) => x.trim()).filter(Boolean)) {
      if (!entities.includes(s)) entities.push(s);
    }
    if (!entities.length) {
      err.textContent = "Choose or name at least one entity.";
      (document.querySelector("#bf-choices input") || $("bf-entities")).focus();
      return null;
    }
    const body = { entities };
    const f = $("bf-filter").value.trim();
    if (f) {
      try { body.filter = JSON.parse(f); } catch (e) {
        err.textContent = "Filter: not JSON (" + e.message + ").";
        $("bf-filter").focus();
        return null;
      }
    }
    const rate = $("bf-rate").value.trim();
    if (rate) {
      const n = Number(rate);
      if (!Number.isInteger(n) || n < 1 || n > 100000) {
        err.textContent = "Rate: a whole number of rows per second from 1 to 100000.";
        $("bf-rate").focus();
        return null;
      }
      body.rate = n;
    }
    return body;
  }

  async function startBackfill(e) {
    e.preventDefault();
    if (!current) return;
    const body = backfillBody();
    if (!body) return;
    let r;
    await whileBusy($("bf-start"), async () => { r = await api("POST", backfillPath(), body); });
    if (!r) return; // a start was already under way
    if (unavailable(r)) { notify("warn", "Backfill is not available in this version of walhook."); return; }
    if (!r.ok) {
      const msg = r.status === 409 ? "A backfill of this webhook is already running: wait for it or cancel it." : "Backfill refused: " + r.message;
      $("bf-error").textContent = msg;
      notify("bad", msg);
      const field = r.body && r.body.field;
      if (field === "rate") $("bf-rate").focus();
      else if (field && field.startsWith("filter")) $("bf-filter").focus();
      else if (field && field.startsWith("entities")) $("bf-entities").focus();
      if (r.status === 409) loadBackfill();
      return;
    }
    notify("ok", "Backfill started: " + body.entities.join(", ") + ".");
    showProgress(r.data);
    loadBackfill();
  }

  async function cancelBackfill() {
    if (!current) return;
    if (!(await confirmAction("Stop this backfill?", "No more rows are read; rows already read are still delivered.", "Stop backfill"))) return;
    const r = await api("DELETE", backfillPath());
    if (unavailable(r)) { notify("warn", "Backfill is not available in this version of walhook."); return; }
    notify(r.ok ? "ok" : "bad", r.ok ? "Backfill cancelled." : "Cancel failed: " + r.message);
    loadBackfill();
  }

  // loadBackfill shows the latest backfill and polls it while it runs and its tab is shown.
  async function loadBackfill() {
    clearTimeout(backfillTimer);
    if (!current) return;
    const id = current.id;
    const seq = ++backfillSeq;
    const r = await api("GET", backfillPath());
    if (seq !== backfillSeq || !current || current.id !== id || $("panel-backfill").hidden) return;
    if (unavailable(r)) {
      $("bf-progress").hidden = true;
      $("bf-error").textContent = "Backfill is not available in this version of walhook.";
      return;
    }
    if (!r.ok) {
      $("bf-progress").hidden = true;
      if (r.status !== 404) $("bf-error").textContent = "Could not read the backfill: " + r.message;
      return;
    }
    if (showProgress(r.data)) backfillTimer = setTimeout(loadBackfill, BACKFILL_POLL_MS);
  }

  const backfillStateClass = { running: "info", done: "ok", cancelled: "warn", failed: "bad" };

  // showProgress renders a backfill (README "Backfill": state, rows_done of rows_total,
  // rows_reread, eta_seconds) and reports whether it is still running.
  function showProgress(d) {
    const box = $("bf-progress");
    if (!d) { box.hidden = true; return false; }
    const done = Number(d.rows_done) || 0;
    const total = Number(d.rows_total) || 0;
    const state = String(d.state || "");
    const running = state === "running";
    // "Already running" (409) is stale once the backfill it meant has ended.
    if (!running) $("bf-error").textContent = "";
    box.hidden = false;
    box.dataset.state = state;
    box.dataset.done = String(done);
    box.dataset.total = String(total);
    const st = $("bf-state");
    st.textContent = state || "unknown";
    st.className = "badge " + (backfillStateClass[state] || "");
    // A Cancel button that hides while focused (after cancelling) hands the focus on.
    if (!running && document.activeElement === $("bf-cancel")) $("bf-start").focus();
    $("bf-cancel").hidden = !running;
    const bar = $("bf-bar");
    bar.max = total > 0 ? total : 1;
    bar.value = total > 0 ? Math.min(done, total) : (running ? 0 : 1);
    const pct = total > 0 ? Math.floor((Math.min(done, total) / total) * 100) : (running ? 0 : 100);
    $("bf-text").textContent = done + " of " + total + " rows (" + pct + "%)" +
      (running && d.eta_seconds != null ? " · about " + fmtSeconds(Number(d.eta_seconds)) + " left" : "") + " · " + (state || "unknown");
    const rows = [
      ["Entities", (d.entities || []).join(", ") || "—"],
      ["Rate", d.rate != null ? d.rate + " rows/s" : "—"],
      ["Rows read again", el("span", { id: "bf-reread", text: String(d.rows_reread ?? 0) })],
      ["ETA", running ? (d.eta_seconds != null ? fmtSeconds(Number(d.eta_seconds)) : "estimating…") : "—"],
      ["Started", fmtTime(d.created)],
      ["Finished", d.finished ? fmtTime(d.finished) : running ? "—" : fmtTime(d.modified)],
    ];
    if (d.filter) rows.push(["Filter", el("code", { text: JSON.stringify(d.filter) })]);
    if (d.error) rows.push(["Error", el("span", { class: "reason", text: d.error })]);
    const dl = $("bf-facts");
    clear(dl);
    for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", {}, v));
    return running;
  }

  // ---- Secret, delete --------------------------------------------------------------------

  async function revealSecret() {
    if (!current) return;
    const r = await api("GET", base() + "/" + encodeURIComponent(current.id) + "/secret");
    if (unavailable(r)) { notify("warn", "Reading the secret is not available in this version of walhook."); return; }
    if (!r.ok) { notify("bad", "Could not read the secret: " + r.message); return; }
    const sig = r.data && r.data.signature;
    showDetail("Signature", sig
      ? el("pre", { class: "secret", id: "revealed-signature", text: sig })
      : el("p", { text: "This webhook's deliveries are not signed." }));
  }

  async function deleteWebhook() {
    if (!current) return;
    if (!(await confirmAction("Delete this webhook?", current.url + " stops receiving events. This cannot be undone.", "Delete"))) return;
    const r = await api("DELETE", base() + "/" + encodeURIComponent(current.id));
    if (!r.ok) { notify("bad", "Delete failed: " + r.message); return; }
    notify("ok", "Webhook deleted.");
    current = null;
    navigate("#/webhooks");
  }

  // ---- Inbound webhooks ------------------------------------------------------------------

  // The inbound commands (README "Inbound webhooks", PIPEFORCE's webhook.*) answer bare JSON
  // objects and arrays, not the webhook API's envelope.
  const INBOUND = "/api/v3/command/";
  let inboundSeq = 0;

  async function loadInbound() {
    const seq = ++inboundSeq;
    const tbody = $("inbound-body");
    // The rows shown are the last answer's until this one comes (a later load clears it).
    tbody.setAttribute("aria-busy", "true");
    const r = await api("GET", INBOUND + "webhook.get");
    if (seq !== inboundSeq) return;
    tbody.removeAttribute("aria-busy");
    const msg = $("inbound-message");
    const table = $("inbound-table");
    clear(tbody);
    const form = $("inbound-form");
    form.hidden = unavailable(r);
    if (unavailable(r)) {
      msg.textContent = "Inbound webhooks are not available in this version of walhook.";
      msg.hidden = false;
      table.hidden = true;
      return;
    }
    if (!r.ok) { msg.textContent = "Could not list inbound webhooks: " + r.message; msg.hidden = false; table.hidden = true; return; }
    const list = Array.isArray(r.body) ? r.body : [];
    list.sort((a, b) => String(b.created).localeCompare(String(a.created)));
    for (const w of list) tbody.append(inboundRow(w));
    msg.textContent = list.length ? "" : "No inbound webhooks yet.";
    msg.hidden = list.length > 0;
    table.hidden = list.length === 0;
  }

  function inboundRow(w) {
    return el("tr", { "data-uuid": w.uuid, "data-event-key": w.eventKey },
      cell("Event key", el("span", { class: "mono", text: w.eventKey })),
      cell("Receive URL", el("span", { class: "mono", text: w.webhookUrl || "" }), "url"),
      cell("Description", w.description || ""),
      cell("Created", fmtTime(w.created)),
      cell("", el("button", { type: "button", class: "small danger", text: "Delete", "aria-label": "Delete inbound webhook " + w.eventKey,
        onclick: () => deleteInbound(w) }), "act"));
  }

  async function createInbound(e) {
    e.preventDefault();
    const err = $("inbound-error");
    err.textContent = "";
    const eventKey = $("in-key").value.trim();
    if (!eventKey) { err.textContent = "Enter an event key, e.g. webhook.salesforce.lead.created."; $("in-key").focus(); return; }
    const body = { eventKey };
    const description = $("in-description").value.trim();
    if (description) body.description = description;
    let r;
    await whileBusy($("in-create"), async () => { r = await api("POST", INBOUND + "webhook.put", body); });
    if (!r) return; // a create was already under way
    if (unavailable(r)) { err.textContent = "Inbound webhooks are not available in this version of walhook."; return; }
    if (!r.ok) {
      err.textContent = r.message;
      const field = r.body && r.body.field;
      $(field === "description" ? "in-description" : "in-key").focus();
      return;
    }
    $("in-key").value = "";
    $("in-description").value = "";
    notify("ok", "Inbound webhook " + r.body.eventKey + " created: other systems call " + r.body.webhookUrl);
    loadInbound();
  }

  async function deleteInbound(w) {
    if (!(await confirmAction("Delete this inbound webhook?", w.webhookUrl + " answers 404 from now on. This cannot be undone.", "Delete"))) return;
    const r = await api("POST", INBOUND + "webhook.delete?uuid=" + encodeURIComponent(w.uuid));
    if (!r.ok) { notify("bad", "Delete failed: " + r.message); return; }
    notify("ok", "Inbound webhook " + w.eventKey + " deleted.");
    $("in-key").focus(); // its row, and the button that had the focus, are gone
    loadInbound();
  }

  // initOnboarding wires the onboarding screens (names, preview, test-send, backfill) and
  // the inbound screen; the older wiring stays in init.
  function initOnboarding() {
    $("wf-preview").addEventListener("click", previewWebhook);
    $("inbound-form").addEventListener("submit", createInbound);
  }

  // ---- Wiring ----------------------------------------------------------------------------

  function init() {
    for (const d of document.querySelectorAll("dialog")) setupDialog(d);
    $("login-form").addEventListener("submit", submitLogin);
    $("webhook-form").addEventListener("submit", submitWebhook);
    $("signin-button").addEventListener("click", () => openLogin());
    $("signin-cta").addEventListener("click", () => openLogin());
    $("space-button").addEventListener("click", () => openLogin());
    $("signout-button").addEventListener("click", () => { session.forget(); notify("info", "Signed out."); signedOut(); });
    $("new-webhook").addEventListener("click", () => openWebhookForm(null));
    $("refresh-webhooks").addEventListener("click", loadWebhooks);
    $("wh-pause").addEventListener("click", () => current && setStatus(current.id, "pause"));
    $("wh-resume").addEventListener("click", () => current && setStatus(current.id, "resume"));
    $("wh-test").addEventListener("click", sendTest);
    $("wh-edit").addEventListener("click", () => current && openWebhookForm(current));
    $("wh-secret").addEventListener("click", revealSecret);
    $("wh-delete").addEventListener("click", deleteWebhook);
    for (const id of Object.values(tabs)) {
      $(id).addEventListener("click", (e) => selectTab(Object.keys(tabs).find((k) => tabs[k] === e.currentTarget.id), false));
      $(id).addEventListener("keydown", tabKeys);
    }
    $("delivery-filters").addEventListener("submit", (e) => { e.preventDefault(); loadDeliveries(); });
    for (const id of ["f-search", "f-status"]) $(id).addEventListener("input", () => renderDeliveries());
    $("f-outcome").addEventListener("input", () => { renderDeliveries(); loadDeliveries(); });
    for (const id of ["f-event-id", "f-entity-id"]) $(id).addEventListener("change", loadDeliveries);
    $("refresh-deliveries").addEventListener("click", loadDeliveries);
    $("refresh-dead").addEventListener("click", loadDeadLetters);
    $("redeliver-all").addEventListener("click", () => redeliver(""));
    $("backfill-form").addEventListener("submit", startBackfill);
    $("bf-cancel").addEventListener("click", cancelBackfill);
    $("bf-refresh").addEventListener("click", () => loadBackfill(true));
    $("refresh-inbound").addEventListener("click", loadInbound);
    window.addEventListener("hashchange", () => {
      if (!keepNotice) notify("", "");
      keepNotice = false;
      route();
    });
    initOnboarding();
    // A second sample soon after the first gives the rates without waiting a full period.
    refreshMetrics().then(() => setTimeout(refreshMetrics, 1000));
    setInterval(refreshMetrics, METRICS_EVERY_MS);
    route();
  }

  // Exposed for tests of the parser; holds no state.
  window.walhookConsole = { parseMetrics };

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
