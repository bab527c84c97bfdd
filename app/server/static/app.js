// SwapCast's web dashboard: plain JavaScript, no build step, nothing loaded from elsewhere.
//
// It reads GET /api/status and GET /api/jobs once (and again after every reconnect, to catch up), then
// follows the /api/events WebSocket ({"type": "job"|"live"|"health"|"heartbeat", "data": ..., "time": ...}).
// The live preview is fetched with the token and shown as a blob: URL (an <img> cannot send a header).
// Data from the server only ever reaches the page as textContent / attributes — never as HTML.
// Every field may be missing: the page shows what it gets and a dash for the rest.
"use strict";

(() => {
  const TOKEN_KEY = "swapcast.token";
  const PREVIEW_EVERY_MS = 1000;
  const PREVIEW_IDLE_MS = 3000; // no live session: ask less often
  const RECONNECT_MIN_MS = 1000;
  const RECONNECT_MAX_MS = 30000;
  const SILENCE_LIMIT_MS = 45000; // three missed 15 s heartbeats: the connection is dead, reconnect
  const FINAL_STATES = new Set(["completed", "failed", "cancelled"]);
  const STATE_ORDER = ["processing", "pending", "completed", "failed", "cancelled"];

  const $ = (id) => document.getElementById(id);

  const app = {
    token: null,
    jobs: new Map(), // id -> normalised job
    rows: new Map(), // id -> {tr, cells...}
    canOperate: null, // null: not known yet; false: a viewer token (no cancel/retry)
    ws: null,
    wsDelay: RECONNECT_MIN_MS,
    wsTimer: null,
    lastMessage: 0,
    watchdog: null,
    previewTimer: null,
    previewUrl: null,
    statusTimer: null,
    queueCounts: null,
  };

  // ---- small helpers ------------------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function num(value) {
    if (value === null || value === undefined || value === "" || typeof value === "boolean") return null;
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  // The first of `names` that `obj` has (not null).
  function pick(obj, ...names) {
    if (!isObject(obj)) return undefined;
    for (const name of names) {
      if (obj[name] !== undefined && obj[name] !== null) return obj[name];
    }
    return undefined;
  }

  function fixed(value, digits) {
    const n = num(value);
    return n === null ? "–" : n.toFixed(digits);
  }

  function duration(seconds) {
    const s = num(seconds);
    if (s === null || s < 0) return "–";
    const whole = Math.round(s);
    const h = Math.floor(whole / 3600);
    const m = Math.floor((whole % 3600) / 60);
    const rest = String(whole % 60).padStart(2, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
  }

  function bytes(value) {
    const n = num(value);
    if (n === null) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let size = n;
    let unit = 0;
    while (size >= 1024 && unit < units.length - 1) {
      size /= 1024;
      unit += 1;
    }
    return `${size.toFixed(unit >= 3 ? 1 : 0)} ${units[unit]}`;
  }

  function basename(path) {
    const text = String(path);
    const parts = text.split(/[\\/]/);
    return parts[parts.length - 1] || text;
  }

  // The end of a long path (its file name and nearest folders matter most); the title has all of it.
  function shortPath(path, limit = 36) {
    const text = String(path);
    if (text.length <= limit) return text;
    const parts = text.split(/[\\/]/).filter(Boolean);
    const tail = parts.slice(-2).join("/");
    return tail.length < limit ? `…/${tail}` : `…${text.slice(text.length - limit + 1)}`;
  }

  function toast(message) {
    const box = $("toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 7000);
  }

  // ---- the API ------------------------------------------------------------------------------------

  class ApiFailure extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  // The envelope's data ({"ok": true, "data": ...}), or the body itself for an endpoint without one.
  async function api(path, options = {}) {
    const headers = Object.assign({}, options.headers || {}, { Authorization: `Bearer ${app.token}` });
    let response;
    try {
      response = await fetch(path, Object.assign({}, options, { headers, cache: "no-store" }));
    } catch (error) {
      throw new ApiFailure(0, "network", "cannot reach the server — is `swapcast serve` still running?");
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok || (isObject(body) && body.ok === false)) {
      const problem = (isObject(body) && isObject(body.error)) ? body.error : {};
      const failure = new ApiFailure(response.status, problem.code || `http_${response.status}`,
        problem.message || `${response.status} ${response.statusText || "error"} from ${path}`);
      if (response.status === 401) signOut(failure.message);
      throw failure;
    }
    return (isObject(body) && "ok" in body) ? body.data : body;
  }

  // ---- the token ----------------------------------------------------------------------------------

  function showLogin(message) {
    $("login").hidden = false;
    $("dashboard").hidden = true;
    $("forget").hidden = true;
    $("login-error").textContent = message || "";
    $("token-input").value = "";
    $("token-input").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    app.token = null;
    stopEverything();
    showLogin(message);
  }

  async function tryToken(token) {
    app.token = token;
    $("login-button").disabled = true;
    try {
      const status = await api("/api/status");
      sessionStorage.setItem(TOKEN_KEY, token);
      start(status);
    } catch (error) {
      if (error.status === 401) return; // signOut() showed the server's message
      if (error.status === 0) {
        app.token = null;
        showLogin(error.message);
        return;
      }
      // The token may be fine and only the status endpoint unwell: open the dashboard anyway.
      sessionStorage.setItem(TOKEN_KEY, token);
      start(null);
      toast(`status: ${error.message}`);
    } finally {
      $("login-button").disabled = false;
    }
  }

  // ---- start / stop -------------------------------------------------------------------------------

  function start(status) {
    $("login").hidden = true;
    $("dashboard").hidden = false;
    $("forget").hidden = false;
    if (status) renderStatus(status);
    loadJobs();
    probeRole(status);
    connectEvents();
    schedulePreview(0);
  }

  function stopEverything() {
    clearTimeout(app.wsTimer);
    clearTimeout(app.previewTimer);
    clearTimeout(app.statusTimer);
    clearInterval(app.watchdog);
    if (app.ws) {
      const ws = app.ws;
      app.ws = null;
      ws.close();
    }
    setConnection("offline", "not connected");
    app.jobs.clear();
    app.rows.clear();
    $("job-rows").replaceChildren();
    app.canOperate = null;
  }

  // Whether this token may cancel and retry: /api/status says which role the token has.
  function probeRole(status) {
    const role = pick(status, "role");
    if (typeof role !== "string") return;
    $("role").textContent = role === "viewer" ? "read-only token" : `${role} token`;
    setRole(role !== "viewer");
  }

  function setRole(canOperate) {
    app.canOperate = canOperate;
    if (!$("role").textContent || !canOperate) $("role").textContent = canOperate ? "can control jobs" : "read-only token";
    document.body.classList.toggle("read-only", !canOperate);
    for (const id of app.jobs.keys()) renderJob(id);
  }

  // ---- status: engines, GPU, system, live, queue counts -------------------------------------------

  async function loadStatus() {
    try {
      renderStatus(await api("/api/status"));
    } catch (error) {
      if (error.status !== 401) toast(`status: ${error.message}`);
    }
  }

  // Many events in a burst (a batch finishing) → one status request.
  function refreshStatusSoon() {
    clearTimeout(app.statusTimer);
    app.statusTimer = setTimeout(loadStatus, 700);
  }

  function renderStatus(status) {
    if (!isObject(status)) return;
    const version = pick(status, "version");
    $("version").textContent = version ? `v${version}` : "";
    const queue = pick(status, "queue", "queue_counts", "jobs");
    if (isObject(queue)) {
      app.queueCounts = queue;
      renderCounts();
    }
    const engines = pick(status, "engines", "engine", "health");
    if (engines !== undefined) renderEngines(engines);
    renderMeters(pick(status, "gpu", "gpus", "gpu_memory"), pick(status, "system", "load", "system_load"));
    if ("live" in status) renderLive(status.live);
  }

  function renderCounts() {
    const list = $("counts");
    list.replaceChildren();
    const counts = {};
    if (app.queueCounts) {
      for (const [state, n] of Object.entries(app.queueCounts)) {
        const value = num(n);
        if (value !== null) counts[String(state).toLowerCase()] = value;
      }
    } else {
      for (const job of app.jobs.values()) counts[job.state] = (counts[job.state] || 0) + 1;
    }
    const states = [...STATE_ORDER, ...Object.keys(counts).filter((s) => !STATE_ORDER.includes(s))];
    for (const state of states) {
      if (!(state in counts)) continue;
      const item = el("li", "count");
      item.dataset.state = state;
      item.append(el("span", "count-n", counts[state]), el("span", "count-label", state));
      list.append(item);
    }
  }

  // Engines arrive as a list of models, as {name: model} or as {engine: {models: [...]}}; each model
  // may say provider, loaded, degraded, state, reason.
  function engineModels(engines) {
    const models = [];
    // One engine (the usual case): its models need no "engine ·" prefix.
    const single = isObject(engines) && Object.keys(engines).length === 1;
    const add = (name, info) => {
      if (!isObject(info)) {
        models.push({ name, level: typeof info === "string" ? info : "idle" });
        return;
      }
      if (info.enabled === false) {  // switched off in integrations.json: not a failure
        models.push({ name: pick(info, "name") || name, level: "off", reason: "disabled in integrations.json" });
        return;
      }
      const inner = pick(info, "models");
      // An engine with no model loaded yet is still one row: the user sees it exists and its state.
      if ((Array.isArray(inner) && inner.length) || (isObject(inner) && Object.keys(inner).length)) {
        for (const model of engineModels(inner)) {
          models.push(single ? model : Object.assign(model, { name: `${name} · ${model.name}` }));
        }
        return;
      }
      models.push({
        name: pick(info, "name", "model", "id", "role") || name,
        provider: pick(info, "provider", "providers", "device", "on"),
        loaded: pick(info, "loaded"),
        degraded: pick(info, "degraded"),
        level: pick(info, "state", "status", "health", "level"),
        reason: pick(info, "reason", "error", "message"),
      });
    };
    if (Array.isArray(engines)) engines.forEach((info, index) => add(String(index + 1), info));
    else if (isObject(engines)) {
      const inner = pick(engines, "models", "engines");
      if (inner !== undefined) return engineModels(inner);
      for (const [name, info] of Object.entries(engines)) add(name, info);
    }
    return models;
  }

  function levelOf(model) {
    const text = String(model.level || "").toLowerCase();
    if (model.degraded === true || text === "degraded" || text === "retrying") return "degraded";
    if (["down", "failed", "error", "unavailable", "crashed"].includes(text)) return "down";
    if (["ok", "ready", "healthy", "running", "up"].includes(text)) return "ok";
    if (text === "off") return "off";
    if (model.loaded === true) return "ok";
    return "idle";
  }

  function renderEngines(engines) {
    const models = engineModels(engines);
    const body = $("engine-rows");
    body.replaceChildren();
    // The badge is the worst of the engines in use; idle or switched-off ones never make it look worse.
    const rank = { off: -2, idle: -1, ok: 0, degraded: 2, down: 3 };
    let worst = "off";
    for (const model of models) {
      const level = levelOf(model);
      if (rank[level] > rank[worst]) worst = level;
      const tr = el("tr");
      const provider = Array.isArray(model.provider) ? model.provider.join(", ") : model.provider;
      const status = el("td", "level", model.reason && level !== "ok" ? `${level}: ${model.reason}` : level);
      status.dataset.level = level;
      if (model.reason) status.title = String(model.reason);
      const name = el("td", "name", model.name);
      name.title = String(model.name);
      tr.append(name, el("td", null, provider === undefined ? "–" : String(provider)),
        el("td", null, model.loaded === undefined ? "–" : (model.loaded ? "yes" : "no")), status);
      body.append(tr);
    }
    $("engines-empty").hidden = models.length > 0;
    $("engines").hidden = models.length === 0;
    const badge = $("engines-state");
    badge.dataset.level = worst;
    badge.textContent = models.length ? worst : "none";
    if (worst === "off" && models.length) badge.textContent = "all off";
  }

  function meter(label, fraction, text, title) {
    const row = el("div", "meter");
    row.append(el("span", "meter-label", label));
    const bar = el("div", "bar");
    const fill = el("div", "fill");
    const f = num(fraction);
    fill.style.width = `${f === null ? 0 : Math.max(0, Math.min(1, f)) * 100}%`;
    if (f !== null && f > 0.9) fill.classList.add("high");
    bar.append(fill, el("span", "bar-text", text));
    if (title) row.title = title;
    row.append(bar);
    return row;
  }

  function renderMeters(gpu, system) {
    const box = $("meters");
    box.replaceChildren();
    // GPUs: {gpus: [...], reason} (the monitor's report), a list, or one GPU.
    let gpus = [];
    let reason = null;
    if (Array.isArray(gpu)) gpus = gpu;
    else if (isObject(gpu)) {
      const list = pick(gpu, "gpus", "devices");
      if (Array.isArray(list)) gpus = list;
      else if (pick(gpu, "memory_total", "total") !== undefined) gpus = [gpu];
      reason = pick(gpu, "reason", "error");
    }
    if (gpus.length === 0) {
      const row = el("div", "meter");
      row.append(el("span", "meter-label", "GPU"), el("span", "meter-note muted", reason ? `none — ${reason}` : "none reported"));
      if (reason) row.title = String(reason);
      box.append(row);
    }
    gpus.forEach((info, index) => {
      const used = num(pick(info, "memory_used", "used", "used_bytes"));
      const total = num(pick(info, "memory_total", "total", "total_bytes"));
      const name = pick(info, "name") || `GPU ${pick(info, "index") ?? index}`;
      const text = used !== null && total ? `${bytes(used)} / ${bytes(total)}` : "–";
      box.append(meter(`GPU ${pick(info, "index") ?? index} memory`, used !== null && total ? used / total : null, text, name));
      const util = num(pick(info, "utilization", "util", "load"));
      if (util !== null) box.append(meter(`GPU ${pick(info, "index") ?? index} load`, util / 100, `${util.toFixed(0)} %`, name));
      const mine = num(pick(info, "process_memory"));
      if (mine !== null) box.append(meter("SwapCast on GPU", total ? mine / total : null, bytes(mine)));
    });
    if (isObject(system)) {
      const cpu = num(pick(system, "cpu_percent", "cpu"));
      const cores = num(pick(system, "cpu_count", "cores"));
      if (cpu !== null) box.append(meter("CPU", cpu / 100, `${cpu.toFixed(0)} %${cores ? ` of ${cores} cores` : ""}`));
      const ramUsed = num(pick(system, "ram_used", "memory_used"));
      const ramTotal = num(pick(system, "ram_total", "memory_total"));
      if (ramUsed !== null) {
        box.append(meter("RAM", ramTotal ? ramUsed / ramTotal : null,
          ramTotal ? `${bytes(ramUsed)} / ${bytes(ramTotal)}` : bytes(ramUsed)));
      }
      const rss = num(pick(system, "process_rss", "rss"));
      if (rss !== null) box.append(meter("SwapCast RAM", ramTotal ? rss / ramTotal : null, bytes(rss)));
      const load = pick(system, "load_average", "loadavg");
      if (Array.isArray(load) && load.length) {
        box.append(meter("Load avg", cores && num(load[0]) !== null ? num(load[0]) / cores : null,
          load.slice(0, 3).map((v) => fixed(v, 2)).join("  ")));
      }
    }
  }

  // ---- live stats ---------------------------------------------------------------------------------

  function renderLive(live) {
    const badge = $("live-state");
    const stats = $("live-stats");
    stats.replaceChildren();
    if (!isObject(live)) {
      badge.textContent = "no session";
      badge.dataset.level = "idle";
      return;
    }
    const state = String(pick(live, "state", "status") || "unknown").toLowerCase();
    badge.textContent = state;
    badge.dataset.level = ["running", "live"].includes(state) ? "ok"
      : ["failed", "error"].includes(state) ? "down" : ["starting", "stopping"].includes(state) ? "degraded" : "idle";
    const src = isObject(live.stats) ? Object.assign({}, live, live.stats) : live;
    const latencyBlock = pick(src, "latency_ms", "latency");
    const latency = isObject(latencyBlock) ? latencyBlock : src;
    const rows = [
      ["fps", fixed(pick(src, "fps", "fps_out", "output_fps"), 1)],
      ["latency p50", msText(pick(latency, "p50_ms", "latency_p50_ms", "p50", "p50_latency_ms"))],
      ["latency p95", msText(pick(latency, "p95_ms", "latency_p95_ms", "p95", "p95_latency_ms"))],
      ["dropped", pick(src, "drops", "dropped", "frames_dropped") ?? "–"],
      ["frames", pick(src, "frames", "frames_out", "frames_done") ?? "–"],
    ];
    const source = pick(live, "source", "source_name", "identity");
    if (source !== undefined) rows.push(["source", isObject(source) ? (pick(source, "name", "id") ?? "–") : source]);
    const error = pick(live, "error", "reason");
    if (error) rows.push(["error", error]);
    for (const [name, value] of rows) {
      const dt = el("dt", null, name);
      const dd = el("dd", null, value);
      if (name === "error") dd.classList.add("error");
      stats.append(dt, dd);
    }
  }

  function msText(value) {
    const n = num(value);
    return n === null ? "–" : `${n.toFixed(0)} ms`;
  }

  // ---- the preview (fetched with the token; shown as a blob: URL) ---------------------------------

  function schedulePreview(delay) {
    clearTimeout(app.previewTimer);
    app.previewTimer = setTimeout(previewTick, delay);
  }

  async function previewTick() {
    if (!app.token) return;
    if (document.hidden) return schedulePreview(PREVIEW_IDLE_MS);
    let next = PREVIEW_EVERY_MS;
    try {
      const response = await fetch("/api/live/preview.jpg", {
        headers: { Authorization: `Bearer ${app.token}` }, cache: "no-store",
      });
      const type = response.headers.get("content-type") || "";
      if (response.ok && type.startsWith("image/")) {
        showFrame(await response.blob());
      } else {
        let message = "No live preview";
        if (response.status === 401) message = "The token was refused";
        else if (response.status !== 404) {
          try {
            const body = await response.json();
            if (isObject(body) && isObject(body.error) && body.error.message) message = body.error.message;
          } catch (error) { /* not JSON: keep the short text */ }
        }
        showNoFrame(message);
        next = PREVIEW_IDLE_MS;
      }
    } catch (error) {
      showNoFrame("The server cannot be reached");
      next = PREVIEW_IDLE_MS * 2;
    }
    if (app.token) schedulePreview(next);
  }

  function showFrame(blob) {
    const img = $("preview");
    const old = app.previewUrl;
    app.previewUrl = URL.createObjectURL(blob);
    img.src = app.previewUrl;
    img.hidden = false;
    $("preview-placeholder").hidden = true;
    if (old) URL.revokeObjectURL(old); // the new frame replaces it; keeps memory flat over hours
  }

  function showNoFrame(message) {
    const img = $("preview");
    img.hidden = true;
    img.removeAttribute("src");
    if (app.previewUrl) {
      URL.revokeObjectURL(app.previewUrl);
      app.previewUrl = null;
    }
    const placeholder = $("preview-placeholder");
    placeholder.textContent = message;
    placeholder.hidden = false;
  }

  // ---- jobs ---------------------------------------------------------------------------------------

  // A job from GET /api/jobs ({id, state, progress: {done, total}, fps, eta_s, error, output, targets})
  // or from an event ({job_id, kind, state, frames_done, frames_total, progress: 0..1, fps, eta_s,
  // message}), merged into what we already know of it.
  function mergeJob(raw, previous) {
    const job = Object.assign({}, previous || {});
    job.id = String(raw.id ?? raw.job_id);
    if (raw.state) job.state = String(raw.state).toLowerCase();
    const progress = raw.progress;
    if (isObject(progress)) {
      if ("done" in progress) job.done = num(progress.done);
      if ("total" in progress) job.total = num(progress.total);
      if ("fraction" in progress) job.fraction = num(progress.fraction);
    } else if (num(progress) !== null) {
      job.fraction = num(progress);
    }
    if ("frames_done" in raw) job.done = num(raw.frames_done);
    if ("frames_total" in raw) job.total = num(raw.frames_total);
    if ("fps" in raw) job.fps = num(raw.fps);
    if ("segments_total" in raw) job.segments = raw.segments_total ? [num(raw.segments_done) ?? 0, num(raw.segments_total)] : null;
    if ("eta_s" in raw) job.eta = num(raw.eta_s);
    if ("error" in raw) job.error = raw.error;
    if ("output" in raw) job.output = raw.output;
    const spec = isObject(raw.spec) ? raw.spec : raw;
    if (Array.isArray(spec.targets)) job.targets = spec.targets.map(String);
    if (raw.message && (raw.kind === "state" || raw.kind === "added")) {
      if (job.state === "completed") job.output = raw.message;
      else if (job.state === "failed" || job.state === "pending") job.error = raw.message;
    }
    if (job.state && !["failed", "pending"].includes(job.state) && raw.kind === "state") job.error = null;
    return job;
  }

  function jobList(data) {
    if (Array.isArray(data)) return { jobs: data, total: data.length };
    if (isObject(data)) {
      const jobs = pick(data, "jobs", "items", "results");
      if (Array.isArray(jobs)) return { jobs, total: num(pick(data, "total", "count")) ?? jobs.length };
    }
    return { jobs: [], total: 0 };
  }

  async function loadJobs() {
    const asked = Date.now();
    let list;
    try {
      list = jobList(await api("/api/jobs"));
    } catch (error) {
      if (error.status !== 401) toast(`jobs: ${error.message}`);
      return;
    }
    const listed = new Set();
    for (const raw of list.jobs) {
      if (!isObject(raw) || (raw.id ?? raw.job_id) === undefined) continue;
      const id = String(raw.id ?? raw.job_id);
      listed.add(id);
      const known = app.jobs.get(id);
      const listedJob = mergeJob(raw, known);
      // An event that arrived while this request was out is newer than the list: keep its state and
      // progress, take only what events do not carry (the targets).
      if (known && known.eventAt > asked) known.targets = listedJob.targets;
      else app.jobs.set(id, listedJob);
    }
    if (list.total <= list.jobs.length) {
      for (const [id, job] of app.jobs) {
        if (!listed.has(id) && !(job.eventAt > asked)) app.jobs.delete(id);
      }
    }
    renderJobs();
  }

  function onJobEvent(data) {
    if (!isObject(data)) return;
    const id = String(data.job_id ?? data.id);
    if (id === "undefined") return;
    if (data.kind === "removed") {
      app.jobs.delete(id);
      renderJobs();
      refreshStatusSoon();
      return;
    }
    const known = app.jobs.get(id);
    // A late progress tick must not pull a finished job back to "processing".
    if (known && FINAL_STATES.has(known.state) && data.kind === "progress") return;
    const job = mergeJob(data, known);
    job.eventAt = Date.now();
    app.jobs.set(id, job);
    if (!known) {
      // Added elsewhere (CLI, studio, another client): the list has its targets.
      renderJobs();
      loadJobsSoon();
    } else {
      renderJob(id);
    }
    if (data.kind !== "progress") refreshStatusSoon();
    if (!app.queueCounts) renderCounts();
  }

  function loadJobsSoon() {
    clearTimeout(loadJobsSoon.timer);
    loadJobsSoon.timer = setTimeout(loadJobs, 500);
  }

  function renderJobs() {
    const body = $("job-rows");
    const ids = [...app.jobs.keys()].sort((a, b) => (num(b) ?? 0) - (num(a) ?? 0) || (a < b ? 1 : -1));
    for (const [id, row] of app.rows) {
      if (!app.jobs.has(id)) {
        row.tr.remove();
        app.rows.delete(id);
      }
    }
    ids.forEach((id) => {
      renderJob(id);
      body.append(app.rows.get(id).tr); // re-appending moves it: newest first
    });
    $("jobs-empty").hidden = ids.length > 0;
    $("jobs").classList.toggle("is-empty", ids.length === 0);
    if (!app.queueCounts) renderCounts();
  }

  function makeRow(id) {
    const tr = el("tr");
    tr.dataset.jobId = id;
    const cells = {
      tr,
      id: el("td", "col-id", `#${id}`),
      state: el("span", "state badge"),
      target: el("div", "target"),
      detail: el("div", "detail"),
      fill: el("div", "fill"),
      progressText: el("span", "bar-text"),
      fps: el("td", "col-num fps"),
      eta: el("td", "col-num eta"),
      cancel: el("button", "small cancel", "Cancel"),
      retry: el("button", "small retry", "Retry"),
    };
    cells.cancel.type = "button";
    cells.retry.type = "button";
    cells.cancel.addEventListener("click", () => act(id, "cancel", cells.cancel));
    cells.retry.addEventListener("click", () => act(id, "retry", cells.retry));
    const stateCell = el("td", "col-state");
    stateCell.append(cells.state);
    const targetCell = el("td", "col-target");
    targetCell.append(cells.target, cells.detail);
    const progressCell = el("td", "col-progress");
    const bar = el("div", "bar");
    bar.append(cells.fill, cells.progressText);
    progressCell.append(bar);
    const actions = el("td", "col-actions");
    actions.append(cells.cancel, cells.retry);
    tr.append(cells.id, stateCell, targetCell, progressCell, cells.fps, cells.eta, actions);
    app.rows.set(id, cells);
    return cells;
  }

  function renderJob(id) {
    const job = app.jobs.get(id);
    if (!job) return;
    const cells = app.rows.get(id) || makeRow(id);
    const state = job.state || "unknown";
    cells.state.textContent = state;
    cells.state.dataset.state = state;
    cells.tr.dataset.state = state;

    const targets = job.targets || [];
    cells.target.textContent = targets.length
      ? basename(targets[0]) + (targets.length > 1 ? ` +${targets.length - 1}` : "") : "–";
    cells.target.title = targets.join("\n");
    let detail = "";
    if (state === "failed" || (state === "pending" && job.error)) detail = job.error || "";
    else if (state === "completed" && job.output) detail = `→ ${shortPath(job.output)}`;
    cells.detail.textContent = detail;
    cells.detail.title = state === "completed" && job.output ? String(job.output) : detail;
    cells.detail.classList.toggle("error", state === "failed" || state === "pending");

    const total = num(job.total);
    const done = num(job.done);
    let fraction = total ? (done ?? 0) / total : num(job.fraction);
    if (state === "completed") fraction = 1;
    fraction = fraction === null ? 0 : Math.max(0, Math.min(1, fraction));
    cells.fill.style.width = `${(fraction * 100).toFixed(1)}%`;
    cells.fill.dataset.state = state;
    const segments = job.segments ? ` · segments ${job.segments[0]}/${job.segments[1]}` : "";
    const counts = (total ? ` · ${done ?? 0}/${total}` : "") + segments;
    cells.progressText.textContent = `${Math.floor(fraction * 100)} %${counts}`;

    const active = state === "processing";
    cells.fps.textContent = active ? fixed(job.fps, 1) : "–";
    cells.eta.textContent = active ? duration(job.eta) : "–";

    const operate = app.canOperate !== false;
    cells.cancel.hidden = !operate || !(state === "pending" || state === "processing");
    cells.retry.hidden = !operate || !FINAL_STATES.has(state);
  }

  async function act(id, action, button) {
    button.disabled = true;
    try {
      const data = await api(`/api/jobs/${encodeURIComponent(id)}/${action}`, { method: "POST" });
      const raw = isObject(data) && isObject(data.job) ? data.job : data;
      if (isObject(raw) && (raw.id ?? raw.job_id) !== undefined) {
        const job = mergeJob(raw, app.jobs.get(id));
        job.eventAt = Date.now();
        app.jobs.set(id, job);
        renderJob(id);
      }
    } catch (error) {
      if (error.status === 403) setRole(false);
      if (error.status !== 401) toast(`${action} #${id}: ${error.message}`);
    } finally {
      button.disabled = false;
    }
  }

  // ---- the event stream ---------------------------------------------------------------------------

  function setConnection(state, text) {
    $("connection").dataset.state = state;
    $("connection-text").textContent = text;
  }

  function connectEvents() {
    clearTimeout(app.wsTimer);
    if (!app.token) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${scheme}//${location.host}/api/events?token=${encodeURIComponent(app.token)}`);
    app.ws = ws;
    setConnection("connecting", "connecting…");
    ws.addEventListener("open", () => {
      if (app.ws !== ws) return;
      app.wsDelay = RECONNECT_MIN_MS;
      app.lastMessage = Date.now();
      setConnection("online", "live");
      // Catch up on whatever happened before this connection (or while it was down).
      loadStatus();
      loadJobs();
      clearInterval(app.watchdog);
      app.watchdog = setInterval(() => {
        if (app.ws === ws && Date.now() - app.lastMessage > SILENCE_LIMIT_MS) ws.close();
      }, 5000);
    });
    ws.addEventListener("message", (message) => {
      if (app.ws !== ws) return;
      app.lastMessage = Date.now();
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (isObject(event)) onEvent(event);
    });
    ws.addEventListener("close", (closed) => {
      if (app.ws !== ws) return;
      app.ws = null;
      clearInterval(app.watchdog);
      if (!app.token) return;
      if (closed.code === 1008) {
        // Refused by policy: most likely the token (revoked meanwhile). The status request says.
        loadStatus();
      }
      const delay = app.wsDelay;
      app.wsDelay = Math.min(app.wsDelay * 2, RECONNECT_MAX_MS);
      setConnection("offline", `reconnecting in ${Math.round(delay / 1000)} s`);
      app.wsTimer = setTimeout(connectEvents, delay);
    });
  }

  function onEvent(event) {
    switch (event.type) {
      case "job":
        onJobEvent(event.data);
        break;
      case "live":
        renderLive(event.data);
        break;
      case "health": {
        const data = event.data;
        if (Array.isArray(data) || (isObject(data) && (data.engines !== undefined || data.models !== undefined))) {
          renderEngines(isObject(data) && data.engines !== undefined ? data.engines : data);
        } else {
          refreshStatusSoon(); // one engine's change: the status has the whole picture
        }
        break;
      }
      case "status":
        renderStatus(event.data);
        break;
      default:
        break; // heartbeat, or a kind this page does not know yet
    }
  }

  // ---- wiring -------------------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (submitted) => {
      submitted.preventDefault();
      const token = $("token-input").value.trim();
      if (!token) {
        $("login-error").textContent = "paste a token first";
        return;
      }
      $("login-error").textContent = "";
      tryToken(token);
    });
    $("forget").addEventListener("click", () => signOut("Token forgotten — paste one to open the dashboard again."));
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden && app.token) schedulePreview(0);
    });
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      $("login").hidden = true;
      tryToken(saved);
    } else {
      showLogin("");
    }
  });
})();
