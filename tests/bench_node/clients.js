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
//   lean       true: connect with LeanSocket (below) instead of the `ws` client
//   tokens     connection i presents tokens[i % length] as `Authorization: Bearer` (invitees)
//   local_addresses  connection i connects from local_addresses[i % length]
//   command    {frames: [hex], rate, seconds, answers: [fields]}: after "go", each
//              connection sends frames[index % len] (with "#########" replaced by a counter)
//              at most `rate` per second, each after the previous one was answered, for
//              `seconds` (or until it has sent `count`, when given)
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

// A WebSocket client with the least work of its own, for storms and the hold ("lean": true): on two
// cores the load generator competes with the server it measures, and the `ws` client spends
// about a millisecond of CPU on each connection it opens (more than either server spends on
// a join). This one writes a fixed upgrade request (RFC 6455's sample key, whose accept
// value is known), checks the 101 and its accept value, frames what it sends with a zero
// mask (the same bytes on the wire as any mask; the server unmasks either way), answers
// pings and reads frames without copying more than it must. The same events as `ws`.
const net = require("node:net");
const { EventEmitter } = require("node:events");
const LEAN_KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const LEAN_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
const HEADER_END = Buffer.from("\r\n\r\n");

function clientFrame(opcode, payload) {
  const n = payload.length;
  const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const frame = Buffer.alloc(head + 4 + n); // the mask (zeros) follows the length
  frame[0] = 0x80 | opcode;
  if (n < 126) frame[1] = 0x80 | n;
  else if (n < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(n, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(frame, head + 4);
  return frame;
}

class LeanSocket extends EventEmitter {
  constructor(url, headers = {}, localAddress = undefined) {
    super();
    const u = new URL(url);
    this.readyState = 0;
    this.closed = false;
    this.buf = null;
    const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
    this.request = Buffer.from(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${LEAN_KEY}\r\n` +
        `Sec-WebSocket-Version: 13\r\n${extra}\r\n`,
      "latin1",
    );
    this.sock = net.connect({ host: u.hostname, port: Number(u.port), noDelay: true, localAddress });
    this.sock.on("connect", () => this.sock.write(this.request));
    this.sock.on("data", (chunk) => this.onData(chunk));
    this.sock.on("error", () => this.end(1006));
    this.sock.on("close", () => this.end(1006));
  }

  send(payload) {
    this.sock.write(clientFrame(0x2, payload));
  }

  terminate() {
    this.closed = true;
    this.sock.destroy();
  }

  end(code) {
    if (this.closed) return;
    this.closed = true;
    this.readyState = 3;
    this.sock.destroy();
    this.emit("close", code);
  }

  onData(chunk) {
    let buf = this.buf ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.readyState === 0) {
      const at = buf.indexOf(HEADER_END);
      if (at < 0) {
        this.buf = buf;
        return;
      }
      const head = buf.toString("latin1", 0, at);
      if (!head.startsWith("HTTP/1.1 101") || !head.includes(LEAN_ACCEPT)) {
        this.emit("error", new Error(head.split("\r\n")[0]));
        this.end(1006);
        return;
      }
      this.readyState = 1;
      buf = buf.subarray(at + HEADER_END.length);
      this.emit("open");
    }
    let i = 0;
    while (!this.closed && buf.length - i >= 2) {
      const opcode = buf[i] & 0x0f;
      let n = buf[i + 1] & 0x7f;
      let head = 2;
      if (n === 126) {
        if (buf.length - i < 4) break;
        n = buf.readUInt16BE(i + 2);
        head = 4;
      } else if (n === 127) {
        if (buf.length - i < 10) break;
        n = Number(buf.readBigUInt64BE(i + 2));
        head = 10;
      }
      if (buf.length - i < head + n) break;
      const payload = buf.subarray(i + head, i + head + n);
      i += head + n;
      if (opcode === 0x2 || opcode === 0x1) this.emit("message", payload);
      else if (opcode === 0x9) this.sock.write(clientFrame(0xa, payload));
      else if (opcode === 0x8) this.end(n >= 2 ? payload.readUInt16BE(0) : 1005);
    }
    this.buf = i < buf.length ? Buffer.from(buf.subarray(i)) : null;
  }
}

const sockets = [];
let deliveries = 0;
let answered = 0;
let dropped = 0;
const closeCodes = {};
const answerTimes = [];
// Per answered connection, from its own connect (the WebSocket made) to its last answer.
const sinceConnect = [];
// When each connection was made and opened (upgraded), after "go".
const madeTimes = [];
const openTimes = [];
let started = 0;
let startCommand = null;

function connectOne(index) {
  return new Promise((resolve) => {
    const made = performance.now();
    madeTimes.push(made - started);
    const headers = opts.tokens
      ? { Authorization: `Bearer ${opts.tokens[index % opts.tokens.length]}` }
      : {};
    const localAddress = opts.local_addresses
      ? opts.local_addresses[index % opts.local_addresses.length]
      : undefined;
    const ws = opts.lean
      ? new LeanSocket(opts.url, headers, localAddress)
      : new WebSocket(opts.url, { perMessageDeflate: false, maxPayload: 0, headers, localAddress });
    sockets.push(ws);
    let step = 0;
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      if (ok) {
        answered += 1;
        const now = performance.now();
        answerTimes.push(now - started);
        sinceConnect.push(now - made);
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
    ws.on("open", () => {
      openTimes.push(performance.now() - started);
      sendStep();
    });
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
  const most = cmd.count ?? Infinity;
  while (k < most && performance.now() < until && ws.readyState === WebSocket.OPEN) {
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
  const cpu = process.cpuUsage();
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
    // The same from each connection's own connect: what the server and the network took,
    // without the time this process needed to make the connections before it.
    max_since_connect_ms: sinceConnect.length ? Math.max(...sinceConnect) : null,
    p50_since_connect_ms: percentile(sinceConnect, 50),
    made_last_ms: madeTimes.length ? Math.max(...madeTimes) : null,
    open_p50_ms: percentile(openTimes, 50),
    open_last_ms: openTimes.length ? Math.max(...openTimes) : null,
    // This process's own CPU from "go" to here (user + system), in ms.
    cpu_ms: ((c) => (c.user + c.system) / 1000)(process.cpuUsage(cpu)),
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
