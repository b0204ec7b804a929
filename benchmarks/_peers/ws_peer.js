// Node's `ws` server: a peer of server_vs_peers.py.
// Accepts sockets on /ws (every open socket counts as subscribed, no token) and on
// POST /broadcast sends the body as one text frame to every client (wss.clients loop,
// the broadcast pattern of the ws README). permessage-deflate off (the ws default).
//   NODE_PATH=benchmarks/.peers/node_modules node benchmarks/_peers/ws_peer.js PORT
'use strict';
const http = require('http');
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2]);
const server = http.createServer((req, res) => {
  if (req.method !== 'POST' || req.url !== '/broadcast') {
    res.statusCode = 404;
    res.end();
    return;
  }
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString();
    let count = 0;
    for (const client of wss.clients) {
      client.send(text);
      count += 1;
    }
    res.end(String(count));
  });
});
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false });
server.listen(port, '127.0.0.1', 4096, () => {
  console.log(JSON.stringify({ event: 'listening', port }));
});
