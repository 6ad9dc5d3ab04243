// The chat page: the conversation list, one conversation's messages and settings, and
// replies that stream in, can be stopped, regenerated or retried, and resume after a
// dropped connection or a reload.
import { api, ApiError, errorFrom, path, postChat, postRegenerate, resumeRun } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { actionButton, addToolStep, assistantMessage, note, setToolResult, userMessage } from "./messages.js";
import { Reply } from "./reply.js";
import { SessionList } from "./sessions.js";

const $ = (id) => document.getElementById(id);
const ui = {
  chat: $("chat"), sidebarToggle: $("toggle-sidebar"), create: $("new-session"),
  title: $("session-title"), model: $("model"), settingsToggle: $("toggle-settings"),
  settings: $("settings"), instructions: $("instructions"), settingsStatus: $("settings-status"),
  scroller: $("messages"), messages: $("message-list"), older: $("older-messages"),
  status: $("status"), form: $("composer"), input: $("message"), send: $("send"), stop: $("stop"),
};
const state = {
  currentId: null,
  session: null,
  olderCursor: null,
  run: null,
  models: [],
  // Settings chosen before the first message of a new conversation.
  draft: { model: null, instructions: "" },
};
const TITLE_CHECKS_MS = [800, 1500, 2500, 4000, 6000, 9000];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function showStatus(text) {
  ui.status.textContent = text ?? "";
  ui.status.hidden = !text;
}

// Runs an action from a click; its errors become the status line, never an exception.
const guarded = (fn) => async (...args) => {
  try {
    await fn(...args);
  } catch (err) {
    showStatus(err instanceof ApiError ? err.message : "Something went wrong. Please try again.");
  }
};

const sessions = new SessionList(
  { list: $("session-list"), more: $("more-sessions"), search: $("search"), empty: $("no-sessions") },
  {
    open: (id) => openSession(id),
    deleted: async (s) => { if (state.currentId === s.session_id) await openSession(null); },
    changed: (s) => {
      if (s.session_id !== state.currentId) return;
      state.session = s;
      showSettings();
    },
    guard: guarded,
  },
);

// ---- model and instructions ---------------------------------------------------------
const defaultModel = () => state.models.find((m) => m.default)?.id ?? state.models[0]?.id ?? "";

function showSettings() {
  const s = state.session;
  ui.title.textContent = s?.name || "New conversation";
  if (state.models.length) ui.model.value = (s ? s.model : state.draft.model) || defaultModel();
  ui.instructions.value = (s ? s.instructions : state.draft.instructions) ?? "";
}

async function loadModels() {
  const { models } = await api("GET", "/models");
  state.models = models ?? [];
  ui.model.replaceChildren(...state.models.map((m) => new Option(m.name || m.id, m.id)));
  ui.model.hidden = state.models.length === 0;
  showSettings();
}

async function changeSettings(change) {
  if (!state.session) {
    Object.assign(state.draft, change);
    return;
  }
  sessions.upsert(await api("PATCH", path`/sessions/${state.session.session_id}`, change));
}

async function createWithDraft() {
  const created = await api("POST", "/sessions", {
    model: state.draft.model || undefined,
    instructions: state.draft.instructions || undefined,
  });
  state.draft = { model: null, instructions: "" };
  adopt(created.session_id, created);
}

// ---- messages -----------------------------------------------------------------------
function nearBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

const toBottom = () => { ui.scroller.scrollTop = ui.scroller.scrollHeight; };

// History as the page shows it: each exchange's tool steps and answers in one reply.
function historyNodes(messages) {
  const nodes = [];
  let turn = null;
  for (const m of messages) {
    if (m.role === "user") {
      turn = null;
      nodes.push(userMessage(m.content, m.id));
    } else if (m.role === "assistant") {
      if (!turn) {
        turn = assistantMessage();
        nodes.push(turn);
      }
      for (const call of m.tool_calls ?? []) addToolStep(turn, call);
      if (m.content) turn.querySelector(".content").append(renderMarkdown(m.content));
      if (m.status === "interrupted") {
        turn.dataset.status = "interrupted";
        note(turn, "This reply was interrupted before it was finished.");
      } else if (m.status === "error") {
        turn.dataset.status = "error";
        note(turn, "This reply failed.", "note error");
      }
    } else if (m.role === "tool" && turn) {
      setToolResult(turn, { id: m.tool_call_id, name: m.name, content: m.content, is_error: m.is_error });
    }
  }
  return nodes;
}

async function loadHistory({ older = false } = {}) {
  const id = state.currentId;
  const query = older && state.olderCursor ? `?before=${encodeURIComponent(state.olderCursor)}` : "";
  const page = await api("GET", path`/sessions/${id}/history` + query);
  if (state.currentId !== id) return; // the user moved on meanwhile
  const nodes = historyNodes(page.messages ?? []);
  if (older) ui.messages.prepend(...nodes);
  else ui.messages.replaceChildren(...nodes);
  state.olderCursor = page.next_cursor ?? null;
  ui.older.hidden = !state.olderCursor;
  if (!older) toBottom();
  refreshActions();
}

// The ids of messages sent on this page (the stream does not carry them), for Edit.
async function learnIds(id) {
  const page = await api("GET", path`/sessions/${id}/history`);
  if (state.currentId !== id || state.run) return;
  const stored = (page.messages ?? []).filter((m) => m.role === "user");
  const shown = [...ui.messages.querySelectorAll(".message.user")];
  for (let i = 1; i <= Math.min(stored.length, shown.length); i += 1) {
    const node = shown.at(-i);
    if (!node.dataset.id && node.querySelector(".content").textContent === stored.at(-i).content) {
      node.dataset.id = stored.at(-i).id;
    }
  }
  refreshActions();
}

// Edit on user messages; Regenerate (or Retry, after a failure) on the last reply.
function refreshActions() {
  const nodes = [...ui.messages.querySelectorAll(":scope > .message")];
  nodes.forEach((n) => n.querySelector(".actions")?.replaceChildren());
  if (state.run || !state.currentId) return;
  for (const n of nodes) {
    if (n.classList.contains("user") && n.dataset.id) {
      n.querySelector(".actions").append(actionButton("Edit", "small", () => startEdit(n), "Edit this message"));
    }
  }
  const last = nodes.at(-1);
  if (!last) return;
  const failed = last.classList.contains("user") || last.dataset.status;
  const label = failed ? "Retry" : "Regenerate";
  const aria = failed ? "Answer the last message again" : "Regenerate the last reply";
  last.querySelector(".actions").append(actionButton(label, "small", guarded(regenerate), aria));
}

function startEdit(node) {
  if (state.run) return;
  const content = node.querySelector(".content");
  const actions = node.querySelector(".actions");
  const form = document.createElement("form");
  form.className = "edit-form";
  const box = document.createElement("textarea");
  box.value = content.textContent;
  box.rows = Math.min(10, box.value.split("\n").length + 1);
  box.setAttribute("aria-label", "Edit your message");
  const save = document.createElement("button");
  save.type = "submit";
  save.className = "primary small";
  save.textContent = "Save and send";
  const cancel = actionButton("Cancel", "small", () => close());
  const close = () => {
    form.remove();
    content.hidden = false;
    actions.hidden = false;
  };
  form.append(box, save, cancel);
  form.addEventListener("submit", guarded(async (ev) => {
    ev.preventDefault();
    const text = box.value.trim();
    if (!text || text === content.textContent) return close();
    // The message and everything after it are replaced.
    while (node.nextElementSibling) node.nextElementSibling.remove();
    node.remove();
    await streamTurn({ text, editId: node.dataset.id });
  }));
  box.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      ev.stopPropagation();
      close();
    } else if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
  content.hidden = true;
  actions.hidden = true;
  node.append(form);
  box.focus();
}

async function regenerate() {
  if (state.run || !state.currentId) return;
  const nodes = [...ui.messages.querySelectorAll(":scope > .message")];
  while (nodes.length && nodes.at(-1).classList.contains("assistant")) nodes.pop().remove();
  await streamTurn({ regenerate: true });
}

// ---- conversations ------------------------------------------------------------------
function setHash(id) {
  history.replaceState(null, "", id ? `#${encodeURIComponent(id)}` : "#");
}

function showSidebar(open) {
  ui.chat.classList.toggle("sidebar-open", open);
  ui.sidebarToggle.setAttribute("aria-expanded", String(open));
}

async function openSession(id) {
  detachRun();
  state.currentId = id;
  state.session = id ? sessions.find(id) : null;
  state.olderCursor = null;
  setHash(id);
  ui.messages.replaceChildren();
  ui.older.hidden = true;
  showStatus("");
  sessions.select(id);
  showSettings();
  showSidebar(false);
  if (id) {
    const [view] = await Promise.all([api("GET", path`/sessions/${id}`), loadHistory()]);
    if (state.currentId !== id) return;
    state.session = view;
    showSettings();
    if (view.active_run_id && !state.run) follow(view.active_run_id);
  }
  refreshActions();
  ui.input.focus();
}

async function newSession() {
  const created = await api("POST", "/sessions", {});
  sessions.upsert(created);
  await openSession(created.session_id);
}

// A conversation created by its first message (or just before it): show it as current.
function adopt(sessionId, session = null) {
  state.currentId = sessionId;
  setHash(sessionId);
  if (session) {
    state.session = session;
    sessions.upsert(session);
  }
  sessions.select(sessionId);
  if (!session) sessions.load().then(() => {
    state.session = sessions.find(sessionId) ?? state.session;
    showSettings();
  }).catch(() => {});
}

// The automatic title arrives a moment after the first reply: look for it a few times.
async function watchTitle(id) {
  for (const wait of TITLE_CHECKS_MS) {
    const known = sessions.find(id);
    if (known && known.title_source !== "default") return;
    await sleep(wait);
    const fresh = await api("GET", path`/sessions/${id}`).catch(() => null);
    if (fresh && fresh.title_source !== "default") {
      sessions.upsert(fresh);
      return;
    }
  }
}

// ---- streaming a reply --------------------------------------------------------------
function setBusy(busy) {
  ui.send.disabled = busy;
  ui.stop.hidden = !busy;
  ui.stop.disabled = false;
}

// Leave a reply to go on without us (the user opened another conversation).
function detachRun() {
  const reply = state.run;
  if (!reply) return;
  reply.abort.abort();
  state.run = null;
  setBusy(false);
}

const replyHooks = {
  onMetadata(reply, data) {
    if (data.session_id && state.currentId !== data.session_id && state.run === reply) {
      adopt(data.session_id);
    }
    if (reply.stopRequested) cancelRun(reply);
  },
  onStatus: showStatus,
  paint(repaint) {
    const stick = nearBottom();
    repaint();
    if (stick) toBottom();
  },
};

function refusal(err) {
  if (err.code === "run_active") {
    return "A reply is still being written in this conversation. Wait for it or stop it, then send again.";
  }
  return err.message;
}

// One reply, from its first request to its last event; the page is busy meanwhile.
async function runReply(reply, start) {
  state.run = reply;
  setBusy(true);
  refreshActions();
  try {
    const response = await start(reply.abort.signal);
    if (!response.ok) return await errorFrom(response);
    await reply.follow(response);
  } catch (err) {
    if (!reply.aborted) reply.note(err instanceof ApiError ? err.message : "The reply failed.", "note error");
  } finally {
    reply.finish();
    if (state.run === reply) {
      state.run = null;
      setBusy(false);
    }
  }
  const id = reply.sessionId;
  if (!reply.aborted && id && id === state.currentId) {
    refreshActions();
    learnIds(id).catch(() => {});
    sessions.load().catch(() => {}); // newest activity first
    watchTitle(id).catch(() => {});
  }
  return null;
}

// Send `text` (as an edit of `editId`), or regenerate the last reply.
async function streamTurn({ text = null, editId = null, regenerate: again = false }) {
  if (state.run) return;
  showStatus("");
  const userNode = text === null ? null : userMessage(text);
  const reply = new Reply(assistantMessage(), replyHooks);
  if (userNode) ui.messages.append(userNode);
  ui.messages.append(reply.node);
  toBottom();
  if (text !== null && !state.currentId && (state.draft.model || state.draft.instructions)) {
    try {
      await createWithDraft();
    } catch (err) {
      userNode.remove();
      reply.node.remove();
      ui.input.value = text;
      throw err;
    }
  }
  const refused = await runReply(reply, (signal) => (again
    ? postRegenerate(state.currentId, signal)
    : postChat({ message: text, session_id: state.currentId, edit_message_id: editId ?? undefined }, signal)));
  if (refused) {
    reply.node.remove();
    userNode?.remove();
    if (text !== null && !editId) ui.input.value = text;
    showStatus(refusal(refused));
    if (editId || again) await loadHistory(); // what the server still has
  }
}

// Follow a run started elsewhere (another tab, or this page before a reload).
async function follow(runId) {
  const reply = new Reply(assistantMessage(), replyHooks);
  reply.runId = runId;
  reply.sessionId = state.currentId;
  ui.messages.append(reply.node);
  toBottom();
  await runReply(reply, async (signal) => {
    for (let attempt = 0; ; attempt += 1) {
      const response = await resumeRun(runId, null, signal);
      // Not started yet (no event so far): it will be in a moment.
      if (response.status !== 404 || attempt >= 10) return response;
      await sleep(500);
    }
  });
}

async function send() {
  const text = ui.input.value.trim();
  if (!text || state.run) return;
  ui.input.value = "";
  await streamTurn({ text });
}

async function cancelRun(reply) {
  ui.stop.disabled = true;
  if (!reply.runId) {
    reply.stopRequested = true; // cancelled as soon as the run id arrives
    return;
  }
  try {
    await api("POST", path`/runs/${reply.runId}/cancel`);
  } catch (err) {
    ui.stop.disabled = false;
    showStatus(err.message);
  }
}

// ---- wiring -------------------------------------------------------------------------
ui.form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  guarded(send)();
});
ui.input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    guarded(send)();
  }
});
document.addEventListener("keydown", (ev) => {
  if (ev.key === "Escape" && state.run && !ev.defaultPrevented) cancelRun(state.run);
});
ui.stop.addEventListener("click", () => state.run && cancelRun(state.run));
ui.create.addEventListener("click", guarded(newSession));
ui.older.addEventListener("click", guarded(() => loadHistory({ older: true })));
ui.model.addEventListener("change", guarded(() => changeSettings({ model: ui.model.value })));
ui.settingsToggle.addEventListener("click", () => {
  ui.settings.hidden = !ui.settings.hidden;
  ui.settingsToggle.setAttribute("aria-expanded", String(!ui.settings.hidden));
  if (!ui.settings.hidden) ui.instructions.focus();
});
ui.settings.addEventListener("submit", guarded(async (ev) => {
  ev.preventDefault();
  ui.settingsStatus.textContent = "";
  await changeSettings({ instructions: ui.instructions.value.trim() });
  ui.settingsStatus.textContent = "Saved.";
}));
ui.sidebarToggle.addEventListener("click", () => showSidebar(!ui.chat.classList.contains("sidebar-open")));

guarded(async () => {
  await Promise.all([sessions.load(), loadModels()]);
  const wanted = decodeURIComponent(window.location.hash.slice(1));
  const start = sessions.find(wanted) ?? sessions.items[0];
  if (start) await openSession(start.session_id);
  else ui.input.focus();
})();
