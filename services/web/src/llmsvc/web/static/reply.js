// One assistant reply being streamed: parses its events, paints its text as markdown
// (finished blocks once, the growing end at most once a frame), shows its tool steps,
// and resumes from the last event id when the connection drops.
import { ApiError, errorFrom, resumeRun } from "./api.js";
import { StreamingMarkdown } from "./markdown.js";
import { addToolStep, note, setToolResult } from "./messages.js";
import { readEvents } from "./sse.js";

const MAX_RESUMES = 6;
// Painting may take at most this share of the time: a slow render paints less often.
const PAINT_SHARE = 0.25;
// A run no worker has taken after this long says so (it ends with `no_worker` later).
const WAITING_NOTICE_MS = 1500;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function parse(data) {
  try {
    return JSON.parse(data);
  } catch {
    return {};
  }
}

export class Reply {
  // hooks: onMetadata(reply, data), onStatus(text), paint(fn) wraps a repaint (scrolling)
  constructor(node, hooks) {
    this.node = node;
    this.view = new StreamingMarkdown(node.querySelector(".content"));
    this.hooks = hooks;
    this.text = "";
    this.runId = null;
    this.sessionId = null;
    this.waiting = null; // the "waiting for a worker" notice: a timer, or "shown"
    this.lastId = null;
    /** "done", "cancelled" or "error" once a terminal event came. */
    this.outcome = null;
    this.error = null;
    this.stopRequested = false;
    this.abort = new AbortController();
    this.frame = 0;
    this.timer = 0;
    this.paintedAt = 0;
    this.paintCost = 0;
    node.classList.add("streaming");
    node.setAttribute("aria-busy", "true");
  }

  get finished() {
    return this.outcome !== null;
  }

  get aborted() {
    return this.abort.signal.aborted;
  }

  paint() {
    this.frame = 0;
    const started = performance.now();
    this.hooks.paint(() => this.view.update(this.text));
    this.paintedAt = performance.now();
    this.paintCost = this.paintedAt - started;
  }

  schedulePaint() {
    if (this.frame || this.timer) return;
    const wait = this.paintedAt + this.paintCost / PAINT_SHARE - performance.now();
    const frame = () => {
      this.timer = 0;
      this.frame = requestAnimationFrame(() => this.paint());
    };
    if (wait > 16) this.timer = setTimeout(frame, wait);
    else frame();
  }

  cancelPaint() {
    clearTimeout(this.timer);
    cancelAnimationFrame(this.frame);
    this.timer = 0;
    this.frame = 0;
  }

  note(text, className = "note") {
    note(this.node, text, className);
  }

  stopWaiting() {
    if (this.waiting === "shown") this.hooks.onStatus("");
    else clearTimeout(this.waiting);
    this.waiting = null;
  }

  finish() {
    this.stopWaiting();
    this.cancelPaint();
    this.hooks.paint(() => this.view.finish(this.text));
    this.node.classList.remove("streaming");
    this.node.removeAttribute("aria-busy");
    if (this.outcome === "cancelled" || this.outcome === "error" || !this.outcome) {
      this.node.dataset.status = this.outcome === "error" ? "error" : "interrupted";
    }
  }

  handle(ev) {
    if (ev.id) this.lastId = ev.id;
    const data = parse(ev.data);
    switch (ev.event) {
      case "queued": // from the gateway, before any worker has the run
        this.runId = data.run_id ?? this.runId;
        this.sessionId = data.session_id ?? this.sessionId;
        this.hooks.onMetadata(this, data);
        this.waiting ??= setTimeout(() => {
          this.waiting = "shown";
          this.hooks.onStatus("Waiting for a free worker…");
        }, WAITING_NOTICE_MS);
        break;
      case "metadata":
        this.stopWaiting();
        this.runId = data.run_id ?? this.runId;
        this.sessionId = data.session_id ?? this.sessionId;
        this.hooks.onMetadata(this, data);
        break;
      case "token":
        this.text += data.text ?? "";
        this.schedulePaint();
        break;
      case "tool_call":
        this.hooks.paint(() => addToolStep(this.node, data));
        break;
      case "tool_result":
        this.hooks.paint(() => setToolResult(this.node, data));
        break;
      case "reset": // the run restarted elsewhere: its text and steps start over
        this.text = "";
        this.node.querySelector(".steps").replaceChildren();
        this.schedulePaint();
        break;
      case "done":
        this.text = data.message?.content ?? this.text;
        this.messageId = data.message?.id ?? null;
        this.outcome = "done";
        break;
      case "error":
        this.outcome = "error";
        this.error = data;
        this.note(data.message || "The reply failed.", "note error");
        break;
      case "cancelled":
        this.outcome = "cancelled";
        this.note("Stopped before the reply was finished.");
        break;
      default:
        break;
    }
  }

  // Reads `first` (the POST response) to the end, then resumes with
  // GET /web/api/runs/{id}/events + Last-Event-ID until a terminal event arrives.
  async follow(first) {
    let response = first;
    let failures = 0;
    for (;;) {
      const seenBefore = this.lastId;
      try {
        if (response?.ok) await readEvents(response.body, (ev) => this.handle(ev));
        else if (response) {
          const err = await errorFrom(response);
          if (response.status < 500) throw err;
        }
      } catch (err) {
        if (err instanceof ApiError) throw err;
        // a dropped connection: resume below
      }
      if (this.finished || this.aborted) return;
      failures = this.lastId !== seenBefore ? 1 : failures + 1;
      if (!this.runId || failures > MAX_RESUMES) {
        throw new ApiError(0, "stream_lost", "The connection was lost. Reload the page to see the reply.");
      }
      this.hooks.onStatus("Connection lost, reconnecting…");
      await sleep(Math.min(8000, 400 * 2 ** (failures - 1)));
      response = await resumeRun(this.runId, this.lastId, this.abort.signal).catch(() => null);
      if (response?.ok) this.hooks.onStatus("");
    }
  }
}
