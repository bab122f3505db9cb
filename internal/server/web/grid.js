// vqgen's page, part two: the edit view's canvas with the code grid over
// the image, the redraw mask painted with the mouse, and the undo/redo
// history of adopted grids.
"use strict";

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

