// vqgen's page: edit an image by redrawing cells of its code grid, or draw
// new images. Plain JavaScript over the JSON API of docs/http-api.md; this
// part picks images, runs edits and samples, and wires up the page (state.js
// and grid.js load first).
"use strict";

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
