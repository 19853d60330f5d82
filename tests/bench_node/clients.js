// Load clients of `make bench`: many WebSocket connections in one process, driven over stdin.
//
// Takes one JSON argument:
//   url        ws://... to connect to
//   count      connections to open; first      index of the first (for the placeholders)
//   steps      [{frame: hex or [hex], expect: [field numbers]}]: sent in turn on each
//              connection (frame[index % length]), each answered by a frame whose payload
//              is one of the expected envelope fields
//   deadline   seconds after "go" by which every connection must be answered
//   pool       "@@@@@@" in a frame becomes the connection's index modulo pool (its person)
//   count_field  frames with this payload field are counted as deliveries while held
//   command    {frames: [hex], rate, seconds, answers: [fields]}: after "go", each
//              connection sends frames[index % len] (with "#########" replaced by a counter)
//              at most `rate` per second, each after the previous one was answered
//              (with on_run: only once "run" is read, after connecting)
//
// stdin lines: "go" connects everyone at once (and then runs the command, if any; "run"
// starts a command that waits for it);
// "report" prints the deliveries counted so far; "close" closes every connection and exits.
// Prints one JSON line per event. Exits by itself after `lifetime` seconds at most.
"use strict";
const WebSocket = require("ws");
const readline = require("node:readline");

const opts = JSON.parse(process.argv[2]);
const out = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const pool = opts.pool || 1;
const first = opts.first || 0;
const steps = (opts.steps || []).map((s) => ({
  frames: [].concat(s.frame).map((h) => Buffer.from(h, "hex")),
  expect: new Set(s.expect),
}));
const COUNTER = Buffer.from("#########");
const PERSON = Buffer.from("@@@@@@");

function personalise(frame, index) {
  let at = frame.indexOf(PERSON);
  if (at < 0) return frame;
  const copy = Buffer.from(frame);
  const text = String(index % pool).padStart(PERSON.length, "0");
  while (at >= 0) {
    copy.write(text, at, "latin1");
    at = copy.indexOf(PERSON, at + 1);
  }
  return copy;
}

// The envelope's message_id (field 1) and payload field number, read without a schema.
function envelope(buf) {
  let i = 0;
  let id = "";
  let payload = 0;
  const varint = () => {
    let v = 0;
    let shift = 0;
    let b;
    do {
      b = buf[i++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (i < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) varint();
    else if (wire === 2) {
      const len = varint();
      if (field === 1) id = buf.toString("latin1", i, i + len);
      i += len;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else break;
    if (field !== 1) payload = field;
  }
  return { id, payload };
}

const sockets = [];
let deliveries = 0;
let answered = 0;
let dropped = 0;
const closeCodes = {};
const answerTimes = [];
let started = 0;
let startCommand = null;

function connectOne(index) {
  return new Promise((resolve) => {
    const ws = new WebSocket(opts.url, { perMessageDeflate: false, maxPayload: 0 });
    sockets.push(ws);
    let step = 0;
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      if (ok) {
        answered += 1;
        answerTimes.push(performance.now() - started);
      } else dropped += 1;
      resolve(ok);
    };
    const sendStep = () => {
      if (step < steps.length) {
        const frames = steps[step].frames;
        ws.send(personalise(frames[index % frames.length], index));
      }
      else finish(true);
    };
    ws.on("open", sendStep);
    ws.on("message", (data) => {
      const { id, payload } = envelope(data);
      if (payload === opts.count_field) deliveries += 1;
      if (ws.onAnswer && ws.onAnswer(id, payload)) return;
      if (!done && step < steps.length && steps[step].expect.has(payload)) {
        step += 1;
        sendStep();
      }
    });
    ws.on("close", (code) => {
      closeCodes[code] = (closeCodes[code] || 0) + 1;
      finish(false);
    });
    ws.on("error", () => finish(false));
  });
}

function percentile(values, q) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * q) / 100))];
}

async function runCommand(index, ws, cmd, until, stats) {
  const frames = cmd.frames.map((h) => Buffer.from(h, "hex"));
  const template = frames[index % frames.length];
  const at = [];
  for (let p = template.indexOf(COUNTER); p >= 0; p = template.indexOf(COUNTER, p + 1)) at.push(p);
  const answers = new Set(cmd.answers);
  const interval = 1000 / cmd.rate;
  let k = 0;
  let next = performance.now();
  while (performance.now() < until && ws.readyState === WebSocket.OPEN) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    next += interval;
    const frame = Buffer.from(template);
    const text = String(index * 1e6 + k).padStart(COUNTER.length, "0").slice(-COUNTER.length);
    for (const p of at) frame.write(text, p, "latin1");
    k += 1;
    const id = envelope(frame).id;
    const sent = performance.now();
    const ok = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 30000);
      ws.onAnswer = (gotId, payload) => {
        if (gotId !== id || !answers.has(payload)) return false;
        clearTimeout(timer);
        resolve(payload === cmd.answers[0]);
        return true;
      };
      ws.send(frame);
    });
    ws.onAnswer = null;
    stats.latencies.push(performance.now() - sent);
    if (ok) stats.acked += 1;
    else stats.refused += 1;
  }
}

async function go() {
  started = performance.now();
  const results = [];
  for (let i = 0; i < opts.count; i++) results.push(connectOne(first + i));
  let timer;
  const late = new Promise((r) => (timer = setTimeout(r, (opts.deadline || 60) * 1000)));
  await Promise.race([Promise.all(results), late]);
  clearTimeout(timer);
  out({
    event: "joined",
    answered,
    dropped,
    close_codes: closeCodes,
    all_ms: answerTimes.length ? Math.max(...answerTimes) : null,
    p50_ms: percentile(answerTimes, 50),
  });
  const cmd = opts.command;
  if (!cmd) return;
  if (cmd.on_run) await new Promise((resolve) => (startCommand = resolve));
  const stats = { acked: 0, refused: 0, latencies: [] };
  const began = performance.now();
  const until = began + cmd.seconds * 1000;
  await Promise.all(sockets.map((ws, i) => runCommand(first + i, ws, cmd, until, stats)));
  out({
    event: "commanded",
    acked: stats.acked,
    refused: stats.refused,
    seconds: (performance.now() - began) / 1000,
    p50_ms: percentile(stats.latencies, 50),
    p99_ms: percentile(stats.latencies, 99),
  });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  const word = line.trim();
  if (word === "go") go();
  else if (word === "run" && startCommand) startCommand();
  else if (word === "report") out({ event: "report", deliveries, close_codes: closeCodes });
  else if (word === "close") {
    for (const ws of sockets) ws.terminate();
    out({ event: "closed" });
    process.exit(0);
  }
});
rl.on("close", () => process.exit(0));
out({ event: "started", pid: process.pid });
setTimeout(() => process.exit(0), (opts.lifetime || 600) * 1000).unref();
