// The sandbox page: draws what the server renders (HTML fragments, already escaped) and turns
// what a person does into calls to /sandbox/*, which reach the bot as Slack's own requests.
// No framework and no build step; the Block Kit renderer is server-side (handlers/sandbox).
"use strict";

const page = {
  me: null,
  conversation: null,
  people: [],
  channels: [],
  dm: null,
  modalKey: null,
  lastMessages: null,
  lastHome: null,
  busy: false,
  again: false,
};

const $ = (id) => document.getElementById(id);

function saved() {
  const [me, conversation] = decodeURIComponent(location.hash.slice(1)).split("/");
  return { me: me || localStorage.getItem("sandbox-me"), conversation: conversation || null };
}

function remember() {
  localStorage.setItem("sandbox-me", page.me);
  history.replaceState(null, "", `#${page.me}/${page.conversation}`);
}

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: page.me, ...body }),
  });
  if (!response.ok) {
    toast(`The sandbox refused that: ${await response.text()}`);
    return null;
  }
  const answer = await response.json();
  if (answer && answer.error) toast(answer.error);
  return answer;
}

function toast(text) {
  const box = $("toast");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

// -- drawing ---------------------------------------------------------------------------------

async function refresh() {
  if (page.busy) { page.again = true; return; }
  page.busy = true;
  try {
    do {
      page.again = false;
      const asked = { me: page.me, conversation: page.conversation };
      const query = new URLSearchParams({ user: asked.me || "", conversation: asked.conversation || "" });
      const response = await fetch(`/sandbox/state?${query}`);
      if (!response.ok) continue;
      const state = await response.json();
      // A click while this state was on its way (another person, another conversation) wins:
      // drawing the stale state would put the page back where it was and lose the click.
      if (page.me !== asked.me || page.conversation !== asked.conversation) { page.again = true; continue; }
      draw(state);
    } while (page.again);
  } finally {
    page.busy = false;
  }
}

function draw(state) {
  page.people = state.people;
  page.channels = state.channels;
  page.dm = state.dm;
  page.me = state.me;
  page.conversation = state.conversation.id;
  remember();
  drawPeople();
  drawChannels();
  drawConversation(state.conversation);
  drawModal(state.modal);
  document.body.dataset.version = String(state.version);
}

function drawPeople() {
  const box = $("people");
  const signature = page.people.map((p) => p.id).join(",") + "|" + page.me;
  if (box.dataset.signature === signature) return;
  box.dataset.signature = signature;
  box.replaceChildren(...page.people.map((person) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "person";
    button.dataset.user = person.id;
    button.setAttribute("aria-pressed", String(person.id === page.me));
    const name = document.createElement("span");
    name.className = "person-name";
    name.textContent = person.name;
    const title = document.createElement("span");
    title.className = "person-title";
    title.textContent = person.title;
    button.append(name, title);
    button.addEventListener("click", () => switchTo(person.id));
    return button;
  }));
}

function drawChannels() {
  const list = $("channels");
  const signature = page.channels.map((c) => c.id).join(",") + "|" + page.conversation;
  if (list.dataset.signature !== signature) {
    list.dataset.signature = signature;
    list.replaceChildren(...page.channels.map((channel) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "side-item";
      button.dataset.conversation = channel.id;
      button.textContent = `# ${channel.name}`;
      if (channel.id === page.conversation) button.setAttribute("aria-current", "page");
      button.addEventListener("click", () => open(channel.id));
      item.append(button);
      return item;
    }));
  }
  const home = $("open-home");
  const dm = $("open-dm");
  home.toggleAttribute("aria-current", page.conversation === "home");
  dm.toggleAttribute("aria-current", page.conversation === page.dm);
}

function drawConversation(conversation) {
  const isHome = conversation.kind === "home";
  $("conversation-name").textContent = isHome ? "releasebot · Home" :
    conversation.kind === "dm" ? "releasebot · Messages" : `# ${conversation.name}`;
  $("conversation-purpose").textContent = conversation.purpose;
  $("messages").hidden = isHome;
  $("home").hidden = !isHome;
  const label = isHome ? "Message releasebot" : conversation.kind === "dm" ? "Message releasebot" : `Message #${conversation.name}`;
  $("composer-label").textContent = `${label} as ${nameOf(page.me)}`;
  if (isHome) {
    if (page.lastHome !== conversation.html) {
      $("home").innerHTML = conversation.html;
      page.lastHome = conversation.html;
    }
    page.lastMessages = null;
    return;
  }
  page.lastHome = null;
  const box = $("messages");
  if (page.lastMessages === conversation.html) return;
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  box.innerHTML = conversation.html;
  page.lastMessages = conversation.html;
  if (atBottom || box.dataset.conversation !== conversation.id) box.scrollTop = box.scrollHeight;
  box.dataset.conversation = conversation.id;
}

function nameOf(user) {
  const person = page.people.find((p) => p.id === user);
  return person ? person.name : user;
}

function drawModal(modal) {
  const backdrop = $("modal-backdrop");
  if (!modal) {
    if (!backdrop.hidden) backdrop.hidden = true;
    page.modalKey = null;
    return;
  }
  const key = `${modal.id}|${modal.hash}`;
  if (page.modalKey !== key) {
    const kept = gather($("modal-body"));
    const first = page.modalKey === null || !page.modalKey.startsWith(`${modal.id}|`);
    $("modal-title").innerHTML = modal.title;
    $("modal-body").innerHTML = modal.html;
    $("modal-body").dataset.viewId = modal.id;
    $("modal-close").innerHTML = modal.close;
    $("modal-submit").innerHTML = modal.submit;
    $("modal-submit").hidden = !modal.submit;
    if (!first) restore($("modal-body"), kept);
    page.modalKey = key;
    backdrop.hidden = false;
    const focus = $("modal-body").querySelector("input, select, textarea, button");
    if (focus && first) focus.focus();
  }
  showErrors(modal.errors || {});
}

function showErrors(errors) {
  const general = errors[""];
  $("modal-error").hidden = !general;
  $("modal-error").textContent = general || "";
  for (const slot of $("modal-body").querySelectorAll("[data-error-for]")) {
    const text = errors[slot.dataset.errorFor] || "";
    slot.textContent = text;
    slot.closest(".bk-input").classList.toggle("bk-invalid", Boolean(text));
  }
}

// -- what a person entered, by block and action id -------------------------------------------

function readControl(control) {
  if (control.classList.contains("bk-choices")) {
    const boxes = [...control.querySelectorAll("input")];
    if (boxes.length && boxes[0].type === "radio") {
      const chosen = boxes.find((b) => b.checked);
      return chosen ? chosen.value : null;
    }
    return boxes.filter((b) => b.checked).map((b) => b.value);
  }
  if (control.tagName === "SELECT" && control.multiple) {
    return [...control.selectedOptions].map((o) => o.value);
  }
  return control.value;
}

function gather(root) {
  const values = {};
  if (!root) return values;
  for (const control of root.querySelectorAll("[data-action-id]")) {
    if (control.dataset.kind === "button") continue;
    const block = control.dataset.blockId;
    values[block] = values[block] || {};
    values[block][control.dataset.actionId] = readControl(control);
  }
  return values;
}

function restore(root, values) {
  for (const control of root.querySelectorAll("[data-action-id]")) {
    const value = (values[control.dataset.blockId] || {})[control.dataset.actionId];
    if (value === undefined || value === null || control.dataset.kind === "button") continue;
    if (control.classList.contains("bk-choices")) {
      const wanted = Array.isArray(value) ? value : [value];
      for (const box of control.querySelectorAll("input")) box.checked = wanted.includes(box.value);
    } else if (control.tagName === "SELECT" && control.multiple) {
      for (const option of control.options) option.selected = value.includes(option.value);
    } else {
      control.value = value;
    }
  }
}

function whereOf(control) {
  const surface = control.closest("[data-surface]");
  if (!surface) return null;
  if (surface.dataset.surface === "message") {
    return { where: { kind: "message", channel: surface.dataset.channel, ts: surface.dataset.ts }, root: surface };
  }
  return { where: { kind: "view", view_id: surface.dataset.viewId }, root: surface };
}

async function dispatch(control, value) {
  const found = whereOf(control);
  if (!found) return;
  if (control.dataset.url) window.open(control.dataset.url, "_blank", "noopener,noreferrer");
  await post("/sandbox/act", {
    where: found.where,
    block_id: control.dataset.blockId,
    action_id: control.dataset.actionId,
    value: value,
    state: gather(found.root),
  });
}

// -- acting ----------------------------------------------------------------------------------

function switchTo(user) {
  page.me = user;
  if (page.conversation && page.conversation.startsWith("D")) page.conversation = null;
  page.lastMessages = null;
  page.modalKey = null;
  if (page.conversation === "home") openHome();
  refresh().then(() => {
    if (page.conversation === null) open(page.dm);
  });
}

function open(conversation) {
  page.conversation = conversation;
  page.lastMessages = null;
  refresh().then(() => $("composer").focus());
}

async function openHome() {
  page.conversation = "home";
  page.lastHome = null;
  await refresh();
  await post("/sandbox/home", { tab: "home" });
}

document.addEventListener("click", (event) => {
  const answer = event.target.closest("[data-confirm-answer]");
  if (answer) {
    const dialog = answer.closest(".bk-confirm");
    dialog.hidden = true;
    if (answer.dataset.confirmAnswer === "yes") dispatch(dialog.parentElement.querySelector("button[data-action-id]"));
    return;
  }
  const button = event.target.closest("button[data-action-id]");
  if (!button) return;
  if (button.dataset.confirm === "true") {
    const dialog = button.parentElement.querySelector(".bk-confirm");
    dialog.hidden = false;
    dialog.querySelector("[data-confirm-answer='yes']").focus();
    return;
  }
  dispatch(button);
});

document.addEventListener("change", (event) => {
  const control = event.target.closest("[data-action-id]");
  if (!control || control.dataset.kind === "button" || control.dataset.dispatch !== "true") return;
  dispatch(control, readControl(control));
});

function submitModal() {
  const viewId = $("modal-body").dataset.viewId;
  post("/sandbox/submit", { view_id: viewId, state: gather($("modal-body")) });
}

function closeModal() {
  post("/sandbox/close", { view_id: $("modal-body").dataset.viewId });
}

function start() {
  const remembered = saved();
  page.me = remembered.me;
  page.conversation = remembered.conversation;
  $("composer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("composer").value;
    if (!text.trim()) return;
    $("composer").value = "";
    post("/sandbox/type", { conversation: page.conversation, text: text });
  });
  $("open-home").addEventListener("click", openHome);
  $("open-dm").addEventListener("click", () => open(page.dm));
  $("modal-submit").addEventListener("click", submitModal);
  $("modal-close").addEventListener("click", closeModal);
  $("modal-x").addEventListener("click", closeModal);
  $("modal-form").addEventListener("submit", (event) => { event.preventDefault(); submitModal(); });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("modal-backdrop").hidden) closeModal();
  });
  const stream = new EventSource("/sandbox/stream");
  stream.addEventListener("change", () => refresh());
  refresh().then(() => { if (page.conversation === "home") openHome(); });
}

document.addEventListener("DOMContentLoaded", start);
