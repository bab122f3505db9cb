// vqgen's page, part one: the page's state, the JSON API of
// docs/http-api.md with its job polling, and error display. The page's
// scripts load in order: state.js, grid.js, app.js.
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

