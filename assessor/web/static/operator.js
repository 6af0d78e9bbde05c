// The tablet page at the line. Every entry goes through an outbox kept in localStorage:
// it carries an id made here, so an entry made while the Wi-Fi is down is sent when the
// connection is back, and a resend after a lost answer is recognised by the server.
(() => {
  "use strict";
  const cfg = JSON.parse(document.getElementById("op-config").textContent);
  const T = cfg.texts;
  const api = `/api/v1/factories/${encodeURIComponent(cfg.factory)}/operator`;
  const OUTBOX = `fl-operator-outbox:${cfg.factory}`;
  const NAME = "fl-operator-name";
  const $ = (id) => document.getElementById(id);
  const tf = new Intl.DateTimeFormat(cfg.lang === "ko" ? "ko-KR" : "en-GB", {
    timeZone: cfg.timezone, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    second: "2-digit", hour12: false,
  });
  let data = null;
  let today = null;
  let dialogState = null;
  let flushing = false;
  // keys of entries the server took since the queue was last read: their stops stay
  // hidden until the next read, or the list would show an answered stop for a moment
  const taken = new Set();

  const fill = (text, args) => text.replace(/\{(\w+)\}/g, (_, k) => String(args[k]));
  const fmt = (key, args) => fill(T[key] || key, args);
  const when = (t) => tf.format(new Date(t * 1000));
  function duration(s) {
    s = Math.round(s);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    const [hm, ms, only] = T.op_units.split("|");
    const args = { h, m, s: r };
    return h ? fill(hm, args) : m ? fill(ms, args) : fill(only, args);
  }
  function newId() {
    const b = new Uint8Array(16);
    crypto.getRandomValues(b);
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (k.startsWith("data-")) e.setAttribute(k, v); else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  function reasonName(code) {
    const r = (data && data.reasons.find((x) => x.code === code));
    if (!r) return code;
    return cfg.lang === "ko" ? r.name_ko : (r.name_en || r.name_ko);
  }
  function machineName(line, machine) {
    const m = data && data.machines.find((x) => x.line === line && x.machine === machine);
    return m && m.name ? `${m.name} (${machine})` : machine;
  }
  function say(text, kind) {
    const p = $("op-message");
    p.textContent = text;
    p.className = `op-message ${kind || ""}`;
    p.hidden = false;
  }

  // -- outbox ---------------------------------------------------------------------------
  const outbox = () => JSON.parse(localStorage.getItem(OUTBOX) || "[]");
  const saveOutbox = (items) => { localStorage.setItem(OUTBOX, JSON.stringify(items)); showNet(); };

  function enqueue(method, path, body, key) {
    const items = outbox();
    items.push({ method, path, body, key: key || "" });
    saveOutbox(items);
    render();
    flush();
  }

  async function flush() {
    if (flushing) return;
    flushing = true;
    let sent = 0;
    try {
      for (;;) {
        const items = outbox();
        if (!items.length) break;
        const item = items[0];
        let r;
        try {
          r = await fetch(api + item.path, {
            method: item.method,
            credentials: "same-origin",
            headers: {
              "Content-Type": "application/json",
              "X-Operator-Name": encodeURIComponent(localStorage.getItem(NAME) || ""),
            },
            body: JSON.stringify(item.body),
          });
        } catch (e) {
          say(T.op_queued, "warn");
          break; // offline: keep it, try again when the connection is back
        }
        if (r.ok && item.key) taken.add(item.key);
        saveOutbox(outbox().slice(1));
        sent++;
        render();
        let body = null;
        try { body = await r.json(); } catch (e) { body = null; }
        if (r.ok) {
          say(T.op_saved, "ok");
        } else if (r.status === 409) {
          const cur = body && body.error && body.error.details && body.error.details.current;
          let text = "";
          if (cur && cur.segments) {
            text = cur.segments.map((s) => reasonName(s.reason)).join(" → ") + (cur.comment ? ` · ${cur.comment}` : "");
          } else if (cur) {
            // a scrap entry or a count correction
            text = cur.quantity !== undefined ? `${cur.quantity} · ${reasonName(cur.reason)}` : `${cur.new_count}`;
          }
          say(fmt("op_conflict", { current: text }), "error");
        } else {
          say(fmt("op_refused", { message: (body && body.error && body.error.message) || r.status }), "error");
        }
      }
    } finally {
      flushing = false;
    }
    if (sent) await load();
  }

  function showNet() {
    const on = navigator.onLine;
    $("op-net").textContent = on ? T.op_online : T.op_offline;
    $("op-net").className = `op-net ${on ? "on" : "off"}`;
    const n = outbox().length;
    $("op-pending").textContent = n ? fmt("op_pending", { n }) : "";
  }

  // -- reading --------------------------------------------------------------------------
  async function load() {
    // only entries taken before this read began are in its answer
    const known = new Set(taken);
    try {
      const r = await fetch(`${api}/queue`, { credentials: "same-origin" });
      if (!r.ok) { say(fmt("op_refused", { message: r.status }), "error"); return; }
      data = await r.json();
      for (const k of known) taken.delete(k);
      localStorage.setItem(`${OUTBOX}:last`, JSON.stringify(data));
      const t = await fetch(`${api}/today`, { credentials: "same-origin" });
      if (t.ok) today = await t.json();
    } catch (e) {
      data = data || JSON.parse(localStorage.getItem(`${OUTBOX}:last`) || "null");
    }
    fillForms();
    render();
  }

  function pendingKeys() {
    return new Set([...outbox().map((i) => i.key).filter(Boolean), ...taken]);
  }
  const stopKey = (s) => `${s.line}|${s.machine}|${s.start}`;

  function render() {
    showNet();
    if (!data) return;
    const pending = pendingKeys();
    const q = $("op-queue");
    q.replaceChildren();
    const waiting = data.waiting.filter((s) => !pending.has(stopKey(s)));
    $("op-count").textContent = `(${waiting.length})`;
    if (!data.reasons.length) q.append(el("li", { class: "op-note" }, T.op_no_tree));
    if (!waiting.length) q.append(el("li", { class: "op-note" }, T.op_empty));
    for (const s of waiting) {
      const facts = `${T.op_started} ${when(s.start)} · ${T.op_duration} ${duration(s.duration_s)}` +
        (s.ongoing ? ` (${T.op_ongoing})` : "") +
        (s.plc_reasons.length ? ` · ${T.op_plc_code} ${s.plc_reasons.join(", ")}` : "");
      const b = el("button", { type: "button", class: `op-stop state-${s.state}`, "data-key": stopKey(s) },
        el("strong", {}, machineName(s.line, s.machine)), el("span", { class: "op-state" }, cfg.states[s.state] || s.state),
        el("span", { class: "op-facts" }, facts));
      b.addEventListener("click", () => openDialog({ mode: "new", stop: s }));
      q.append(el("li", {}, b));
    }
    const list = $("op-entries");
    list.replaceChildren();
    if (!data.entries.length) list.append(el("li", { class: "op-note" }, T.op_no_entries));
    for (const e of data.entries) {
      const pieces = e.segments.map((g) => `${reasonName(g.reason)} (${duration(g.end - g.start)})`).join(" → ");
      const edit = el("button", { type: "button", class: "op-secondary op-edit", "data-id": String(e.id) }, T.op_edit);
      edit.addEventListener("click", () => openDialog({ mode: "edit", entry: e }));
      list.append(el("li", { class: "op-entry", "data-id": String(e.id) },
        el("strong", {}, machineName(e.line, e.machine)),
        el("span", { class: "op-facts" }, `${when(e.start)} · ${duration(e.end - e.start)}`),
        el("span", { class: "op-reason-text" }, pieces),
        e.comment ? el("span", { class: "op-comment" }, e.comment) : null,
        el("span", { class: "muted" }, `${T.op_by} ${e.updated_by}`),
        pending.has(`edit:${e.id}`) ? el("span", { class: "op-pending" }, T.op_queued) : edit));
    }
    renderToday(pending);
  }

  // today's scrap and count corrections, each editable by the version it shows
  function renderToday(pending) {
    const lists = [
      ["op-scrap-today", today ? today.scrap : [], "scrap", "quantity", 1],
      ["op-count-today", today ? today.counts : [], "counts", "new_count", 0],
    ];
    for (const [id, entries, path, field, min] of lists) {
      const list = $(id);
      list.replaceChildren();
      if (!entries.length) list.append(el("li", { class: "op-note" }, T.op_none_today));
      for (const e of entries) {
        const key = `${path}:${e.id}`;
        const input = el("input", { type: "number", min: String(min), step: "1", inputmode: "numeric",
          class: "op-today-value", "aria-label": T.op_edit });
        input.value = String(e[field]);
        const save = el("button", { type: "button", class: "op-secondary op-edit" }, T.op_save);
        save.addEventListener("click", () => {
          enqueue("PUT", `/${path}/${e.id}`, { client_id: newId(), version: e.version, [field]: Number(input.value) }, key);
        });
        const what = path === "scrap" ? `${reasonName(e.reason)}` : `${e.day}${e.shift ? " · " + e.shift : ""}`;
        list.append(el("li", { class: "op-entry", "data-id": String(e.id) },
          el("strong", {}, machineName(e.line, e.machine)),
          el("span", { class: "op-facts" }, what),
          el("span", { class: "muted" }, `${T.op_by} ${e.updated_by}`),
          pending.has(key) ? el("span", { class: "op-pending" }, T.op_queued) : el("span", {}, input, save)));
      }
    }
  }

  // -- reason buttons -------------------------------------------------------------------
  function reasonButtons(box, chosen, onPick) {
    box.replaceChildren();
    const byCat = new Map();
    for (const r of (data ? data.reasons : [])) {
      if (!byCat.has(r.category)) byCat.set(r.category, []);
      byCat.get(r.category).push(r);
    }
    for (const [cat, reasons] of byCat) {
      const group = el("div", { class: "op-cat" }, el("span", { class: "op-cat-name" }, cfg.categories[cat] || cat));
      for (const r of reasons) {
        const b = el("button", { type: "button", class: "op-reason", "data-code": r.code },
          reasonName(r.code), el("small", {}, r.planned ? T.op_planned : T.op_unplanned));
        b.setAttribute("aria-pressed", String(r.code === chosen));
        b.addEventListener("click", () => {
          for (const o of box.querySelectorAll(".op-reason")) o.setAttribute("aria-pressed", "false");
          b.setAttribute("aria-pressed", "true");
          onPick(r.code);
        });
        group.append(b);
      }
      box.append(group);
    }
  }

  // -- the stop dialog ------------------------------------------------------------------
  function openDialog(state) {
    const src = state.mode === "new" ? state.stop : state.entry;
    const segs = state.mode === "edit" ? state.entry.segments : [];
    dialogState = {
      ...state, start: src.start, end: src.end,
      first: segs[0] ? segs[0].reason : null, second: segs[1] ? segs[1].reason : null,
      split: segs.length > 1, at: segs.length > 1 ? segs[0].end : Math.round((src.start + src.end) / 2),
    };
    $("op-dialog-title").textContent = machineName(src.line, src.machine);
    $("op-dialog-facts").textContent = `${when(src.start)} – ${when(src.end)} · ${duration(src.end - src.start)}`;
    $("op-comment").value = state.mode === "edit" ? state.entry.comment : "";
    reasonButtons(document.querySelector('#op-stop-form [data-name="first"]'), dialogState.first,
      (c) => { dialogState.first = c; });
    reasonButtons(document.querySelector('#op-stop-form [data-name="second"]'), dialogState.second,
      (c) => { dialogState.second = c; });
    const range = $("op-split-at");
    range.min = String(Math.ceil(src.start + 1));
    range.max = String(Math.floor(src.end - 1));
    range.value = String(dialogState.at);
    showSplit();
    $("op-dialog").showModal();
  }
  function showSplit() {
    $("op-split-part").hidden = !dialogState.split;
    $("op-first-legend").textContent = dialogState.split ? T.op_first : T.op_choose;
    $("op-split-shown").textContent = when(Number($("op-split-at").value));
  }
  $("op-split").addEventListener("click", () => { dialogState.split = !dialogState.split; showSplit(); });
  $("op-split-at").addEventListener("input", () => { dialogState.at = Number($("op-split-at").value); showSplit(); });
  $("op-cancel").addEventListener("click", () => $("op-dialog").close());
  $("op-stop-form").addEventListener("submit", (ev) => {
    const d = dialogState;
    if (!d.first || (d.split && !d.second)) { ev.preventDefault(); say(T.op_choose, "warn"); return; }
    const segments = d.split
      ? [{ start: d.start, end: d.at, reason: d.first }, { start: d.at, end: d.end, reason: d.second }]
      : [{ start: d.start, end: d.end, reason: d.first }];
    const comment = $("op-comment").value;
    if (d.mode === "new") {
      const s = d.stop;
      enqueue("POST", "/stops", {
        client_id: newId(), line: s.line, machine: s.machine, state: s.state, start: s.start, end: s.end,
        segments, comment,
      }, stopKey(s));
    } else {
      enqueue("PUT", `/stops/${d.entry.id}`, {
        client_id: newId(), version: d.entry.version, segments, comment,
      }, `edit:${d.entry.id}`);
    }
  });

  // -- scrap and counts -----------------------------------------------------------------
  let scrapReason = null;
  function fillForms() {
    if (!data) return;
    for (const sel of document.querySelectorAll(".op-machine")) {
      const keep = sel.value;
      sel.replaceChildren(...data.machines.map((m) =>
        el("option", { value: `${m.line}|${m.machine}` }, machineName(m.line, m.machine))));
      if (keep) sel.value = keep;
    }
    for (const sel of document.querySelectorAll(".op-product")) {
      const keep = sel.value;
      sel.replaceChildren(el("option", { value: "" }, "—"), ...data.products.map((p) => el("option", { value: p }, p)));
      if (keep) sel.value = keep;
    }
    reasonButtons(document.querySelector('#op-scrap-form [data-name="reason"]'), scrapReason,
      (c) => { scrapReason = c; });
  }
  $("op-scrap-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = ev.target;
    if (!scrapReason) { say(T.op_choose, "warn"); return; }
    const [line, machine] = f.machine.value.split("|");
    enqueue("POST", "/scrap", {
      client_id: newId(), line, machine, product: f.product.value, at: Date.now() / 1000,
      quantity: Number(f.quantity.value), reason: scrapReason, comment: f.comment.value,
    });
    f.reset();
    scrapReason = null;
    fillForms();
  });
  $("op-count-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const f = ev.target;
    const [line, machine] = f.machine.value.split("|");
    enqueue("POST", "/counts", {
      client_id: newId(), line, machine, product: f.product.value, day: f.day.value, shift: f.shift.value,
      old_count: f.old_count.value === "" ? null : Number(f.old_count.value), new_count: Number(f.new_count.value),
    });
    f.reset();
  });

  // -- tabs, name, connection -----------------------------------------------------------
  for (const tab of document.querySelectorAll(".op-tabs [data-tab]")) {
    tab.addEventListener("click", () => {
      for (const t of document.querySelectorAll(".op-tabs [data-tab]")) {
        t.setAttribute("aria-selected", String(t === tab));
        $(`tab-${t.dataset.tab}`).hidden = t !== tab;
      }
    });
  }
  $("op-who").value = localStorage.getItem(NAME) || "";
  $("op-who").addEventListener("change", () => localStorage.setItem(NAME, $("op-who").value.trim()));
  window.addEventListener("online", () => { showNet(); flush(); });
  window.addEventListener("offline", showNet);
  setInterval(flush, 5000);
  setInterval(() => { if (navigator.onLine && !outbox().length) load(); }, 60000);
  load().then(flush);
})();
