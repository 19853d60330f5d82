// The reference server of `make bench`: a bare relay on the `ws` package.
//
// It does the least a real-time board server must do: answer each message, and once a
// connection has sent two (hello, subscribe) keep it in one topic. A connection opened with
// ?pub=1 publishes: from its second message on, each message is sent to every subscriber
// and echoed back as its answer. No parsing, no storage: a floor for Tandem's own costs.
//
// Prints {"port": N} once listening; exits when its stdin closes (its parent is gone), or
// after an hour at most.
"use strict";
const http = require("node:http");
const { WebSocketServer } = require("ws");

const server = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end('{"status":"ok"}');
});
const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 1 << 20 });
const subscribers = new Set();

wss.on("connection", (ws, req) => {
  const publisher = (req.url || "").includes("pub=1");
  let seen = 0;
  ws.on("message", (data) => {
    seen += 1;
    if (publisher && seen >= 2) {
      for (const sub of subscribers) sub.send(data, { binary: true });
    } else if (!publisher && seen === 2) {
      subscribers.add(ws);
    }
    ws.send(data, { binary: true });
  });
  ws.on("close", () => subscribers.delete(ws));
  ws.on("error", () => subscribers.delete(ws));
});

server.listen({ host: "127.0.0.1", port: 0, backlog: 8192 }, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port, pid: process.pid }) + "\n");
});
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
setTimeout(() => process.exit(0), 3600 * 1000).unref();
