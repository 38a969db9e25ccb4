#!/usr/bin/env node
'use strict';
/**
 * Runs the contract files in protocol/ through this client against a live pltrackd.
 *
 *   node check-daemon.js --socket PATH vectors   # protocol/vectors.json, each answered as listed
 *   node check-daemon.js --socket PATH sdk       # protocol/sdk-calls.json through PLTrack
 *
 * The package is loaded by name (`pltrackd-client`), as an app installed with npm loads it.
 * The last line is `<mode>: P passed, F failed`; the exit status is 1 when anything failed.
 */

const fs = require('fs');
const path = require('path');
const { Client, PLTrack } = require('pltrackd-client');

const PROTOCOL = path.join(__dirname, '..', '..', '..');
const tally = { passed: 0, failed: 0 };

function check(ok, what) {
  if (ok) tally.passed += 1;
  else {
    tally.failed += 1;
    console.log(`FAIL ${what}`);
  }
}

async function runVectors(socketPath) {
  const { vectors } = JSON.parse(fs.readFileSync(path.join(PROTOCOL, 'vectors.json'), 'utf8'));
  const client = await Client.connect(socketPath, { timeout: 60000 });
  try {
    for (const vector of vectors) {
      await client.sendRaw(vector.payload);
      await client.flush(30000);
      const replies = [...client._replies.values(), ...client.drainErrors().map((err) => err.reply)];
      client._replies.clear();
      let hasId = false;
      try { hasId = 'id' in JSON.parse(vector.payload); } catch { hasId = false; }
      const expect = vector.expect;
      if (expect.ok) {
        const wanted = expect.kind === 'track' && !hasId ? 0 : 1;
        check(replies.length === wanted && replies.every((r) => r.ok === true), `${vector.name}: ${JSON.stringify(replies)}`);
      } else {
        const codes = replies.map((r) => r.error && r.error.code);
        check(codes.length === 1 && codes[0] === expect.code, `${vector.name}: ${JSON.stringify(replies)}`);
        if ('id' in expect && replies.length) check(replies[0].id === expect.id, `${vector.name}: id`);
      }
    }
  } finally {
    client.close();
  }
}

async function runSdk(socketPath) {
  const { calls, log_requests: logs } = JSON.parse(fs.readFileSync(path.join(PROTOCOL, 'sdk-calls.json'), 'utf8'));
  const client = new PLTrack({ socketPath, acknowledged: true, timeout: 60000 });
  for (const call of calls) {
    // Node's options object takes the SDK's argument names; offset the ids past Python's.
    const options = { ...call.args, request_id: call.args.request_id + 2000 };
    check((await client.track[call.call](options)) === true, `PLTrack ${JSON.stringify(call.args)}`);
  }
  const refs = [];
  for (const log of logs) {
    // logRequest takes the body the SDK posts; a named score then names its ref.
    const ref = await client.logRequest(log.sdk_body);
    check(typeof ref === 'string' && ref.length > 0, `PLTrack logRequest resolves to the ref: ${ref}`);
    check((await client.track.score({ request_ref: ref, score: 42, score_name: 'after-log' })) === true,
      `PLTrack score for ${ref}`);
    refs.push(ref);
  }
  check(await client.flush(), 'PLTrack flush');
  for (const ref of refs) {
    const id = await client.requestId(ref);
    check(Number.isInteger(id), `PLTrack requestId for ${ref}: ${id}`);
  }
  check(client.lost === 0 && client.rejected === 0, `lost ${client.lost}, rejected ${client.rejected}`);
  client.close();
}

async function main() {
  const args = process.argv.slice(2);
  const socketPath = args[args.indexOf('--socket') + 1];
  const mode = args[args.length - 1];
  if (!socketPath || !['vectors', 'sdk'].includes(mode)) {
    console.error('usage: check-daemon.js --socket PATH vectors|sdk');
    process.exit(2);
  }
  await (mode === 'vectors' ? runVectors(socketPath) : runSdk(socketPath));
  console.log(`${mode}: ${tally.passed} passed, ${tally.failed} failed`);
  process.exit(tally.failed ? 1 : 0);
}

main().catch((err) => {
  console.log(`FAIL ${err.stack}`);
  console.log(`error: ${tally.passed} passed, ${tally.failed + 1} failed`);
  process.exit(1);
});
