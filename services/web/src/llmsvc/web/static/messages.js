// DOM for the conversation's messages: user bubbles, assistant replies with their tool
// steps, and the notes under a turn that stopped. Text from users and models goes in
// as text (textContent) or through renderMarkdown, never as HTML.
import { renderMarkdown } from "./markdown.js";

const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

export function actionButton(label, className, onClick, ariaLabel) {
  const b = el("button", className, label);
  b.type = "button";
  if (ariaLabel) b.setAttribute("aria-label", ariaLabel);
  b.addEventListener("click", onClick);
  return b;
}

/** A user's message; `id` (from the history) makes it editable. */
export function userMessage(text, id = null) {
  const node = el("article", "message user");
  node.setAttribute("aria-label", "You");
  if (id) node.dataset.id = id;
  node.append(el("div", "content", text), el("div", "actions"));
  return node;
}

/** An assistant reply: its tool steps, its text, then its actions. */
export function assistantMessage(text = "") {
  const node = el("article", "message assistant");
  node.setAttribute("aria-label", "Assistant");
  const content = el("div", "content");
  if (text) content.append(renderMarkdown(text));
  node.append(el("div", "steps"), content, el("div", "actions"));
  return node;
}

function pretty(value) {
  if (typeof value === "string") {
    try {
      return JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      return value;
    }
  }
  return JSON.stringify(value ?? {}, null, 2);
}

/** A tool call as a collapsible step inside `reply`: name and arguments, then result. */
export function addToolStep(reply, call) {
  const steps = reply.querySelector(".steps");
  const found = [...steps.children].find((s) => s.dataset.callId === String(call.id));
  if (found) return found;
  const step = el("details", "tool-step");
  step.dataset.callId = String(call.id ?? "");
  step.dataset.state = "running";
  const summary = el("summary");
  summary.append(el("span", "tool-name", call.name ?? "tool"), el("span", "tool-state", "running…"));
  const args = el("pre", "tool-args");
  args.append(el("code", "", pretty(call.args)));
  step.append(summary, el("p", "tool-label", "Arguments"), args);
  steps.append(step);
  return step;
}

export function setToolResult(reply, result) {
  const step = addToolStep(reply, result);
  step.dataset.state = result.is_error ? "error" : "done";
  step.querySelector(".tool-state").textContent = result.is_error ? "failed" : "done";
  step.querySelector(".tool-result")?.remove();
  step.querySelector(".tool-result-label")?.remove();
  const out = el("pre", "tool-result");
  out.append(el("code", "", pretty(result.content)));
  step.append(el("p", "tool-label tool-result-label", "Result"), out);
}

/** A line under a reply: "Stopped.", an error, a reconnect notice. */
export function note(reply, text, className = "note") {
  reply.querySelector(".note")?.remove();
  const p = el("p", className, text);
  reply.querySelector(".actions").before(p);
  return p;
}
