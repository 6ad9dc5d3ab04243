// One assistant reply being streamed: parses its events, paints its text as markdown,
// and resumes from the last event id when the connection drops.
import { ApiError, errorFrom, resumeRun } from "./api.js";
import { renderMarkdown } from "./markdown.js";
import { readEvents } from "./sse.js";

const MAX_RESUMES = 6;
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
    this.content = node.querySelector(".content");
    this.hooks = hooks;
    this.text = "";
    this.runId = null;
    this.lastId = null;
    this.finished = false;
    this.stopRequested = false;
    this.abort = new AbortController();
    this.frame = 0;
    node.classList.add("streaming");
  }

  get aborted() {
    return this.abort.signal.aborted;
  }

  paint() {
    this.frame = 0;
    this.hooks.paint(() => this.content.replaceChildren(renderMarkdown(this.text)));
  }

  schedulePaint() {
    if (!this.frame) this.frame = requestAnimationFrame(() => this.paint());
  }

  note(text, className = "note") {
    const p = document.createElement("p");
    p.className = className;
    p.textContent = text;
    this.node.append(p);
  }

  finish() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.paint();
    this.node.classList.remove("streaming");
  }

  handle(ev) {
    if (ev.id) this.lastId = ev.id;
    const data = parse(ev.data);
    switch (ev.event) {
      case "metadata":
        this.runId = data.run_id ?? this.runId;
        this.hooks.onMetadata(this, data);
        break;
      case "token":
        this.text += data.text ?? "";
        this.schedulePaint();
        break;
      case "reset": // the run restarted elsewhere: its text starts over
        this.text = "";
        this.schedulePaint();
        break;
      case "done":
        this.text = data.message?.content ?? this.text;
        this.finished = true;
        break;
      case "error":
        this.finished = true;
        this.note(data.message || "The reply failed.", "note error");
        break;
      case "cancelled":
        this.finished = true;
        this.note("Stopped.");
        break;
      default:
        break;
    }
  }

  // Reads `first` (the POST /web/api/chat response) to the end, then resumes with
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
