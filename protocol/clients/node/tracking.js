'use strict';
/**
 * PLTrack: the PromptLayer SDK's `track` calls, handed to the local pltrackd.
 *
 *   const { PLTrack } = require('pltrackd-client');
 *   const promptlayer = new PLTrack();      // was: new PromptLayer({ apiKey })
 *   await promptlayer.track.prompt({ request_id, prompt_name: 'welcome', prompt_input_variables });
 *
 * Every call resolves to true when the message is handed to the daemon (taken, when
 * `acknowledged`), false otherwise; it never rejects and never waits longer than `timeout`.
 */

const crypto = require('crypto');
const { Client, DEFAULT_MAX_FRAME_LENGTH, PltrackError, defaultSocketPath } = require('./pltrack');

/** How long a call may take by default, in ms: connecting, writing and, when acknowledged, the answer. */
const DEFAULT_TIMEOUT_MS = 250;

class PLTrack {
  /**
   * @param {object} [options]
   * @param {string} [options.socketPath] the daemon's socket; else $PLTRACKD_SOCKET, else the default.
   * @param {number} [options.timeout=250] ms one call may take.
   * @param {boolean} [options.acknowledged=false] wait for the daemon to take each call.
   * @param {function} [options.onLost] called with (message, reason) for a call not handed over.
   */
  constructor({ socketPath, timeout = DEFAULT_TIMEOUT_MS, acknowledged = false,
    maxFrameLength = DEFAULT_MAX_FRAME_LENGTH, onLost = null } = {}) {
    this.socketPath = socketPath || defaultSocketPath();
    this.timeout = timeout;
    this.acknowledged = acknowledged;
    this.maxFrameLength = maxFrameLength;
    this.onLost = onLost;
    /** Calls that could not be handed over. */
    this.lost = 0;
    /** Calls the daemon answered with an error. */
    this.rejected = 0;
    /** The last errors the daemon answered (at most 100). */
    this.errors = [];
    this._client = null;
    this._queue = Promise.resolve();
    // Each names its request by request_id, or by request_ref: the ref logRequest resolved to.
    this.track = {
      prompt: ({ request_id, request_ref, prompt_name, prompt_input_variables, version, label }) =>
        this._handOver(message('track.prompt',
          { request_id, request_ref, prompt_name, prompt_input_variables, version, label })),
      metadata: ({ request_id, request_ref, metadata }) =>
        this._handOver(message('track.metadata', { request_id, request_ref, metadata })),
      score: ({ request_id, request_ref, score, score_name, name }) =>
        this._handOver(message('track.score', { request_id, request_ref, score, name: score_name ?? name })),
      group: ({ request_id, request_ref, group_id }) =>
        this._handOver(message('track.group', { request_id, request_ref, group_id })),
    };
  }

  /**
   * The SDK's logRequest: the body PromptLayer's POST /log-request takes (provider, model,
   * input, output, request_start_time, request_end_time, ...), handed to pltrackd. Resolves at
   * once to the request's ref (`ref`, or a new UUID), or null when it could not be handed over;
   * track calls name the request by `request_ref` while pltrackd learns PromptLayer's id.
   */
  async logRequest({ ref, ...body } = {}) {
    const name = ref || crypto.randomUUID();
    return (await this._handOver(message('log.request', { ref: name, ...body }))) ? name : null;
  }

  /** Wait until every call handed over so far is delivered or dead-lettered. */
  flush(timeoutMs = 30000) {
    return this._serially(async () => {
      try {
        await (await this._connected()).flush(timeoutMs);
        return true;
      } catch (err) {
        this._noteFailure(err);
        return false;
      }
    });
  }

  /**
   * The id PromptLayer gave the request logged with `ref`, once it answered
   * the log (waiting at most timeoutMs); null when it did not come in time,
   * the log failed or the daemon cannot be reached. Track calls never need
   * it: they name the ref.
   */
  requestId(ref, timeoutMs = 30000) {
    return this._serially(async () => {
      try {
        return await (await this._connected()).requestId(ref, timeoutMs);
      } catch (err) {
        this._noteFailure(err);
        return null;
      }
    });
  }

  /** The daemon's counters, or null when it cannot be reached. */
  stats() {
    return this._serially(async () => {
      try {
        return await (await this._connected()).stats();
      } catch (err) {
        this._noteFailure(err);
        return null;
      }
    });
  }

  close() {
    if (this._client) this._client.close();
    this._client = null;
  }

  _handOver(msg) {
    return this._serially(async () => {
      let reason = 'not sent';
      for (let attempt = 0; attempt < 2; attempt++) { // once more: the daemon may have restarted
        try {
          const client = await this._connected();
          if (this.acknowledged) await client.request(msg, this.timeout);
          else await client.send(msg);
          this._noteErrors(client.drainErrors());
          return true;
        } catch (err) {
          if (err instanceof PltrackError) {
            if (err.code === 'shutting_down' && attempt === 0) { // that daemon is going away: try its successor
              this._drop();
              continue;
            }
            this._noteErrors([err]);
            return false;
          }
          reason = err.message;
          if (err instanceof RangeError || err instanceof TypeError) break; // too large, or not JSON
          this._drop();
        }
      }
      this.lost += 1;
      const request = msg.request_id ?? msg.request_ref ?? msg.ref;
      console.warn(`pltrack: ${msg.type} for request ${request} not handed to pltrackd: ${reason}`);
      if (this.onLost) this.onLost(msg, reason);
      return false;
    });
  }

  /** Runs `operation` after the calls before it, so calls leave in the order made. */
  _serially(operation) {
    const result = this._queue.then(operation);
    this._queue = result.catch(() => {});
    return result;
  }

  async _connected() {
    if (!this._client || this._client._closed) {
      this._client = await Client.connect(this.socketPath, { timeout: this.timeout, maxFrameLength: this.maxFrameLength });
    }
    return this._client;
  }

  _drop() {
    if (this._client) {
      this._noteErrors(this._client.drainErrors());
      this._client.close();
    }
    this._client = null;
  }

  _noteFailure(err) {
    if (err instanceof PltrackError) this._noteErrors([err]);
    else this._drop();
  }

  _noteErrors(errors) {
    for (const err of errors) {
      this.rejected += 1;
      console.warn(`pltrack: pltrackd refused a call: ${err.code}: ${err.message}`);
    }
    this.errors = this.errors.concat(errors).slice(-100);
  }
}

/** A message of `type` with the fields given, those null or undefined left out (as the SDK does). */
function message(type, fields) {
  const msg = { type };
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined && value !== null) msg[name] = value;
  }
  return msg;
}

module.exports = { PLTrack, DEFAULT_TIMEOUT_MS };
