// The review page: exact frames from the server, boxes drawn over them, edits sent back one at a time.
// Every URL is relative, so each request carries the secret token that is the first part of the page's path.

const $ = (id) => document.getElementById(id);
const COLOURS = { face: "#ff4d4d", plate: "#ff9f1a", text: "#ffe14d", manual: "#e05cff", mute: "#5aa0ff" };
const MAX_WIDTH = 1280; // frames larger than this are fetched scaled down (boxes stay in video pixels)

const view = {
  info: null, frame: 0, regions: null, summary: null, times: [], playing: false, redacted: false,
  drawing: false, selected: null, drag: null, coverFrom: null, muteFrom: null, findings: [], metadata: [], image: null, token: 0,
};

async function api(path, body) {
  const options = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  };
  const response = await fetch(`api/${path}`, options);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function say(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function attempt(work) {
  try { return await work(); } catch (e) { say(e.message, true); }
}

// ---- frames -------------------------------------------------------------------------------

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.onload = () => resolve(image);
    image.onerror = () => reject(new Error(`frame ${url} could not be loaded`));
    image.src = url;
  });
}

// fast: the small proxy picture of the same frame (scrubbing, playing); the exact frame follows when the person stops
async function show(index, fast = false) {
  const count = view.info.frame_count;
  index = Math.max(0, Math.min(count - 1, index));
  view.frame = index;
  const token = ++view.token;
  const look = view.redacted ? "redacted" : "original";
  const width = Math.min(view.info.width, MAX_WIDTH);
  const [image, regions] = await Promise.all([
    loadImage(`api/frame/${index}.jpg?look=${look}&w=${width}${fast ? "&fast=1" : ""}`), api(`regions/${index}`),
  ]);
  if (token !== view.token) return; // a later request superseded this one
  view.image = image;
  view.regions = regions;
  draw();
  $("scrub").value = index;
  const time = view.times[index] ?? 0;
  $("position").textContent = `frame ${index} / ${count - 1}   ${time.toFixed(3)} s`;
  $("frame").dataset.frame = String(index);
  $("frame").dataset.exact = fast ? "0" : "1";
  drawTimeline();
}

function draw() {
  const canvas = $("frame");
  const context = canvas.getContext("2d");
  context.drawImage(view.image, 0, 0, canvas.width, canvas.height);
  const scale = canvas.width / view.info.width;
  const regions = view.regions;
  if (regions.cover_all && !view.redacted) {
    context.fillStyle = "rgba(224, 92, 255, 0.25)";
    context.fillRect(0, 0, canvas.width, canvas.height);
  }
  context.font = `${Math.max(11, Math.round(13 * canvas.width / 900))}px system-ui, sans-serif`;
  for (const b of regions.boxes) {
    const label = `${b.kind} #${b.id} ${b.score.toFixed(2)}${b.detected ? "" : " (tracker)"}${b.keep_visible ? " KEPT" : ""}`;
    box(context, b.box, scale, b.keep_visible ? "#9a9ca3" : COLOURS[b.kind], label, b.detected ? [] : [6, 4], b.detected ? 2 : 1.5);
  }
  for (const m of regions.manual) {
    const selected = m.index === view.selected;
    box(context, m.box, scale, COLOURS.manual, `manual ${m.index + 1}`, [], selected ? 3 : 2);
    if (selected) {
      const [, , x2, y2] = m.box.map((v) => v * scale);
      context.fillStyle = COLOURS.manual;
      context.fillRect(x2 - 6, y2 - 6, 12, 12); // resize handle
    }
  }
  for (const f of view.findings.filter((f) => f.frame === view.frame)) {
    box(context, f.box, scale, f.kept ? "#9a9ca3" : "#ff2d2d", `verify found ${f.kind} ${f.score.toFixed(2)}${f.kept ? " (kept)" : ""}`, [3, 3], 3);
  }
  if (view.drag && view.drag.box) box(context, view.drag.box, scale, "#ffffff", "", [4, 3], 2);
}

// verify's findings as runs of consecutive frames per kind, so hundreds of them stay readable
function findingRuns() {
  const runs = [];
  for (const f of [...view.findings].sort((a, b) => a.kind.localeCompare(b.kind) || a.kept - b.kept || a.frame - b.frame)) {
    const last = runs[runs.length - 1];
    if (last && last.kind === f.kind && last.kept === f.kept && f.frame - last.end <= 1) {
      last.end = f.frame; last.count += 1; last.score = Math.max(last.score, f.score);
    } else runs.push({ kind: f.kind, kept: f.kept, start: f.frame, end: f.frame, count: 1, score: f.score });
  }
  return runs.sort((a, b) => a.start - b.start);
}

function box(context, [x1, y1, x2, y2], scale, colour, label, dash, width) {
  context.save();
  context.strokeStyle = colour;
  context.lineWidth = width;
  context.setLineDash(dash);
  context.strokeRect(x1 * scale, y1 * scale, (x2 - x1) * scale, (y2 - y1) * scale);
  if (label) {
    context.fillStyle = colour;
    context.fillText(label, x1 * scale, Math.max(12, y1 * scale - 4));
  }
  context.restore();
}

// ---- playback -----------------------------------------------------------------------------

async function play() {
  view.playing = !view.playing;
  $("play").textContent = view.playing ? "Pause" : "Play";
  const period = 1000 / (view.info.frame_rate || 25);
  while (view.playing && view.frame < view.info.frame_count - 1) {
    const started = performance.now();
    await attempt(() => show(view.frame + 1, true));
    await new Promise((r) => setTimeout(r, Math.max(0, period - (performance.now() - started))));
  }
  view.playing = false;
  await attempt(() => show(view.frame));
  $("play").textContent = "Play";
}

const step = (n) => attempt(() => show(view.frame + n));

// ---- side lists ---------------------------------------------------------------------------

function item(list, className, html, onClick) {
  const li = document.createElement("li");
  li.className = className;
  li.innerHTML = html;
  li.addEventListener("click", onClick);
  list.append(li);
  return li;
}

function button(li, text, onClick) {
  const b = document.createElement("button");
  b.textContent = text;
  b.addEventListener("click", (e) => { e.stopPropagation(); onClick(); });
  li.append(b);
  return b;
}

function renderLists() {
  const s = view.summary;
  const tracks = $("tracks");
  tracks.replaceChildren();
  $("track-count").textContent = `${s.tracks.length}`;
  for (const t of s.tracks) {
    const first = t.runs.length ? t.runs[0][0] : 0;
    const last = t.runs.length ? t.runs[t.runs.length - 1][1] : 0;
    const li = item(tracks, `kind-${t.kind}${t.keep_visible ? " kept" : ""}`,
      `<img loading="lazy" alt="" src="api/thumb/${t.id}.jpg"><span class="what">${t.kind} #${t.id}<br>` +
      `<small>frames ${first}-${last}, best ${t.score.toFixed(2)}${t.keep_visible ? ", left visible" : ""}</small></span>`,
      () => attempt(() => show(first)));
    li.dataset.track = t.id;
    button(li, t.keep_visible ? "Cover" : "Keep visible",
      () => edit({ op: "keep_visible", track: t.id, value: !t.keep_visible }));
  }
  const manual = $("manual");
  manual.replaceChildren();
  s.manual.forEach((region, m) => {
    const [a, b] = s.manual_spans[m];
    const li = item(manual, `kind-manual${m === view.selected ? " selected" : ""}`,
      `<span class="what">manual ${m + 1}<br><small>frames ${a}-${b}, ${region.keyframes.length} key frame(s)</small></span>`,
      () => { view.selected = m; renderLists(); attempt(() => show(Math.min(Math.max(view.frame, a), b))); });
    li.dataset.manual = m;
  });
  const cover = $("cover-all");
  cover.replaceChildren();
  s.cover_all.forEach(([a, b], c) => {
    const li = item(cover, "kind-manual", `<span class="what">frames ${a}-${b}</span>`, () => attempt(() => show(a)));
    button(li, "Delete", () => edit({ op: "delete_cover_all", index: c }));
  });
  const mute = $("mute");
  mute.replaceChildren();
  s.mute.forEach(([a, b], m) => {
    const [start, end] = s.mute_seconds[m];
    const li = item(mute, "kind-mute", `<span class="what">${start.toFixed(2)}-${end.toFixed(2)} s<br><small>frames ${a}-${b}</small></span>`, () => attempt(() => show(a)));
    button(li, "Delete", () => edit({ op: "delete_mute", index: m }));
  });
  const findings = $("findings");
  findings.replaceChildren();
  for (const r of findingRuns().slice(0, 300)) {
    const frames = r.start === r.end ? `frame ${r.start}` : `frames ${r.start}-${r.end}`;
    const note = r.kept ? ", on a track you keep visible" : "";
    item(findings, `kind-${r.kind}${r.kept ? " kept" : ""}`, `<span class="what">${r.kind}, ${frames}<br><small>${r.count} finding(s), best ${r.score.toFixed(2)}${note}</small></span>`,
      () => attempt(() => show(r.start)));
  }
  for (const m of view.metadata) {  // tag values come from the file: text, never markup
    const li = item(findings, "", "", () => {});
    li.textContent = m;
  }
  $("undo").disabled = !s.can_undo;
  $("redo").disabled = !s.can_redo;
  $("save").textContent = s.dirty ? "Save *" : "Save";
  $("region-name").textContent = view.selected === null ? "none selected" : `manual ${view.selected + 1}`;
  for (const id of ["region-start", "region-end", "region-delete"]) $(id).disabled = view.selected === null;
}

async function edit(body, path = "edit") {
  await attempt(async () => {
    view.summary = await api(path, body);
    if (view.selected !== null && view.selected >= view.summary.manual.length) view.selected = null;
    await show(view.frame);
    renderLists(); // after the frame, so a list that shows an edit means the frame shows it too
    say(path === "save" ? "saved" : "");
  });
}

// ---- timeline -----------------------------------------------------------------------------

const LANE = 12;
const LABEL = 110;

function lanes() {
  const s = view.summary;
  const rows = [
    { label: "nothing covered", colour: "#ffb000", runs: s.uncovered },
    { label: "verify findings", colour: "#ff2d2d", runs: view.findings.filter((f) => !f.kept).map((f) => [f.frame, f.frame]), ticks: true },
    { label: "verify: kept", colour: "#6b6d73", runs: view.findings.filter((f) => f.kept).map((f) => [f.frame, f.frame]), ticks: true },
    { label: "whole frame", colour: COLOURS.manual, runs: s.cover_all },
    { label: "sound muted", colour: COLOURS.mute, runs: s.mute },
  ];
  s.manual_spans.forEach((span, m) => rows.push({ label: `manual ${m + 1}`, colour: COLOURS.manual, runs: [span], manual: m }));
  for (const t of s.tracks) {
    rows.push({ label: `${t.kind} #${t.id}${t.keep_visible ? " (kept)" : ""}`, colour: t.keep_visible ? "#6b6d73" : COLOURS[t.kind], runs: t.runs, track: t });
  }
  return rows;
}

function drawTimeline() {
  if (!view.summary) return;
  const canvas = $("timeline");
  const rows = lanes();
  const width = canvas.clientWidth || 800;
  canvas.width = width;
  canvas.height = rows.length * LANE + 4;
  const context = canvas.getContext("2d");
  const count = view.info.frame_count;
  const x = (f) => LABEL + (width - LABEL - 4) * f / Math.max(1, count);
  context.font = "10px system-ui, sans-serif";
  rows.forEach((row, r) => {
    const y = r * LANE + 2;
    context.fillStyle = "#9a9ca3";
    context.fillText(row.label, 4, y + 9);
    context.fillStyle = row.colour;
    for (const [a, b] of row.runs) {
      context.fillRect(x(a), y + 1, row.ticks ? 2 : Math.max(1, x(b + 1) - x(a)), LANE - 2);
    }
  });
  context.fillStyle = "#ffffff";
  context.fillRect(x(view.frame), 0, 1, canvas.height);
  canvas.onclick = (e) => {
    const rect = canvas.getBoundingClientRect();
    const px = (e.clientX - rect.left) * canvas.width / rect.width;
    const row = rows[Math.floor((e.clientY - rect.top) * canvas.height / rect.height / LANE)];
    if (px < LABEL) {
      if (row && row.track && row.track.runs.length) attempt(() => show(row.track.runs[0][0]));
      if (row && row.manual !== undefined) { view.selected = row.manual; renderLists(); attempt(() => show(row.runs[0][0])); }
      return;
    }
    attempt(() => show(Math.floor((px - LABEL) / (width - LABEL - 4) * count)));
  };
}

// ---- manual regions: draw, move, resize ---------------------------------------------------

function videoPoint(e) {
  const canvas = $("frame");
  const rect = canvas.getBoundingClientRect();
  return [(e.clientX - rect.left) * view.info.width / rect.width, (e.clientY - rect.top) * view.info.height / rect.height];
}

function regionAt([px, py]) {
  const handle = 10 * view.info.width / $("frame").getBoundingClientRect().width;
  for (const m of [...view.regions.manual].reverse()) {
    const [x1, y1, x2, y2] = m.box;
    if (Math.abs(px - x2) < handle && Math.abs(py - y2) < handle) return { m, mode: "resize" };
    if (px >= x1 && px <= x2 && py >= y1 && py <= y2) return { m, mode: "move" };
  }
  return null;
}

function onDown(e) {
  const start = videoPoint(e);
  if (view.drawing) {
    view.drag = { mode: "new", start, box: null };
    return;
  }
  const hit = regionAt(start);
  if (!hit) return;
  view.selected = hit.m.index;
  view.drag = { mode: hit.mode, start, original: hit.m.box, box: null, index: hit.m.index };
  renderLists();
  draw();
}

function onMove(e) {
  if (!view.drag) return;
  const [px, py] = videoPoint(e);
  const [sx, sy] = view.drag.start;
  const clamp = (v, hi) => Math.max(0, Math.min(hi, v));
  const W = view.info.width, H = view.info.height;
  if (view.drag.mode === "new") {
    view.drag.box = [Math.min(sx, px), Math.min(sy, py), Math.max(sx, px), Math.max(sy, py)].map((v, i) => clamp(v, i % 2 ? H : W));
  } else {
    const [x1, y1, x2, y2] = view.drag.original;
    const dx = px - sx, dy = py - sy;
    view.drag.box = view.drag.mode === "move"
      ? [x1 + dx, y1 + dy, x2 + dx, y2 + dy]
      : [x1, y1, Math.max(x1 + 2, clamp(x2 + dx, W)), Math.max(y1 + 2, clamp(y2 + dy, H))];
  }
  draw();
}

async function onUp() {
  const drag = view.drag;
  view.drag = null;
  if (!drag || !drag.box) return draw();
  const bx = drag.box.map((v) => Math.round(v));
  const f = view.frame;
  if (drag.mode === "new") {
    if (bx[2] - bx[0] < 3 || bx[3] - bx[1] < 3) return draw();
    view.selected = view.summary.manual.length;
    setDrawing(false);
    return edit({ op: "add_manual", region: { keyframes: [{ frame: f, box: bx }], start: { frame: f }, end: { frame: f } } });
  }
  // a move or resize at this frame is a key frame here; the region grows to include this frame
  const region = structuredClone(view.summary.manual[drag.index]);
  region.keyframes = region.keyframes.filter((k) => k.frame !== f).concat([{ frame: f, box: bx }]);
  region.keyframes.sort((a, b) => a.frame - b.frame);
  const [a, b] = view.summary.manual_spans[drag.index];
  region.start = { frame: Math.min(a, f) };
  region.end = { frame: Math.max(b, f) };
  return edit({ op: "set_manual", index: drag.index, region });
}

function setRegionEdge(edge) {
  const m = view.selected;
  if (m === null) return;
  const region = structuredClone(view.summary.manual[m]);
  region[edge] = { frame: view.frame };
  edit({ op: "set_manual", index: m, region });
}

function setDrawing(on) {
  view.drawing = on;
  $("draw").classList.toggle("on", on);
  $("frame").classList.toggle("drawing", on);
}

// ---- render and verify --------------------------------------------------------------------

async function poll() {
  const state = await api("state");
  const job = state.job;
  const running = ["detect", "render", "verify"].includes(job.stage);
  $("progress").hidden = !running;
  if (running) {
    $("bar").max = job.total || 1;
    $("bar").value = job.done;
    $("progress-label").textContent = `${job.stage}: ${job.done}${job.total ? ` / ${job.total}` : ""} frames`;
  }
  $("render").disabled = running || !state.ready;
  return state;
}

async function watch(stage) {
  let state = await poll();
  while (["detect", "render", "verify"].includes(state.job.stage)) {
    await new Promise((r) => setTimeout(r, 400));
    state = await poll();
  }
  if (state.job.stage === "failed" || state.job.stage === "cancelled") say(`${stage} failed: ${state.job.error}`, true);
  return state;
}

async function render() {
  await attempt(async () => {
    view.summary = await api("render", {});
    renderLists();
    say("rendering...");
    const state = await watch("render");
    if (state.job.stage !== "done") return;
    const result = state.job.result;
    const check = result.verify;
    view.findings = check.findings;
    view.metadata = check.metadata;
    const unexpected = check.findings.filter((f) => !f.kept).length;
    const kept = check.findings.length - unexpected;
    $("verify-summary").textContent = check.clean
      ? `clean: ${check.frames_checked} frames checked`
      : `${unexpected} finding(s)${kept ? ` (+${kept} on kept tracks)` : ""}${check.metadata.length ? `, ${check.metadata.length} metadata item(s)` : ""}`;
    const found = unexpected || check.metadata.length;
    say(`wrote ${result.output}: ${result.frames} frames, ${result.covered_frames} with regions; verify ${found ? "found something: see the red markers" : kept ? "found only faces you keep visible" : "found nothing"}`, Boolean(found));
    view.summary = await api("summary");
    renderLists();
    drawTimeline();
  });
}

// ---- start --------------------------------------------------------------------------------

function keys(e) {
  if (e.target.tagName === "INPUT" && e.target.type !== "checkbox" && e.target.type !== "range") return;
  const ctrl = e.ctrlKey || e.metaKey;
  if (e.key === " ") { e.preventDefault(); play(); }
  else if (e.key === "ArrowLeft") { e.preventDefault(); step(e.shiftKey ? -10 : -1); }
  else if (e.key === "ArrowRight") { e.preventDefault(); step(e.shiftKey ? 10 : 1); }
  else if (ctrl && e.key.toLowerCase() === "z") { e.preventDefault(); edit({}, e.shiftKey ? "redo" : "undo"); }
  else if (ctrl && e.key.toLowerCase() === "y") { e.preventDefault(); edit({}, "redo"); }
  else if (ctrl && e.key.toLowerCase() === "s") { e.preventDefault(); edit({}, "save"); }
  else if (!ctrl && e.key.toLowerCase() === "d") setDrawing(!view.drawing);
  else if (!ctrl && e.key.toLowerCase() === "r") { $("redacted").click(); }
}

function wire() {
  $("play").onclick = play;
  $("prev").onclick = (e) => step(e.shiftKey ? -10 : -1);
  $("next").onclick = (e) => step(e.shiftKey ? 10 : 1);
  $("scrub").oninput = () => attempt(() => show(Number($("scrub").value), true));
  $("scrub").onchange = () => attempt(() => show(Number($("scrub").value)));
  $("redacted").onchange = () => { view.redacted = $("redacted").checked; attempt(() => show(view.frame)); };
  $("undo").onclick = () => edit({}, "undo");
  $("redo").onclick = () => edit({}, "redo");
  $("save").onclick = () => edit({}, "save");
  $("render").onclick = render;
  $("draw").onclick = () => setDrawing(!view.drawing);
  $("region-start").onclick = () => setRegionEdge("start");
  $("region-end").onclick = () => setRegionEdge("end");
  $("region-delete").onclick = () => { const m = view.selected; view.selected = null; edit({ op: "delete_manual", index: m }); };
  $("cover-from").onclick = () => {
    view.coverFrom = view.frame;
    $("cover-to").disabled = false;
    say(`whole-frame cover starts at frame ${view.frame}; go to its last frame and press "...to here"`);
  };
  $("cover-to").onclick = () => {
    $("cover-to").disabled = true;
    edit({ op: "add_cover_all", start: view.coverFrom, end: view.frame });
  };
  $("mute-from").onclick = () => {
    view.muteFrom = view.frame;
    $("mute-to").disabled = false;
    say(`muting starts at frame ${view.frame}; go to the last frame of the words and press "...to here"`);
  };
  $("mute-to").onclick = () => {
    $("mute-to").disabled = true;
    edit({ op: "add_mute", start: view.muteFrom, end: view.frame });
  };
  const canvas = $("frame");
  canvas.addEventListener("mousedown", onDown);
  window.addEventListener("mousemove", onMove);
  window.addEventListener("mouseup", onUp);
  document.addEventListener("keydown", keys);
  window.addEventListener("resize", drawTimeline);
  window.addEventListener("beforeunload", (e) => { if (view.summary && view.summary.dirty) e.preventDefault(); });
  window.addEventListener("pagehide", () => fetch("api/bye", { method: "POST", keepalive: true, headers: { "Content-Type": "application/json" }, body: "{}" }));
  setInterval(() => { if (!$("progress").hidden || document.visibilityState === "visible") poll().catch(() => {}); }, 5000);
}

async function start() {
  wire();
  say("detecting...");
  let state = await watch("detection");
  if (!state.ready) return;
  view.info = state.video;
  document.title = `redact review: ${state.video.name}`;
  $("title").textContent = state.video.name;
  const canvas = $("frame");
  const scale = Math.min(MAX_WIDTH / view.info.width, Math.max(1, 960 / view.info.width)); // small videos shown larger
  canvas.width = Math.round(view.info.width * scale);
  canvas.height = Math.round(view.info.height * scale);
  $("scrub").max = view.info.frame_count - 1;
  view.times = await api("times");
  view.summary = await api("summary");
  renderLists();
  await show(0);
  say(`${view.summary.tracks.length} track(s); detections file ${state.tracks_file}; render writes ${state.output}`);
  document.body.dataset.ready = "1";
}

start().catch((e) => say(e.message, true));
