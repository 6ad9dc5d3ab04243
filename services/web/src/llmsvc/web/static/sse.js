// Server-sent events from a fetch() body (EventSource cannot POST or set headers).
// Parses the text/event-stream format: `event:`, `data:` (joined by "\n"), `id:`,
// comment lines (": ping") ignored, an empty line dispatches the event.

export async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let pending = { id: null, event: "", data: [] };

  const dispatch = () => {
    if (pending.data.length > 0) {
      onEvent({ id: pending.id, event: pending.event || "message", data: pending.data.join("\n") });
    }
    pending = { id: null, event: "", data: [] };
  };

  const handleLine = (line) => {
    if (line === "") return dispatch();
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") pending.event = value;
    else if (field === "data") pending.data.push(value);
    else if (field === "id") pending.id = value;
  };

  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // A trailing "\r" may be the first half of "\r\n": keep it for the next chunk.
      const hold = buffer.endsWith("\r") ? 1 : 0;
      const lines = buffer.slice(0, buffer.length - hold).split(/\r\n|\r|\n/);
      buffer = lines.pop() + buffer.slice(buffer.length - hold);
      for (const line of lines) handleLine(line);
    }
  } finally {
    reader.releaseLock();
  }
  // An event not ended by an empty line is incomplete and, per the spec, dropped.
}
