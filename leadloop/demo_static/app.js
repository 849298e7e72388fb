"use strict";
// A small Telegram look-alike for the LeadLoop demo. It polls /demo/api for the conversation
// the Bot API stand-in recorded and turns clicks into updates. Message text is built from
// Telegram entities as DOM nodes, never as HTML, so nobody's text can become markup.

const POLL_MS = 700;
const ROLES = { rep: "Sales rep", manager: "Manager", finance: "Finance", admin: "Admin" };
const state = { setup: null, persona: null, seen: "", hiddenKeyboard: null, atBottom: true, pinnedTop: 0 };
const $ = (id) => document.getElementById(id);

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

async function api(path, options = {}) {
  const response = await fetch("api/" + path, options);
  if (!response.ok) throw new Error(`${response.status}: ${await response.text()}`);
  return response.json();
}

function post(path, body = {}) {
  const headers = { "Content-Type": "application/json" };
  return api(`chats/${state.persona.id}/${path}`, { method: "POST", headers, body: JSON.stringify(body) });
}

function toast(text, alert = false) {
  const box = $("toast");
  box.textContent = text;
  box.classList.toggle("alert", alert);
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, alert ? 6000 : 2500);
}

function avatar(name, index) {
  const initials = name.split(/\s+/).map((word) => word[0]).join("").slice(0, 2).toUpperCase();
  return el("div", `avatar tint-${index % 6}`, initials);
}

// ---- who am I

function renderPicker() {
  const list = $("personas");
  list.replaceChildren();
  state.setup.personas.forEach((persona, index) => {
    const button = el("button", "persona");
    button.type = "button";
    button.dataset.id = persona.id;
    const label = el("div", "persona-label");
    label.append(el("strong", "", persona.name), el("span", "muted", ROLES[persona.role] || persona.role));
    button.append(avatar(persona.name, index), label);
    button.addEventListener("click", () => openChat(persona));
    const item = el("li");
    item.append(button);
    list.append(item);
  });
}

function openChat(persona) {
  Object.assign(state, { persona, seen: "", hiddenKeyboard: null, atBottom: true });
  history.replaceState(null, "", "#" + persona.id);
  const index = state.setup.personas.indexOf(persona);
  const label = el("span", "me-label", `${persona.name} · ${ROLES[persona.role] || persona.role}`);
  $("me").replaceChildren(avatar(persona.name, index), label);
  $("messages").replaceChildren();
  $("picker").hidden = true;
  $("chat").hidden = false;
  $("text").focus();
  refresh();
}

function showPicker() {
  state.persona = null;
  history.replaceState(null, "", "#");
  $("chat").hidden = true;
  $("picker").hidden = false;
}

// ---- reading the chat

async function refresh() {
  if (!state.persona || refresh.running) return;
  refresh.running = true;
  try {
    const chat = await api(`chats/${state.persona.id}`);
    const seen = JSON.stringify(chat);
    if (seen !== state.seen) {
      state.seen = seen;
      renderChat(chat);
    }
  } catch (error) {
    console.warn(error);
  } finally {
    refresh.running = false;
  }
}

function renderChat(chat) {
  $("messages").replaceChildren(...chat.messages.map(renderMessage));
  keepAtBottom();
  $("start-bar").hidden = chat.messages.length > 0;
  renderReplyKeyboard(chat.keyboard);
  renderMenu(chat.commands);
}

function renderMessage(message) {
  const fromBot = Boolean(message.from && message.from.is_bot);
  const row = el("div", fromBot ? "row theirs" : "row mine");
  const bubble = el("div", "bubble");
  bubble.dataset.messageId = message.message_id;
  if (message.reply_to_message) bubble.append(renderQuote(message.reply_to_message));
  if (message.photo) bubble.append(renderPhoto(message.photo));
  if (message.document) bubble.append(renderDocument(message.document));
  if (message.contact) bubble.append(renderContact(message.contact));
  if (message.location) {
    const { latitude, longitude } = message.location;
    bubble.append(el("div", "location", `📍 ${latitude.toFixed(4)}, ${longitude.toFixed(4)}`));
  }
  const text = message.text ?? message.caption;
  const entities = (message.text !== undefined ? message.entities : message.caption_entities) || [];
  if (text) bubble.append(renderText(text, entities, fromBot));
  const time = new Date(message.date * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  bubble.append(el("span", "meta", message.edit_date ? `edited ${time}` : time));
  row.append(bubble);
  const keyboard = message.reply_markup && message.reply_markup.inline_keyboard;
  if (keyboard) row.append(renderInlineKeyboard(message, keyboard));
  return row;
}

function renderQuote(original) {
  const quote = el("div", "quote");
  const text = original.text || original.caption || (original.photo ? "Photo" : "Message");
  quote.append(el("strong", "", original.from && original.from.is_bot ? state.setup.bot.name : "You"));
  quote.append(el("span", "", text.length > 80 ? text.slice(0, 80) + "…" : text));
  return quote;
}

function renderPhoto(sizes) {
  const fitting = sizes.filter((size) => size.width <= 800);
  const shown = fitting.length ? fitting[fitting.length - 1] : sizes[0];
  const link = el("a", "photo");
  link.href = "api/files/" + encodeURIComponent(sizes[sizes.length - 1].file_id);
  link.target = "_blank";
  link.rel = "noopener";
  const image = el("img");
  image.src = "api/files/" + encodeURIComponent(shown.file_id);
  image.alt = "Photo";
  image.width = shown.width;
  image.height = shown.height;
  image.addEventListener("load", keepAtBottom);
  link.append(image);
  return link;
}

function renderDocument(document) {
  const name = document.file_name || "file";
  const link = el("a", "document");
  link.href = `api/files/${encodeURIComponent(document.file_id)}?name=${encodeURIComponent(name)}`;
  const size = document.file_size ? ` · ${Math.max(1, Math.round(document.file_size / 1024))} KB` : "";
  link.append(el("span", "document-icon", "📄"), el("span", "", name + size));
  return link;
}

function renderContact(contact) {
  const card = el("div", "contact");
  const name = [contact.first_name, contact.last_name].filter(Boolean).join(" ");
  const label = el("div", "persona-label");
  label.append(el("strong", "", name), el("span", "muted", contact.phone_number));
  card.append(avatar(name, name.length), label);
  return card;
}

// Entities may nest (bold inside a link); offsets count UTF-16 units, as JS strings do.
function renderText(text, entities, fromBot) {
  const sorted = [...entities].sort((a, b) => a.offset - b.offset || b.length - a.length);
  const root = el("div", "text");
  let next = 0;
  function build(parent, start, end) {
    let position = start;
    while (next < sorted.length && sorted[next].offset < end) {
      const entity = sorted[next++];
      const from = Math.max(entity.offset, position);
      const to = Math.min(entity.offset + entity.length, end);
      if (to <= from) continue;
      appendPlain(parent, text.slice(position, from), fromBot);
      const node = entityNode(entity, text.slice(from, to));
      build(node, from, to);
      parent.append(node);
      position = to;
    }
    appendPlain(parent, text.slice(position, end), fromBot);
  }
  build(root, 0, text.length);
  return root;
}

// Telegram shows /commands in the bot's messages as links that send them.
function appendPlain(parent, text, fromBot) {
  const parts = fromBot ? text.split(/(?<=^|\s)(\/[A-Za-z0-9_]{1,32})(?![\w/])/) : [text];
  parts.forEach((part, index) => {
    if (index % 2 === 1) parent.append(commandLink(part));
    else if (part) parent.append(part);
  });
}

// The link's text is the command itself, or (for an entity) filled in by the caller.
function commandLink(command, text = command) {
  const link = el("button", "command", text);
  link.type = "button";
  link.addEventListener("click", () => sendText(command));
  return link;
}

const ENTITY_TAGS = {
  bold: "strong", italic: "em", underline: "u", strikethrough: "s", code: "code", pre: "pre",
  blockquote: "blockquote", expandable_blockquote: "blockquote",
};

function entityNode(entity, text) {
  if (ENTITY_TAGS[entity.type]) return el(ENTITY_TAGS[entity.type]);
  if (entity.type === "spoiler") {
    const spoiler = el("span", "spoiler");
    spoiler.addEventListener("click", () => spoiler.classList.add("revealed"));
    return spoiler;
  }
  if (entity.type === "bot_command") return commandLink(text, "");
  const targets = { text_link: entity.url, url: text, email: "mailto:" + text, phone_number: "tel:" + text };
  const href = safeUrl(targets[entity.type]);
  if (!href) return el("span", entity.type === "mention" || entity.type === "hashtag" ? "link" : "");
  const link = el("a");
  link.href = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  return link;
}

function safeUrl(url) {
  if (!url) return null;
  try {
    const parsed = new URL(/^[a-z][a-z0-9+.-]*:/i.test(url) ? url : "https://" + url);
    return ["http:", "https:", "mailto:", "tel:"].includes(parsed.protocol) ? parsed.href : null;
  } catch {
    return null;
  }
}

// ---- keyboards and the menu

function renderInlineKeyboard(message, rows) {
  const keyboard = el("div", "inline-keyboard");
  for (const row of rows) {
    const line = el("div", "inline-row");
    for (const spec of row) line.append(inlineButton(message, spec));
    keyboard.append(line);
  }
  return keyboard;
}

function inlineButton(message, spec) {
  const url = spec.url && safeUrl(spec.url);
  if (url) {
    const link = el("a", "inline-button", spec.text + " ↗");
    Object.assign(link, { href: url, target: "_blank", rel: "noopener noreferrer" });
    return link;
  }
  const button = el("button", "inline-button", spec.text);
  button.type = "button";
  if (spec.callback_data !== undefined) {
    button.addEventListener("click", () => press(button, message, spec.callback_data));
  } else if (spec.copy_text) {
    button.addEventListener("click", () => navigator.clipboard.writeText(spec.copy_text.text).then(() => toast("Copied")));
  } else {
    button.disabled = true;
    button.title = "This kind of button is not part of the demo";
  }
  return button;
}

async function press(button, message, data) {
  button.classList.add("waiting");
  try {
    const answer = await post("press", { message_id: message.message_id, data });
    if (answer.text) toast(answer.text, answer.show_alert);
  } catch (error) {
    toast("Could not press the button: " + error.message, true);
  } finally {
    button.classList.remove("waiting");
    refresh();
  }
}

function renderReplyKeyboard(keyboard) {
  const box = $("reply-keyboard");
  $("text").placeholder = (keyboard && keyboard.placeholder) || "Message";
  box.hidden = !keyboard || (keyboard.one_time && state.hiddenKeyboard === keyboard.id);
  if (box.hidden) return box.replaceChildren();
  box.replaceChildren(...keyboard.rows.map((row) => {
    const line = el("div", "reply-row");
    for (const spec of row) line.append(replyButton(keyboard, spec));
    return line;
  }));
}

function replyButton(keyboard, spec) {
  const button = el("button", "reply-button", spec.text);
  button.type = "button";
  button.disabled = spec.kind === "unsupported";
  button.addEventListener("click", async () => {
    if (keyboard.one_time) state.hiddenKeyboard = keyboard.id;
    if (spec.kind === "contact") await act(() => post("contact", { card: null }));
    else if (spec.kind === "location") await act(() => post("location"));
    else await sendText(spec.text);
  });
  return button;
}

function renderMenu(commands) {
  $("menu-button").hidden = commands.length === 0;
  $("menu").replaceChildren(...commands.map((command) => {
    const item = el("button", "sheet-item");
    item.type = "button";
    item.append(el("strong", "", "/" + command.command), el("span", "muted", command.description));
    item.addEventListener("click", () => { $("menu").hidden = true; sendText("/" + command.command); });
    return item;
  }));
}

// ---- writing

async function act(action) {
  try {
    await action();
  } catch (error) {
    toast("Not sent: " + error.message, true);
  }
  scrollDown();
  refresh();
}

function scrollDown() {
  const box = $("messages");
  box.scrollTop = box.scrollHeight;
  state.atBottom = true;
  state.pinnedTop = box.scrollTop;
}

// New messages and late-loading pictures keep the chat scrolled down, unless the person
// scrolled up to read.
function keepAtBottom() {
  if (state.atBottom) scrollDown();
}

function sendText(text) {
  return act(() => post("text", { text }));
}

async function upload(file) {
  const caption = $("text").value.trim();
  $("text").value = "";
  const query = `file_name=${encodeURIComponent(file.name)}&caption=${encodeURIComponent(caption)}`;
  const headers = { "Content-Type": file.type || "application/octet-stream" };
  await act(() => api(`chats/${state.persona.id}/upload?${query}`, { method: "POST", headers, body: file }));
}

function renderCards() {
  $("cards").replaceChildren(...state.setup.contact_cards.map((card) => {
    const item = el("button", "sheet-item");
    item.type = "button";
    item.append(el("strong", "", card.name), el("span", "muted", `${card.phone} · ${card.note}`));
    item.addEventListener("click", () => { $("sheet").hidden = true; act(() => post("contact", { card: card.index })); });
    return item;
  }));
}

function wire() {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text) return;
    $("text").value = "";
    sendText(text);
  });
  $("start").addEventListener("click", () => sendText("/start"));
  // Scroll events arrive late, after pictures may have grown the chat: only a move up
  // from where the page put it means the person is reading back.
  $("messages").addEventListener("scroll", () => {
    const box = $("messages");
    state.atBottom = box.scrollTop >= state.pinnedTop || box.scrollHeight - box.scrollTop - box.clientHeight < 60;
  });
  $("back").addEventListener("click", showPicker);
  $("attach").addEventListener("click", () => { $("menu").hidden = true; $("sheet").hidden = !$("sheet").hidden; });
  $("menu-button").addEventListener("click", () => { $("sheet").hidden = true; $("menu").hidden = !$("menu").hidden; });
  $("file").addEventListener("change", () => {
    const file = $("file").files[0];
    $("file").value = "";
    if (file) upload(file);
  });
  $("sheet").addEventListener("click", (event) => {
    const action = event.target.closest("[data-action]")?.dataset.action;
    if (!action) return;
    $("sheet").hidden = true;
    if (action === "photo") $("file").click();
    if (action === "own-contact") act(() => post("contact", { card: null }));
    if (action === "location") act(() => post("location"));
  });
}

// ---- the website form: a customer's request through the real lead webhook

async function sendWebForm(event) {
  event.preventDefault();
  const form = event.target;
  const fields = new URLSearchParams(new FormData(form));
  fields.set("tranid", `demo-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`);
  const result = $("web-form-result");
  result.textContent = "Sending…";
  const response = await fetch(state.setup.web_form, { method: "POST", body: fields });
  const answer = await response.json().catch(() => ({}));
  if (response.ok && answer.leads && answer.leads.length) {
    result.textContent = `LeadLoop took the request: lead #${answer.leads[0]}. Open the reps' chats: a new lead is offered to one of them, a returning customer's owner is told.`;
    form.reset();
  } else {
    result.textContent = `Not taken (${response.status}): ${answer.error || answer.detail || "try again"}`;
  }
}

async function main() {
  wire();
  $("web-form").addEventListener("submit", (event) => sendWebForm(event).catch((error) => toast(error.message, true)));
  state.setup = await api("setup");
  $("team-name").textContent = state.setup.team;
  $("bot-name").textContent = state.setup.bot.name;
  $("bot-username").textContent = state.setup.bot.username ? "@" + state.setup.bot.username : "bot";
  renderPicker();
  renderCards();
  const chosen = state.setup.personas.find((persona) => "#" + persona.id === location.hash);
  if (chosen) openChat(chosen);
  setInterval(refresh, POLL_MS);
}

main().catch((error) => toast("The demo server did not answer: " + error.message, true));
