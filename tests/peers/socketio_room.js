// A Socket.IO v4 server broadcasting one event to a room, as a user would write one.
//
//   node tests/peers/socketio_room.js [PORT]
//
// Namespaces "/" and "/live": a socket joins the room "notifications" on connection,
// unless it connected with the query parameter room=none (the socket left out).  A
// socket that emits EVENT (default "notification") has the payload broadcast to the
// room of its namespace (`nsp.to(room).emit`); POST /publish?namespace=/live with a
// JSON body does the same from the backend.  A socket that emits "kick-me" is
// disconnected from its namespace by the server; one that emits "whoami" gets "you"
// with its id back (a marker: what the server sent it before comes first);
// "leave-room" and "join-room" leave and rejoin the room, answered "left", "joined".
// Namespace "/private" refuses every socket in a middleware (CONNECT_ERROR "not
// authorized").  PING_INTERVAL_MS and PING_TIMEOUT_MS set Engine.IO's heartbeat.
// Prints {"event":"listening","port":N} when ready.
'use strict';
const http = require('http');
const express = require('express');
const { Server } = require('socket.io');

const EVENT = process.env.EVENT || 'notification';
const ROOM = 'notifications';
const app = express();
app.use(express.json({ limit: '1mb' }));
const server = http.createServer(app);
const io = new Server(server, {
  pingInterval: Number(process.env.PING_INTERVAL_MS || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT_MS || 20000),
  transports: ['websocket', 'polling'],
});

function serve(nsp) {
  nsp.on('connection', (socket) => {
    if (socket.handshake.query.room !== 'none') socket.join(ROOM);
    socket.on(EVENT, (payload) => nsp.to(ROOM).emit(EVENT, payload));
    socket.on('kick-me', () => socket.disconnect());
    socket.on('whoami', () => socket.emit('you', socket.id));
    socket.on('leave-room', () => {
      socket.leave(ROOM);
      socket.emit('left');
    });
    socket.on('join-room', () => {
      socket.join(ROOM);
      socket.emit('joined');
    });
  });
}
serve(io.of('/'));
serve(io.of('/live'));
io.of('/private').use((_socket, next) => next(new Error('not authorized')));

app.post('/publish', (req, res) => {
  const nsp = io.of(String(req.query.namespace || '/'));
  nsp.to(ROOM).emit(EVENT, req.body);
  res.json({ sockets: nsp.adapter.rooms.get(ROOM)?.size || 0 });
});

server.listen(Number(process.argv[2] || 0), '127.0.0.1', () => {
  console.log(JSON.stringify({ event: 'listening', port: server.address().port }));
});
process.on('SIGTERM', () => {
  io.close();
  process.exit(0);
});
