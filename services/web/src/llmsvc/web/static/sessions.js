// The conversation list in the sidebar: pages, search by name, rename, delete.
import { api, path } from "./api.js";
import { actionButton } from "./messages.js";

const SEARCH_DELAY_MS = 250;

export class SessionList {
  // hooks: open(id), deleted(session), changed(session), guard(fn) (errors to status)
  constructor(ui, hooks) {
    this.ui = ui;
    this.hooks = hooks;
    this.items = [];
    this.nextCursor = null;
    this.query = "";
    this.currentId = null;
    this.searchTimer = 0;
    ui.more.addEventListener("click", hooks.guard(() => this.load({ more: true })));
    ui.search.addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(hooks.guard(() => this.load()), SEARCH_DELAY_MS);
    });
  }

  find(id) {
    return this.items.find((s) => s.session_id === id) ?? null;
  }

  async load({ more = false } = {}) {
    const query = this.ui.search.value.trim();
    const params = new URLSearchParams();
    if (more && this.nextCursor) params.set("cursor", this.nextCursor);
    if (query) params.set("q", query);
    const page = await api("GET", `/sessions${params.size ? `?${params}` : ""}`);
    if (query !== this.ui.search.value.trim()) return; // typed on meanwhile
    this.query = query;
    this.items = more ? this.items.concat(page.sessions) : page.sessions;
    this.nextCursor = page.next_cursor ?? null;
    this.render();
  }

  /** Put `session` (new or changed) in the list: first when it is new. */
  upsert(session) {
    const known = this.find(session.session_id);
    if (known) Object.assign(known, session);
    else this.items.unshift(session);
    this.render();
    this.hooks.changed(known ?? session);
  }

  select(id) {
    this.currentId = id;
    this.render();
  }

  render() {
    this.ui.list.replaceChildren(...this.items.map((s) => {
      const li = document.createElement("li");
      li.className = s.session_id === this.currentId ? "session active" : "session";
      const name = s.name || "Untitled";
      const open = actionButton(name, "session-name", this.hooks.guard(() => this.hooks.open(s.session_id)));
      if (s.session_id === this.currentId) open.setAttribute("aria-current", "true");
      li.append(
        open,
        actionButton("✎", "icon", this.hooks.guard(() => this.rename(s)), `Rename “${name}”`),
        actionButton("✕", "icon danger", this.hooks.guard(() => this.remove(s)), `Delete “${name}”`),
      );
      li.querySelectorAll(".icon")[0].title = "Rename";
      li.querySelectorAll(".icon")[1].title = "Delete";
      return li;
    }));
    this.ui.more.hidden = !this.nextCursor;
    this.ui.empty.hidden = this.items.length > 0 || !this.query;
  }

  async rename(s) {
    const name = window.prompt("Rename the conversation", s.name ?? "")?.trim();
    if (!name || name === s.name) return;
    this.upsert(await api("PATCH", path`/sessions/${s.session_id}`, { name }));
  }

  async remove(s) {
    if (!window.confirm(`Delete “${s.name}” and all its messages?`)) return;
    await api("DELETE", path`/sessions/${s.session_id}`);
    this.items = this.items.filter((x) => x.session_id !== s.session_id);
    this.render();
    await this.hooks.deleted(s);
  }
}
