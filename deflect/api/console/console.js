// deflectd agent console. Plain JavaScript, no build step. Every piece of customer data is put
// in the page with textContent (never as HTML); message bodies carry dir="auto" so Arabic reads
// right to left. Live updates are server-sent events read with fetch, because EventSource
// cannot send the bearer token.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const state = {
    token: sessionStorage.getItem("deflectd-token") || "",
    me: null,
    selected: "",
    lists: null,
    seen: {},        // conversation id → number of messages shown
    blobs: {},       // "conversation/media id" → promise of a blob: URL
    readIn: {},      // conversation id → inbound messages the agent has seen (unread counts)
    canned: {},      // language → ready answers
    order: [],       // conversation ids in list order (keyboard navigation)
    abort: null,     // aborts the event stream on sign-out
    refreshTimer: 0,
  };

  async function api(method, path, body, extraHeaders) {
    const headers = { Authorization: "Bearer " + state.token };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    Object.assign(headers, extraHeaders || {});
    const resp = await fetch("/api/v1" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    let data = null;
    try { data = await resp.json(); } catch (_) { data = null; }
    if (!resp.ok) {
      const err = new Error((data && data.error) || resp.status + " " + resp.statusText);
      err.status = resp.status;
      throw err;
    }
    return data;
  }

  function announce(text) {
    const a = $("announce");
    a.textContent = "";
    setTimeout(() => { a.textContent = text; }, 50);
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) {
      if (c === undefined || c === null) continue;
      e.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return e;
  }

  function who(c) { return c.name || c.caller || c.id; }

  function waitText(s) {
    if (s === undefined || s === null) return "";
    const m = Math.floor(s / 60), r = s % 60;
    return m > 0 ? `${m} min ${r} s` : `${r} s`;
  }

  // --- sign in / out ---------------------------------------------------------------------
  async function signIn(token) {
    state.token = token;
    const me = await api("GET", "/agents/me");
    state.me = me;
    sessionStorage.setItem("deflectd-token", token);
    $("agent-name").textContent = me.name;
    $("signin-view").hidden = true;
    $("app-view").hidden = false;
    $("others-section").hidden = !me.admin;
    $("supervisor-link").hidden = !me.admin;
    // Admins supervise: they take chats only when they choose to (status "Taking chats").
    if (me.admin) {
      $("presence").options[0].textContent = "Taking chats";
      $("presence").options[2].textContent = "Supervising (no chats)";
    } else if (me.presence === "offline") {
      await api("PUT", "/agents/me/presence", { presence: "online" });
      me.presence = "online";
    }
    $("presence").value = me.presence;
    $("send-call").hidden = !me.calls;
    state.readIn = JSON.parse(localStorage.getItem("deflectd-read-" + me.id) || "{}");
    await loadTemplates();
    state.canned = (await api("GET", "/inbox/canned-responses")).responses || {};
    await refresh();
    startEvents();
    $("presence").focus();
    // A link handed to the PBX with a WhatsApp call (X-WhatsApp-Conversation:
    // /console/?conversation=<id>) opens that customer's conversation.
    const wanted = new URLSearchParams(location.search).get("conversation");
    if (wanted) await select(wanted).catch(() => {});
  }

  function signOut() {
    if (state.abort) state.abort.abort();
    sessionStorage.removeItem("deflectd-token");
    location.reload();
  }

  $("signin").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("signin-error").textContent = "";
    try {
      await signIn($("token").value.trim());
    } catch (e) {
      $("signin-error").textContent = e.status === 401 ? "That token was not accepted." : "Sign-in failed: " + e.message;
      $("token").focus();
    }
  });
  $("signout").addEventListener("click", signOut);
  $("presence").addEventListener("change", async () => {
    try { await api("PUT", "/agents/me/presence", { presence: $("presence").value }); announce("Status: " + $("presence").value); }
    catch (e) { showError(e); }
  });

  // --- lists -----------------------------------------------------------------------------
  async function loadTemplates() {
    const t = await api("GET", "/inbox/templates");
    state.templateTexts = t.texts || {};
    const sel = $("template-name");
    sel.replaceChildren(...t.templates.map((n) => el("option", { value: n }, n)));
  }

  async function loadAgents() {
    const a = await api("GET", "/agents");
    const sel = $("transfer-to");
    const opts = [el("option", { value: "bot" }, "Back to the bot")];
    for (const ag of a.agents) {
      if (ag.id === state.me.id) continue;
      opts.push(el("option", { value: ag.id }, `${ag.name} (${ag.presence}, ${ag.chats}/${ag.max})`));
    }
    sel.replaceChildren(...opts);
  }

  function scheduleRefresh() {
    clearTimeout(state.refreshTimer);
    state.refreshTimer = setTimeout(() => refresh().catch(showError), 100);
  }

  async function refresh() {
    const before = state.lists;
    const l = await api("GET", "/conversations");
    state.lists = l;
    if (before) {
      const had = new Set(before.mine.map((c) => c.id));
      for (const c of l.mine) if (!had.has(c.id)) announce("New conversation assigned: " + who(c));
    }
    state.order = [...l.mine, ...l.waiting, ...(l.others || []), ...(l.bot || [])].map((c) => c.id);
    renderList($("mine"), l.mine, "mine");
    renderList($("waiting"), l.waiting, "waiting");
    renderList($("others"), l.others || [], "others");
    renderList($("bot"), l.bot || [], "bot");
    $("mine-count").textContent = `(${l.mine.length})`;
    $("waiting-count").textContent = `(${l.waiting_total})`;
    $("bot-count").textContent = `(${l.bot_total || 0})`;
    $("others-count").textContent = `(${(l.others || []).length})`;
    // No heading without something under it: a supervisor's empty "others" list is hidden.
    $("others-section").hidden = !state.me.admin || !(l.others || []).length;
    $("load").textContent = `${l.mine.length}/${state.me.max} chats`;
    updateTitle();
    if (state.selected) await loadConversation(state.selected);
  }

  // Unread: the customer's messages in a conversation the agent has not opened since they came.
  function unread(c) { return Math.max(0, (c.inbound || 0) - (state.readIn[c.id] || 0)); }

  function markRead(c) {
    if (state.readIn[c.id] === c.inbound) return;
    state.readIn[c.id] = c.inbound;
    localStorage.setItem("deflectd-read-" + state.me.id, JSON.stringify(state.readIn));
    for (const u of document.querySelectorAll(`.convlist button[data-id="${CSS.escape(c.id)}"] .unread`)) u.textContent = "";
  }

  // The tab's title carries the count of unread messages in the agent's and waiting conversations.
  function updateTitle() {
    const l = state.lists;
    if (!l) return;
    const n = [...l.mine, ...l.waiting].reduce((sum, c) => sum + unread(c), 0);
    document.title = (n ? `(${n}) ` : "") + "deflectd agent console";
  }

  // renderList updates the list in place, keyed by conversation id, so that a live update
  // neither moves keyboard focus nor replaces the button under the pointer.
  function renderList(ul, items, kind) {
    ul.dataset.empty = items.length ? "" : "none";
    const existing = new Map([...ul.children].map((li) => [li.dataset.id, li]));
    const lis = items.map((c) => {
      let li = existing.get(c.id);
      if (!li) {
        const b = el("button", { type: "button", "data-id": c.id }, el("span", { dir: "auto" }), el("span", { class: "meta" }), el("span", { class: "unread" }));
        b.addEventListener("click", () => select(c.id));
        li = el("li", { "data-id": c.id }, b);
      }
      const meta = [c.caller, c.queue && "Queue " + c.queue, kind === "waiting" && c.position && "#" + c.position + " in line",
        c.wait_estimate !== undefined && kind !== "bot" && "wait " + waitText(c.wait_estimate), c.language,
        kind === "others" && c.agent, kind === "results" && c.status + (c.agent ? " (" + c.agent + ")" : ""), kind === "bot" && c.since && "since " + new Date(c.since).toLocaleTimeString(),
        kind === "bot" && c.last_message && "“" + (c.last_message.text || c.last_message.type).slice(0, 60) + "”"].filter(Boolean).join(" · ");
      const b = li.firstChild;
      if (b.children[0].textContent !== who(c)) b.children[0].textContent = who(c);
      if (b.children[1].textContent !== meta) b.children[1].textContent = meta;
      const n = kind === "bot" || kind === "results" ? 0 : unread(c);
      if (b.children[2].textContent !== (n ? String(n) : "")) {
        b.children[2].textContent = n ? String(n) : "";
        b.children[2].setAttribute("aria-label", n + " unread");
      }
      b.setAttribute("aria-current", c.id === state.selected ? "true" : "false");
      return li;
    });
    const keep = new Set(lis);
    for (const li of [...ul.children]) if (!keep.has(li)) li.remove();
    lis.forEach((li, i) => { if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null); });
  }

  // --- one conversation ------------------------------------------------------------------
  async function select(id) {
    state.selected = id;
    delete state.seen[id];
    for (const b of document.querySelectorAll(".convlist button")) b.setAttribute("aria-current", b.dataset.id === id ? "true" : "false");
    await loadConversation(id);
    await loadAgents().catch(() => {});
    $("conversation").focus();
  }

  async function loadConversation(id) {
    let c;
    try { c = await api("GET", "/conversations/" + encodeURIComponent(id)); }
    catch (e) { if (e.status === 404) { state.selected = ""; $("conv").hidden = true; $("empty").hidden = false; return; } throw e; }
    if (state.selected !== id) return;
    $("empty").hidden = true;
    $("conv").hidden = false;
    $("conv-title").textContent = `${who(c)} (${c.caller}) — ${c.status}${c.agent ? ", " + c.agent : ""}`;
    $("conv-title").setAttribute("dir", "auto");

    const rows = [["Queue", c.queue], ["Wait estimate", c.wait_estimate !== undefined ? waitText(c.wait_estimate) : ""],
      ["Customer id", c.customer_id], ["Language", c.language], ["IVR path", (c.ivr_path || []).join(" → ")]];
    for (const [k, v] of Object.entries(c.context || {}).sort()) rows.push(["X-Context-" + k, v]);
    if (c.user_to_user) rows.push(["User-to-User", c.user_to_user]);
    if (c.session_id) rows.push(["Session", c.session_id]);
    rows.push(["24-hour window", c.window_open ? "open" : "closed"]);
    $("context").replaceChildren(...rows.filter(([, v]) => v).flatMap(([k, v]) => [el("dt", {}, k), el("dd", { dir: "auto" }, String(v))]));

    const ol = $("messages");
    const shown = state.seen[id] || 0;
    if (shown === 0 || shown > c.messages.length) ol.replaceChildren();
    const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    c.messages.forEach((m, i) => {
      let li = ol.children[i];
      if (!li) {
        const from = m.direction === "in" ? who(c) : (m.payload && m.payload.startsWith("agent:") ? m.payload.slice(6) : "bot");
        const kind = m.type === "template" ? " · template " + (m.template || "") : m.type !== "text" ? " · " + m.type : "";
        const extra = mediaNode(id, m);
        li = el("li", { class: m.direction, "data-id": m.id || "" },
          el("span", { class: "who" }, `${from} · ${new Date(m.at).toLocaleTimeString()}${kind}`), extra,
          m.text || !extra ? el("p", { class: "body", dir: "auto" }, m.text || "(" + m.type + ")") : null,
          el("span", { class: "reaction", "aria-label": "Customer's reaction" }));
        if (m.direction === "out") li.append(el("span", { class: "state" }));
        ol.append(li);
      }
      if (m.direction === "out") renderState(li, m);
      const r = li.querySelector(".reaction");
      if (r && r.textContent !== (m.reaction || "")) r.textContent = m.reaction || "";
    });
    state.seen[id] = c.messages.length;
    if (shown === 0 || atBottom) ol.scrollTop = ol.scrollHeight;

    // The last reply failed because the window closed (Meta's 131047): offer the templates.
    const last = [...c.messages].reverse().find((m) => m.direction === "out");
    const windowFailed = last && last.status === "failed" && last.error && last.error.code === 131047;
    if (windowFailed) c.window_open = false;

    markRead(c);
    updateTitle();
    renderCanned(c.language);
    state.convLang = c.language;
    renderPreview();

    const mine = c.agent === state.me.id || state.me.admin;
    $("claim").hidden = c.status !== "waiting";
    $("takeover").hidden = c.status !== "bot";
    // A bot conversation is taken over before anyone writes in it (else bot and agent both answer).
    $("reply").hidden = !c.window_open || c.status === "bot" || c.status === "waiting" && !state.me.admin;
    $("template").hidden = c.window_open || c.status === "bot";
    $("transfer").hidden = !(c.status === "assigned" || c.status === "waiting") || !mine && c.status === "assigned";
    $("close").hidden = !(c.status === "assigned" && mine);
  }

  // --- media: fetched with the bearer token (an <img src> cannot send it), shown from a blob --
  async function mediaURL(convID, mediaID) {
    const key = convID + "/" + mediaID;
    if (!state.blobs[key]) {
      state.blobs[key] = (async () => {
        const resp = await fetch(`/api/v1/conversations/${encodeURIComponent(convID)}/media/${encodeURIComponent(mediaID)}`,
          { headers: { Authorization: "Bearer " + state.token } });
        if (!resp.ok) {
          delete state.blobs[key];
          const data = await resp.json().catch(() => ({}));
          throw new Error(data.error || "media " + resp.status);
        }
        return URL.createObjectURL(await resp.blob());
      })();
    }
    return state.blobs[key];
  }

  function mediaNode(convID, m) {
    if (m.media) {
      const md = m.media, fail = (node) => (e) => node.replaceWith(el("p", { class: "error" }, "Could not load the " + m.type + ": " + e.message));
      let node;
      if (m.type === "image" || m.type === "sticker") {
        node = el("img", { class: "media", alt: m.text || (m.type === "sticker" ? "Sticker" : "Image") });
        // A picture arriving at the bottom of the log keeps the log at its newest message.
        node.addEventListener("load", () => { const ol = $("messages"); if (ol.dataset.stick !== "0") ol.scrollTop = ol.scrollHeight; });
        mediaURL(convID, md.id).then((u) => { node.src = u; }).catch(fail(node));
        return node;
      }
      if (m.type === "audio" || m.type === "video") {
        node = el(m.type, { class: "media", controls: true, preload: "metadata", "aria-label": md.voice ? "Voice note" : m.type === "audio" ? "Audio" : "Video" });
        mediaURL(convID, md.id).then((u) => { node.src = u; }).catch(fail(node));
        return md.voice ? el("div", {}, el("span", { class: "meta" }, "Voice note"), node) : node;
      }
      node = el("button", { type: "button", class: "download" }, "Download " + (md.filename || "document"));
      node.addEventListener("click", async () => {
        try {
          const a = el("a", { href: await mediaURL(convID, md.id), download: md.filename || "document" });
          document.body.append(a); a.click(); a.remove();
        } catch (e) { showError(e); }
      });
      return node;
    }
    if (m.location) {
      const { latitude: la, longitude: lo, name, address } = m.location;
      return el("p", { class: "location" }, `📍 ${[name, address].filter(Boolean).join(", ")} (${la}, ${lo}) `,
        el("a", { href: `https://www.openstreetmap.org/?mlat=${la}&mlon=${lo}#map=16/${la}/${lo}`, target: "_blank", rel: "noopener noreferrer" }, "Open map"));
    }
    if (m.contacts && m.contacts.length) {
      return el("div", { class: "contacts" }, ...m.contacts.map((ct) => el("div", { class: "card contact" },
        el("strong", { dir: "auto" }, ct.name), ...(ct.phones || []).map((p) => el("span", { class: "meta" }, p)))));
    }
    return null;
  }

  // Delivery state of an outbound message, as WhatsApp reported it: ✓ sent, ✓✓ delivered,
  // ✓✓ (blue) read, or failed with Meta's code, a plain reason and what to do.
  const stateText = { sent: "✓ Sent", delivered: "✓✓ Delivered", read: "✓✓ Read", failed: "Failed" };
  function renderState(li, m) {
    const st = li.querySelector(".state");
    const status = m.status || "pending";
    if (st.dataset.status === status) return;
    st.dataset.status = status;
    li.dataset.status = status;
    st.replaceChildren(stateText[status] || "Sending…");
    if (status === "failed" && m.error) {
      st.append(el("span", { class: "reason" }, ` — ${m.error.reason} (WhatsApp error ${m.error.code}${m.error.title ? ": " + m.error.title : ""}) `),
        el("span", { class: "todo" }, m.error.action));
    }
  }

  function showError(e) {
    $("action-error").textContent = e.message || String(e);
  }

  async function act(fn, doneText) {
    $("action-error").textContent = "";
    try {
      await fn();
      if (doneText) announce(doneText);
      await refresh();
    } catch (e) {
      showError(e);
      if (e.status === 409 && /window is closed/.test(e.message)) {
        await refresh().catch(() => {});
        $("reply").hidden = true;
        $("template").hidden = false;
        $("template-name").focus();
      }
    }
  }

  $("claim").addEventListener("click", () => act(() => api("POST", `/conversations/${encodeURIComponent(state.selected)}/claim`), "Conversation taken"));

  // Canned responses in the conversation's language (else its base language, else English).
  function renderCanned(lang) {
    const base = (lang || "").split(/[-_]/)[0];
    const list = state.canned[lang] || state.canned[base] || state.canned.en || [];
    const sel = $("canned");
    if (sel.dataset.lang === (lang || "")) return;
    sel.dataset.lang = lang || "";
    sel.replaceChildren(el("option", { value: "" }, list.length ? "Choose…" : "None configured"),
      ...list.map((t) => el("option", { value: t }, t.length > 60 ? t.slice(0, 57) + "…" : t)));
  }
  $("canned").addEventListener("change", () => {
    const t = $("canned").value;
    if (!t) return;
    const box = $("reply-text");
    box.value = box.value ? box.value.replace(/\s*$/, " ") + t : t;
    $("canned").value = "";
    box.focus();
  });

  // --- search ------------------------------------------------------------------------------
  let searchTimer = 0;
  $("search").addEventListener("submit", (ev) => { ev.preventDefault(); runSearch(); });
  $("search-q").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(runSearch, 250); });
  async function runSearch() {
    const q = $("search-q").value.trim();
    $("results-section").hidden = !q;
    if (!q) return;
    try {
      const r = await api("GET", "/inbox/search?q=" + encodeURIComponent(q));
      renderList($("results"), r.results, "results");
      $("results-count").textContent = `(${r.results.length})`;
    } catch (e) { showError(e); }
  }

  // --- keyboard ----------------------------------------------------------------------------
  document.addEventListener("keydown", (ev) => {
    if ($("app-view").hidden) return;
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter" && document.activeElement === $("reply-text")) {
      ev.preventDefault();
      $("reply").requestSubmit();
    } else if (ev.altKey && (ev.key === "ArrowDown" || ev.key === "ArrowUp") && state.order.length) {
      ev.preventDefault();
      const i = state.order.indexOf(state.selected);
      const next = ev.key === "ArrowDown" ? (i + 1) % state.order.length : (i <= 0 ? state.order.length : i) - 1;
      select(state.order[next]).catch(showError);
    } else if (ev.altKey && (ev.key === "t" || ev.key === "T")) {
      ev.preventDefault();
      if (!$("takeover").hidden) $("takeover").click(); else if (!$("claim").hidden) $("claim").click();
    } else if (ev.key === "/" && !typing) {
      ev.preventDefault();
      $("search-q").focus();
    }
  });

  // Whether the message log is scrolled to its newest message (new content keeps it there).
  $("messages").addEventListener("scroll", () => {
    const ol = $("messages");
    ol.dataset.stick = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40 ? "1" : "0";
  });

  $("takeover").addEventListener("click", () => act(() => api("POST", `/conversations/${encodeURIComponent(state.selected)}/takeover`), "Conversation taken over from the bot"));

  $("reply").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("reply-text").value.trim();
    const file = $("reply-file").files[0];
    if (file) {
      act(async () => {
        const form = new FormData();
        form.append("file", file);
        form.append("caption", text);
        const resp = await fetch(`/api/v1/conversations/${encodeURIComponent(state.selected)}/media`,
          { method: "POST", headers: { Authorization: "Bearer " + state.token }, body: form });
        const data = await resp.json().catch(() => ({}));
        if (!resp.ok) { const e = new Error(data.error || "upload " + resp.status); e.status = resp.status; throw e; }
        $("reply-text").value = "";
        $("reply-file").value = "";
        $("reply-text").focus();
      }, "File sent");
      return;
    }
    if (!text) { showError(new Error("Write a reply or attach a file.")); return; }
    const buttons = $("reply-buttons").value.split(",").map((s) => s.trim()).filter(Boolean);
    const key = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
    act(async () => {
      await api("POST", `/conversations/${encodeURIComponent(state.selected)}/messages`, { type: "text", text, buttons }, { "Idempotency-Key": key });
      $("reply-text").value = "";
      $("reply-buttons").value = "";
      $("reply-text").focus();
    }, "Reply sent");
  });

  // A WhatsApp call button: the reply text (or a default) is its message.
  $("send-call").addEventListener("click", () => {
    const text = $("reply-text").value.trim() || "Tap to call us on WhatsApp. We can see this conversation, so there is no need to repeat anything.";
    const key = crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random();
    act(async () => {
      await api("POST", `/conversations/${encodeURIComponent(state.selected)}/messages`, { type: "call_button", text }, { "Idempotency-Key": key });
      $("reply-text").value = "";
    }, "Call button sent");
  });

  // What the customer will read: the template's body in the conversation's language with the
  // parameters typed so far ({{n}} stays visible until filled).
  function renderPreview() {
    const texts = (state.templateTexts || {})[$("template-name").value] || {};
    const lang = state.convLang || "", base = lang.split(/[-_]/)[0];
    const body = texts[lang] || texts[base] || texts.en || Object.values(texts)[0] || "";
    const params = $("template-params").value.split(",").map((s) => s.trim());
    $("template-preview").textContent = body ? "Preview: " + body.replace(/\{\{(\d+)\}\}/g, (m, n) => params[n - 1] || m) : "";
  }
  $("template-name").addEventListener("change", renderPreview);
  $("template-params").addEventListener("input", renderPreview);

  $("template").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const params = $("template-params").value.split(",").map((s) => s.trim()).filter(Boolean);
    act(() => api("POST", `/conversations/${encodeURIComponent(state.selected)}/messages`,
      { type: "template", template: $("template-name").value, params }), "Template sent");
  });

  $("transfer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const to = $("transfer-to").value;
    act(async () => {
      await api("POST", `/conversations/${encodeURIComponent(state.selected)}/transfer`, { to });
      state.selected = "";
      $("conv").hidden = true;
      $("empty").hidden = false;
    }, "Conversation transferred");
  });

  $("close").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act(async () => {
      await api("POST", `/conversations/${encodeURIComponent(state.selected)}/close`, { disposition: $("disposition").value });
      state.selected = "";
      $("conv").hidden = true;
      $("empty").hidden = false;
    }, "Conversation closed");
  });

  // --- live updates ----------------------------------------------------------------------
  async function startEvents() {
    state.abort = new AbortController();
    let delay = 1000;
    while (!state.abort.signal.aborted) {
      try {
        const resp = await fetch("/api/v1/inbox/events", { headers: { Authorization: "Bearer " + state.token }, signal: state.abort.signal });
        if (resp.status === 401) { signOut(); return; }
        if (!resp.ok || !resp.body) throw new Error("events: " + resp.status);
        $("live-state").textContent = "Live";
        delay = 1000;
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            onEvent(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
        }
      } catch (e) {
        if (state.abort.signal.aborted) return;
      }
      $("live-state").textContent = "Reconnecting…";
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
      scheduleRefresh(); // catch up on what the gap missed
    }
  }

  function onEvent(block) {
    let name = "message", data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) name = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trim();
    }
    if (name === "ready") { scheduleRefresh(); return; }
    if (name !== "update") return;
    let u = {};
    try { u = JSON.parse(data); } catch (_) { return; }
    if (u.type === "message" && u.wa_id && u.wa_id !== state.selected && state.lists &&
        state.lists.mine.some((c) => c.id === u.wa_id)) {
      const c = state.lists.mine.find((x) => x.id === u.wa_id);
      announce("New message from " + who(c));
    }
    scheduleRefresh();
  }

  // A one-time sign-in link (#signin=<code>, logged by the embedded default for its demo
  // accounts) is exchanged for the account's token; the code leaves the address bar at once.
  async function signInFromLink() {
    const m = /^#signin=([0-9a-f]+)$/.exec(location.hash);
    if (!m) return false;
    history.replaceState(null, "", location.pathname);
    const resp = await fetch("/api/v1/signin", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ code: m[1] }) });
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      $("signin-error").textContent = data.error || "That sign-in link did not work.";
      return true;
    }
    await signIn(data.token);
    return true;
  }

  signInFromLink().then((used) => {
    if (!used && state.token) signIn(state.token).catch(() => { sessionStorage.removeItem("deflectd-token"); state.token = ""; });
  }).catch((e) => { $("signin-error").textContent = "Sign-in failed: " + e.message; });
})();
