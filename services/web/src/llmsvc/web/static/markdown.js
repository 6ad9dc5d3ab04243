// Markdown for untrusted model output: markdown-it parses (raw HTML off), highlight.js
// colours fenced code, DOMPurify cleans the result, and a last pass makes links and code
// blocks safe and usable. Links go only to http, https and mailto, open in a new tab
// without an opener, and show where they lead; images become plain links.
//
// While a reply streams, StreamingMarkdown re-renders only the unfinished last blocks:
// finished blocks are parsed once and kept, so a long reply costs about its own length.
import markdownit from "./vendor/markdown-it.js";
import DOMPurify from "./vendor/purify.js";
import hljs from "./vendor/highlight.js";

const LINK = /^(?:https?:\/\/|mailto:)/i;
// Bigger code blocks stay plain text: highlighting them would stall the page.
const HIGHLIGHT_LIMIT = 50_000;

/** Work done by the renderer, for the browser tests to see what streaming costs. */
export const renderStats = { calls: 0, chars: 0 };

function highlight(code, lang) {
  const language = lang && hljs.getLanguage(lang) ? lang : null;
  if (!language || code.length > HIGHLIGHT_LIMIT) return ""; // markdown-it escapes it
  try {
    return hljs.highlight(code, { language, ignoreIllegals: true }).value;
  } catch {
    return "";
  }
}

const md = markdownit({ html: false, linkify: true, highlight });
// markdown-it's own check refuses javascript:, vbscript:, file: and most data: URLs;
// ours admits only what a person can safely follow. It sees the URL after entities are
// decoded and the URL normalised, so encoded schemes are caught too.
md.validateLink = (url) => LINK.test(url.trim());

// Images off: the picture becomes a link to it, labelled with its alt text.
md.renderer.rules.image = (tokens, idx) => {
  const token = tokens[idx];
  const src = md.utils.escapeHtml(token.attrGet("src") ?? "");
  const label = md.utils.escapeHtml(`Image: ${token.content || "untitled"}`);
  return `<a href="${src}">${label}</a>`;
};

// Table alignment as classes: the page's CSP forbids style attributes.
for (const rule of ["th_open", "td_open"]) {
  md.renderer.rules[rule] = (tokens, idx, options, _env, self) => {
    const token = tokens[idx];
    const align = /text-align:(left|right|center)/.exec(token.attrGet("style") ?? "");
    token.attrs = (token.attrs ?? []).filter(([name]) => name !== "style");
    if (align) token.attrJoin("class", `align-${align[1]}`);
    return self.renderToken(tokens, idx, options);
  };
}

const PURIFY = {
  ALLOWED_TAGS: [
    "a", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr",
    "li", "ol", "p", "pre", "s", "span", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
  ],
  ALLOWED_ATTR: ["href", "class", "start", "title"],
  ALLOWED_URI_REGEXP: /^(?:https?:|mailto:)/i,
  RETURN_DOM_FRAGMENT: true,
};

function hostOf(href) {
  try {
    const url = new URL(href);
    return url.protocol === "mailto:" ? url.pathname : url.host;
  } catch {
    return null;
  }
}

function finishLink(a) {
  const host = hostOf(a.href);
  if (host === null) {
    a.replaceWith(...a.childNodes); // nothing safe to go to: keep the words
    return;
  }
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  a.removeAttribute("title");
  if (!a.textContent.includes(host)) {
    const shown = document.createElement("span");
    shown.className = "link-host";
    shown.textContent = host;
    a.append(" ", shown);
  }
}

function finishCode(pre) {
  const code = pre.querySelector("code");
  if (!code) return;
  code.classList.add("hljs");
  const language = /\blanguage-([\w#+.-]+)/.exec(code.className)?.[1] ?? "";
  const bar = document.createElement("div");
  bar.className = "code-bar";
  const label = document.createElement("span");
  label.className = "code-language";
  label.textContent = language || "text";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy-code";
  copy.textContent = "Copy";
  copy.setAttribute("aria-label", `Copy the ${language || "text"} code`);
  bar.append(label, copy);
  const block = document.createElement("div");
  block.className = "code-block";
  pre.replaceWith(block);
  block.append(bar, pre);
}

/** `text` (markdown) as a DocumentFragment that is safe to insert into the page. */
export function renderMarkdown(text) {
  renderStats.calls += 1;
  renderStats.chars += text.length;
  const fragment = DOMPurify.sanitize(md.render(text), PURIFY);
  fragment.querySelectorAll("a").forEach(finishLink);
  fragment.querySelectorAll("pre").forEach(finishCode);
  return fragment;
}

// One listener for every code block's Copy button, present and future.
document.addEventListener("click", async (ev) => {
  const button = ev.target instanceof Element ? ev.target.closest("button.copy-code") : null;
  if (!button) return;
  const code = button.closest(".code-block")?.querySelector("pre code");
  if (!code) return;
  try {
    await navigator.clipboard.writeText(code.textContent);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Copy failed";
  }
  setTimeout(() => { button.textContent = "Copy"; }, 1500);
});

// ---- streaming ----------------------------------------------------------------------
const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
// A line that could continue the block before a blank line: indented, a list item, a
// table row. Cutting before one could change how the text before it renders.
const CONTINUES = /^(?:\s|[-*+](?:\s|$)|\d{1,9}[.)](?:\s|$)|\|)/;

/**
 * Where text[from:] can be cut so that the part before renders the same alone as in
 * the whole: after a blank line outside fenced code, before a line that starts a new
 * block. Returns `from` when there is no such place yet.
 */
export function stableCut(text, from) {
  let fence = null;
  let cut = from;
  let afterBlank = false;
  let pos = from;
  while (pos < text.length) {
    const end = text.indexOf("\n", pos);
    if (end < 0) break; // the last line is still being written
    const line = text.slice(pos, end);
    if (fence) {
      const close = FENCE.exec(line);
      if (close && close[1][0] === fence[0] && close[1].length >= fence.length && !close[2].trim()) {
        fence = null;
      }
      afterBlank = false;
    } else if (line.trim() === "") {
      afterBlank = true;
    } else {
      if (afterBlank && !CONTINUES.test(line)) cut = pos;
      afterBlank = false;
      const open = FENCE.exec(line);
      if (open) fence = open[1];
    }
    pos = end + 1;
  }
  return cut;
}

/**
 * A reply's text painted as markdown while it grows. Blocks before the last stable cut
 * are rendered once and kept; the rest is re-rendered at most once per frame, and less
 * often when rendering it takes long (never more than a quarter of the time).
 */
export class StreamingMarkdown {
  constructor(container) {
    this.container = container;
    this.reset();
  }

  reset() {
    this.settled = document.createElement("div");
    this.tail = document.createElement("div");
    this.settled.className = "md-part";
    this.tail.className = "md-part";
    this.container.replaceChildren(this.settled, this.tail);
    this.cut = 0;
    this.text = "";
  }

  /** Paint `text`, which usually extends the text painted before. */
  update(text) {
    if (!text.startsWith(this.text.slice(0, this.cut))) this.reset();
    this.text = text;
    const cut = stableCut(text, this.cut);
    if (cut > this.cut) {
      this.settled.append(renderMarkdown(text.slice(this.cut, cut)));
      this.cut = cut;
    }
    this.tail.replaceChildren(renderMarkdown(text.slice(this.cut)));
  }

  /** The final text, rendered whole once (links defined at the end, say, now resolve). */
  finish(text) {
    this.text = text;
    this.container.replaceChildren(renderMarkdown(text));
  }
}
