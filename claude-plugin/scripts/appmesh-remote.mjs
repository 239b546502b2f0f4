#!/usr/bin/env node
// Generated from src/plugin/ by `npm run build:plugin`: edit the sources, not this file.

// src/plugin/main.ts
import { spawnSync as spawnSync2 } from "node:child_process";
import { existsSync as existsSync2 } from "node:fs";
import { dirname as dirname2, join as join5, resolve } from "node:path";

// src/plugin/remote-config.ts
import { basename, isAbsolute } from "node:path";
var DEFAULT_URL = "http://127.0.0.1:6060";
var ConfigError = class extends Error {
  constructor(message, exitCode = 2) {
    super(message);
    this.exitCode = exitCode;
    this.name = "ConfigError";
  }
  exitCode;
};
var WORKSPACE_NAME = /^[A-Za-z0-9._-]{1,64}$/;
function readConfig(env, projectRoot) {
  const url = (env.APPMESH_URL || env.APPMESH_HOST || "").trim();
  const workspace = (env.APPMESH_WORKSPACE ?? "").trim();
  return {
    url: url || DEFAULT_URL,
    urlSet: url !== "",
    user: (env.APPMESH_USER ?? "").trim() || "admin",
    password: env.APPMESH_PASSWORD || void 0,
    token: (env.APPMESH_TOKEN ?? "").trim() || void 0,
    workspace: workspace || defaultWorkspaceName(projectRoot),
    workspaceSet: workspace !== "",
    sslVerify: (env.APPMESH_SSL_VERIFY ?? "").trim() || "true",
    syncExclude: env.APPMESH_SYNC_EXCLUDE
  };
}
function defaultWorkspaceName(projectRoot) {
  return basename(projectRoot).replace(/[^A-Za-z0-9._-]/g, "_").replace(/^\.+/, "").slice(0, 64) || "project";
}
function remoteRootOf(config, remoteHome) {
  if (isAbsolute(config.workspace) || config.workspace.startsWith("/")) {
    if (config.workspace.split("/").includes("..")) throw new ConfigError(`APPMESH_WORKSPACE must not contain '..': ${config.workspace}`);
    return config.workspace.replace(/\/+$/, "") || "/";
  }
  if (!WORKSPACE_NAME.test(config.workspace) || config.workspace === ".." || config.workspace === ".") {
    throw new ConfigError(`APPMESH_WORKSPACE must be a name (letters, digits, '.', '_', '-') or an absolute path: ${config.workspace.slice(0, 80)}`);
  }
  return `${remoteHome.replace(/\/+$/, "")}/workspace/${config.workspace}`;
}
function configProblems(config) {
  const problems = [];
  if (!config.urlSet) problems.push(`APPMESH_URL (or APPMESH_HOST) is not set: the daemon at ${DEFAULT_URL} is used.`);
  if (!config.token && !config.password) problems.push("Neither APPMESH_TOKEN nor APPMESH_PASSWORD is set: the script cannot log in (the MCP server can still sign in through the browser).");
  if (!/^https?:\/\//i.test(config.url)) problems.push(`APPMESH_URL should start with http:// or https:// (${config.url}); a bare host:port means https.`);
  if (!["true", "false", "1", "0", "yes", "no"].includes(config.sslVerify.toLowerCase()) && !isAbsolute(config.sslVerify)) {
    problems.push(`APPMESH_SSL_VERIFY is true, false or the absolute path of a CA file (${config.sslVerify}).`);
  }
  if (!config.workspaceSet) problems.push(`APPMESH_WORKSPACE is not set: the workspace is named after the project folder (${config.workspace}).`);
  return problems;
}

// src/plugin/arguments.ts
function parseArguments(args, valued, flags) {
  const parsed = { positional: [], options: /* @__PURE__ */ new Map(), flags: /* @__PURE__ */ new Set(), rest: [] };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      parsed.rest = args.slice(i + 1);
      break;
    }
    if (!arg.startsWith("--") || arg.length === 2) {
      parsed.positional.push(arg);
      continue;
    }
    const [name, inline] = arg.slice(2).split(/=(.*)/s, 2);
    if (valued.includes(name)) {
      const value = inline ?? args[++i];
      if (value === void 0) throw new ConfigError(`--${name} needs a value`);
      parsed.options.set(name, [...parsed.options.get(name) ?? [], value]);
    } else if (flags.includes(name) && inline === void 0) {
      parsed.flags.add(name);
    } else {
      throw new ConfigError(`Unknown option --${name}`);
    }
  }
  return parsed;
}
function numberOption(parsed, name, fallback) {
  const value = parsed.options.get(name)?.at(-1);
  if (value === void 0) return fallback;
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new ConfigError(`--${name} takes a positive number: ${value}`);
  return number;
}

// src/plugin/connect.ts
import { existsSync } from "node:fs";

// src/client/events.ts
async function* streamEvents(session, name, options = {}) {
  const path = name === void 0 ? "/appmesh/events" : `/appmesh/app/${encodeURIComponent(name)}/events`;
  const response = await session.request("GET", path, {
    query: { events: options.events?.join(",") },
    headers: { Accept: "text/event-stream", "Last-Event-ID": options.lastEventId?.toString() },
    signal: options.signal
  });
  if (!response.body) return;
  const decoder = new TextDecoder();
  let buffered = "";
  try {
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk, { stream: true });
      for (let end = buffered.indexOf("\n\n"); end >= 0; end = buffered.indexOf("\n\n")) {
        const message = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = message.split("\n").filter((line) => line.startsWith("data:")).map((line) => line.slice(5).trimStart()).join("\n");
        if (data) yield JSON.parse(data);
      }
    }
  } catch (error) {
    if (!options.signal?.aborted) throw error;
  }
}

// src/client/apps.ts
var app = (name) => `/appmesh/app/${encodeURIComponent(name)}`;
async function readOutput(session, name, options = {}) {
  const response = await session.request("GET", `${app(name)}/output`, {
    query: {
      stdout_position: options.position,
      stdout_index: options.index,
      stdout_maxsize: options.maxBytes,
      process_uuid: options.processUuid,
      timeout: options.timeoutSeconds
    },
    signal: options.signal
  });
  const position = Number(response.headers.get("x-output-position") ?? options.position ?? 0);
  const exit = response.headers.get("x-exit-code");
  return { text: await response.text(), position: Number.isFinite(position) ? position : 0, exitCode: exit === null ? void 0 : Number(exit) };
}
async function* followOutput(session, name, options = {}) {
  let position = options.position ?? 0;
  let idle = false;
  for (; ; ) {
    options.signal?.throwIfAborted();
    const chunk = await readOutput(session, name, { ...options, position, timeoutSeconds: idle ? options.pollSeconds ?? 1 : 0 });
    const moved = chunk.position !== position || chunk.text.length > 0;
    position = chunk.position;
    if (chunk.text) yield chunk;
    if (chunk.exitCode !== void 0 && options.untilExit !== false) return chunk.exitCode;
    idle = !moved;
    if (idle) await new Promise((resolve2) => setTimeout(resolve2, 250));
  }
}
async function* tailOutput(session, name, options = {}) {
  const events = streamEvents(session, name, { events: ["START", "STDOUT"], signal: options.signal });
  let next = events.next();
  next.catch(() => void 0);
  let position = 0;
  const readUpTo = async function* (limit) {
    while (position < limit) {
      const chunk = await readOutput(session, name, { position, signal: options.signal });
      if (chunk.text) yield chunk.text;
      if (chunk.position <= position) return;
      position = chunk.position;
    }
  };
  yield* readUpTo(Number.MAX_SAFE_INTEGER);
  for (; ; ) {
    const { value: event, done } = await next;
    if (done) return;
    next = events.next();
    next.catch(() => void 0);
    if (event.event_type === "START") {
      position = 0;
      continue;
    }
    const data = event.data;
    if (typeof data?.output !== "string" || typeof data.position !== "number") continue;
    const bytes = Buffer.from(data.output, "utf8");
    const end = data.position + bytes.length;
    if (data.position > position) yield* readUpTo(data.position);
    if (end <= position) continue;
    const fresh = bytes.subarray(Math.max(0, position - data.position));
    if (fresh.length) yield fresh.toString("utf8");
    position = end;
  }
}
var AppsApi = class {
  constructor(session) {
    this.session = session;
  }
  session;
  /** `GET /appmesh/applications` (finished runs too with `includeFinishedRuns`). */
  list(options = {}) {
    return this.session.json("GET", "/appmesh/applications", { query: { include_finished_runs: options.includeFinishedRuns ? "true" : void 0 } });
  }
  get(name) {
    return this.session.json("GET", app(name));
  }
  /** Registers (or replaces) an app; answers its runtime view. */
  add(name, definition) {
    return this.session.json("PUT", app(name), { body: { ...definition, name } });
  }
  remove(name) {
    return this.session.message("DELETE", app(name));
  }
  enable(name) {
    return this.session.message("POST", `${app(name)}/enable`);
  }
  disable(name) {
    return this.session.message("POST", `${app(name)}/disable`);
  }
  /**
   * Enables, disables or deletes many apps in one call. Answers what happened to each (refused
   * ones included); only a malformed selection fails the call.
   */
  bulk(action, selection) {
    return this.session.json("POST", "/appmesh/applications/bulk", { body: { ...selection, action } });
  }
  /** True when healthy (needs no permission). */
  async health(name) {
    const response = await this.session.request("GET", `${app(name)}/health`);
    return (await response.text()).trim() === "0";
  }
  output(name, options) {
    return readOutput(this.session, name, options);
  }
  follow(name, options) {
    return followOutput(this.session, name, options);
  }
  /** Output as it is written, pushed by the daemon's events (across restarts, until aborted). */
  tail(name, options) {
    return tailOutput(this.session, name, options);
  }
};

// src/client/errors.ts
var AppMeshError = class extends Error {
  status;
  kind;
  permission;
  url;
  retryAfterSeconds;
  challenge;
  constructor(message, details) {
    super(message, details.cause === void 0 ? void 0 : { cause: details.cause });
    this.name = "AppMeshError";
    this.status = details.status;
    this.kind = details.kind;
    this.permission = details.permission;
    this.url = details.url;
    this.retryAfterSeconds = details.retryAfterSeconds;
    this.challenge = details.challenge;
  }
};
var LACKS_PERMISSION = /lacks required permission '([^']+)'/;
var ACL_DENIAL = /is not allowed to (VIEW|EDIT) app/;
function errorFromAnswer(status2, body, headers) {
  const record = typeof body === "object" && body !== null ? body : {};
  const text = typeof record.message === "string" ? record.message : typeof body === "string" && body ? body.slice(0, 500) : `HTTP ${status2}`;
  const permission = LACKS_PERMISSION.exec(text)?.[1];
  if (status2 === 428 && typeof record.totp_challenge === "string") {
    return new AppMeshError(text, { status: status2, kind: "totp-required", challenge: record });
  }
  if (status2 === 429) {
    const retry = Number(headers.get("retry-after"));
    return new AppMeshError(text, { status: status2, kind: "rate-limited", retryAfterSeconds: Number.isFinite(retry) ? retry : void 0 });
  }
  if (status2 === 409 || status2 === 403 && /already exist/i.test(text)) return new AppMeshError(text, { status: status2, kind: "conflict" });
  if (status2 === 401) return new AppMeshError(text, { status: status2, kind: /expired/i.test(text) ? "expired" : "unauthorized" });
  if (status2 === 403 || permission || status2 === 400 && ACL_DENIAL.test(text)) return new AppMeshError(text, { status: status2, kind: "forbidden", permission });
  if (status2 === 404 || status2 === 406) return new AppMeshError(text, { status: status2, kind: "not-found" });
  if (status2 >= 500) return new AppMeshError(text, { status: status2, kind: "server" });
  return new AppMeshError(text, { status: status2, kind: "bad-request" });
}
function unreachable(url, cause) {
  const reason = describeNetworkFailure(cause);
  return new AppMeshError(`cannot reach ${url}: ${reason}`, { status: 0, kind: "unreachable", url, cause });
}
function describeNetworkFailure(cause) {
  const error = cause;
  if (error?.name === "TimeoutError") return "no answer in time";
  if (error?.name === "AbortError") return "aborted";
  const inner = error?.cause;
  if (inner?.code) return `${inner.code}${inner.message && !inner.message.includes(inner.code) ? ` (${inner.message})` : ""}`;
  return inner?.message ?? error?.message ?? String(cause);
}

// src/client/files.ts
import { createReadStream, createWriteStream } from "node:fs";
import { chmod, stat } from "node:fs/promises";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
function infoFrom(headers) {
  const mode = headers.get("x-file-mode");
  const size = headers.get("content-length");
  return {
    // The daemon sends the permission bits in decimal.
    mode: mode === null || !/^\d+$/.test(mode) ? void 0 : Number(mode) & 511,
    user: headers.get("x-file-user") ?? void 0,
    group: headers.get("x-file-group") ?? void 0,
    size: size === null ? void 0 : Number(size)
  };
}
function counter(total, onProgress) {
  let bytes = 0;
  return new Transform({
    transform(chunk, _encoding, done) {
      bytes += chunk.length;
      onProgress?.({ bytes, total });
      done(null, chunk);
    }
  });
}
var FilesApi = class {
  constructor(session) {
    this.session = session;
  }
  session;
  /** `GET /appmesh/file/download` as a stream, with the remote file's mode, owner and size. */
  async open(remotePath, signal) {
    const response = await this.session.request("GET", "/appmesh/file/download", { headers: { "X-File-Path": encodeURIComponent(remotePath) }, signal });
    const body = response.body ? Readable.fromWeb(response.body) : Readable.from([]);
    return { info: infoFrom(response.headers), stream: body };
  }
  /** Downloads to a local file; keeps the remote permission bits unless told not to. */
  async download(remotePath, localPath, options = {}) {
    const { info, stream } = await this.open(remotePath, options.signal);
    await pipeline(stream, counter(info.size, options.onProgress), createWriteStream(localPath), { signal: options.signal });
    if (options.keepMode !== false && info.mode !== void 0) await chmod(localPath, info.mode);
    return info;
  }
  /** Uploads bytes or a stream to a remote path that must not exist yet. */
  async upload(remotePath, content, options = {}) {
    const size = content instanceof Uint8Array ? content.length : options.size;
    const body = content instanceof Uint8Array ? content : Readable.toWeb(content.pipe(counter(size, options.onProgress)));
    await this.session.request("POST", "/appmesh/file/upload", {
      headers: {
        "X-File-Path": encodeURIComponent(remotePath),
        "Content-Type": "application/octet-stream",
        "X-File-Mode": options.mode === void 0 ? void 0 : String(options.mode & 511),
        "X-File-User": options.user,
        "X-File-Group": options.group
      },
      body,
      signal: options.signal
    });
    if (content instanceof Uint8Array) options.onProgress?.({ bytes: content.length, total: content.length });
  }
  /** Uploads a local file, with its permission bits unless `keepMode` is false. */
  async uploadFile(localPath, remotePath, options = {}) {
    const local = await stat(localPath);
    const mode = options.mode ?? (options.keepMode === false ? void 0 : local.mode & 511);
    await this.upload(remotePath, createReadStream(localPath), { ...options, mode, size: local.size });
  }
};

// src/client/runs.ts
var runQuery = (options) => ({ timeout: options.timeoutSeconds, lifecycle: options.lifecycleSeconds });
var RunsApi = class {
  constructor(session) {
    this.session = session;
  }
  session;
  /** `POST /appmesh/app/syncrun`: waits for the exit; aborting the signal stops the remote process tree. */
  async runSync(input, options = {}) {
    const response = await this.session.request("POST", "/appmesh/app/syncrun", { body: input, query: runQuery(options), signal: options.signal });
    return { output: await response.text(), exitCode: Number(response.headers.get("x-exit-code") ?? NaN) };
  }
  /** `POST /appmesh/app/run`: starts and answers the run's handle at once. */
  runAsync(input, options = {}) {
    return this.session.json("POST", "/appmesh/app/run", { body: input, query: runQuery(options), signal: options.signal });
  }
  output(run, options = {}) {
    return readOutput(this.session, run.name, { ...options, processUuid: run.process_uuid });
  }
  /** The run's output as it is written; returns its exit code. */
  follow(run, options = {}) {
    return followOutput(this.session, run.name, { ...options, processUuid: run.process_uuid });
  }
  /** Stops a run's whole process tree and forgets it. */
  async stop(run) {
    await this.session.request("DELETE", `/appmesh/app/${encodeURIComponent(typeof run === "string" ? run : run.name)}`);
  }
  /**
   * Starts a run, hands each piece of output to `onOutput` as it comes and answers the exit code.
   * Aborting `signal` stops the remote process tree.
   */
  async run(input, onOutput, options = {}) {
    const { signal, ...rest } = options;
    const run = await this.runAsync(input, rest);
    const follower = new AbortController();
    const stop = () => follower.abort();
    signal?.addEventListener("abort", stop, { once: true });
    try {
      const output = this.follow(run, { signal: follower.signal });
      for (; ; ) {
        const next = await output.next();
        if (next.done) {
          await this.stop(run).catch(() => void 0);
          return next.value;
        }
        onOutput(next.value.text);
      }
    } catch (error) {
      if (follower.signal.aborted) {
        await this.stop(run).catch(() => void 0);
        return void 0;
      }
      throw error;
    } finally {
      signal?.removeEventListener("abort", stop);
    }
  }
};

// src/client/session.ts
function tokenTimes(token) {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
    return { issuedAt: typeof payload.iat === "number" ? payload.iat : void 0, expiresAt: typeof payload.exp === "number" ? payload.exp : void 0 };
  } catch {
    return {};
  }
}
function normalizeUrl(url) {
  const trimmed = url.trim().replace(/\/+$/, "");
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
}
var Session = class {
  url;
  forwardTo;
  currentToken;
  renewing;
  options;
  constructor(options) {
    this.options = options;
    this.url = normalizeUrl(options.url);
    this.forwardTo = options.forwardTo;
    this.currentToken = options.token;
  }
  get token() {
    return this.currentToken;
  }
  /** Adopts a token answer (login, renewal, TOTP) and tells the owner. */
  adopt(answer) {
    this.currentToken = answer.access_token;
    this.options.onToken?.(answer);
    return answer;
  }
  /** Forgets the token (after logoff). */
  forget() {
    this.currentToken = void 0;
    this.options.onToken?.(void 0);
  }
  /** Sends a request; any answer but 2xx throws an `AppMeshError`. */
  async request(method, path, options = {}) {
    if (options.auth !== false) await this.renewIfDue();
    const target = new URL(path, `${this.url}/`);
    for (const [key, value] of Object.entries(options.query ?? {})) if (value !== void 0) target.searchParams.set(key, String(value));
    const headers = { ...this.options.headers };
    for (const [key, value] of Object.entries(options.headers ?? {})) if (value !== void 0) headers[key] = value;
    if (options.auth !== false && this.currentToken && !headers.Authorization) headers.Authorization = `Bearer ${this.currentToken}`;
    if (options.forward !== false && this.forwardTo) headers["X-Target-Host"] = this.forwardTo;
    const init = { method, headers };
    const body = options.body;
    if (body !== void 0) {
      if (isPlainData(body)) {
        init.body = JSON.stringify(body);
        headers["Content-Type"] ??= "application/json";
      } else {
        init.body = body;
        if (!(typeof body === "string" || body instanceof Uint8Array || body instanceof ArrayBuffer || body instanceof Blob)) init.duplex = "half";
      }
    }
    init.signal = options.signal ?? (this.options.timeoutMs ? AbortSignal.timeout(this.options.timeoutMs) : void 0);
    let response;
    const started = performance.now();
    const report = (status2) => this.options.onExchange?.({ method, url: target.href, status: status2, ms: performance.now() - started });
    try {
      response = await fetch(target, init);
    } catch (error) {
      report(0);
      if (options.signal?.aborted) throw error;
      throw unreachable(this.url, error);
    }
    report(response.status);
    if (response.ok) return response;
    throw errorFromAnswer(response.status, await readBody(response), response.headers);
  }
  async json(method, path, options) {
    const response = await this.request(method, path, options);
    const text = await response.text();
    if (!text) return void 0;
    try {
      return JSON.parse(text);
    } catch {
      throw new AppMeshError(`${method} ${path}: the answer is not JSON`, { status: response.status, kind: "server" });
    }
  }
  /** A `{"message"}` answer's text. */
  async message(method, path, options) {
    const answer = await this.json(method, path, options);
    return answer?.message ?? "";
  }
  /** Renews the token when less than the configured share of its lifetime is left. */
  async renewIfDue(now = Date.now() / 1e3) {
    const share = this.options.renewAtRemainingShare ?? 0.1;
    const token = this.currentToken;
    if (!token || share <= 0) return;
    const { issuedAt, expiresAt } = tokenTimes(token);
    if (issuedAt === void 0 || expiresAt === void 0 || expiresAt <= now) return;
    if (expiresAt - now > (expiresAt - issuedAt) * share) return;
    this.renewing ??= this.renew(expiresAt - issuedAt).then(() => void 0).catch(() => void 0).finally(() => this.renewing = void 0);
    await this.renewing;
  }
  /** `POST /appmesh/token/renew`: a new token, the old one revoked. */
  async renew(expireSeconds) {
    const answer = await this.json("POST", "/appmesh/token/renew", {
      auth: false,
      forward: false,
      headers: { Authorization: this.currentToken ? `Bearer ${this.currentToken}` : void 0, "X-Expire-Seconds": expireSeconds?.toString() }
    });
    return this.adopt(answer);
  }
};
function isPlainData(body) {
  if (Array.isArray(body)) return true;
  if (typeof body !== "object" || body === null) return false;
  const prototype = Object.getPrototypeOf(body);
  return prototype === Object.prototype || prototype === null;
}
async function readBody(response) {
  const text = await response.text().catch(() => "");
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

// src/client/system.ts
var SystemApi = class {
  constructor(session) {
    this.session = session;
  }
  session;
  config() {
    return this.session.json("GET", "/appmesh/config");
  }
  /** Merges the patch; answers the whole configuration after the change. */
  updateConfig(patch) {
    return this.session.json("POST", "/appmesh/config", { body: patch });
  }
  /** Sets the daemon's log level (DEBUG, INFO, NOTICE, WARN, ERROR). */
  async setLogLevel(level) {
    const config = await this.updateConfig({ BaseConfig: { LogLevel: level } });
    return config.BaseConfig.LogLevel;
  }
  labels() {
    return this.session.json("GET", "/appmesh/labels");
  }
  setLabel(name, value) {
    return this.session.message("PUT", `/appmesh/label/${encodeURIComponent(name)}`, { query: { value } });
  }
  removeLabel(name) {
    return this.session.message("DELETE", `/appmesh/label/${encodeURIComponent(name)}`);
  }
  resources() {
    return this.session.json("GET", "/appmesh/resources");
  }
  /** Prometheus text. */
  async metrics() {
    return (await this.session.request("GET", "/appmesh/metrics")).text();
  }
  /** True once the daemon answers (no token needed). */
  async ready() {
    const response = await this.session.request("GET", "/appmesh/readyz", { auth: false });
    return (await response.text()).trim() === "OK";
  }
};

// src/client/tasks.ts
var task = (name) => `/appmesh/app/${encodeURIComponent(name)}/task`;
var TasksApi = class {
  constructor(session) {
    this.session = session;
  }
  session;
  /** Sends a payload and waits (up to `timeoutSeconds`) for the app's answer. */
  async send(name, payload, options = {}) {
    const response = await this.session.request("POST", task(name), {
      body: payload,
      query: { timeout: options.timeoutSeconds },
      headers: { "Content-Type": "application/octet-stream" },
      signal: options.signal
    });
    return Buffer.from(await response.arrayBuffer());
  }
  /** Cancels the task in flight; false when there was none. */
  async cancel(name) {
    const response = await this.session.request("DELETE", task(name));
    return response.status === 200;
  }
  /** In the worker (the app's process): waits for the next payload of its run (`processKey`). */
  async fetch(name, processKey, signal) {
    const response = await this.session.request("GET", task(name), { query: { process_key: processKey }, signal });
    return Buffer.from(await response.arrayBuffer());
  }
  /** In the worker: answers the payload it fetched. */
  async reply(name, processKey, result) {
    await this.session.request("PUT", task(name), { query: { process_key: processKey }, body: result, headers: { "Content-Type": "application/octet-stream" } });
  }
};

// src/client/users.ts
var user = (name) => `/appmesh/user/${encodeURIComponent(name)}`;
var base64 = (text) => Buffer.from(text, "utf8").toString("base64");
var UsersApi = class {
  constructor(session) {
    this.session = session;
  }
  session;
  list() {
    return this.session.json("GET", "/appmesh/users");
  }
  self() {
    return this.session.json("GET", "/appmesh/user/self");
  }
  /** Adds or updates a user (a new user needs `key`, its password). */
  put(name, input) {
    return this.session.message("PUT", user(name), { body: input });
  }
  remove(name) {
    return this.session.message("DELETE", user(name));
  }
  lock(name) {
    return this.session.message("POST", `${user(name)}/lock`);
  }
  unlock(name) {
    return this.session.message("POST", `${user(name)}/unlock`);
  }
  /** Changes a password (`self` or another user's, with `passwd-change-user`). */
  changePassword(name, oldPassword, newPassword) {
    return this.session.message("POST", `${user(name)}/passwd`, { body: { old_password: base64(oldPassword), new_password: base64(newPassword) } });
  }
  /** The caller's permissions. */
  permissions() {
    return this.session.json("GET", "/appmesh/user/permissions");
  }
  /** Every permission some role grants. */
  allPermissions() {
    return this.session.json("GET", "/appmesh/permissions");
  }
  groups() {
    return this.session.json("GET", "/appmesh/user/groups");
  }
  roles() {
    return this.session.json("GET", "/appmesh/roles");
  }
  setRole(role, permissions) {
    return this.session.message("POST", `/appmesh/role/${encodeURIComponent(role)}`, { body: permissions });
  }
  removeRole(role) {
    return this.session.message("DELETE", `/appmesh/role/${encodeURIComponent(role)}`);
  }
};

// src/client/appmesh-client.ts
var AppMeshClient = class {
  session;
  apps;
  runs;
  files;
  users;
  system;
  tasks;
  constructor(options) {
    this.session = new Session(options);
    this.apps = new AppsApi(this.session);
    this.runs = new RunsApi(this.session);
    this.files = new FilesApi(this.session);
    this.users = new UsersApi(this.session);
    this.system = new SystemApi(this.session);
    this.tasks = new TasksApi(this.session);
  }
  /**
   * Live events (Server-Sent Events) of one app, or of every app with `name` undefined
   * (needs app-view-all): START, EXIT, STDOUT, HEALTH, STATUS, REMOVED.
   */
  events(name, options) {
    return streamEvents(this.session, name, options);
  }
  get url() {
    return this.session.url;
  }
  get token() {
    return this.session.token;
  }
  /** Relays every later request to another node of the cluster (`undefined`: this node). */
  forwardTo(host) {
    this.session.forwardTo = host;
    return this;
  }
  /**
   * `POST /appmesh/login`. A user with 2FA and no code gets an `AppMeshError` of kind
   * `totp-required` whose `challenge` `answerTotp` takes (or log in again with `totpCode`).
   */
  async login(user2, password, options = {}) {
    const answer = await this.session.json("POST", "/appmesh/login", {
      auth: false,
      forward: false,
      headers: {
        Authorization: `Basic ${Buffer.from(`${user2}:${password}`, "utf8").toString("base64")}`,
        "X-Totp-Code": options.totpCode,
        "X-Expire-Seconds": options.expireSeconds?.toString(),
        "X-Audience": options.audience
      }
    });
    return this.session.adopt(answer);
  }
  /** `POST /appmesh/totp/validate`: answers a login's TOTP challenge with a code. */
  async answerTotp(user2, challenge, code, expireSeconds) {
    const answer = await this.session.json("POST", "/appmesh/totp/validate", {
      auth: false,
      forward: false,
      body: { user_name: user2, totp_challenge: challenge, totp_code: code, ...expireSeconds ? { expire_seconds: expireSeconds } : {} }
    });
    return this.session.adopt(answer);
  }
  /** Logs in, asking `askCode` for the TOTP code when the daemon requires one. */
  async loginInteractive(user2, password, askCode, options = {}) {
    try {
      return await this.login(user2, password, options);
    } catch (error) {
      if (!(error instanceof AppMeshError) || error.kind !== "totp-required" || !error.challenge) throw error;
      return this.answerTotp(user2, error.challenge.totp_challenge, (await askCode()).trim(), options.expireSeconds);
    }
  }
  /** `POST /appmesh/auth`: checks the token (and a permission, when given); answers its remaining life. */
  authenticate(permission, audience) {
    return this.session.json("POST", "/appmesh/auth", { forward: false, headers: { "X-Permission": permission, "X-Audience": audience } });
  }
  /** A new token now (the current one is revoked). Tokens are also renewed by themselves when near their end. */
  renew(expireSeconds) {
    return this.session.renew(expireSeconds);
  }
  /** Revokes the token (`all`: every session of the user) and forgets it. */
  async logoff(options = {}) {
    if (!this.session.token) return;
    try {
      await this.session.request("POST", "/appmesh/self/logoff", { forward: false, headers: { "X-Logoff-All": options.all ? "true" : void 0 } });
    } finally {
      this.session.forget();
    }
  }
  /** A new TOTP secret: answers the `otpauth://` URI to show the user (as a QR code or text). */
  async totpSecret(proof = {}) {
    const answer = await this.session.json("POST", "/appmesh/totp/secret", {
      forward: false,
      headers: { "X-Totp-Code": proof.totpCode },
      body: proof.password === void 0 ? void 0 : { password: Buffer.from(proof.password, "utf8").toString("base64") }
    });
    return Buffer.from(answer.mfa_uri, "base64").toString("utf8");
  }
  /** Turns 2FA on with a code of the secret from `totpSecret`; the token is renewed. */
  async totpSetup(code) {
    const answer = await this.session.json("POST", "/appmesh/totp/setup", { forward: false, headers: { "X-Totp-Code": code } });
    return this.session.adopt(answer);
  }
  /** Turns 2FA off for a user (`self` by default). */
  totpDisable(user2 = "self") {
    return this.session.message("POST", `/appmesh/totp/${encodeURIComponent(user2)}/disable`, { forward: false });
  }
};

// src/plugin/connect.ts
var TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|SSL|EPROTO|HOSTNAME|ALTNAME/i;
var NO_VERIFY = /* @__PURE__ */ new Set(["false", "0", "no"]);
function tlsRelaunchEnv(config, env) {
  const verify = config.sslVerify;
  if (!verify.startsWith("/") || env.NODE_EXTRA_CA_CERTS === verify) return void 0;
  if (!existsSync(verify)) throw new ConfigError(`APPMESH_SSL_VERIFY names a CA file that does not exist: ${verify}`);
  return { ...env, NODE_EXTRA_CA_CERTS: verify };
}
async function connect(config) {
  if (NO_VERIFY.has(config.sslVerify.toLowerCase())) {
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    process.removeAllListeners("warning");
  }
  const client = new AppMeshClient({ url: config.url, token: config.token, timeoutMs: 3e4 });
  try {
    if (config.token) {
      const named = tokenSubject(config.token);
      if (named) return { client, user: named };
      const self = await client.users.self();
      return { client, user: typeof self.name === "string" ? self.name : config.user };
    }
    if (!config.password) throw new ConfigError("Set APPMESH_TOKEN (a token of your App Mesh user), or APPMESH_USER and APPMESH_PASSWORD, to log in to the daemon.");
    await client.login(config.user, config.password);
    return { client, user: config.user };
  } catch (error) {
    throw explain(error, config);
  }
}
function tokenSubject(token) {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8"));
    return typeof payload.sub === "string" && payload.sub ? payload.sub : void 0;
  } catch {
    return void 0;
  }
}
function explain(error, config) {
  if (!(error instanceof AppMeshError)) return error instanceof Error ? error : new Error(String(error));
  const where = `the App Mesh daemon at ${config.url}`;
  switch (error.kind) {
    case "unreachable": {
      if (TLS_CODES.test(error.message)) {
        return new ConfigError(`TLS failure talking to ${where} (${error.message.replace(/^cannot reach \S+: /, "")}). Set APPMESH_SSL_VERIFY to the CA certificate (PEM) that signed the daemon's certificate, or to false to skip the check.`);
      }
      const hint = config.urlSet ? "Is it running, and is APPMESH_URL (or APPMESH_HOST) right?" : `APPMESH_URL (or APPMESH_HOST) is not set and nothing answers at ${DEFAULT_URL}: set it to your daemon's address.`;
      return new ConfigError(`Cannot reach ${where}: ${error.message.replace(/^cannot reach \S+: /, "")}. ${hint}`);
    }
    case "unauthorized":
    case "expired":
      return new ConfigError(config.token ? `APPMESH_TOKEN was refused by ${where} (${error.message}): it is wrong, expired or revoked. Get a new one, or unset it and set APPMESH_USER and APPMESH_PASSWORD.` : `Login as ${config.user} refused by ${where} (${error.message}): check APPMESH_USER and APPMESH_PASSWORD.`);
    case "totp-required":
      return new ConfigError(`${config.user} has two-factor authentication: log in once with \`appm logon\` (or POST /appmesh/login with the code) and set APPMESH_TOKEN to the token.`);
    case "forbidden":
      return new ConfigError(`${where} refused: ${error.message}${error.permission ? ` (your user needs the permission ${error.permission})` : ""}`);
    case "rate-limited":
      return new ConfigError(`${where} asks to slow down (${error.message}); retry in ${error.retryAfterSeconds ?? "a few"} seconds.`);
    default:
      return new ConfigError(`${where} answered ${error.status}: ${error.message}`, 1);
  }
}

// src/plugin/remote-run.ts
import { spawnSync } from "node:child_process";
import { mkdir as mkdir2, rename as rename2, rm as rm2 } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join as join2, posix } from "node:path";

// src/plugin/remote-workspace.ts
import { randomBytes } from "node:crypto";

// src/plugin/shell-quote.ts
var shellQuote = (text) => `'${text.replace(/'/g, `'\\''`)}'`;

// src/plugin/sync-state.ts
import { createHash } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
function stateFolder(env = process.env) {
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "appmesh-remote");
}
function stateFile(folder, key) {
  const digest = createHash("sha256").update(JSON.stringify([key.url, key.user, key.remoteRoot, key.localRoot])).digest("hex").slice(0, 32);
  return join(folder, `${digest}.json`);
}
var emptyState = (remoteRoot) => ({ syncId: "", remoteRoot, files: {}, apps: [] });
async function readState(file, remoteRoot) {
  try {
    const parsed = JSON.parse(await readFile(file, "utf8"));
    if (typeof parsed.syncId !== "string" || typeof parsed.files !== "object" || parsed.files === null) return emptyState(remoteRoot);
    return { syncId: parsed.syncId, remoteRoot, files: parsed.files, apps: Array.isArray(parsed.apps) ? parsed.apps.filter((app2) => typeof app2 === "string") : [], syncedAt: parsed.syncedAt };
  } catch {
    return emptyState(remoteRoot);
  }
}
var writeState = (file, state) => writeJson(file, state);
async function writeJson(file, value) {
  await mkdir(join(file, ".."), { recursive: true, mode: 448 });
  const temp = `${file}.${process.pid}.tmp`;
  await writeFile(temp, JSON.stringify(value), { mode: 384 });
  await rename(temp, file);
}
async function removeState(file) {
  await rm(file, { force: true });
}
async function readCache(folder) {
  try {
    const parsed = JSON.parse(await readFile(join(folder, "homes.json"), "utf8"));
    return typeof parsed === "object" && parsed !== null ? parsed : {};
  } catch {
    return {};
  }
}
async function writeCache(folder, cache) {
  await writeJson(join(folder, "homes.json"), cache);
}

// src/plugin/remote-workspace.ts
async function openWorkspace(client, config, user2, projectRoot, env) {
  const folder = stateFolder(env);
  const remoteHome = await remoteHomeOf(client, config, user2, folder);
  const remoteRoot = remoteRootOf(config, remoteHome);
  const file = stateFile(folder, { url: config.url, user: user2, remoteRoot, localRoot: projectRoot });
  return { client, config, user: user2, projectRoot, remoteHome, remoteRoot, stateFile: file, state: await readState(file, remoteRoot) };
}
async function remoteHomeOf(client, config, user2, folder) {
  const key = `${config.url} ${user2}`;
  const cache = await readCache(folder);
  if (cache[key]) return cache[key];
  const answer = await client.runs.runSync({ command: 'printf %s "$HOME"', shell: true }, { timeoutSeconds: 30 });
  const home = answer.output.trim();
  if (answer.exitCode !== 0 || !home.startsWith("/")) throw new ConfigError(`Cannot tell the home folder of ${user2} on the node (${answer.output.slice(0, 200)}): set APPMESH_WORKSPACE to an absolute path`, 1);
  await writeCache(folder, { ...cache, [key]: home });
  return home;
}
var transientPath = (workspace, kind, suffix = "") => `${workspace.remoteHome.replace(/\/+$/, "")}/.appmesh-${kind}-${randomBytes(8).toString("hex")}${suffix}`;
async function remoteShell(workspace, script, what, timeoutSeconds = 600) {
  const answer = await workspace.client.runs.runSync({ command: script, shell: true }, { timeoutSeconds, lifecycleSeconds: timeoutSeconds });
  if (answer.exitCode !== 0) throw new Error(`${what} failed on the node (exit ${answer.exitCode}): ${answer.output.trim().slice(0, 2e3)}`);
  return answer.output;
}
async function readRemoteText(workspace, path) {
  try {
    const { stream } = await workspace.client.files.open(path);
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    return Buffer.concat(chunks).toString("utf8");
  } catch (error) {
    if (error instanceof AppMeshError && error.kind === "not-found") return void 0;
    throw error;
  }
}

// src/plugin/remote-run.ts
var INTERRUPTED_EXIT = 130;
function checkPullPath(path) {
  const folder = /[\\/]$/.test(path);
  const normal = posix.normalize(path.replace(/\\/g, "/")).replace(/^\.\//, "").replace(/\/+$/, "");
  if (!normal || normal === "." || normal.startsWith("/") || normal.split("/").includes("..")) {
    throw new ConfigError(`--pull takes a path inside the project, relative to its root: ${path}`);
  }
  return folder ? `${normal}/` : normal;
}
async function runInWorkspace(workspace, command, options) {
  const write = options.write ?? ((text) => void process.stdout.write(text));
  const dir = !options.workingDir ? workspace.remoteRoot : options.workingDir.startsWith("/") ? options.workingDir : posix.join(workspace.remoteRoot, options.workingDir);
  const stop = new AbortController();
  const interrupt = () => stop.abort();
  process.once("SIGINT", interrupt);
  process.once("SIGTERM", interrupt);
  let exitCode;
  try {
    const guarded = `cd ${shellQuote(dir)} 2>/dev/null || { echo "appmesh-remote: ${dir.replace(/["$`\\]/g, "")} does not exist on the node (sync first)" >&2; exit 127; }
${command}`;
    exitCode = await workspace.client.runs.run({ command: guarded, shell: true, working_dir: dir }, write, {
      lifecycleSeconds: options.timeoutSeconds,
      timeoutSeconds: options.timeoutSeconds,
      signal: stop.signal
    });
  } finally {
    process.off("SIGINT", interrupt);
    process.off("SIGTERM", interrupt);
  }
  if (stop.signal.aborted || exitCode === void 0) return { interrupted: true };
  return { exitCode };
}
async function pullFiles(workspace, paths, log2) {
  const failures = [];
  for (const path of paths) {
    try {
      log2(path.endsWith("/") ? await pullFolder(workspace, path.slice(0, -1)) : await pullFile(workspace, path));
    } catch (error) {
      failures.push(path);
      const hint = error instanceof AppMeshError && error.kind === "not-found" && !path.endsWith("/") ? " (for a folder, end the path with /)" : "";
      log2(`[pull] ${path} failed: ${error.message}${hint}`);
    }
  }
  return failures;
}
async function pullFile(workspace, path) {
  const local = join2(workspace.projectRoot, path);
  const temp = `${local}.appmesh-pull-${process.pid}`;
  try {
    await mkdir2(dirname(local), { recursive: true });
    const info = await workspace.client.files.download(posix.join(workspace.remoteRoot, path), temp);
    await rename2(temp, local);
    return `[pull] ${path} (${info.size ?? "?"} bytes)`;
  } finally {
    await rm2(temp, { force: true });
  }
}
async function pullFolder(workspace, path) {
  const remote = transientPath(workspace, "pull", ".tar.gz");
  const local = join2(tmpdir(), `appmesh-pull-${process.pid}-${Date.now()}.tar.gz`);
  try {
    await remoteShell(workspace, `cd ${shellQuote(workspace.remoteRoot)} && tar -czf ${shellQuote(remote)} -- ${shellQuote(path)}`, `Packing ${path}`, 600);
    const info = await workspace.client.files.download(remote, local);
    const unpack = spawnSync("tar", ["-xzf", local, "-C", workspace.projectRoot], { encoding: "utf8" });
    if (unpack.status !== 0) throw new Error(`tar could not unpack it here: ${unpack.stderr || unpack.error?.message}`);
    return `[pull] ${path}/ (${info.size ?? "?"} bytes compressed)`;
  } finally {
    await rm2(local, { force: true });
    await remoteShell(workspace, `rm -f ${shellQuote(remote)}`, "Removing the archive", 30).catch(() => void 0);
  }
}
async function runScript(workspace, localFile, args, options) {
  const remote = transientPath(workspace, "script");
  await workspace.client.files.uploadFile(localFile, remote, { mode: 448 });
  const command = [
    `S=${shellQuote(remote)}`,
    `trap 'rm -f "$S"' EXIT`,
    `mkdir -p ${shellQuote(workspace.remoteRoot)} && cd ${shellQuote(workspace.remoteRoot)} || exit 1`,
    `"$S" ${args.map(shellQuote).join(" ")}`
  ].join("\n");
  try {
    return await runInWorkspace(workspace, command, { ...options, workingDir: workspace.remoteHome });
  } finally {
    await remoteShell(workspace, `rm -f ${shellQuote(remote)}`, "Removing the script", 30).catch(() => void 0);
  }
}

// src/plugin/ignore-rules.ts
function parseIgnoreFile(text) {
  return text.split(/\r?\n/).flatMap((line) => {
    const rule = parsePattern(line);
    return rule ? [rule] : [];
  });
}
function parsePattern(line) {
  let pattern = line.replace(/(?<!\\)\s+$/, "");
  if (!pattern || pattern.startsWith("#")) return void 0;
  let negated = false;
  if (pattern.startsWith("!")) {
    negated = true;
    pattern = pattern.slice(1);
  } else if (pattern.startsWith("\\!") || pattern.startsWith("\\#")) {
    pattern = pattern.slice(1);
  }
  let onlyDirectories = false;
  if (pattern.endsWith("/")) {
    onlyDirectories = true;
    pattern = pattern.replace(/\/+$/, "");
  }
  if (!pattern) return void 0;
  const anchored = pattern.includes("/");
  pattern = pattern.replace(/^\//, "");
  const body = globToRegexSource(pattern);
  return { regex: new RegExp(anchored ? `^${body}$` : `(?:^|/)${body}$`), negated, onlyDirectories };
}
function globToRegexSource(glob) {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i];
    if (char === "*") {
      if (glob[i + 1] === "*") {
        const before = i === 0 || glob[i - 1] === "/";
        const after = glob[i + 2];
        if (before && after === "/") {
          out += "(?:.*/)?";
          i += 2;
          continue;
        }
        if (before && after === void 0) {
          out += ".*";
          i += 1;
          continue;
        }
      }
      out += "[^/]*";
    } else if (char === "?") {
      out += "[^/]";
    } else if (char === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1) {
        out += "\\[";
        continue;
      }
      let set = glob.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (set.startsWith("!")) set = `^${set.slice(1)}`;
      out += `[${set}]`;
      i = end;
    } else if (char === "\\" && i + 1 < glob.length) {
      out += escapeRegex(glob[++i]);
    } else {
      out += escapeRegex(char);
    }
  }
  return out;
}
var escapeRegex = (text) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
function isIgnored(scopes, path, isDirectory) {
  let ignored = false;
  for (const scope of scopes) {
    if (scope.base && !path.startsWith(`${scope.base}/`)) continue;
    const relative = scope.base ? path.slice(scope.base.length + 1) : path;
    for (const rule of scope.rules) {
      if (rule.onlyDirectories && !isDirectory) continue;
      if (rule.negated === ignored && rule.regex.test(relative)) ignored = !rule.negated;
    }
  }
  return ignored;
}

// src/plugin/never-synced.ts
var SKIPPED_PATTERNS = [".git/", "node_modules/", "__pycache__/", ".agents/", ".claude/", ".codex/", "*.o", "*.pyc"];
var SECRET_PATTERNS = [
  ".env",
  ".env.*",
  "*.pem",
  "*.key",
  "id_rsa*",
  "id_dsa*",
  "id_ecdsa*",
  "id_ed25519*",
  "*.p12",
  "*.pfx",
  "*.jks",
  "*.keystore",
  "credentials",
  "credentials.json",
  ".netrc",
  ".npmrc",
  ".pypirc",
  ".git-credentials"
];
var SYNC_MARKER = ".appmesh-sync";
var SYNC_DELETIONS = ".appmesh-sync-deleted";
var compile = (patterns) => patterns.flatMap((pattern) => parsePattern(pattern) ?? []);
var skippedRules = compile(SKIPPED_PATTERNS);
var secretRules = compile(SECRET_PATTERNS);
function extraExcludeRules(value) {
  return compile((value ?? "").split(/[,\s]+/).filter(Boolean));
}
var matchesAny = (rules, path, isDirectory) => rules.some((rule) => (!rule.onlyDirectories || isDirectory) && rule.regex.test(path));

// src/plugin/workspace-sync.ts
import { createHash as createHash2, randomBytes as randomBytes2 } from "node:crypto";
import { readFile as readFile2, rm as rm3 } from "node:fs/promises";
import { tmpdir as tmpdir2 } from "node:os";
import { join as join4 } from "node:path";

// src/plugin/project-walk.ts
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join as join3 } from "node:path";
async function listProject(root, extraExcludes = []) {
  const listing = { files: [], secrets: [], links: 0 };
  const rootScope = { base: "", rules: [...extraExcludes] };
  walk(root, "", [rootScope], listing);
  listing.files.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
  return listing;
}
function walk(root, folder, scopes, listing) {
  const absolute = folder ? join3(root, folder) : root;
  const entries = readdirSync(absolute, { withFileTypes: true });
  const own = entries.some((entry) => entry.name === ".gitignore" && entry.isFile()) ? parseIgnoreFile(readIgnoreFile(join3(absolute, ".gitignore"))) : [];
  const here = own.length === 0 ? scopes : folder ? [...scopes, { base: folder, rules: own }] : [{ base: "", rules: [...scopes[0].rules, ...own] }];
  const subfolders = [];
  for (const entry of entries) {
    const path = folder ? `${folder}/${entry.name}` : entry.name;
    if (entry.isSymbolicLink()) {
      listing.links++;
      continue;
    }
    const isDirectory = entry.isDirectory();
    if (!isDirectory && !entry.isFile()) continue;
    if (matchesAny(skippedRules, path, isDirectory)) continue;
    if (matchesAny(secretRules, path, isDirectory)) {
      listing.secrets.push(path);
      continue;
    }
    if (!folder && (entry.name === SYNC_MARKER || entry.name === SYNC_DELETIONS)) continue;
    if (isIgnored(here, path, isDirectory)) continue;
    if (isDirectory) {
      subfolders.push(path);
      continue;
    }
    const info = statSync(join3(root, path), { throwIfNoEntry: false });
    if (info) listing.files.push({ path, size: info.size, mtimeMs: info.mtimeMs, mode: info.mode & 511 });
  }
  for (const subfolder of subfolders) walk(root, subfolder, here, listing);
}
function readIgnoreFile(path) {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

// src/plugin/tar-writer.ts
import { once } from "node:events";
import { createWriteStream as createWriteStream2 } from "node:fs";
import { stat as stat2 } from "node:fs/promises";
import { pipeline as pipeline2 } from "node:stream/promises";
import { createGzip } from "node:zlib";
var BLOCK = 512;
var TarGzWriter = class {
  constructor(file) {
    this.file = file;
    const out = createWriteStream2(file, { mode: 384 });
    this.written = pipeline2(this.gzip, out);
    this.written.catch(() => void 0);
  }
  file;
  gzip = createGzip({ level: 6 });
  written;
  async add(entry) {
    const name = Buffer.from(entry.path, "utf8");
    if (name.length > 100) {
      const record = paxRecord("path", entry.path);
      await this.write(header({ name: Buffer.from("././@PaxHeader"), size: record.length, mode: 420, mtimeMs: entry.mtimeMs, type: "x" }));
      await this.write(padded(record));
    }
    await this.write(header({ name: name.subarray(0, 100), size: entry.data.length, mode: entry.mode, mtimeMs: entry.mtimeMs, type: "0" }));
    await this.write(padded(entry.data));
  }
  /** Ends the archive (two zero blocks); answers its size in bytes once it is on disk. */
  async finish() {
    this.gzip.end(Buffer.alloc(BLOCK * 2));
    await this.written;
    return (await stat2(this.file)).size;
  }
  async write(data) {
    if (!this.gzip.write(data)) await once(this.gzip, "drain");
  }
};
function paxRecord(key, value) {
  const body = ` ${key}=${value}
`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return Buffer.from(`${length}${body}`, "utf8");
}
function padded(data) {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}
function header(fields) {
  const block = Buffer.alloc(BLOCK);
  fields.name.copy(block, 0);
  octal(block, 100, 8, fields.mode & 4095);
  octal(block, 108, 8, 0);
  octal(block, 116, 8, 0);
  octal(block, 124, 12, fields.size);
  octal(block, 136, 12, Math.floor(fields.mtimeMs / 1e3));
  block.fill(" ", 148, 156);
  block.write(fields.type, 156, "ascii");
  block.write("ustar\0", 257, "ascii");
  block.write("00", 263, "ascii");
  let sum = 0;
  for (const byte of block) sum += byte;
  octal(block, 148, 7, sum);
  return block;
}
function octal(block, offset, width, value) {
  block.write(`${value.toString(8).padStart(width - 1, "0")}\0`, offset, "ascii");
}

// src/plugin/workspace-sync.ts
async function syncWorkspace(workspace, options = {}) {
  const syncId = randomBytes2(12).toString("hex");
  const archiveFile = join4(tmpdir2(), `appmesh-sync-${syncId}.tar.gz`);
  const archive = { writer: void 0, open: () => archive.writer ??= new TarGzWriter(archiveFile) };
  try {
    return await compareAndSend(workspace, options, syncId, archive.open, archiveFile);
  } finally {
    if (archive.writer) await rm3(archiveFile, { force: true });
  }
}
async function compareAndSend(workspace, options, syncId, archive, archiveFile) {
  const { state, projectRoot, remoteRoot } = workspace;
  const listing = await listProject(projectRoot, extraExcludeRules(workspace.config.syncExclude));
  let warning;
  let marker;
  if (!options.force && state.syncId !== "") {
    try {
      marker = (await readRemoteText(workspace, `${remoteRoot}/${SYNC_MARKER}`))?.trim();
    } catch (error) {
      if (!(error instanceof AppMeshError) || error.kind !== "forbidden") throw error;
      warning = `the node refuses to read files in ${remoteRoot} (${error.message}), so every sync sends everything: choose a workspace outside the folders its file API refuses`;
    }
  }
  const trusted = marker !== void 0 && marker === state.syncId;
  const previous = trusted ? state.files : {};
  const report = { remoteRoot, sent: [], deleted: [], unchanged: 0, secrets: listing.secrets, links: listing.links, full: !trusted, bytes: 0, warning };
  const files = {};
  for (const file of listing.files) {
    const known = previous[file.path];
    if (known && known.size === file.size && known.mtimeMs === file.mtimeMs && known.mode === file.mode) {
      files[file.path] = known;
      report.unchanged++;
      continue;
    }
    const data = await readFile2(join4(projectRoot, file.path));
    const hash = createHash2("sha256").update(data).digest("hex");
    files[file.path] = { size: data.length, mtimeMs: file.mtimeMs, hash, mode: file.mode };
    if (known && known.hash === hash && known.mode === file.mode) {
      report.unchanged++;
      continue;
    }
    await archive().add({ path: file.path, data, mode: file.mode, mtimeMs: file.mtimeMs });
    report.sent.push(file.path);
  }
  report.deleted = Object.keys(previous).filter((path) => !(path in files));
  if (trusted && report.sent.length === 0 && report.deleted.length === 0) {
    if (Object.keys(files).some((path) => files[path].mtimeMs !== previous[path]?.mtimeMs)) await writeState(workspace.stateFile, { ...state, files });
    return report;
  }
  const now = Date.now();
  await archive().add({ path: SYNC_MARKER, data: Buffer.from(`${syncId}
`), mode: 420, mtimeMs: now });
  if (report.deleted.length > 0) await archive().add({ path: SYNC_DELETIONS, data: Buffer.from(report.deleted.map((path) => `${path}\0`).join("")), mode: 384, mtimeMs: now });
  report.bytes = await archive().finish();
  const remoteArchive = transientPath(workspace, "sync", ".tar.gz");
  await workspace.client.files.uploadFile(archiveFile, remoteArchive, { mode: 384 });
  await remoteShell(
    workspace,
    [
      `T=${shellQuote(remoteArchive)}`,
      `trap 'rm -f "$T"' EXIT`,
      `mkdir -p ${shellQuote(remoteRoot)} && cd ${shellQuote(remoteRoot)} && tar -xzmof "$T" || exit 1`,
      `if [ -f ${SYNC_DELETIONS} ]; then xargs -0 rm -f -- < ${SYNC_DELETIONS}; rm -f ${SYNC_DELETIONS}; fi`
    ].join("\n"),
    "Unpacking the sync"
  );
  workspace.state = { ...state, syncId, files, syncedAt: Math.floor(now / 1e3) };
  await writeState(workspace.stateFile, workspace.state);
  return report;
}

// src/plugin/main.ts
var USAGE = `appmesh-remote: build, test, run and deploy this project on an App Mesh node

  sync [--force]                              send what changed since the last sync
  exec "<cmd>" [--timeout 600] [--working-dir D] [--pull PATH]...
                                              run in the workspace; exits with the remote exit code
  sync-exec "<cmd>" [same options as exec]    sync, then exec
  run-script <file> [--timeout 300] [-- args] upload a script, run it in the workspace, remove it
  deploy <name> "<cmd>"                       sync, then start a service kept alive on the node
  output <app> [--maxsize 10240] [--timeout 2]  an app's output (and exit code once ended)
  cleanup [<app>...] [--workspace]            remove services; no argument: this project's services and workspace
  status                                      configuration, node, workspace
  check                                       what the configuration lacks (no network)
  mcp-headers                                 the MCP server's Authorization header, as JSON

Environment: APPMESH_URL (or APPMESH_HOST), APPMESH_TOKEN or APPMESH_USER + APPMESH_PASSWORD,
APPMESH_WORKSPACE, APPMESH_SSL_VERIFY (true, false or a CA file), APPMESH_SYNC_EXCLUDE,
APPMESH_PROJECT_DIR (the local folder synced; default the git top-level folder, else the current one).
Exit codes: the remote command's; 1 failure; 2 configuration; 130 interrupted.
`;
var log = (line) => void process.stderr.write(`${line}
`);
var say = (line) => void process.stdout.write(`${line}
`);
function findProjectRoot(start) {
  for (let dir = resolve(start); ; dir = dirname2(dir)) {
    if (existsSync2(join5(dir, ".git"))) return dir;
    if (dirname2(dir) === dir) return resolve(start);
  }
}
async function main(argv) {
  const [command, ...args] = argv;
  const env = process.env;
  const projectRoot = env.APPMESH_PROJECT_DIR ? resolve(env.APPMESH_PROJECT_DIR) : findProjectRoot(process.cwd());
  const config = readConfig(env, projectRoot);
  if (!command || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  if (command === "check") return check(config);
  const relaunch = tlsRelaunchEnv(config, env);
  if (relaunch) return spawnSync2(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit", env: relaunch }).status ?? 1;
  if (command === "mcp-headers") return mcpHeaders(config);
  const handlers = {
    sync: async (open2) => {
      const parsed = parseArguments(args, [], ["force"]);
      printSync(await syncWorkspace(await open2(), { force: parsed.flags.has("force") }));
      return 0;
    },
    exec: (open2) => execCommand(open2, args, false),
    "sync-exec": (open2) => execCommand(open2, args, true),
    "run-script": async (open2) => {
      const parsed = parseArguments(args, ["timeout"], []);
      const [file] = parsed.positional;
      if (!file || parsed.positional.length > 1) throw new ConfigError("run-script takes one local file (its arguments after --)");
      if (!existsSync2(file)) throw new ConfigError(`No such file: ${file}`);
      return finishRun(await runScript(await open2(), file, parsed.rest, { timeoutSeconds: numberOption(parsed, "timeout", 300) }));
    },
    deploy: (open2) => deploy(open2, args),
    output: async (open2) => {
      const parsed = parseArguments(args, ["maxsize", "timeout"], []);
      const [app2] = parsed.positional;
      if (!app2) throw new ConfigError("output takes the name of an app");
      const { client } = await open2();
      const chunk = await client.apps.output(app2, { maxBytes: numberOption(parsed, "maxsize", 10240), timeoutSeconds: numberOption(parsed, "timeout", 2) });
      process.stdout.write(chunk.text);
      if (chunk.text && !chunk.text.endsWith("\n")) say("");
      if (chunk.exitCode !== void 0) say(`[exit] ${chunk.exitCode}`);
      return 0;
    },
    cleanup: (open2) => cleanup(open2, args),
    status: (open2) => status(open2, config)
  };
  const handler = handlers[command];
  if (!handler) throw new ConfigError(`Unknown command ${command}

${USAGE}`);
  let workspace;
  const open = async () => {
    if (workspace) return workspace;
    const { client, user: user2 } = await connect(config);
    workspace = await openWorkspace(client, config, user2, projectRoot, env);
    return workspace;
  };
  try {
    return await handler(open);
  } catch (error) {
    throw explain(error, config);
  }
}
function check(config) {
  const problems = configProblems(config);
  const login = config.token ? "a token (APPMESH_TOKEN)" : config.password ? `user ${config.user} with APPMESH_PASSWORD` : "no credentials";
  say(`App Mesh remote sandbox: node ${config.url}, ${login}, workspace ${config.workspace}.`);
  for (const problem of problems) say(`- ${problem}`);
  if (problems.length > 0) say('Set these in the environment Claude Code starts from (or in .claude/settings.json under "env"); /appmesh:status checks the connection.');
  return 0;
}
async function mcpHeaders(config) {
  let token = config.token;
  if (!token && config.password) {
    try {
      token = (await connect(config)).client.token;
    } catch (error) {
      log(`appmesh-remote: ${error.message} (the MCP server falls back to the browser login)`);
    }
  }
  say(JSON.stringify(token ? { Authorization: `Bearer ${token}` } : {}));
  return 0;
}
async function execCommand(open, args, syncFirst) {
  const parsed = parseArguments(args, ["timeout", "working-dir", "pull"], []);
  const command = [...parsed.positional, ...parsed.rest].join(" ").trim();
  if (!command) throw new ConfigError(`${syncFirst ? "sync-exec" : "exec"} takes the command to run, quoted`);
  const pulls = (parsed.options.get("pull") ?? []).map(checkPullPath);
  const timeoutSeconds = numberOption(parsed, "timeout", 600);
  const workspace = await open();
  if (syncFirst) printSync(await syncWorkspace(workspace));
  else if (!workspace.state.syncId) log(`[note] this project was not synced to ${workspace.remoteRoot} from here yet: /appmesh:sync (or sync-exec) sends it`);
  const end = await runInWorkspace(workspace, command, { timeoutSeconds, workingDir: parsed.options.get("working-dir")?.at(-1) });
  if ("interrupted" in end) return finishRun(end);
  const failed = pulls.length > 0 ? await pullFiles(workspace, pulls, say) : [];
  const code = finishRun(end);
  return code === 0 && failed.length > 0 ? 1 : code;
}
function finishRun(end) {
  if ("interrupted" in end) {
    say("\n[interrupted] the remote process tree was killed");
    return INTERRUPTED_EXIT;
  }
  say(`[exit] ${end.exitCode}`);
  return end.exitCode;
}
function printSync(report) {
  const parts = [`${report.sent.length} file(s) sent`, `${report.deleted.length} deleted`, `${report.unchanged} unchanged`];
  say(`[sync] ${report.remoteRoot}: ${parts.join(", ")}${report.full ? " (full comparison)" : ""}${report.bytes ? `, ${report.bytes} bytes` : ""}`);
  for (const path of report.sent.slice(0, 20)) say(`[sync] + ${path}`);
  if (report.sent.length > 20) say(`[sync] + ... ${report.sent.length - 20} more`);
  for (const path of report.deleted.slice(0, 20)) say(`[sync] - ${path}`);
  if (report.secrets.length > 0) say(`[sync] never sent (secrets): ${report.secrets.join(", ")}`);
  if (report.links > 0) say(`[sync] ${report.links} symbolic link(s) not followed`);
  if (report.warning) say(`[sync] warning: ${report.warning}`);
}
async function deploy(open, args) {
  const parsed = parseArguments(args, [], []);
  const [name, ...words] = [...parsed.positional, ...parsed.rest];
  const command = words.join(" ").trim();
  if (!name || !command) throw new ConfigError("deploy takes a name and the command to run, quoted");
  const workspace = await open();
  printSync(await syncWorkspace(workspace));
  const { client } = workspace;
  await client.apps.add(name, { command, shell: true, working_dir: workspace.remoteRoot, behavior: { exit: "keepalive" }, status: 1 });
  if (!workspace.state.apps.includes(name)) {
    workspace.state = { ...workspace.state, apps: [...workspace.state.apps, name] };
    await writeState(workspace.stateFile, workspace.state);
  }
  const first = await client.apps.output(name, { timeoutSeconds: 2 }).catch(() => void 0);
  const view = await client.apps.get(name);
  say(`[deploy] ${name}: ${view.pid ? `running, pid ${view.pid}` : "not running yet"} (kept alive; /appmesh:cleanup ${name} removes it)`);
  if (first?.text) process.stdout.write(first.text.endsWith("\n") ? first.text : `${first.text}
`);
  return 0;
}
async function cleanup(open, args) {
  const parsed = parseArguments(args, [], ["workspace"]);
  const workspace = await open();
  const all = parsed.positional.length === 0;
  const apps = all ? workspace.state.apps : parsed.positional;
  const failed = [];
  for (const app2 of apps) {
    try {
      await workspace.client.apps.disable(app2).catch(() => void 0);
      await workspace.client.apps.remove(app2);
      say(`[cleanup] removed ${app2}`);
    } catch (error) {
      const message = explain(error, workspace.config).message;
      if (/not.?found|no such|does not exist/i.test(message)) say(`[cleanup] ${app2} was not there`);
      else {
        failed.push(app2);
        say(`[cleanup] could not remove ${app2}: ${message}`);
      }
    }
  }
  workspace.state = { ...workspace.state, apps: workspace.state.apps.filter((app2) => !apps.includes(app2) || failed.includes(app2)) };
  if (all || parsed.flags.has("workspace")) {
    try {
      await remoteShell(workspace, `rm -rf -- ${shellQuote(workspace.remoteRoot)}`, "Removing the workspace", 120);
      await removeState(workspace.stateFile);
      say(`[cleanup] removed the workspace ${workspace.remoteRoot}`);
      if (workspace.state.apps.length > 0) await writeState(workspace.stateFile, { ...workspace.state, syncId: "", files: {} });
    } catch (error) {
      failed.push(workspace.remoteRoot);
      say(`[cleanup] could not remove the workspace: ${error.message}`);
      await writeState(workspace.stateFile, workspace.state);
    }
  } else {
    await writeState(workspace.stateFile, workspace.state);
  }
  return failed.length > 0 ? 1 : 0;
}
async function status(open, config) {
  for (const problem of configProblems(config)) say(`- ${problem}`);
  const workspace = await open();
  const marker = workspace.state.syncId ? (await readRemoteText(workspace, `${workspace.remoteRoot}/${SYNC_MARKER}`).catch(() => void 0))?.trim() : void 0;
  say(`node:      ${workspace.client.url}`);
  say(`user:      ${workspace.user} (home ${workspace.remoteHome})`);
  say(`project:   ${workspace.projectRoot}`);
  say(`workspace: ${workspace.remoteRoot}`);
  const files = Object.keys(workspace.state.files).length;
  say(`sync:      ${workspace.state.syncId ? `${files} file(s), last at ${new Date((workspace.state.syncedAt ?? 0) * 1e3).toISOString()}${marker === workspace.state.syncId ? "" : " (the node no longer matches: the next sync sends everything)"}` : "never synced from here"}`);
  if (workspace.state.apps.length > 0) say(`services:  ${workspace.state.apps.join(", ")}`);
  return 0;
}
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    const exitCode = error instanceof ConfigError ? error.exitCode : 1;
    log(`appmesh-remote: ${error.message ?? String(error)}`);
    process.exit(exitCode);
  }
);
export {
  findProjectRoot
};
