// Calls to the web's own JSON API (/web/api/…), which relays to the gateway.
// Every request carries the CSRF token from the page's <meta> tag; the session cookie
// (HttpOnly) goes along by itself.

const CSRF_TOKEN = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const BASE = "/web/api";

export class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }
}

function headers(extra) {
  return { "X-CSRF-Token": CSRF_TOKEN, ...extra };
}

// Turns an error response into an ApiError; a 401 means the session is gone for good
// (the server already tried to refresh it), so go to the login page.
export async function errorFrom(response) {
  let error = {};
  try {
    error = (await response.json()).error ?? {};
  } catch {
    // not JSON: keep the generic message
  }
  if (response.status === 401) window.location.assign("/web/login");
  const message = error.message || `The request failed (HTTP ${response.status}).`;
  return new ApiError(response.status, error.code || `http_${response.status}`, message, error);
}

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: headers({ Accept: "application/json" }) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(BASE + path, init);
  if (!response.ok) throw await errorFrom(response);
  return response.status === 204 ? null : response.json();
}

function openStream(url, body, signal) {
  return fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
}

// Starts a reply: POST /web/api/chat answers with the gateway's SSE stream.
// `turn`: {message, session_id, edit_message_id}.
export function postChat(turn, signal) {
  return openStream(`${BASE}/chat`, turn, signal);
}

// A new answer to the conversation's last user message, streamed the same way.
export function postRegenerate(sessionId, signal) {
  return openStream(`${BASE}/sessions/${encodeURIComponent(sessionId)}/regenerate`, {}, signal);
}

// Resumes a run's events after the last one seen (Last-Event-ID).
export function resumeRun(runId, lastEventId, signal) {
  const extra = { Accept: "text/event-stream" };
  if (lastEventId) extra["Last-Event-ID"] = lastEventId;
  return fetch(`${BASE}/runs/${encodeURIComponent(runId)}/events`, {
    credentials: "same-origin",
    headers: headers(extra),
    signal,
  });
}

export const path = (strings, ...ids) =>
  strings.reduce((acc, s, n) => acc + s + (n < ids.length ? encodeURIComponent(ids[n]) : ""), "");
