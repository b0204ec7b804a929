// Node's `ws` as a plain RFC 6455 echo endpoint (any path): every text or binary
// message goes back as it came.  The `echo` protocol's peer.
//
//   node tests/peers/ws_echo.js [PORT]
//
// Prints {"event":"listening","port":N} when ready.
'use strict';
const { WebSocketServer } = require('ws');

const wss = new WebSocketServer({ host: '127.0.0.1', port: Number(process.argv[2] || 0) });
wss.on('connection', (socket) => {
  socket.on('message', (data, isBinary) => socket.send(data, { binary: isBinary }));
});
wss.on('listening', () => {
  console.log(JSON.stringify({ event: 'listening', port: wss.address().port }));
});
process.on('SIGTERM', () => {
  for (const client of wss.clients) client.terminate();
  wss.close();
  process.exit(0);
});
