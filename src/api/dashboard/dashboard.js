// The jsonlift dashboard (src/api/dashboard.rs). It reads /_admin with the token typed into the
// page (kept in sessionStorage: gone when the tab closes) and follows GET /_admin/events, read
// with fetch because an EventSource cannot send an Authorization header. Data is written with
// textContent only; the page's Content-Security-Policy (Trusted Types) makes the browser refuse
// HTML built from strings anyway.
"use strict";

(() => {
  const TOKEN = "jsonlift-token";
  const AUDIT_ROWS = 50;
  const $ = (id) => document.getElementById(id);

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // ----- HTTP ---------------------------------------------------------------------------------

  function headers(extra) {
    const h = Object.assign({ Accept: "application/json" }, extra);
    const t = sessionStorage.getItem(TOKEN);
    if (t) h.Authorization = "Bearer " + t;
    return h;
  }

  // Paths are relative to the page (/_admin/), so the page also works behind a proxy that
  // serves jsonlift under a path of its own.
  async function request(path, options) {
    const o = options || {};
    const r = await fetch(path, {
      method: o.method || "GET",
      headers: headers(o.headers),
      body: o.body,
      signal: o.signal,
      cache: "no-store",
      credentials: "omit",
    });
    if (!r.ok) {
      let message = r.status + " " + r.statusText;
      try {
        const b = await r.json();
        if (b && typeof b.error === "string") message = b.error;
      } catch (_) {
        // not JSON: the status says it
      }
      throw new HttpError(r.status, message);
    }
    return r;
  }

  // ----- building the page ----------------------------------------------------------------------

  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (className) e.className = className;
    return e;
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) tr.append(c instanceof Node ? c : el("td", c));
    return tr;
  }

  function emptyRow(columns, text) {
    const td = el("td", text, "empty");
    td.colSpan = columns;
    return row([td]);
  }

  function say(text) {
    const m = $("message");
    m.textContent = text || "";
    m.hidden = !text;
  }

  function badge(id, state, text) {
    const b = $(id);
    b.dataset.state = state;
    b.textContent = text;
  }

  function bytes(n) {
    if (typeof n !== "number") return "";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i += 1;
    }
    return (i === 0 ? String(n) : n.toFixed(1)) + " " + units[i];
  }

  // ----- collections and sync -----------------------------------------------------------------

  function showCollections(list) {
    const rows = list.map((c) => {
      const tr = row([c.name, el("td", c.route, "mono"), el("td", c.document ? "document" : c.count, "num count")]);
      tr.dataset.collection = c.name;
      return tr;
    });
    $("collections").replaceChildren(...(rows.length ? rows : [emptyRow(3, "no collections")]));
  }

  function showSync(sync) {
    const body = $("sync-sources").tBodies[0];
    const errors = $("sync-errors");
    const note = $("sync-note");
    if (!sync) {
      badge("sync-state", "not watching", "not watching");
      note.textContent = "The files are not watched: start the server with `jsonlift serve --watch` to keep the database and the files in step.";
      note.hidden = false;
      body.replaceChildren(emptyRow(5, "not watching"));
      errors.replaceChildren();
      return;
    }
    badge("sync-state", sync.state, sync.state);
    note.hidden = true;
    body.replaceChildren(
      ...sync.sources.map((s) => {
        const tr = row([
          el("td", s.source, "mono"),
          s.collections.join(", "),
          el("td", s.documents, "num"),
          s.last_sync || "never",
          el("td", s.pending, "num"),
        ]);
        tr.dataset.source = s.source;
        return tr;
      })
    );
    const items = [];
    for (const s of sync.sources) {
      for (const e of s.errors) {
        const li = el("li");
        let place = e.file;
        if (e.line !== null && e.line !== undefined) place += ":" + e.line + ":" + e.column;
        li.append(el("span", place, "place"));
        if (e.path) li.append(el("span", e.path, "path"));
        li.append(el("span", e.message, "problem"));
        li.dataset.file = e.file;
        items.push(li);
      }
    }
    errors.replaceChildren(...(items.length ? items : [el("li", "none", "empty")]));
  }

  // ----- audit log ----------------------------------------------------------------------------

  let seenAudit = 0;
  let auditQueue = Promise.resolve();

  // Adds the entries after the last one shown, up to `last` (the newest AUDIT_ROWS at most),
  // newest first. One load at a time, in order.
  function followAudit(last) {
    auditQueue = auditQueue.then(() => loadAudit(last)).catch((e) => say("audit log: " + e.message));
  }

  async function loadAudit(last) {
    const body = $("audit");
    if (last < seenAudit) {
      // A restore took the log back: start again.
      seenAudit = 0;
      body.replaceChildren();
    }
    if (last === seenAudit) {
      if (!body.rows.length) body.replaceChildren(emptyRow(7, "no changes yet"));
      return;
    }
    const after = Math.max(seenAudit, last - AUDIT_ROWS);
    const r = await request("audit?after=" + after + "&limit=" + AUDIT_ROWS);
    const entries = await r.json();
    if (body.querySelector("td.empty")) body.replaceChildren();
    let backup = false;
    for (const e of entries) {
      const tr = row([
        el("td", e.id, "num"),
        e.at,
        e.actor,
        e.action,
        e.collection,
        el("td", e.key, "mono"),
        el("td", e.request_id, "mono"),
      ]);
      tr.dataset.id = e.id;
      tr.dataset.actor = e.actor || "";
      tr.dataset.key = e.key || "";
      body.prepend(tr);
      seenAudit = Math.max(seenAudit, e.id);
      backup = backup || e.collection === "_database";
    }
    seenAudit = Math.max(seenAudit, last);
    while (body.rows.length > AUDIT_ROWS) body.deleteRow(-1);
    if (backup) loadBackups();
  }

  // ----- backups ------------------------------------------------------------------------------

  let backupsOn = true;

  async function loadBackups() {
    const note = $("backups-note");
    try {
      const r = await request("backups");
      const list = (await r.json()).backups || [];
      note.hidden = true;
      const rows = list.reverse().map((b) => {
        const tr = row([el("td", b.name, "mono"), b.taken_at, b.reason, el("td", bytes(b.size), "num"), el("td", b.audit_id, "num")]);
        tr.dataset.backup = b.name;
        return tr;
      });
      $("backups").replaceChildren(...(rows.length ? rows : [emptyRow(5, "no backups yet")]));
    } catch (e) {
      note.textContent = e.message;
      note.hidden = false;
    }
  }

  async function takeBackup() {
    const button = $("take-backup");
    button.disabled = true;
    try {
      // An admin action is a JSON request even when it asks for the defaults.
      await request("backups", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      await loadBackups();
    } catch (e) {
      say("backup: " + e.message);
    } finally {
      button.disabled = !backupsOn;
    }
  }

  // ----- the event stream ---------------------------------------------------------------------

  let stream = null;
  let retry = 1000;
  let loaded = false;

  function overview(o) {
    say("");
    showCollections(o.collections);
    showSync(o.sync);
    followAudit(o.audit_last_id);
    if (backupsOn !== o.backups) {
      backupsOn = o.backups;
      $("take-backup").disabled = !backupsOn;
    }
    if (!loaded) {
      loaded = true;
      loadBackups();
    }
  }

  function dispatch(frame) {
    let type = "message";
    const data = [];
    for (const line of frame.split("\n")) {
      if (line === "" || line.startsWith(":")) continue; // a comment keeps the stream open
      const at = line.indexOf(":");
      const field = at < 0 ? line : line.slice(0, at);
      let value = at < 0 ? "" : line.slice(at + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") type = value;
      else if (field === "data") data.push(value);
    }
    if (!data.length) return;
    const payload = JSON.parse(data.join("\n"));
    if (type === "overview") overview(payload);
    else if (type === "problem") say(payload.error);
  }

  async function readEvents(body) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  async function connect() {
    if (stream) stream.abort();
    const mine = new AbortController();
    stream = mine;
    badge("live", "connecting", "connecting");
    try {
      const r = await request("events", { signal: mine.signal, headers: { Accept: "text/event-stream" } });
      badge("live", "live", "live");
      retry = 1000;
      await readEvents(r.body);
      // The server ended the stream: it is stopping.
    } catch (e) {
      if (mine.signal.aborted) return;
      if (e instanceof HttpError && (e.status === 401 || e.status === 403)) {
        badge("live", "off", "no access");
        say(e.message);
        $("token").focus();
        return; // until a token is given
      }
      say("the server does not answer (" + e.message + "); trying again");
    }
    if (stream !== mine) return;
    badge("live", "off", "reconnecting");
    setTimeout(() => {
      if (stream === mine) connect();
    }, retry);
    retry = Math.min(retry * 2, 15000);
  }

  // ----- token --------------------------------------------------------------------------------

  function tokenChanged() {
    $("token").placeholder = sessionStorage.getItem(TOKEN) ? "token set for this tab" : "admin token";
    seenAudit = 0;
    loaded = false;
    $("audit").replaceChildren();
    connect();
  }

  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const t = $("token").value.trim();
    $("token").value = "";
    if (t) sessionStorage.setItem(TOKEN, t);
    tokenChanged();
  });
  $("forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN);
    tokenChanged();
  });
  $("take-backup").addEventListener("click", takeBackup);

  $("token").placeholder = sessionStorage.getItem(TOKEN) ? "token set for this tab" : "admin token";
  connect();
})();
