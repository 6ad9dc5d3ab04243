// A small, safe markdown renderer for untrusted model output.
// It builds DOM nodes only: every tag name below is a constant, text goes into Text
// nodes (textContent / append(string)), and the only attribute taken from the text is
// a link's href after its scheme is checked. Model text is never parsed as HTML.

const SAFE_SCHEMES = new Set(["http:", "https:", "mailto:"]);
const HEADINGS = ["h3", "h4", "h5", "h6", "h6", "h6"];

// `code` | **bold** | *italic* | [label](url) | bare http(s) URL
const INLINE =
  /`([^`\n]+)`|\*\*(?=\S)([^\n]*?\S)\*\*|\*(?=[^\s*])([^*\n]*?[^\s*])\*|\[([^\]\n]+)\]\(([^()\s]+)\)|(https?:\/\/[^\s<>()[\]]*[^\s<>()[\].,;:!?'"])/g;

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const HEADING = /^ {0,3}(#{1,6})\s+(.*)$/;
const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
const QUOTE = /^ {0,3}> ?/;
const ITEMS = { ul: /^\s*[-*+]\s+/, ol: /^\s*(\d{1,9})[.)]\s+/ };

const el = (tag) => document.createElement(tag);
const blank = (line) => /^\s*$/.test(line);

export function safeHref(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    return null;
  }
  return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
}

function appendLink(parent, label, target, original) {
  const href = safeHref(target);
  if (href === null) {
    parent.append(original);
    return;
  }
  const a = el("a");
  a.href = href;
  a.rel = "noopener noreferrer nofollow";
  a.target = "_blank";
  a.textContent = label;
  parent.append(a);
}

function appendInline(parent, text) {
  const re = new RegExp(INLINE.source, "g");
  let last = 0;
  let m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) parent.append(text.slice(last, m.index));
    if (m[1] !== undefined) {
      const code = el("code");
      code.textContent = m[1];
      parent.append(code);
    } else if (m[2] !== undefined) {
      const strong = el("strong");
      appendInline(strong, m[2]);
      parent.append(strong);
    } else if (m[3] !== undefined) {
      const em = el("em");
      appendInline(em, m[3]);
      parent.append(em);
    } else if (m[4] !== undefined) {
      appendLink(parent, m[4], m[5], m[0]);
    } else {
      appendLink(parent, m[6], m[6], m[0]);
    }
    last = re.lastIndex;
  }
  if (last < text.length) parent.append(text.slice(last));
}

function itemKind(line) {
  if (RULE.test(line)) return null;
  if (ITEMS.ul.test(line)) return "ul";
  if (ITEMS.ol.test(line)) return "ol";
  return null;
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || QUOTE.test(line) || itemKind(line) !== null;
}

function isClosingFence(line, fence) {
  const t = line.trim();
  return t.length >= fence.length && [...t].every((c) => c === fence[0]);
}

// Consecutive lines joined with <br>, each rendered inline.
function appendLines(parent, lines) {
  lines.forEach((line, n) => {
    if (n > 0) parent.append(el("br"));
    appendInline(parent, line);
  });
}

export function renderMarkdown(source) {
  const out = document.createDocumentFragment();
  const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(FENCE);
    if (fence) {
      const body = [];
      i += 1;
      while (i < lines.length && !isClosingFence(lines[i], fence[1])) body.push(lines[i++]);
      i += 1; // the closing fence; while streaming there may be none yet
      const pre = el("pre");
      const code = el("code");
      code.textContent = body.join("\n");
      pre.append(code);
      out.append(pre);
    } else if (blank(line)) {
      i += 1;
    } else if (HEADING.test(line)) {
      const [, hashes, text] = line.match(HEADING);
      const h = el(HEADINGS[hashes.length - 1]);
      appendInline(h, text.replace(/\s+#+\s*$/, ""));
      out.append(h);
      i += 1;
    } else if (RULE.test(line)) {
      out.append(el("hr"));
      i += 1;
    } else if (QUOTE.test(line)) {
      const quoted = [];
      while (i < lines.length && QUOTE.test(lines[i])) quoted.push(lines[i++].replace(QUOTE, ""));
      const q = el("blockquote");
      appendLines(q, quoted);
      out.append(q);
    } else if (itemKind(line)) {
      const kind = itemKind(line);
      const list = el(kind);
      if (kind === "ol") list.start = Number.parseInt(line.match(ITEMS.ol)[1], 10);
      while (i < lines.length && itemKind(lines[i]) === kind) {
        const li = el("li");
        appendInline(li, lines[i++].replace(ITEMS[kind], ""));
        list.append(li);
      }
      out.append(list);
    } else {
      const para = [];
      while (i < lines.length && !blank(lines[i]) && (para.length === 0 || !startsBlock(lines[i]))) {
        para.push(lines[i++]);
      }
      const p = el("p");
      appendLines(p, para);
      out.append(p);
    }
  }
  return out;
}
