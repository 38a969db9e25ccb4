'use strict';
/**
 * A small promise-based client for pltrackd, the PromptLayer tracking sidecar.
 *
 * Written from protocol/SPEC.md (wire protocol version 1) for Node.js 20,
 * using only built-in modules.
 *
 * Every message and reply is one frame: a 4-byte big-endian unsigned length N
 * followed by N bytes of UTF-8 JSON holding exactly one object.
 *
 *   const { Client } = require('./pltrack');
 *   const client = await Client.connect();          // $PLTRACKD_SOCKET or the default path
 *   await client.trackPrompt({ prompt_name: 'greeting', request_id: 123 });  // no reply
 *   await client.trackPromptConfirmed({ prompt_name: 'greeting', request_id: 124 });
 *   await client.flush(5000);
 *   console.log((await client.stats()).delivered);
 *   client.close();
 *
 * Integers beyond Number.MAX_SAFE_INTEGER (e.g. 64-bit request ids) can be
 * passed as BigInt; they are written as plain JSON integers.
 */

const net = require('node:net');
const path = require('node:path');

/** The daemon's default maximum payload length (1 MiB); the operator may change it. */
const DEFAULT_MAX_FRAME_LENGTH = 1048576;
/** The daemon's default flush timeout, used only to size how long we wait. */
const DEFAULT_FLUSH_TIMEOUT_MS = 30000;
/** Error codes after which the daemon closes the connection. */
const CLOSING_CODES = new Set(['frame_too_large', 'overloaded']);

/** An error reply from the daemon: {"ok": false, "error": {"code", "message"}}. */
class PltrackError extends Error {
  constructor(code, message, reply) {
    super(`${code}: ${message}`);
    this.name = 'PltrackError';
    /** One of the spec's stable codes, e.g. 'invalid_message'. */
    this.code = code;
    /** Human-readable text naming the field and the rule. */
    this.detail = message;
    /** The whole reply object. */
    this.reply = reply;
  }
}

/** The connection was closed or broken. */
class PltrackConnectionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PltrackConnectionError';
  }
}

/** No reply (or no write progress) within the client's timeout. */
class PltrackTimeoutError extends Error {
  constructor(message) {
    super(message);
    this.name = 'PltrackTimeoutError';
  }
}

/**
 * The socket path to use when none is given: $PLTRACKD_SOCKET, else
 * $XDG_RUNTIME_DIR/pltrackd.sock, else /run/pltrackd/pltrackd.sock.
 */
function defaultSocketPath() {
  if (process.env.PLTRACKD_SOCKET) return process.env.PLTRACKD_SOCKET;
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'pltrackd.sock');
  return '/run/pltrackd/pltrackd.sock';
}

/**
 * Serialize a value as JSON like JSON.stringify, but write BigInt as a plain
 * integer and refuse what would not reach the daemon intact: non-finite
 * numbers and strings with lone surrogates.
 */
function encodeJSON(value) {
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cannot encode ${value} as JSON`);
      return JSON.stringify(value);
    case 'string':
      if (!value.isWellFormed()) throw new TypeError('string holds a lone surrogate');
      return JSON.stringify(value);
    case 'boolean':
      return JSON.stringify(value);
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  if (value === null) return 'null';
  if (typeof value.toJSON === 'function') return encodeJSON(value.toJSON());
  if (Array.isArray(value)) {
    return `[${value.map((v) => encodeJSON(v) ?? 'null').join(',')}]`;
  }
  const members = [];
  for (const key of Object.keys(value)) {
    const encoded = encodeJSON(value[key]);
    if (encoded !== undefined) members.push(`${encodeJSON(key)}:${encoded}`);
  }
  return `{${members.join(',')}}`;
}

/**
 * Encode a message object as one frame (length prefix + UTF-8 JSON).
 * Throws RangeError if the payload exceeds maxFrameLength (the daemon would
 * close the connection); pass null to skip that check.
 */
function encodeFrame(message, maxFrameLength = DEFAULT_MAX_FRAME_LENGTH) {
  const payload = Buffer.from(encodeJSON(message), 'utf8');
  if (maxFrameLength != null && payload.length > maxFrameLength) {
    throw new RangeError(
      `payload is ${payload.length} bytes, above the maximum frame length ${maxFrameLength}`);
  }
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/** A Map key that keeps 5 and "5" apart. */
const idKey = (id) => `${typeof id}:${id}`;

function errorFrom(reply) {
  const error = reply && typeof reply.error === 'object' && reply.error !== null ? reply.error : {};
  return new PltrackError(String(error.code ?? 'unknown'), String(error.message ?? ''), reply);
}

/**
 * A connection to pltrackd. Create it with `await Client.connect(...)`.
 *
 * Replies are matched to requests by `id`, so several requests may be in
 * flight at once (a flush reply may come after later replies). Error replies
 * without an `id` answer fire-and-forget messages that were rejected; they
 * are collected for drainErrors() and also emitted to `onError` if set.
 */
class Client {
  /**
   * @param {string} [socketPath] Unix socket path; defaults to defaultSocketPath().
   * @param {object} [options]
   * @param {number} [options.timeout=10000] ms to wait for a connection, a reply or a write.
   * @param {number|null} [options.maxFrameLength=1048576] largest payload to send.
   * @returns {Promise<Client>}
   */
  static connect(socketPath, options = {}) {
    const client = new Client(socketPath, options);
    return client._connect().then(() => client);
  }

  /** Prefer Client.connect(); the constructor does not open the connection. */
  constructor(socketPath, { timeout = 10000, maxFrameLength = DEFAULT_MAX_FRAME_LENGTH } = {}) {
    this.socketPath = socketPath || defaultSocketPath();
    this.timeout = timeout;
    this.maxFrameLength = maxFrameLength;
    /** Called with each id-less PltrackError as it arrives (optional). */
    this.onError = null;
    this._socket = null;
    this._closed = false;
    this._nextId = 1;
    this._rbuf = Buffer.alloc(0);
    this._pending = new Map(); // idKey -> {resolve, reject, timer}
    this._replies = new Map(); // idKey -> reply not asked for yet
    this._abandoned = new Set(); // idKeys whose request timed out
    this._errors = []; // id-less error replies
    this._lastIdless = null; // id-less error read last, if nothing came after it
    this._framesRead = 0;
    this._closeError = null; // why the connection closed; later calls reject with it
  }

  _connect() {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: this.socketPath });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new PltrackTimeoutError(`connecting to ${this.socketPath} timed out`));
      }, this.timeout);
      socket.once('error', (err) => { clearTimeout(timer); reject(err); });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        this._socket = socket;
        socket.on('data', (chunk) => this._onData(chunk));
        socket.on('error', (err) => this._fail(this._describeSocketError(err)));
        socket.on('close', () => this._fail(new PltrackConnectionError('pltrackd closed the connection')));
        resolve();
      });
    });
  }

  /** Close the connection (idempotent); pending requests are rejected, later calls too. */
  close() {
    if (this._socket && !this._closed) this._socket.end();
    this._fail(new PltrackConnectionError('the client is closed'));
  }

  /** Support `await using client = await Client.connect()` where available. */
  async [Symbol.asyncDispose ?? Symbol.for('Symbol.asyncDispose')]() {
    this.close();
  }

  /**
   * Send a track.prompt without id: fire-and-forget, no reply. Resolves once
   * the frame is handed to the operating system. If the daemon rejects the
   * call, the id-less error reply shows up in drainErrors()/onError.
   */
  trackPrompt(fields) {
    Client._checkFields(fields);
    return this.send({ type: 'track.prompt', ...fields });
  }

  /**
   * Send a track.prompt with an id and resolve with the reply
   * ({id, ok: true}): the daemon has taken responsibility for the call.
   * Rejects with PltrackError on an error reply.
   */
  trackPromptConfirmed(fields) {
    Client._checkFields(fields);
    return this.request({ type: 'track.prompt', ...fields });
  }

  /** Resolve once every frame written before it on this connection is handled. */
  ping() {
    return this.request({ type: 'ping' });
  }

  /**
   * Resolve once every call accepted before now (on any connection) is
   * delivered or dead-lettered. timeoutMs (1..86400000) is passed to the
   * daemon; it answers PltrackError code 'timeout' if it runs out first.
   */
  flush(timeoutMs) {
    const message = { type: 'flush' };
    let wait = DEFAULT_FLUSH_TIMEOUT_MS;
    if (timeoutMs !== undefined && timeoutMs !== null) {
      message.timeout_ms = timeoutMs;
      wait = Number(timeoutMs);
    }
    // Leave the daemon time to answer `timeout` itself before we give up.
    return this.request(message, Math.max(this.timeout, wait + this.timeout));
  }

  /**
   * Resolve with the id PromptLayer answered the log.request with `ref`
   * with, once it has (timeoutMs as for flush). Rejects with PltrackError
   * code 'timeout' if it does not come in time, 'log_failed' if the log was
   * refused for good.
   */
  async requestId(ref, timeoutMs) {
    const message = { type: 'request_id', ref };
    let wait = DEFAULT_FLUSH_TIMEOUT_MS;
    if (timeoutMs !== undefined && timeoutMs !== null) {
      message.timeout_ms = timeoutMs;
      wait = Number(timeoutMs);
    }
    return (await this.request(message, Math.max(this.timeout, wait + this.timeout))).request_id;
  }

  /** Resolve with the daemon's counters (ignore members you do not know). */
  async stats() {
    return (await this.request({ type: 'stats' })).stats;
  }

  /** Return and forget the id-less error replies received so far. */
  drainErrors() {
    const errors = this._errors;
    this._errors = [];
    return errors;
  }

  /**
   * Write one message as a frame. Resolves when it is handed to the OS;
   * rejects with PltrackTimeoutError if the daemon applies backpressure for
   * longer than the timeout (the frame then stays queued and is still sent).
   */
  send(message) {
    let frame;
    try {
      frame = encodeFrame(message, this.maxFrameLength);
    } catch (err) {
      return Promise.reject(err);
    }
    return this._write(frame);
  }

  /** Write `payload` (JSON text, a string or Buffer, sent as it is) as one frame, as send() does. */
  sendRaw(payload) {
    const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(bytes.length, 0);
    return this._write(Buffer.concat([header, bytes]));
  }

  _write(frame) {
    if (this._closed || !this._socket) {
      return Promise.reject(this._closeError || new PltrackConnectionError('the client is closed'));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new PltrackTimeoutError('write blocked by pltrackd backpressure')), this.timeout);
      this._socket.write(frame, (err) => {
        clearTimeout(timer);
        if (err) reject(new PltrackConnectionError(`write failed: ${err.message}`));
        else resolve();
      });
    });
  }

  /**
   * Send message with a fresh integer id and resolve with its reply.
   * Rejects with PltrackError on an error reply, PltrackTimeoutError if no
   * reply comes within waitMs (default: the client's timeout).
   */
  request(message, waitMs = this.timeout) {
    const id = this._nextId++;
    const reply = this.waitReply(id, waitMs);
    this.send({ ...message, id }).catch((err) => {
      // A backpressure timeout leaves the frame queued: keep waiting for the reply.
      if (!(err instanceof PltrackTimeoutError)) this._settle(idKey(id), null, err);
    });
    return reply.then((r) => {
      if (r.ok === true) return r;
      throw errorFrom(r);
    });
  }

  /** Resolve with the reply carrying `id` (which must not be awaited twice). */
  waitReply(id, waitMs = this.timeout) {
    const key = idKey(id);
    if (this._replies.has(key)) {
      const reply = this._replies.get(key);
      this._replies.delete(key);
      return Promise.resolve(reply);
    }
    if (this._closed) return Promise.reject(this._closeError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(key);
        this._abandoned.add(key); // drop its reply if it comes later
        reject(new PltrackTimeoutError(`no reply for id ${id} within ${waitMs} ms`));
      }, waitMs);
      this._pending.set(key, { resolve, reject, timer });
    });
  }

  // -- internals -----------------------------------------------------------

  static _checkFields(fields) {
    for (const reserved of ['type', 'id']) {
      if (fields && Object.prototype.hasOwnProperty.call(fields, reserved)) {
        throw new TypeError(`'${reserved}' is set by the client, not a track.prompt field`);
      }
    }
  }

  _settle(key, reply, err) {
    const waiter = this._pending.get(key);
    if (!waiter) return false;
    this._pending.delete(key);
    clearTimeout(waiter.timer);
    if (err) waiter.reject(err);
    else waiter.resolve(reply);
    return true;
  }

  /** Accumulate bytes and handle every complete frame (length, then exactly N bytes). */
  _onData(chunk) {
    this._rbuf = this._rbuf.length ? Buffer.concat([this._rbuf, chunk]) : chunk;
    while (this._rbuf.length >= 4) {
      const length = this._rbuf.readUInt32BE(0);
      if (this._rbuf.length < 4 + length) break;
      const payload = this._rbuf.subarray(4, 4 + length);
      this._rbuf = this._rbuf.subarray(4 + length);
      let reply;
      try {
        reply = JSON.parse(payload.toString('utf8'));
      } catch (err) {
        this._fail(new PltrackConnectionError(`undecodable reply: ${err.message}`));
        this._socket.destroy();
        return;
      }
      this._handleReply(reply);
    }
  }

  _handleReply(reply) {
    this._framesRead += 1;
    if (reply === null || typeof reply !== 'object' || !('id' in reply)) {
      const error = errorFrom(reply);
      this._lastIdless = error;
      this._errors.push(error);
      if (typeof this.onError === 'function') this.onError(error);
      return;
    }
    this._lastIdless = null;
    const key = idKey(reply.id);
    if (this._settle(key, reply, null)) return;
    if (this._abandoned.delete(key)) return;
    this._replies.set(key, reply);
  }

  /**
   * The daemon closes a connection right after 'overloaded' (on a new
   * connection) or 'frame_too_large'. If it does so before reading what we
   * wrote, the write fails with EPIPE/ECONNRESET and Node discards the unread
   * error reply; say what probably happened.
   */
  _describeSocketError(err) {
    let text = `socket error: ${err.message}`;
    if ((err.code === 'EPIPE' || err.code === 'ECONNRESET') && this._framesRead === 0) {
      text += ' (pltrackd closed the connection before reading from it; it may be at its'
        + " connection limit, 'overloaded')";
    }
    const error = new PltrackConnectionError(text);
    error.cause = err;
    return error;
  }

  /** Mark the connection dead, remember why, and reject every pending request. */
  _fail(err) {
    if (!this._closed) {
      this._closed = true;
      // After an id-less frame_too_large/overloaded the daemon closes: report that.
      if (this._lastIdless && CLOSING_CODES.has(this._lastIdless.code)) err = this._lastIdless;
      this._closeError = err;
    }
    for (const key of [...this._pending.keys()]) this._settle(key, null, this._closeError);
  }
}

/** Connect, run fn(client), and close the client whatever happens. */
async function withClient(socketPath, options, fn) {
  const client = await Client.connect(socketPath, options);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

module.exports = {
  Client,
  PltrackError,
  PltrackConnectionError,
  PltrackTimeoutError,
  DEFAULT_MAX_FRAME_LENGTH,
  defaultSocketPath,
  encodeFrame,
  encodeJSON,
  withClient,
};
