// On every page: copy buttons for read-only values (a new API key), and no stale pages
// from the back/forward cache (after logging out, Back must not show the chat again).

window.addEventListener("pageshow", (ev) => {
  if (ev.persisted) window.location.reload();
});

document.addEventListener("click", async (ev) => {
  const button = ev.target instanceof Element ? ev.target.closest("button[data-copy]") : null;
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
    button.textContent = "Copied";
  } catch {
    button.textContent = "Select and copy it";
  }
});
