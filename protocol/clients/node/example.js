#!/usr/bin/env node
'use strict';
/**
 * Exercise a running pltrackd with the pltrack client and check its answers
 * against protocol/SPEC.md.
 *
 *   node example.js --socket PATH [--count N]
 *
 * Sends N track.prompt calls (every other one confirmed with an id), one
 * invalid confirmed call and one invalid fire-and-forget call, then ping,
 * flush and stats. Prints each result, then one line
 * `example: P passed, F failed`; exits 1 if any check failed.
 */

const { Client, PltrackError } = require('./pltrack');

const REQUIRED_COUNTERS = [
  'uptime_seconds', 'connections_open', 'connections_total', 'frames_received',
  'bytes_received', 'accepted', 'rejected', 'coalesced', 'queued', 'in_flight',
  'delivered', 'retries', 'dead_lettered', 'upstream_latency_p50_ms',
  'upstream_latency_p99_ms',
];

const results = { passed: 0, failed: 0 };

function check(name, ok, detail = '') {
  if (ok) results.passed += 1;
  else results.failed += 1;
  const text = typeof detail === 'string' ? detail : JSON.stringify(detail);
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${text ? `: ${text}` : ''}`);
  return ok;
}

const isNumber = (v) => typeof v === 'number' && Number.isFinite(v);

function parseArgs(argv) {
  const args = { socket: undefined, count: 3 };
  for (let i = 0; i < argv.length; i += 1) {
    const [flag, inline] = argv[i].split(/=(.*)/s);
    const value = () => (inline !== undefined ? inline : argv[++i]);
    if (flag === '--socket') args.socket = value();
    else if (flag === '--count') args.count = Number(value());
    else if (flag === '-h' || flag === '--help') {
      console.log('usage: node example.js --socket PATH [--count N]');
      process.exit(0);
    } else {
      console.error(`unknown argument: ${argv[i]}\nusage: node example.js --socket PATH [--count N]`);
      process.exit(2);
    }
  }
  if (!Number.isInteger(args.count) || args.count < 0) {
    console.error('--count must be a non-negative integer');
    process.exit(2);
  }
  return args;
}

async function run(socketPath, count) {
  const client = await Client.connect(socketPath, { timeout: 60000 }); // a minute: a loaded machine is slow, not broken
  try {
    const before = await client.stats();
    check('stats before', typeof before === 'object' && before !== null, `accepted=${before.accepted}`);

    // Distinct request_ids: strings, plus one 64-bit integer (a BigInt).
    const stamp = BigInt(Date.now()) * 1000000n + BigInt(process.hrtime()[1] % 1000000);
    for (let i = 0; i < count; i += 1) {
      const requestId = i === 1 ? stamp + BigInt(i) : `example-js-${process.pid}-${stamp}-${i}`;
      const fields = {
        prompt_name: 'example-prompt',
        request_id: requestId,
        prompt_input_variables: { index: i, text: 'héllo 😀' },
        tags: ['example'], // an unknown member: forwarded unchanged
      };
      if (i % 2 === 0) {
        try {
          const reply = await client.trackPromptConfirmed({ ...fields, label: 'prod' });
          check(`track.prompt #${i} confirmed`, reply.ok === true, reply);
        } catch (err) {
          check(`track.prompt #${i} confirmed`, false, String(err));
        }
      } else {
        await client.trackPrompt({ ...fields, version: 1 });
        console.log(`sent  track.prompt #${i} (no id, request_id=${requestId})`);
      }
    }

    // An invalid call with an id: must be answered invalid_message with that id.
    try {
      const reply = await client.trackPromptConfirmed({ prompt_name: '', request_id: `example-bad-${stamp}` });
      check('empty prompt_name rejected', false, `accepted: ${JSON.stringify(reply)}`);
    } catch (err) {
      if (!(err instanceof PltrackError)) throw err;
      check('empty prompt_name -> invalid_message', err.code === 'invalid_message', `${err.code}: ${err.detail}`);
    }

    // An invalid call without an id: an id-less error reply arrives in order.
    await client.trackPrompt({ prompt_name: 'ok', request_id: `example-bad2-${stamp}`, version: 1, label: 'x' });
    const pong = await client.ping();
    check('ping', pong.ok === true, pong);
    const errors = client.drainErrors();
    check('fire-and-forget errors: exactly one invalid_message',
      errors.length === 1 && errors[0].code === 'invalid_message',
      errors.map((e) => `${e.code}: ${e.detail}`));

    const flushed = await client.flush(60000);
    check('flush', flushed.ok === true, flushed);

    const after = await client.stats();
    const missing = REQUIRED_COUNTERS.filter((k) => !(k in after));
    check("stats has the spec's counters", missing.length === 0, missing.length ? `missing ${missing}` : '');
    const bad = REQUIRED_COUNTERS.filter((k) => k in after && k !== 'rejected' && !isNumber(after[k]));
    check('stats counters are numbers', bad.length === 0, bad.length ? bad : '');
    const rejected = after.rejected;
    check('stats.rejected is an object of numbers',
      typeof rejected === 'object' && rejected !== null && Object.values(rejected).every(isNumber), rejected);

    const delta = (k) => (after[k] ?? 0) - (before[k] ?? 0);
    check(`accepted grew by at least ${count}`, delta('accepted') >= count, `delta=${delta('accepted')}`);
    if (typeof rejected === 'object' && rejected !== null) {
      const grown = (rejected.invalid_message ?? 0) - ((before.rejected || {}).invalid_message ?? 0);
      check('rejected.invalid_message grew by at least 2', grown >= 2, `delta=${grown}`);
    }
    const done = delta('delivered') + delta('dead_lettered');
    check(`after flush, delivered+dead_lettered grew by at least ${count}`, done >= count,
      `delivered ${delta('delivered')}, dead_lettered ${delta('dead_lettered')}`);
    console.log('stats:', JSON.stringify(Object.fromEntries(REQUIRED_COUNTERS.map((k) => [k, after[k]]))));
  } finally {
    client.close();
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  try {
    await run(args.socket, args.count);
  } catch (err) {
    check('talking to pltrackd', false, `${err.name}: ${err.message}`);
  }
  console.log(`example: ${results.passed} passed, ${results.failed} failed`);
  process.exitCode = results.failed === 0 ? 0 : 1;
}

main();
