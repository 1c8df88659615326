// The query page. Every name and path from the server or the user goes into the page through
// textContent or attributes, never as HTML.
"use strict";

const state = { offset: 0, count: 0 };

function element(tag, properties = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(properties)) {
    if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function figure(src, caption, data = {}) {
  return element("figure", { dataset: data }, [
    element("img", { src, alt: caption }),
    element("figcaption", { text: caption }),
  ]);
}

function formatDistance(value) {
  return Number.isInteger(value) ? String(value) : value.toPrecision(4);
}

async function answer(response) {
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    const detail = Array.isArray(body.detail)
      ? body.detail.map((problem) => `${problem.loc.join(".")}: ${problem.msg}`).join("; ")
      : body.detail;
    throw new Error(`${response.status}: ${detail}`);
  }
  return body;
}

function chosenModes() {
  return [...document.querySelectorAll("input[name=mode]:checked")].map((box) => box.value);
}

function showColumn(mode, found, query) {
  const hits = found.queries[0].results.map((hit) =>
    figure(
      `/api/items/${hit.id}/thumbnail`,
      `${hit.rank}: ${formatDistance(hit.distance)}` +
        (hit.class_name === null ? "" : ` [${hit.class_name}]`) + ` ${hit.path}`,
      { rank: hit.rank, path: hit.path },
    ),
  );
  const first = figure(query.src, `query: ${query.name}`, { query: "true" });
  first.classList.add("query");
  const timing =
    `search ${found.search_ms.toFixed(2)} ms, encoding ${found.encode_ms.toFixed(1)} ms` +
    (found.queries[0].hds_pool_size === undefined || found.queries[0].hds_pool_size === null
      ? "" : `, pool ${found.queries[0].hds_pool_size}`);
  return element("section", { class: "column", dataset: { mode } }, [
    element("h2", { text: `${mode.toUpperCase()} top ${found.k}` }),
    element("p", { text: timing, class: "timing" }),
    element("div", { class: "grid" }, [first, ...hits]),
  ]);
}

// request(mode) sends one search; query: {src, name} shown first in each column
async function searchAll(request, query) {
  const error = document.getElementById("error");
  const results = document.getElementById("results");
  error.textContent = "";
  try {
    const modes = chosenModes();
    if (modes.length === 0) throw new Error("choose at least one mode");
    const answers = await Promise.all(modes.map((mode) => request(mode).then(answer)));
    results.replaceChildren(...answers.map((found, a) => showColumn(modes[a], found, query)));
  } catch (problem) {
    error.textContent = problem.message;
  }
}

function parameters(mode) {
  return new URLSearchParams({ k: document.getElementById("k").value, mode });
}

function searchFile(file) {
  const query = { src: URL.createObjectURL(file), name: file.name };
  return searchAll((mode) => {
    const form = new FormData();
    form.append("image", file);
    return fetch(`/api/search?${parameters(mode)}`, { method: "POST", body: form });
  }, query);
}

function searchItem(item) {
  const query = { src: item.thumbnail, name: item.path };
  return searchAll(
    (mode) => fetch(`/api/search/item/${item.id}?${parameters(mode)}`, { method: "POST" }),
    query,
  );
}

async function moreItems() {
  const page = await answer(await fetch(`/api/items?offset=${state.offset}&limit=48`));
  const grid = document.getElementById("items");
  for (const item of page.items) {
    const cell = figure(item.thumbnail, item.path, { id: item.id, path: item.path });
    cell.addEventListener("click", () => searchItem(item));
    grid.append(cell);
  }
  state.offset += page.items.length;
  state.count = page.count;
  document.getElementById("more").hidden = state.offset >= state.count;
}

async function start() {
  const health = await answer(await fetch("/api/health"));
  document.getElementById("summary").textContent =
    `${health.index}: ${health.count} items, ${health.hash_bits}-bit codes, ` +
    `${health.feature_dim} features, generation ${health.generation}`;
  const k = document.getElementById("k");
  k.value = health.default_k;
  k.max = health.max_k;
  const image = document.getElementById("image");
  image.addEventListener("change", () => image.files.length && searchFile(image.files[0]));
  const drop = document.getElementById("drop");
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) searchFile(event.dataTransfer.files[0]);
  });
  document.getElementById("more").addEventListener("click", moreItems);
  await moreItems();
}

start().catch((problem) => {
  document.getElementById("error").textContent = problem.message;
});
