// An express + `ws` relay of Pub/Sub messages to WebSocket clients, as a user would
// write one (the project did not write this pattern; the tests start it as a peer).
//
//   node tests/peers/pubsub_relay.js MODE TOPIC [PORT]
//
// MODE fanout: the relay holds one subscription of its own and sends every message
//   to every open socket (the `wss.clients` loop of the ws README).
// MODE shared: every socket attaches its own listener to ONE shared subscription, so
//   Pub/Sub splits the messages between the sockets (a common bug in relays).
// Sockets on /ws, no token.  POST /publish with a JSON body publishes it to TOPIC
// (the backend's HTTP publish endpoint).  GOOGLE_CLOUD_PROJECT and
// PUBSUB_EMULATOR_HOST select the project and the emulator.  Prints one JSON line
// {"event":"listening","port":N} when ready; SIGTERM closes everything.
'use strict';
const http = require('http');
const crypto = require('crypto');
const express = require('express');
const { WebSocketServer, WebSocket } = require('ws');
const { PubSub } = require('@google-cloud/pubsub');

const [mode, topicName, portArg] = process.argv.slice(2);
if (!['fanout', 'shared'].includes(mode) || !topicName) {
  console.error('usage: pubsub_relay.js fanout|shared TOPIC [PORT]');
  process.exit(2);
}
const pubsub = new PubSub({ projectId: process.env.GOOGLE_CLOUD_PROJECT });
const topic = pubsub.topic(topicName);
const subscriptions = new Set();

function forward(subscription, send) {
  subscription.on('message', (message) => {
    send(message.data.toString());
    message.ack();
  });
  subscription.on('error', (error) => console.error(`subscription error: ${error}`));
  subscriptions.add(subscription);
}

async function main() {
  await topic.get({ autoCreate: true });
  const app = express();
  app.use(express.json({ limit: '1mb' }));
  app.post('/publish', async (req, res) => {
    try {
      const messageId = await topic.publishMessage({ json: req.body });
      res.json({ messageId });
    } catch (error) {
      res.status(502).json({ error: String(error) });
    }
  });
  const server = http.createServer(app);
  const wss = new WebSocketServer({ server, path: '/ws' });

  if (mode === 'fanout') {
    const name = `${topicName}-relay-${crypto.randomBytes(4).toString('hex')}`;
    const [subscription] = await topic.createSubscription(name);
    forward(subscription, (text) => {
      for (const client of wss.clients) {
        if (client.readyState === WebSocket.OPEN) client.send(text);
      }
    });
  } else {
    const name = `${topicName}-shared`;
    const [exists] = await pubsub.subscription(name).exists();
    if (!exists) await topic.createSubscription(name);
    wss.on('connection', (socket) => {
      const subscription = pubsub.subscription(name);
      forward(subscription, (text) => socket.send(text));
      socket.on('close', () => {
        subscriptions.delete(subscription);
        subscription.removeAllListeners('message');
        subscription.close().catch(() => {});
      });
    });
  }

  server.listen(Number(portArg || 0), '127.0.0.1', () => {
    console.log(JSON.stringify({ event: 'listening', port: server.address().port }));
  });
  process.on('SIGTERM', async () => {
    for (const client of wss.clients) client.terminate();
    await Promise.allSettled([...subscriptions].map((s) => s.close()));
    server.close();
    process.exit(0);
  });
}

main().catch((error) => {
  console.error(`relay failed: ${error.stack || error}`);
  process.exit(1);
});
