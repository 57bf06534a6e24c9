// The labeling widget (Streamlit custom component v2, inline, no iframe).
//
// Everything a reviewer does between two labels happens here, in the browser: a category key selects
// at once, Unsure and the note are local, and one submission per label goes to Python as part of the
// state value "outbox" ({instance, items}). Items carry a sequence number; Python stores each one,
// then acknowledges it ("acked" in the data it sends back), and only acknowledged items leave the
// outbox, so nothing is lost when Streamlit merges or interrupts reruns. The next threads arrive
// ahead of time ("queue"), so a submit shows the next thread at once; a key pressed while nothing is
// ready (the queue ran out, or the reveal step waits for the model's label) is queued and replayed.
//
// Untrusted text (threads, notes, category names and definitions) is only ever set with
// textContent or as a property value, never as HTML.

const WIDGETS = new WeakMap();
const EDITABLE = new Set(["INPUT", "TEXTAREA", "SELECT"]);

export default function (component) {
  const { parentElement, data, setStateValue } = component;
  let widget = WIDGETS.get(parentElement);
  if (!widget) {
    widget = createWidget(parentElement);
    WIDGETS.set(parentElement, widget);
  }
  widget.setStateValue = setStateValue;
  widget.update(data || {});
  return () => {
    widget.destroy();
    WIDGETS.delete(parentElement);
  };
}

function createWidget(root) {
  const $ = (name) => root.querySelector(`[data-el="${name}"]`);
  const el = {
    root: $("root"), title: $("title"), badges: $("badges"), progress: $("progress"), banner: $("banner"),
    text: $("text"), codebook: $("codebook"), codebookList: $("codebook-list"), cats: $("cats"),
    unsureRow: $("unsure-row"), unsure: $("unsure"), note: $("note"), submit: $("submit"), skip: $("skip"),
    undo: $("undo"), status: $("status"), help: $("help"),
  };
  const instance = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
  const w = {
    setStateValue: null,
    server: null,        // the newest data from Python
    outbox: [],          // items not acknowledged yet, in order
    seq: 0,
    threads: new Map(),  // "round:thread" -> thread item, for undo and the reveal step
    drafts: new Map(),   // "round:thread" -> {category, unsure, note, shownAt}
    history: [],         // this tab's submitted labels, newest last (for undo)
    pendingKeys: [],     // keys pressed while waiting for Python
    lastNotice: 0,
    shownKey: null,      // the thread whose text is in the pane
    catSignature: "",
    view: { kind: "wait" },
  };
  const key = (roundId, threadId) => `${roundId}:${threadId}`;

  // --- state -------------------------------------------------------------------------------------
  function mode() { return (w.server && w.server.mode) || "label"; }
  function round() { return (w.server && w.server.round) || {}; }

  function draftFor(item) {
    const k = key(item.round_id, item.id);
    let d = w.drafts.get(k);
    if (!d) {
      const mine = item.mine || {};
      d = { category: mine.category || null, unsure: !!mine.unsure, note: mine.note || "", shownAt: null };
      w.drafts.set(k, d);
    }
    return d;
  }

  function computeView() {
    const s = w.server;
    if (!s) return { kind: "wait" };
    if (s.message && !(s.queue || []).length && !s.reveal && !w.outbox.length) return { kind: "message", text: s.message };
    const r = round();
    if (mode() === "label" && r.reveal) {
      const waiting = w.outbox.find((i) => i.type === "label");
      if (waiting) return { kind: "wait", item: w.threads.get(key(waiting.round_id, waiting.thread_id)), reason: "reveal" };
    }
    if (mode() === "label" && s.reveal) {
      const t = s.reveal.thread;
      const done = w.outbox.some((i) => i.type === "post_reveal" && i.thread_id === t.id && i.round_id === t.round_id);
      if (!done) return { kind: "reveal", item: t, blind: s.reveal.blind, model: s.reveal.model };
    }
    let ids = (s.queue || []).map((t) => key(t.round_id, t.id));
    for (const it of w.outbox) {
      const k = key(it.round_id, it.thread_id);
      if (it.type === "label" || it.type === "skip" || it.type === "decide") {
        ids = ids.filter((x) => x !== k);
      } else if (it.type === "back") {
        ids = ids.filter((x) => !(x === k && (w.threads.get(x) || {}).editing));
      } else if (it.type === "undo") {
        if (it.thread_id == null || !w.threads.has(k)) return { kind: "wait" };
        ids = [k, ...ids.filter((x) => x !== k)];
      }
    }
    if (ids.length) return { kind: "thread", item: w.threads.get(ids[0]) };
    if (w.outbox.length) return { kind: "wait" };
    return { kind: "done", text: s.done_message || "Nothing left to do here." };
  }

  // --- talking to Python ----------------------------------------------------------------------------
  function send() {
    if (!w.setStateValue) return;
    w.setStateValue("outbox", { instance, items: w.outbox.map((i) => ({ ...i })) });
  }

  function push(item) {
    w.seq += 1;
    w.outbox.push({ seq: w.seq, ...item });
    send();
  }

  function update(data) {
    const previousRound = w.server && w.server.round ? w.server.round.id : null;
    w.server = data;
    if (previousRound !== null && data.round && data.round.id !== previousRound) status("", "info");
    const acked = (data.acked && Number(data.acked[instance])) || 0;
    w.outbox = w.outbox.filter((i) => i.seq > acked);
    for (const t of data.queue || []) w.threads.set(key(t.round_id, t.id), t);
    if (data.reveal && data.reveal.thread) w.threads.set(key(data.reveal.thread.round_id, data.reveal.thread.id), data.reveal.thread);
    const notices = (data.notices || []).filter((n) => n.instance === instance && n.seq > w.lastNotice);
    if (notices.length) {
      const last = notices[notices.length - 1];
      w.lastNotice = last.seq;
      const worst = notices.find((n) => n.kind === "error") || last;
      status(worst.text, worst.kind);
    }
    buildCategories(data.categories || []);
    releaseForeignFocus();
    render();
    drain();
  }

  // --- rendering -----------------------------------------------------------------------------------
  function status(text, kind) {
    el.status.textContent = text || "";
    el.status.className = `lw-status lw-${kind || "info"}`;
    el.status.title = text || "";
  }

  function buildCategories(cats) {
    const signature = JSON.stringify(cats.map((c) => [c.name, c.key, c.definition, c.examples]));
    if (signature === w.catSignature) return;
    w.catSignature = signature;
    el.cats.replaceChildren();
    el.cats.classList.toggle("lw-two", cats.length > 12);
    if (cats.length > 12) el.cats.style.gridTemplateRows = `repeat(${Math.ceil(cats.length / 2)}, auto)`;
    el.codebookList.replaceChildren();
    for (const c of cats) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "lw-cat";
      b.dataset.name = c.name;
      if (c.key) b.dataset.key = c.key;
      b.setAttribute("aria-pressed", "false");
      const k = document.createElement("kbd");
      k.textContent = c.key || "";
      const n = document.createElement("span");
      n.className = "lw-cat-name";
      n.textContent = c.name;
      b.append(k, n);
      b.title = c.definition ? `${c.name}: ${c.definition}`.slice(0, 600) : c.name;
      b.addEventListener("click", (e) => { e.preventDefault(); choose(c.name); b.blur(); });
      el.cats.append(b);

      const d = document.createElement("div");
      d.className = "lw-def";
      const head = document.createElement("div");
      head.className = "lw-def-name";
      const hk = document.createElement("kbd");
      hk.textContent = c.key || "";
      head.append(hk, document.createTextNode(` ${c.name}`));
      const def = document.createElement("div");
      def.className = "lw-def-text";
      def.textContent = c.definition || "No definition.";
      d.append(head, def);
      if (c.examples && c.examples.length) {
        const ul = document.createElement("ul");
        ul.className = "lw-def-ex";
        for (const ex of c.examples) {
          const li = document.createElement("li");
          li.textContent = ex;
          ul.append(li);
        }
        d.append(ul);
      }
      el.codebookList.append(d);
    }
  }

  function badge(text) {
    const b = document.createElement("span");
    b.className = "lw-badge";
    b.textContent = text;
    return b;
  }

  function progressText() {
    const p = w.server && w.server.progress;
    if (!p) return "";
    if (mode() === "decide") {
      const left = Math.max(0, (p.waiting || 0) - w.outbox.filter((i) => i.type === "decide").length);
      return `${left} waiting`;
    }
    const pendingNew = w.outbox.filter((i) => i.type === "label" && !(w.threads.get(key(i.round_id, i.thread_id)) || {}).mine).length;
    const undone = w.outbox.filter((i) => i.type === "undo").length;
    const done = Math.min(p.assigned, Math.max(0, p.done + pendingNew - undone));
    return `${done} / ${p.assigned} labeled`;
  }

  function setText(item, fallback) {
    const k = item ? key(item.round_id, item.id) : `msg:${fallback}`;
    if (w.shownKey === k) return;
    w.shownKey = k;
    el.text.classList.toggle("lw-empty", !item);
    el.text.textContent = item ? item.text : fallback;
    el.text.scrollTop = 0;
  }

  function render() {
    const v = computeView();
    w.view = v;
    const m = mode();
    const r = round();
    const item = v.item || null;
    el.root.dataset.view = v.kind;
    el.root.dataset.mode = m;
    el.root.dataset.pending = String(w.outbox.length);
    el.root.dataset.thread = item ? item.ext : "";
    el.progress.textContent = progressText();

    // heading and badges
    el.title.textContent = item ? `Thread ${item.ext}` : (r.name ? `Round ${r.name}` : "");
    const badges = [];
    if (item) {
      if (item.chars != null) badges.push(badge(`${Number(item.chars).toLocaleString("en-US")} characters`));
      if (item.truncated) badges.push(badge(`truncated at ${Number(item.text.length).toLocaleString("en-US")} characters`));
      if (item.editing) badges.push(badge("editing your label"));
      if (item.caption) badges.push(badge(item.caption));
    }
    el.badges.replaceChildren(...badges);

    // the thread, or what to say instead
    if (item) setText(item);
    else if (v.kind === "wait") setText(null, "Loading the next thread…");
    else setText(null, v.text || "");

    // the banner above the thread: the reveal step
    if (v.kind === "reveal") {
      el.banner.hidden = false;
      el.banner.replaceChildren(
        document.createTextNode("Your blind label "), bold(v.blind), document.createTextNode(" is stored and locked. The model labeled this thread "),
        bold(v.model), document.createTextNode(". Record your label after seeing it (press its key, then Enter; it may be the same), or Esc to continue without one."));
    } else if (v.kind === "wait" && v.reason === "reveal") {
      el.banner.hidden = false;
      el.banner.textContent = "Saving your blind label and getting the model's label…";
    } else {
      el.banner.hidden = true;
    }

    // categories
    const d = item ? draftFor(item) : null;
    if (item && d.shownAt == null && (v.kind === "thread" || v.kind === "reveal")) d.shownAt = performance.now();
    const chosen = v.kind === "reveal" ? revealChoice(item) : (d ? d.category : null);
    const active = (v.kind === "thread" || v.kind === "reveal") && r.open !== false;
    const options = new Set((item && item.options) || []);
    for (const b of el.cats.children) {
      b.setAttribute("aria-pressed", String(b.dataset.name === chosen));
      b.disabled = !active;
      b.classList.toggle("lw-blind", v.kind === "reveal" && b.dataset.name === v.blind);
      b.classList.toggle("lw-model", v.kind === "reveal" && b.dataset.name === v.model);
      b.classList.toggle("lw-option", m === "decide" && options.has(b.dataset.name));
    }

    // unsure, note, actions
    const labelMode = m === "label";
    el.unsureRow.hidden = !labelMode;
    el.unsure.checked = !!(d && d.unsure && v.kind !== "reveal");
    el.unsure.disabled = !(active && v.kind === "thread");
    el.note.placeholder = m === "decide" ? "Rationale (N to type, Esc to leave)" : "Note, optional (N to type, Esc to leave)";
    el.note.disabled = !(active && v.kind === "thread");
    const noteValue = d && v.kind !== "reveal" ? d.note : "";
    if (el.note.value !== noteValue && el.note !== shadowActive()) el.note.value = noteValue;
    el.submit.disabled = !(active && chosen);
    el.submit.firstChild.textContent = v.kind === "reveal" ? "Record second label " : (m === "decide" ? "Record final label " : "Submit ");
    el.skip.hidden = !labelMode || v.kind === "reveal";
    el.skip.textContent = item && item.editing ? "Back to queue " : "Skip ";
    el.skip.append(kbdEl(item && item.editing ? "Esc" : "S"));
    el.skip.disabled = !(active && v.kind === "thread");
    el.undo.hidden = !labelMode || v.kind === "reveal";
    el.undo.disabled = !(r.open !== false && (v.kind === "thread" || v.kind === "done"));
    el.help.textContent = helpText(m, v.kind);
    el.codebook.hidden = !w.codebookOpen;
    fit();
  }

  function bold(text) {
    const b = document.createElement("b");
    b.textContent = text || "";
    return b;
  }

  function kbdEl(text) {
    const k = document.createElement("kbd");
    k.textContent = text;
    return k;
  }

  function helpText(m, kind) {
    if (kind === "reveal") return "Keys: a category's key, then Enter records your second label · Esc continues without one · ? codebook.";
    if (m === "decide") return "Keys: a category's key, then Enter records the final label · N types a rationale · ? codebook. Keys pause while you type (Esc leaves the field).";
    return "Keys: the key shown picks a category · U unsure · N note · Enter submit · S skip · Backspace or Z undoes your last label · ? codebook (or hover a category). Keys pause while you type a note (Esc leaves it).";
  }

  function fit() {
    // The thread pane ends at the bottom of the window (the page itself does not need to scroll).
    const rect = el.text.getBoundingClientRect();
    if (!rect.width) return;
    const scroller = el.root.getRootNode().host ? el.root.getRootNode().host.closest('[data-testid="stMain"]') : null;
    const top = rect.top + (scroller ? scroller.scrollTop : 0) + window.scrollY;
    const h = Math.max(220, Math.floor(window.innerHeight - top - 14));
    if (el.text.style.height !== `${h}px`) el.text.style.height = `${h}px`;
  }

  // --- actions ---------------------------------------------------------------------------------------
  function revealChoice(item) {
    return w.revealChoice && w.revealChoice.k === key(item.round_id, item.id) ? w.revealChoice.name : null;
  }

  function choose(name) {
    const v = w.view;
    if (round().open === false) return;
    if (v.kind === "reveal") { w.revealChoice = { k: key(v.item.round_id, v.item.id), name }; render(); return; }
    if (v.kind !== "thread") return;
    draftFor(v.item).category = name;
    render();
  }

  function submit() {
    const v = w.view;
    const r = round();
    if (r.open === false) return;
    if (v.kind === "reveal") {
      const second = revealChoice(v.item);
      if (!second) { status("Choose your second label first (press its key), or Esc to continue without one.", "warn"); return; }
      push({ type: "post_reveal", round_id: v.item.round_id, thread_id: v.item.id, category: second });
      status(`Second label: ${second}`, "ok");
      w.revealChoice = null;
      render();
      return;
    }
    if (v.kind !== "thread") return;
    const t = v.item;
    const d = draftFor(t);
    if (!d.category) { status("Choose a category first (press its key).", "warn"); return; }
    if (mode() === "decide") {
      push({ type: "decide", round_id: t.round_id, thread_id: t.id, category: d.category, note: d.note });
      status(`Final label: ${d.category}`, "ok");
    } else {
      const seconds = d.shownAt == null ? null : Math.round((performance.now() - d.shownAt) / 100) / 10;
      push({ type: "label", round_id: t.round_id, thread_id: t.id, category: d.category, unsure: !!d.unsure,
             note: d.note, seconds });
      w.history.push({ round_id: t.round_id, thread_id: t.id });
      if (w.history.length > 200) w.history.shift();
      status(`${t.editing ? "Changed to" : "Saved"}: ${d.category}${d.unsure ? " (unsure)" : ""}`, "ok");
    }
    if (el.note === shadowActive()) el.note.blur();
    render();
  }

  function skipOrBack() {
    const v = w.view;
    if (mode() !== "label" || v.kind !== "thread" || round().open === false) return;
    const t = v.item;
    if (t.editing) {
      push({ type: "back", round_id: t.round_id, thread_id: t.id });
      status("Back to your queue.", "info");
    } else {
      push({ type: "skip", round_id: t.round_id, thread_id: t.id });
      status("Skipped: the thread moved to the end of your queue.", "info");
    }
    render();
  }

  function undo() {
    const v = w.view;
    const r = round();
    if (mode() !== "label" || r.open === false || !(v.kind === "thread" || v.kind === "done")) return;
    let last = null;
    while (w.history.length) {
      const h = w.history.pop();
      if (h.round_id === r.id) { last = h; break; }
    }
    if (last) {
      const d = w.drafts.get(key(last.round_id, last.thread_id));
      if (d) d.shownAt = null;
    }
    push({ type: "undo", round_id: r.id, thread_id: last ? last.thread_id : null });
    status("Undoing your last label…", "info");
    render();
  }

  function continueWithoutSecond() {
    const v = w.view;
    if (v.kind !== "reveal") return;
    push({ type: "post_reveal", round_id: v.item.round_id, thread_id: v.item.id, category: null });
    w.revealChoice = null;
    status("Continued without a second label.", "info");
    render();
  }

  function toggleCodebook(open) {
    w.codebookOpen = open === undefined ? !w.codebookOpen : open;
    render();
  }

  // --- keys ------------------------------------------------------------------------------------------
  function shadowActive() {
    const rootNode = el.note.getRootNode();
    return rootNode && rootNode.activeElement ? rootNode.activeElement : document.activeElement;
  }

  function isClosedSelect(t) {
    const box = t.closest && t.closest('[data-testid="stSelectbox"], [data-baseweb="select"]');
    return !!box && t.getAttribute("aria-expanded") !== "true";
  }

  function releaseForeignFocus() {
    // After choosing a round in a selectbox, its search field keeps the focus: give it back to the page.
    const a = document.activeElement;
    if (a && a !== document.body && isClosedSelect(a)) a.blur();
  }

  function categoryFor(k) {
    const cats = (w.server && w.server.categories) || [];
    const upper = k.length === 1 ? k.toUpperCase() : k;
    const c = cats.find((x) => x.key && x.key.toUpperCase() === upper);
    return c ? c.name : null;
  }

  function handleKey(k) {
    // k: {key, ctrl}; returns nothing. Keys that need Python's answer first are queued.
    const v = w.view;
    if (k.key === "?") { toggleCodebook(); return; }
    if (k.key === "Escape") {
      if (w.codebookOpen) { toggleCodebook(false); return; }
      if (v.kind === "wait") { w.pendingKeys.push(k); return; }
      if (v.kind === "reveal") { continueWithoutSecond(); return; }
      if (v.kind === "thread" && v.item.editing) { skipOrBack(); }
      return;
    }
    if (v.kind === "wait") { w.pendingKeys.push(k); return; }
    if (k.key === "Enter") { submit(); return; }
    const lower = k.key.length === 1 ? k.key.toLowerCase() : k.key;
    const cat = k.key.length === 1 ? categoryFor(k.key) : null;
    if (cat) { choose(cat); return; }
    if (mode() === "label" && (lower === "backspace" || k.key === "Backspace" || lower === "z")) { undo(); return; }
    if (v.kind !== "thread") return;
    if (mode() === "label" && lower === "u") {
      const d = draftFor(v.item);
      d.unsure = !d.unsure;
      render();
      return;
    }
    if (mode() === "label" && lower === "s" && !v.item.editing) { skipOrBack(); return; }
    if (lower === "n") { el.note.focus(); }
  }

  function drain() {
    while (w.pendingKeys.length) {
      w.view = computeView();
      if (w.view.kind === "wait") return;
      handleKey(w.pendingKeys.shift());
    }
  }

  function ours(k) {
    if (k === "?" || k === "Escape" || k === "Enter" || k === "Backspace") return true;
    if (k.length !== 1) return false;
    if ("uUsSzZnN".includes(k)) return true;
    return categoryFor(k) !== null;
  }

  function onKeyDown(e) {
    if (!el.root.isConnected || e.isComposing || e.altKey) return;
    const target = (e.composedPath && e.composedPath()[0]) || e.target;
    if (target === el.note) {
      if (e.key === "Enter") { e.preventDefault(); e.stopPropagation(); if (!e.repeat) submit(); }
      else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); el.note.blur(); }
      return;
    }
    const editable = target && (EDITABLE.has(target.tagName) || target.isContentEditable);
    if (editable && !isClosedSelect(target)) return;  // someone typing elsewhere: not ours
    if ((e.ctrlKey || e.metaKey) && e.key !== "Enter") return;
    if (!ours(e.key)) return;
    e.preventDefault();
    e.stopPropagation();
    if (e.repeat) return;
    if (editable) target.blur();
    handleKey({ key: e.key });
  }

  el.unsure.addEventListener("change", () => {
    const v = w.view;
    if (v.kind === "thread") { draftFor(v.item).unsure = el.unsure.checked; render(); }
    el.unsure.blur();
  });
  el.note.addEventListener("input", () => {
    const v = w.view;
    if (v.kind === "thread") draftFor(v.item).note = el.note.value;
  });
  el.submit.addEventListener("click", (e) => { e.preventDefault(); el.submit.blur(); submit(); });
  el.skip.addEventListener("click", (e) => { e.preventDefault(); el.skip.blur(); skipOrBack(); });
  el.undo.addEventListener("click", (e) => { e.preventDefault(); el.undo.blur(); undo(); });
  window.addEventListener("keydown", onKeyDown, true);
  window.addEventListener("resize", fit);
  const observer = new ResizeObserver(() => fit());
  observer.observe(el.root);

  w.update = update;
  w.destroy = () => {
    window.removeEventListener("keydown", onKeyDown, true);
    window.removeEventListener("resize", fit);
    observer.disconnect();
  };
  return w;
}
