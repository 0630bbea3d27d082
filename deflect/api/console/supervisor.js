// deflectd supervisor view. Plain JavaScript, no build step, no library: the charts are SVG
// drawn here. The funnel comes from GET /api/v1/stats/funnel; agents and the waiting queue from
// the inbox API. A server without statistics shows zeros and says so.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const STEPS = [["offered", "Offered"], ["accepted", "Accepted"], ["sent", "Sent"], ["delivered", "Delivered"],
    ["read", "Read"], ["replied", "Replied"], ["resolved", "Resolved"]];
  const state = { token: sessionStorage.getItem("deflectd-token") || "", timers: [] };

  async function api(path) {
    const resp = await fetch("/api/v1" + path, { headers: { Authorization: "Bearer " + state.token } });
    const data = await resp.json().catch(() => null);
    if (!resp.ok) {
      const e = new Error((data && data.error) || String(resp.status));
      e.status = resp.status;
      throw e;
    }
    return data;
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
    for (const c of children) if (c !== undefined && c !== null) e.append(typeof c === "string" ? document.createTextNode(c) : c);
    return e;
  }

  function svg(tag, attrs, ...children) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(typeof c === "string" ? document.createTextNode(c) : c);
    return e;
  }

  const fmt = (n) => (n || 0).toLocaleString();
  const pct = (a, b) => (b ? Math.round((100 * a) / b) + "%" : "—");

  // --- sign in --------------------------------------------------------------------------------
  async function signIn(token) {
    state.token = token;
    const me = await api("/agents/me");
    if (!me.admin) {
      const e = new Error("This view is for supervisors: sign in with an admin token.");
      e.status = 403;
      throw e;
    }
    sessionStorage.setItem("deflectd-token", token);
    $("agent-name").textContent = me.name;
    $("signin-view").hidden = true;
    $("app-view").hidden = false;
    await refreshAll();
    state.timers.push(setInterval(() => refreshLive().catch(() => {}), 5000));
    state.timers.push(setInterval(() => refreshFunnel().catch(() => {}), 30000));
  }

  $("signin").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("signin-error").textContent = "";
    try { await signIn($("token").value.trim()); }
    catch (e) { $("signin-error").textContent = e.status === 401 ? "That token was not accepted." : e.message; }
  });
  $("signout").addEventListener("click", () => { sessionStorage.removeItem("deflectd-token"); location.reload(); });
  $("range").addEventListener("change", () => refreshFunnel());
  $("group-by").addEventListener("change", () => refreshFunnel());

  async function refreshAll() {
    await Promise.all([refreshFunnel(), refreshLive()]);
  }

  // --- funnel ---------------------------------------------------------------------------------
  function period() {
    const to = new Date();
    const from = new Date(to);
    from.setHours(0, 0, 0, 0);
    if ($("range").value === "7d") from.setDate(from.getDate() - 6);
    return { from: from.toISOString(), to: to.toISOString() };
  }

  async function refreshFunnel() {
    const { from, to } = period();
    const by = $("group-by").value;
    $("groups-kind").textContent = by;
    let f;
    try {
      f = await api(`/stats/funnel?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&group_by=${by}`);
      $("funnel-note").hidden = true;
    } catch (e) {
      if (e.status === 401) { location.reload(); return; }
      f = { totals: {}, groups: [], days: [] };
      $("funnel-note").hidden = false;
      // 404: an older server without the report; 503: statistics not wired, or the store is down.
      $("funnel-note").textContent = e.status === 404 || e.status === 503
        ? "This server does not report funnel statistics (" + e.message + "): the counts show as zero."
        : "Could not load the statistics: " + e.message;
    }
    drawFunnel(f.totals || {});
    drawContainment(f.totals || {});
    drawGroups(f.groups || []);
    drawDays(f.days || [], from);
    await refreshOutcomes(from, to);
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString();
  }

  // --- outcomes: minutes of queue time saved and the share of deflected callers who called
  // back within 72 h, per day (GET /api/v1/stats/outcomes?group_by=day).
  async function refreshOutcomes(from, to) {
    let o;
    try {
      o = await api(`/stats/outcomes?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&group_by=day`);
    } catch (e) {
      $("outcomes-summary").textContent = "No outcome statistics from this server (" + e.message + ").";
      $("outcomes").replaceChildren();
      return;
    }
    const t = o.totals || {};
    const rate = t.repeat_rate_72h == null ? "—" : Math.round(t.repeat_rate_72h * 1000) / 10 + "%";
    $("outcomes-summary").textContent = `${fmt(Math.round(t.time_saved_minutes || 0))} minutes of queue time saved by ` +
      `${fmt(t.deflected)} deflected callers; ${fmt(t.repeat_72h)} called back within 72 h (${rate}).`;
    drawOutcomes(o.groups || []);
  }

  // Per day: minutes saved as columns, the 72 h call-back rate as a dot on a 0–100 % scale.
  function drawOutcomes(days) {
    if (!days.length) { $("outcomes").replaceChildren(el("p", { class: "note" }, "No deflections in this period.")); return; }
    const W = 640, H = 160, bottom = 20, top = 14, n = days.length, slot = W / n;
    const max = Math.max(1, ...days.map((d) => d.time_saved_minutes || 0));
    const span = H - bottom - top;
    const g = days.map((d, i) => {
      const x = i * slot, h = (span * (d.time_saved_minutes || 0)) / max, bw = Math.min(28, slot / 2);
      const r = d.repeat_rate_72h, cy = r == null ? null : H - bottom - span * r;
      return svg("g", { class: "outcome-day", "data-date": d.key, "data-minutes": String(Math.round(d.time_saved_minutes || 0)),
        "data-repeat-rate": r == null ? "" : String(r) },
        svg("rect", { x: String(x + slot / 2 - bw / 2), y: String(H - bottom - h), width: String(bw), height: String(h), class: "bar s2" }),
        svg("text", { x: String(x + slot / 2), y: String(H - bottom - h - 3), class: "value", "text-anchor": "middle" }, fmt(Math.round(d.time_saved_minutes || 0)) + " min"),
        ...(cy == null ? [] : [svg("circle", { cx: String(x + slot / 2), cy: String(cy), r: "5", class: "dot s5" })]),
        svg("text", { x: String(x + slot / 2), y: String(H - 4), class: "label", "text-anchor": "middle" }, (d.key || "").slice(5)));
    });
    $("outcomes").replaceChildren(svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "outcomes-title" }, ...g),
      el("p", { class: "legend" }, el("span", { class: "key s2" }), " minutes saved ", el("span", { class: "key s5" }), " called back within 72 h (dot height: 0–100 %)"));
  }

  // Horizontal bars, one per step, each labelled with its count and its share of "offered".
  function drawFunnel(t) {
    const W = 640, row = 30, left = 90, right = 150;
    const max = Math.max(1, ...STEPS.map(([k]) => t[k] || 0));
    const g = STEPS.map(([k, label], i) => {
      const v = t[k] || 0, w = ((W - left - right) * v) / max, y = i * row;
      return svg("g", { class: "step", "data-step": k, "data-count": String(v) },
        svg("text", { x: "0", y: String(y + 19), class: "label" }, label),
        svg("rect", { x: String(left), y: String(y + 5), width: String(Math.max(w, v ? 2 : 0)), height: "20", rx: "3", class: "bar s" + i }),
        svg("text", { x: String(left + w + 8), y: String(y + 19), class: "value" }, `${fmt(v)}${k === "offered" ? "" : " · " + pct(v, t.offered)}`));
    });
    const chart = svg("svg", { viewBox: `0 0 ${W} ${STEPS.length * row}`, role: "img", "aria-labelledby": "funnel-title funnel-desc" },
      svg("desc", { id: "funnel-desc" }, STEPS.map(([k, label]) => `${label} ${t[k] || 0}`).join(", ")), ...g);
    $("funnel").replaceChildren(chart);
  }

  function drawContainment(t) {
    const resolved = t.resolved || 0, bot = t.resolved_by_bot || 0;
    $("containment").textContent = resolved ? pct(bot, resolved) : "—";
    $("containment-detail").textContent = resolved
      ? `${fmt(bot)} of ${fmt(resolved)} resolved conversations ended without an agent (${fmt(t.resolved_by_agent)} by agents, ${fmt(t.returned)} callers returned to the queue).`
      : "No resolved conversations in this period.";
  }

  // Per group: offered and resolved side by side.
  function drawGroups(groups) {
    if (!groups.length) { $("groups").replaceChildren(el("p", { class: "note" }, "No calls in this period.")); return; }
    const W = 640, row = 44, left = 120, right = 90;
    const max = Math.max(1, ...groups.map((x) => (x.counts || {}).offered || 0));
    const g = groups.map((x, i) => {
      const c = x.counts || {}, y = i * row, scale = (W - left - right) / max;
      return svg("g", { class: "group", "data-key": x.key, "data-offered": String(c.offered || 0), "data-resolved": String(c.resolved || 0) },
        svg("text", { x: "0", y: String(y + 26), class: "label" }, x.key || "(none)"),
        svg("rect", { x: String(left), y: String(y + 6), width: String((c.offered || 0) * scale), height: "14", rx: "2", class: "bar s0" }),
        svg("rect", { x: String(left), y: String(y + 22), width: String((c.resolved || 0) * scale), height: "14", rx: "2", class: "bar s6" }),
        svg("text", { x: String(left + (c.offered || 0) * scale + 6), y: String(y + 18), class: "value" }, fmt(c.offered) + " offered"),
        svg("text", { x: String(left + (c.resolved || 0) * scale + 6), y: String(y + 34), class: "value" }, fmt(c.resolved) + " resolved"));
    });
    $("groups").replaceChildren(svg("svg", { viewBox: `0 0 ${W} ${groups.length * row}`, role: "img", "aria-labelledby": "groups-title" }, ...g));
  }

  // Day by day: offered and resolved as paired columns.
  function drawDays(days, from) {
    if (!days.length) { $("days").replaceChildren(el("p", { class: "note" }, "No calls in this period.")); return; }
    const W = 640, H = 160, bottom = 20, n = days.length, slot = W / n;
    const max = Math.max(1, ...days.map((d) => (d.counts || {}).offered || 0));
    const g = days.map((d, i) => {
      const c = d.counts || {}, x = i * slot, h1 = ((H - bottom - 14) * (c.offered || 0)) / max, h2 = ((H - bottom - 14) * (c.resolved || 0)) / max;
      const bw = Math.min(24, slot / 3);
      return svg("g", { class: "day", "data-date": d.date, "data-offered": String(c.offered || 0) },
        svg("rect", { x: String(x + slot / 2 - bw), y: String(H - bottom - h1), width: String(bw), height: String(h1), class: "bar s0" }),
        svg("rect", { x: String(x + slot / 2), y: String(H - bottom - h2), width: String(bw), height: String(h2), class: "bar s6" }),
        svg("text", { x: String(x + slot / 2), y: String(H - bottom - Math.max(h1, h2) - 3), class: "value", "text-anchor": "middle" }, fmt(c.offered)),
        svg("text", { x: String(x + slot / 2), y: String(H - 4), class: "label", "text-anchor": "middle" }, d.date.slice(5)));
    });
    $("days").replaceChildren(svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "days-title" }, ...g),
      el("p", { class: "legend" }, el("span", { class: "key s0" }), " offered ", el("span", { class: "key s6" }), " resolved"));
  }

  // --- live: agents and the waiting queue -------------------------------------------------------
  function age(t) {
    const s = Math.max(0, Math.floor((Date.now() - new Date(t).getTime()) / 1000));
    return s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min` : s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
  }

  async function refreshLive() {
    const [a, l] = await Promise.all([api("/agents"), api("/conversations")]);
    const online = a.agents.filter((x) => x.presence !== "offline");
    $("agents-count").textContent = `(${online.length} of ${a.agents.length})`;
    $("agents").replaceChildren(...(online.length ? online.map((x) => el("tr", { "data-agent": x.id },
      el("td", {}, x.name), el("td", {}, x.presence),
      el("td", {}, loadBar(x.chats, x.max), ` ${x.chats}/${x.max}`))) : [el("tr", {}, el("td", { colspan: "3", class: "note" }, "Nobody is online."))]));
    $("waiting-count").textContent = `(${l.waiting_total})`;
    $("waiting").replaceChildren(...(l.waiting.length ? l.waiting.map((c) => el("tr", { "data-id": c.id },
      el("td", { dir: "auto" }, c.name || c.caller || c.id), el("td", {}, c.queue || ""), el("td", {}, age(c.queued_at))))
      : [el("tr", {}, el("td", { colspan: "3", class: "note" }, "Nobody is waiting."))]));
  }

  function loadBar(n, max) {
    const w = 60;
    return svg("svg", { width: String(w), height: "10", viewBox: `0 0 ${w} 10`, role: "img", "aria-label": `${n} of ${max} chats` },
      svg("rect", { x: "0", y: "0", width: String(w), height: "10", rx: "2", class: "track" }),
      svg("rect", { x: "0", y: "0", width: String(max ? (w * Math.min(n, max)) / max : 0), height: "10", rx: "2", class: "bar s1" }));
  }

  // A one-time sign-in link (#signin=<code>) as the agent console takes it.
  async function signInFromLink() {
    const m = /^#signin=([0-9a-f]+)$/.exec(location.hash);
    if (!m) return false;
    history.replaceState(null, "", location.pathname);
    const resp = await fetch("/api/v1/signin", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code: m[1] }) });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) { $("signin-error").textContent = data.error || "That sign-in link did not work."; return true; }
    await signIn(data.token);
    return true;
  }

  signInFromLink().then((used) => {
    if (!used && state.token) signIn(state.token).catch((e) => { $("signin-error").textContent = e.message; });
  }).catch((e) => { $("signin-error").textContent = "Sign-in failed: " + e.message; });
})();
