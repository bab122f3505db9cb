// vqgen's page: edit an image by redrawing cells of its code grid, or draw
// new images. Plain JavaScript over the JSON API of docs/http-api.md.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// ---- state -----------------------------------------------------------------

const S = {
  info: null,
  gh: 0, gw: 0,
  // history of grids the user has been at; at is the current one.
  hist: [], at: -1,
  mask: null,          // Uint8Array(gh*gw): 1 = redraw
  tool: "redraw", brush: 1,
  method: null,        // set from /api/info
  variants: [],        // items of the last edit
  variantsFrom: -1,    // history index the variants were drawn from
  samples: [],
  jobs: { edit: null, sample: null },
  lastError: null,
};

const cur = () => S.hist[S.at] || null;

// ---- API -------------------------------------------------------------------

class APIError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : `HTTP ${status}`);
    this.status = status;
    this.field = body && body.field;
  }
}

async function api(method, path, body, raw) {
  const opt = { method, headers: {} };
  if (body !== undefined) {
    if (raw) {
      opt.body = body;
      opt.headers["Content-Type"] = raw;
    } else {
      opt.body = JSON.stringify(body);
      opt.headers["Content-Type"] = "application/json";
    }
  }
  const res = await fetch(path, opt);
  const ct = res.headers.get("Content-Type") || "";
  if (!res.ok) {
    let b = null;
    if (ct.startsWith("application/json")) b = await res.json().catch(() => null);
    throw new APIError(res.status, b);
  }
  if (ct.startsWith("application/json")) return res.json();
  return res.blob();
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// runJob starts a sample or edit job and polls it, showing its progress in
// the panel box until it ends. It resolves with the finished job.
async function runJob(kind, path, body, box) {
  const btn = $(`#run-${kind}`);
  const bar = $(".bar div", box), status = $(".status", box), cancel = $(".cancel", box);
  btn.disabled = true;
  btn.classList.add("busy");
  const label = btn.textContent;
  box.hidden = false;
  bar.style.width = "0";
  status.textContent = "queued…";
  cancel.disabled = false;
  try {
    let job = await api("POST", path, body);
    S.jobs[kind] = job.id;
    cancel.onclick = () => cancelJob(kind);
    while (job.state === "queued" || job.state === "running") {
      const pct = job.total ? Math.round((100 * job.done) / job.total) : 0;
      bar.style.width = pct + "%";
      status.textContent = job.state === "queued" ? "waiting for a worker…" : `${pct}% · ${job.seconds.toFixed(1)} s`;
      btn.textContent = job.state === "queued" ? "Waiting…" : `Working… ${pct}%`;
      await sleep(120);
      job = await api("GET", `/api/jobs/${job.id}`);
    }
    if (job.state === "cancelled") {
      status.textContent = "cancelled";
      throw new APIError(409, job.error);
    }
    if (job.state !== "done") throw new APIError(500, job.error);
    bar.style.width = "100%";
    status.textContent = `done in ${job.seconds.toFixed(2)} s`;
    return job;
  } finally {
    S.jobs[kind] = null;
    btn.disabled = false;
    btn.classList.remove("busy");
    btn.textContent = label;
    cancel.disabled = true;
    cancel.onclick = null;
  }
}

async function cancelJob(kind) {
  const id = S.jobs[kind];
  if (!id) return;
  const box = $(`#${kind}-job`);
  $(".status", box).textContent = "cancelling…";
  $(".cancel", box).disabled = true;
  try { await api("POST", `/api/jobs/${id}/cancel`); } catch (e) { showError(e); }
}

// ---- errors ----------------------------------------------------------------

function clearErrors(view) {
  for (const el of $$(".error", view)) el.textContent = "";
  for (const el of $$(".invalid", view)) el.classList.remove("invalid");
  $("#banner").hidden = true;
}

// showError puts an API error next to the field it names, or in the banner.
function showError(e, view) {
  S.lastError = { message: e.message, field: e.field || null };
  if (e.status === 409 && /cancelled/.test(e.message)) return; // the user asked for it
  const field = (e.field || "").replace(/\[\d+\]$/, "");
  const slot = field && view ? $(`.error[data-for="${field}"]`, view) : null;
  if (slot) {
    slot.textContent = e.message;
    const input = slot.closest(".field") && $("input:not([type=checkbox]), select", slot.closest(".field"));
    if (input) { input.classList.add("invalid"); input.focus(); }
    return;
  }
  $("#banner span").textContent = e.message;
  $("#banner").hidden = false;
}

// ---- the edit view: canvas, mask and history ------------------------------

const canvas = $("#canvas");
const ctx = canvas.getContext("2d");
let cell = 0; // CSS pixels per grid cell
let hover = -1;

function sizeCanvas() {
  const css = Math.max(8, Math.floor(448 / S.gw)) * S.gw;
  cell = css / S.gw;
  const dpr = window.devicePixelRatio || 1;
  canvas.style.width = canvas.style.height = css + "px";
  canvas.width = canvas.height = Math.round(css * dpr);
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
}

const imgCache = new Map();
function loadImage(src) {
  let p = imgCache.get(src);
  if (!p) {
    p = new Promise((resolve, reject) => {
      const im = new Image();
      im.onload = () => resolve(im);
      im.onerror = reject;
      im.src = src;
    });
    imgCache.set(src, p);
  }
  return p;
}

let drawn = null; // the Image on the canvas
async function draw() {
  const c = cur();
  $("#placeholder").hidden = !!c;
  if (c) drawn = await loadImage(c.image);
  const css = cell * S.gw;
  ctx.clearRect(0, 0, css, css);
  if (!c) return;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(drawn, 0, 0, css, css);
  // cells to redraw: a tint and a hatch
  for (let i = 0; i < S.mask.length; i++) {
    if (!S.mask[i]) continue;
    const x = (i % S.gw) * cell, y = Math.floor(i / S.gw) * cell;
    ctx.fillStyle = "rgba(244, 63, 94, 0.3)";
    ctx.fillRect(x, y, cell, cell);
    ctx.save();
    ctx.beginPath();
    ctx.rect(x, y, cell, cell);
    ctx.clip();
    ctx.strokeStyle = "rgba(255, 255, 255, 0.22)";
    ctx.lineWidth = 1;
    for (let d = -cell; d < cell; d += 8) {
      ctx.beginPath();
      ctx.moveTo(x + d, y + cell);
      ctx.lineTo(x + d + cell, y);
      ctx.stroke();
    }
    ctx.restore();
  }
  // the code grid
  ctx.strokeStyle = "rgba(129, 140, 248, 0.55)";
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let k = 1; k < S.gw; k++) {
    ctx.moveTo(k * cell + 0.5, 0);
    ctx.lineTo(k * cell + 0.5, css);
  }
  for (let k = 1; k < S.gh; k++) {
    ctx.moveTo(0, k * cell + 0.5);
    ctx.lineTo(css, k * cell + 0.5);
  }
  ctx.stroke();
  for (let i = 0; i < S.mask.length; i++) {
    if (!S.mask[i]) continue;
    ctx.strokeStyle = "#f43f5e";
    ctx.lineWidth = 2;
    ctx.strokeRect((i % S.gw) * cell + 1, Math.floor(i / S.gw) * cell + 1, cell - 2, cell - 2);
  }
  if (hover >= 0) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = 2;
    for (const i of brushCells(hover)) {
      ctx.strokeRect((i % S.gw) * cell + 1, Math.floor(i / S.gw) * cell + 1, cell - 2, cell - 2);
    }
  }
}

function brushCells(i) {
  const r0 = Math.floor(i / S.gw), c0 = i % S.gw;
  const lo = S.brush === 3 ? -1 : 0, hi = S.brush === 1 ? 0 : 1;
  const out = [];
  for (let r = r0 + lo; r <= r0 + hi; r++) {
    for (let c = c0 + lo; c <= c0 + hi; c++) {
      if (r >= 0 && r < S.gh && c >= 0 && c < S.gw) out.push(r * S.gw + c);
    }
  }
  return out;
}

function cellAt(ev) {
  const r = canvas.getBoundingClientRect();
  const c = Math.floor(((ev.clientX - r.left) / r.width) * S.gw);
  const row = Math.floor(((ev.clientY - r.top) / r.height) * S.gh);
  if (c < 0 || c >= S.gw || row < 0 || row >= S.gh) return -1;
  return row * S.gw + c;
}

// A stroke paints one value: the redraw brush marks cells, or unmarks them
// when the stroke starts on a marked cell (so a click toggles); the keep
// brush unmarks.
let stroke = null;
canvas.addEventListener("pointerdown", (ev) => {
  if (!cur() || ev.button !== 0) return;
  const i = cellAt(ev);
  if (i < 0) return;
  canvas.setPointerCapture(ev.pointerId);
  const value = S.tool === "redraw" ? (S.mask[i] ? 0 : 1) : 0;
  stroke = { value };
  paint(i);
  ev.preventDefault();
});
canvas.addEventListener("pointermove", (ev) => {
  const i = cellAt(ev);
  if (stroke && i >= 0) paint(i);
  if (i !== hover) {
    hover = i;
    draw();
  }
});
const endStroke = () => { stroke = null; };
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);
canvas.addEventListener("pointerleave", () => { hover = -1; draw(); });

function paint(i) {
  for (const j of brushCells(i)) S.mask[j] = stroke.value;
  maskChanged();
}

function maskChanged() {
  const n = S.mask.reduce((a, b) => a + b, 0);
  $("#mask-count").textContent = `${n} of ${S.mask.length} cells to redraw`;
  $("#view-edit .error[data-for=redraw]").textContent = "";
  updateButtons();
  draw();
}

function setTool(t) {
  S.tool = t;
  for (const b of $$("#tool button")) b.classList.toggle("on", b.dataset.tool === t);
}
function setBrush(n) {
  S.brush = n;
  for (const b of $$("#brush button")) b.classList.toggle("on", +b.dataset.size === n);
  draw();
}

// push makes a grid the current one, dropping the redo branch.
function push(entry) {
  S.hist = S.hist.slice(0, S.at + 1);
  S.hist.push(entry);
  S.at = S.hist.length - 1;
  showCurrent();
}

function goTo(at) {
  if (at < 0 || at >= S.hist.length || at === S.at) return;
  S.at = at;
  showCurrent();
}
const undo = () => goTo(S.at - 1);
const redo = () => goTo(S.at + 1);

function showCurrent() {
  const c = cur();
  if (c && c.cls != null && S.info.classes > 0) $("#edit-class").value = String(c.cls);
  $("#dl-png").href = c ? c.image : "";
  $("#current-label").textContent = c ? c.what + (c.cls != null && S.info.classes ? ` · class ${c.cls}` : "") : "";
  renderHistory();
  markAdopted();
  updateButtons();
  draw();
}

function renderHistory() {
  const ol = $("#history");
  ol.replaceChildren(...S.hist.map((h, i) => {
    const li = document.createElement("li");
    li.className = i === S.at ? "at" : i > S.at ? "future" : "";
    li.title = h.what;
    const im = document.createElement("img");
    im.src = h.image;
    im.alt = h.what;
    li.append(im);
    li.onclick = () => goTo(i);
    return li;
  }));
}

function updateButtons() {
  const c = cur();
  const marked = S.mask && S.mask.some((v) => v);
  $("#undo").disabled = S.at <= 0;
  $("#redo").disabled = S.at >= S.hist.length - 1;
  $("#run-edit").disabled = !c || !marked || !!S.jobs.edit;
  $("#run-edit").title = !c ? "Pick an image first" : !marked ? "Mark cells to redraw first" : "Ctrl+Enter";
  for (const id of ["#dl-vqc", "#dl-json"]) $(id).disabled = !c;
  $("#dl-png").classList.toggle("disabled", !c);
  $("#clear-mask").disabled = $("#invert-mask").disabled = !c;
  const n = +$("#edit-n").value || S.info.edit.n;
  if (!S.jobs.edit) $("#run-edit").textContent = `Redraw ${n} variant${n === 1 ? "" : "s"}`;
}

// ---- picking an image ------------------------------------------------------

async function withLoading(view, f) {
  const stage = $(".stage");
  stage.classList.add("loading");
  clearErrors(view);
  try { await f(); } catch (e) { showError(e, view); } finally { stage.classList.remove("loading"); }
}

function startFrom(pic, what) {
  $("#source-image").src = pic.image;
  $("#source-recon").src = pic.reconstruction;
  S.mask.fill(0);
  maskChanged();
  push({ codes: pic.codes, image: pic.reconstruction, cls: pic.label, what });
  clearVariants();
}

async function loadTest(index) {
  const view = $("#view-edit");
  await withLoading(view, async () => {
    const pic = await api("GET", `/api/test-images/${index}`);
    $("#test-index").value = index;
    startFrom(pic, `test image ${index}`);
  });
}

async function upload(file) {
  const view = $("#view-edit");
  await withLoading(view, async () => {
    if (file.size > S.info.limits.max_upload_bytes) {
      throw new APIError(413, { error: `${file.name} is ${(file.size / 1048576).toFixed(1)} MiB; the server takes up to ${(S.info.limits.max_upload_bytes / 1048576).toFixed(0)} MiB`, field: "image" });
    }
    const pic = await api("POST", "/api/encode", file, file.type || "application/octet-stream");
    startFrom(pic, file.name);
  });
}

// ---- editing ---------------------------------------------------------------

function num(id, int) {
  const v = $(id).value.trim();
  if (v === "") return undefined;
  return int ? Number.parseInt(v, 10) : Number.parseFloat(v);
}

function clearVariants() {
  S.variants = [];
  S.variantsFrom = -1;
  $("#variants").replaceChildren(emptyNote("Mark cells on the image, then Redraw."));
}

function emptyNote(text) {
  const p = document.createElement("p");
  p.className = "empty";
  p.textContent = text;
  return p;
}

async function runEdit() {
  const c = cur();
  if (!c || S.jobs.edit || !S.mask.some((v) => v)) return;
  const view = $("#view-edit");
  clearErrors(view);
  const redraw = [];
  S.mask.forEach((v, i) => { if (v) redraw.push([Math.floor(i / S.gw), i % S.gw]); });
  const body = {
    codes: c.codes, redraw, method: S.method,
    n: num("#edit-n", true), seed: num("#edit-seed", true), temperature: num("#edit-temperature"),
  };
  if (S.method === "gibbs") body.sweeps = num("#edit-sweeps", true);
  else { body.top_k = num("#edit-topk", true); body.top_p = num("#edit-topp"); }
  if (S.info.classes > 0) body.class = Number.parseInt($("#edit-class").value, 10);
  const from = S.at;
  $("#variants").classList.add("stale");
  try {
    const job = await runJob("edit", "/api/edit", body, $("#edit-job"));
    S.variants = job.items;
    S.variantsFrom = from;
    renderVariants(c, redraw.length, body.seed);
    if ($("#edit-next-seed").checked && body.seed !== undefined) $("#edit-seed").value = body.seed + 1;
  } catch (e) {
    showError(e, view);
  } finally {
    $("#variants").classList.remove("stale");
    updateButtons();
  }
}

// card is one gallery entry: the image, a caption, and what a click does.
function card(src, alt, caption, title, open) {
  const c = document.createElement("div");
  c.className = "card";
  c.tabIndex = 0;
  c.title = title;
  const im = document.createElement("img");
  im.src = src;
  im.alt = alt;
  const cap = document.createElement("div");
  cap.className = "cap";
  cap.textContent = caption;
  c.append(im, cap);
  c.onclick = open;
  c.onkeydown = (ev) => { if (ev.key === "Enter") open(); };
  return c;
}

function renderVariants(base, cells, seed) {
  $("#variants-hint").textContent = `${S.variants.length} redraws of ${cells} cell${cells === 1 ? "" : "s"}, seed ${seed} · click one to continue editing from it`;
  $("#variants").replaceChildren(...S.variants.map((it, k) => {
    const changed = it.codes.reduce((a, v, i) => a + (v !== base.codes[i]), 0);
    const c = card(it.image, `variant ${k + 1}`, `#${k + 1} · ${changed} code${changed === 1 ? "" : "s"} changed`,
      "Continue editing from this variant", () => adopt(k));
    c.dataset.index = k;
    return c;
  }));
  markAdopted();
}

function adopt(k) {
  const it = S.variants[k];
  const c = cur();
  if (c && c.codes.every((v, i) => v === it.codes[i])) return;
  push({ codes: it.codes, image: it.image, cls: it.class, what: `variant ${k + 1}`, variant: k, from: S.variantsFrom });
}

function markAdopted() {
  const c = cur();
  for (const card of $$("#variants .card")) {
    const it = S.variants[+card.dataset.index];
    card.classList.toggle("adopted", !!c && c.codes.every((v, i) => v === it.codes[i]));
  }
}

function setMethod(m) {
  S.method = m;
  for (const b of $$("#edit-method button")) b.classList.toggle("on", b.dataset.method === m);
  for (const f of $$('#view-edit [data-needs="raster"]')) f.classList.toggle("disabled", m !== "raster");
  for (const f of $$('#view-edit [data-needs="gibbs"]')) f.classList.toggle("disabled", m !== "gibbs");
  for (const i of $$('#view-edit [data-needs="raster"] input')) i.disabled = m !== "raster";
  for (const i of $$('#view-edit [data-needs="gibbs"] input')) i.disabled = m !== "gibbs";
}

async function downloadCodes(kind) {
  const c = cur();
  if (!c) return;
  try {
    let blob;
    if (kind === "json") {
      const doc = { grid_h: S.gh, grid_w: S.gw, k: S.info.k, class: c.cls ?? null, codes: c.codes };
      blob = new Blob([JSON.stringify(doc) + "\n"], { type: "application/json" });
    } else {
      const body = { codes: c.codes };
      if (S.info.classes > 0) body.class = c.cls ?? Number.parseInt($("#edit-class").value, 10);
      blob = await api("POST", "/api/codes", body);
    }
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `vqgen-codes.${kind}`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 5000);
  } catch (e) {
    showError(e, $("#view-edit"));
  }
}

// ---- sampling --------------------------------------------------------------

async function runSample() {
  if (S.jobs.sample) return;
  const view = $("#view-sample");
  clearErrors(view);
  const body = {
    n: num("#sample-n", true), seed: num("#sample-seed", true), temperature: num("#sample-temperature"),
    top_k: num("#sample-topk", true), top_p: num("#sample-topp"),
  };
  if (S.info.classes > 0) {
    const v = $("#sample-class").value;
    if (v !== "") body.class = Number.parseInt(v, 10);
    body.guidance = num("#sample-guidance");
  }
  $("#samples").classList.add("stale");
  try {
    const job = await runJob("sample", "/api/sample", body, $("#sample-job"));
    S.samples = job.items;
    renderSamples(body.seed);
    if ($("#sample-next-seed").checked && body.seed !== undefined) $("#sample-seed").value = body.seed + 1;
  } catch (e) {
    showError(e, view);
  } finally {
    $("#samples").classList.remove("stale");
  }
}

function renderSamples(seed) {
  $("#samples").replaceChildren(...S.samples.map((it, k) =>
    card(it.image, `sample ${k + 1}`, it.class != null ? `#${k + 1} · class ${it.class}` : `#${k + 1}`, "Edit this sample", () => {
      $("#source-image").src = it.image;
      $("#source-recon").src = it.image;
      S.mask.fill(0);
      maskChanged();
      push({ codes: it.codes, image: it.image, cls: it.class, what: `sample ${k + 1} (seed ${seed})` });
      clearVariants();
      show("edit");
    })));
}

// ---- setup -----------------------------------------------------------------

function show(view) {
  for (const b of $$(".tabs button")) b.setAttribute("aria-selected", String(b.dataset.view === view));
  $("#view-edit").hidden = view !== "edit";
  $("#view-sample").hidden = view !== "sample";
  S.view = view;
}

function fillClasses(sel, anyLabel) {
  const opts = [];
  if (anyLabel) opts.push(new Option(anyLabel, ""));
  for (let c = 0; c < S.info.classes; c++) opts.push(new Option(String(c), String(c)));
  sel.replaceChildren(...opts);
}

function bindRange(id) {
  const input = $(id), out = $(`output[for="${id.slice(1)}"]`);
  const upd = () => { out.textContent = Number(input.value).toFixed(2); };
  input.addEventListener("input", upd);
  upd();
}

// setDefaults fills every field from /api/info: the defaults are the
// server's application layer's (the prior's checkpoint), never the page's.
// Sweeps are gibbs's and top-k/top-p raster's, the fields each method uses.
function setDefaults() {
  const i = S.info, byMethod = i.edit_methods;
  $("#edit-sweeps").value = byMethod.gibbs.sweeps;
  $("#edit-sweeps").max = i.limits.max_sweeps;
  $("#edit-temperature").value = i.edit.temperature;
  $("#edit-topk").value = byMethod.raster.top_k;
  $("#edit-topp").value = byMethod.raster.top_p;
  $("#edit-seed").value = i.edit.seed;
  $("#edit-n").value = i.edit.n;
  $("#edit-n").max = $("#sample-n").max = i.limits.max_n;
  $("#sample-n").value = i.sample.n;
  $("#sample-temperature").value = i.sample.temperature;
  $("#sample-topk").value = i.sample.top_k;
  $("#sample-topp").value = i.sample.top_p;
  $("#sample-guidance").value = i.sample.guidance;
  $("#sample-seed").value = i.sample.seed;
  setMethod(i.edit.method);
  for (const id of ["#edit-temperature", "#sample-temperature", "#sample-guidance"]) bindRange(id);
}

function onKey(ev) {
  const t = ev.target;
  const typing = t instanceof HTMLInputElement && t.type !== "checkbox" && t.type !== "range" || t instanceof HTMLSelectElement;
  const mod = ev.ctrlKey || ev.metaKey;
  const key = ev.key.toLowerCase();
  if (mod && key === "enter") {
    ev.preventDefault();
    (S.view === "edit" ? runEdit : runSample)();
    return;
  }
  if (ev.key === "Escape") { cancelJob(S.view); return; }
  if (typing || S.view !== "edit") return;
  if (mod && key === "z") { ev.preventDefault(); (ev.shiftKey ? redo : undo)(); return; }
  if (mod && key === "y") { ev.preventDefault(); redo(); return; }
  if (mod || ev.altKey) return;
  const idx = () => Number.parseInt($("#test-index").value, 10) || 0;
  switch (key) {
    case "b": setTool("redraw"); break;
    case "l": setTool("keep"); break;
    case "1": case "2": case "3": setBrush(+key); break;
    case "c": if (cur()) { S.mask.fill(0); maskChanged(); } break;
    case "i": if (cur()) { S.mask.forEach((v, j) => { S.mask[j] = v ? 0 : 1; }); maskChanged(); } break;
    case "arrowleft": if (idx() > 0) loadTest(idx() - 1); break;
    case "arrowright": if (idx() < S.info.test_images - 1) loadTest(idx() + 1); break;
    default: return;
  }
  ev.preventDefault();
}

async function init() {
  try {
    S.info = await api("GET", "/api/info");
  } catch (e) {
    $("#model").textContent = "no model";
    showError(e);
    return;
  }
  const i = S.info;
  S.gh = i.grid_h;
  S.gw = i.grid_w;
  S.mask = new Uint8Array(S.gh * S.gw);
  $("#model").textContent = `${i.arch} prior · ${i.grid_h}×${i.grid_w} grid · K = ${i.k} · ` +
    (i.classes ? `${i.classes} classes` : "unconditional") + ` · ${i.image_size}px`;
  for (const el of $$('[data-needs="classes"]')) el.hidden = i.classes === 0;
  fillClasses($("#edit-class"));
  fillClasses($("#sample-class"), "any (one drawn per image)");
  setDefaults();
  sizeCanvas();
  maskChanged();

  const ti = $("#test-index");
  if (i.test_images > 0) {
    ti.max = i.test_images - 1;
    $("#test-range").textContent = `0 – ${i.test_images - 1} of ${i.test_set}`;
  } else {
    for (const el of ["#test-index", "#prev-image", "#next-image", "#load-image"]) $(el).disabled = true;
    $("#test-range").textContent = "(the run has no test set)";
  }
  const idx = () => Number.parseInt(ti.value, 10);
  $("#load-image").onclick = () => loadTest(idx());
  ti.addEventListener("keydown", (ev) => { if (ev.key === "Enter") loadTest(idx()); });
  $("#prev-image").onclick = () => loadTest(Math.max(0, idx() - 1));
  $("#next-image").onclick = () => loadTest(Math.min(i.test_images - 1, idx() + 1));
  $("#upload").onchange = (ev) => { if (ev.target.files[0]) upload(ev.target.files[0]); ev.target.value = ""; };
  const drop = $("#drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (ev) => {
    ev.preventDefault();
    drop.classList.remove("over");
    if (ev.dataTransfer.files[0]) upload(ev.dataTransfer.files[0]);
  });

  for (const b of $$(".tabs button")) b.onclick = () => show(b.dataset.view);
  for (const b of $$("#tool button")) b.onclick = () => setTool(b.dataset.tool);
  for (const b of $$("#brush button")) b.onclick = () => setBrush(+b.dataset.size);
  for (const b of $$("#edit-method button")) b.onclick = () => setMethod(b.dataset.method);
  for (const b of $$(".dice")) b.onclick = () => { $("#" + b.dataset.seed).value = Math.floor(Math.random() * 1e6); };
  $("#clear-mask").onclick = () => { S.mask.fill(0); maskChanged(); };
  $("#invert-mask").onclick = () => { S.mask.forEach((v, j) => { S.mask[j] = v ? 0 : 1; }); maskChanged(); };
  $("#undo").onclick = undo;
  $("#redo").onclick = redo;
  $("#run-edit").onclick = runEdit;
  $("#run-sample").onclick = runSample;
  $("#edit-n").addEventListener("input", updateButtons);
  $("#dl-vqc").onclick = () => downloadCodes("vqc");
  $("#dl-json").onclick = () => downloadCodes("json");
  $("#banner .close").onclick = () => { $("#banner").hidden = true; };
  for (const el of $$("input, select")) {
    el.addEventListener("input", () => {
      el.classList.remove("invalid");
      const f = el.closest(".field");
      if (f) for (const e of $$(".error", f)) e.textContent = "";
    });
  }
  document.addEventListener("keydown", onKey);
  show("edit");
  updateButtons();
  if (i.test_images > 0) await loadTest(0);
}

// What tests and scripts may read: the page's state, not its pixels.
window.vqgen = {
  ready: null,
  state() {
    const c = cur();
    const redraw = [];
    if (S.mask) S.mask.forEach((v, i) => { if (v) redraw.push([Math.floor(i / S.gw), i % S.gw]); });
    return {
      current: c ? { codes: c.codes, cls: c.cls ?? null, what: c.what } : null,
      at: S.at, history: S.hist.map((h) => h.codes), redraw,
      variants: S.variants.map((v) => v.codes), variantsFrom: S.variantsFrom,
      samples: S.samples.map((v) => v.codes),
      busy: { edit: !!S.jobs.edit, sample: !!S.jobs.sample }, lastError: S.lastError,
      canvas: { width: canvas.width, height: canvas.height },
    };
  },
};
window.vqgen.ready = init();
