// The chat page: conversation list, history, streaming replies with Stop and resume.
import { api, ApiError, errorFrom, path, postChat } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { Reply } from "./reply.js";

const $ = (id) => document.getElementById(id);
const ui = {
  list: $("session-list"), more: $("more-sessions"), create: $("new-session"),
  title: $("session-title"), scroller: $("messages"), messages: $("message-list"),
  older: $("older-messages"), status: $("status"), form: $("composer"),
  input: $("message"), send: $("send"), stop: $("stop"),
};
const state = { sessions: [], nextCursor: null, currentId: null, olderCursor: null, run: null };

const current = () => state.sessions.find((s) => s.session_id === state.currentId) ?? null;

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

function button(label, className, onClick, title) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = className;
  b.textContent = label;
  if (title) b.title = title;
  b.addEventListener("click", guarded(onClick));
  return b;
}

// ---- conversations ----------------------------------------------------------------
function renderSessions() {
  ui.list.replaceChildren(...state.sessions.map((s) => {
    const li = document.createElement("li");
    li.className = s.session_id === state.currentId ? "session active" : "session";
    li.append(
      button(s.name || "Untitled", "session-name", () => openSession(s.session_id)),
      button("✎", "icon", () => renameSession(s), "Rename"),
      button("✕", "icon danger", () => deleteSession(s), "Delete"),
    );
    return li;
  }));
  ui.more.hidden = !state.nextCursor;
  ui.title.textContent = current()?.name || "New conversation";
}

async function loadSessions({ more = false } = {}) {
  const query = more && state.nextCursor ? `?cursor=${encodeURIComponent(state.nextCursor)}` : "";
  const page = await api("GET", `/sessions${query}`);
  const items = Array.isArray(page) ? page : page.sessions ?? page.items ?? [];
  state.sessions = more ? state.sessions.concat(items) : items;
  state.nextCursor = Array.isArray(page) ? null : page.next_cursor ?? null;
  renderSessions();
}

function messageNode(role, content) {
  const node = document.createElement("article");
  node.className = role === "user" ? "message user" : "message assistant";
  const body = document.createElement("div");
  body.className = "content";
  if (role === "user") body.textContent = content;
  else body.append(renderMarkdown(content));
  node.append(body);
  return node;
}

function nearBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

async function loadHistory({ older = false } = {}) {
  const id = state.currentId;
  const query = older && state.olderCursor ? `?before=${encodeURIComponent(state.olderCursor)}` : "";
  const page = await api("GET", path`/sessions/${id}/history` + query);
  if (state.currentId !== id) return; // the user moved on meanwhile
  // Tool steps (assistant tool calls, tool results) are the agent's working: the
  // conversation shows the questions and the answers.
  const shown = (page.messages ?? []).filter(
    (m) => m.role === "user" || (m.role === "assistant" && m.content),
  );
  const nodes = shown.map((m) => {
    const node = messageNode(m.role, m.content);
    if (m.status === "interrupted") node.dataset.status = "interrupted";
    return node;
  });
  if (older) ui.messages.prepend(...nodes);
  else ui.messages.replaceChildren(...nodes);
  state.olderCursor = page.next_cursor ?? null;
  ui.older.hidden = !state.olderCursor;
  if (!older) ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

async function openSession(id) {
  detachRun();
  state.currentId = id;
  history.replaceState(null, "", id ? `#${encodeURIComponent(id)}` : "#");
  ui.messages.replaceChildren();
  ui.older.hidden = true;
  showStatus("");
  renderSessions();
  if (id) await loadHistory();
  ui.input.focus();
}

async function newSession() {
  const created = await api("POST", "/sessions", {});
  state.sessions.unshift(created);
  await openSession(created.session_id);
}

async function renameSession(s) {
  const name = window.prompt("Rename the conversation", s.name ?? "")?.trim();
  if (!name || name === s.name) return;
  const updated = await api("PATCH", path`/sessions/${s.session_id}`, { name });
  Object.assign(s, updated ?? { name });
  renderSessions();
}

async function deleteSession(s) {
  if (!window.confirm(`Delete “${s.name}” and all its messages?`)) return;
  await api("DELETE", path`/sessions/${s.session_id}`);
  state.sessions = state.sessions.filter((x) => x.session_id !== s.session_id);
  if (state.currentId === s.session_id) await openSession(null);
  else renderSessions();
}

// ---- streaming a reply ------------------------------------------------------------
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

// The first message of a new conversation created it on the gateway: show it.
function adopt(sessionId) {
  state.currentId = sessionId;
  history.replaceState(null, "", `#${encodeURIComponent(sessionId)}`);
  loadSessions().catch(() => {});
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
    if (stick) ui.scroller.scrollTop = ui.scroller.scrollHeight;
  },
};

async function send() {
  const text = ui.input.value.trim();
  if (!text || state.run) return;
  showStatus("");
  ui.input.value = "";
  const userNode = messageNode("user", text);
  const reply = new Reply(messageNode("assistant", ""), replyHooks);
  ui.messages.append(userNode, reply.node);
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
  state.run = reply;
  setBusy(true);
  try {
    const response = await postChat(text, state.currentId, reply.abort.signal);
    if (!response.ok) {
      const err = await errorFrom(response);
      reply.node.remove();
      userNode.remove();
      ui.input.value = text;
      showStatus(err.code === "run_active"
        ? "A reply is still being written in this conversation. Wait for it or stop it, then send again."
        : err.message);
      return;
    }
    await reply.follow(response);
    if (reply.finished) loadSessions().catch(() => {}); // newest activity first
  } catch (err) {
    if (!reply.aborted) reply.note(err instanceof ApiError ? err.message : "The reply failed.", "note error");
  } finally {
    reply.finish();
    if (state.run === reply) {
      state.run = null;
      setBusy(false);
    }
  }
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
  send();
});
ui.input.addEventListener("keydown", (ev) => {
  if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
    ev.preventDefault();
    send();
  }
});
ui.stop.addEventListener("click", () => state.run && cancelRun(state.run));
ui.create.addEventListener("click", guarded(newSession));
ui.more.addEventListener("click", guarded(() => loadSessions({ more: true })));
ui.older.addEventListener("click", guarded(() => loadHistory({ older: true })));

guarded(async () => {
  await loadSessions();
  const wanted = decodeURIComponent(window.location.hash.slice(1));
  const start = state.sessions.find((s) => s.session_id === wanted) ?? state.sessions[0];
  if (start) await openSession(start.session_id);
})();
