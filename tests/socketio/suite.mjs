// The official socket.io-client v4 against two real webchat instances (WEBCHAT_A and
// WEBCHAT_B, sharing Redis and PostgreSQL), beside raw WebSocket clients of /ws.
// SIO_TRANSPORTS=websocket runs the Socket.IO clients over WebSocket only; otherwise
// they use the client's defaults (HTTP long-polling first, then the upgrade).
// Run by tests/socketio.rs; prints one line per scenario and exits 1 on any failure.

import { io } from "socket.io-client";
import WebSocket from "ws";
import assert from "node:assert/strict";

const A = process.env.WEBCHAT_A;
const B = process.env.WEBCHAT_B;
const WS_ONLY = process.env.SIO_TRANSPORTS === "websocket";
const ONLY = process.env.SIO_SCENARIO;

let counter = 0;
const unique = (p) => `${p}${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function call(base, method, path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function signup(base = A) {
  const username = unique("sio");
  const reg = await call(base, "POST", "/api/auth/register", { username, password: "password-1" });
  assert.equal(reg.status, 201, JSON.stringify(reg.body));
  const login = await call(base, "POST", "/api/auth/login", { username, password: "password-1" });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  return { username, token: login.body.access_token, id: login.body.user.id };
}

async function createChat(owner, members) {
  const r = await call(A, "POST", "/api/chats", { name: unique("chat"), member_ids: members.map((m) => m.id) }, owner.token);
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.id;
}

/// Resolves once `pred` holds over `list`, polling; fails after `ms`.
async function until(what, pred, ms = 10000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

const sockets = [];

/// A Socket.IO client that records every event it receives.
function sio(base, token, extra = {}) {
  const opts = { auth: { token }, reconnection: false, forceNew: true, ...extra };
  if (WS_ONLY) opts.transports = ["websocket"];
  const socket = io(base, opts);
  socket.events = [];
  socket.transportsSeen = [];
  socket.onAny((event, payload) => socket.events.push({ event, payload }));
  socket.io.on("open", () => {
    socket.transportsSeen.push(socket.io.engine.transport.name);
    socket.io.engine.on("upgrade", (t) => socket.transportsSeen.push(t.name));
  });
  sockets.push(socket);
  return socket;
}

function describe(d) {
  if (d === undefined || d === null) return "no description";
  if (typeof d === "number") return `HTTP ${d}`;
  if (d instanceof Error) return d.message;
  return JSON.stringify(d);
}

/// Resolves once the socket is connected and its loop runs (subscribed to its
/// chats: the first frame is handled only then), so ephemeral events reach it.
async function connected(socket) {
  if (!socket.connected) {
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      // A transport failure says why in `description` (an HTTP status for polling).
      socket.once("connect_error", (e) => reject(new Error(`connect_error: ${e.message} (${describe(e.description)})`)));
    });
  }
  assert.deepEqual(await socket.timeout(10000).emitWithAck("ping"), {});
  return socket;
}

function of(socket, event, pred = () => true) {
  return socket.events.filter((e) => e.event === event && pred(e.payload)).map((e) => e.payload);
}

/// A raw /ws client that records every frame it receives.
async function raw(base, token) {
  const ws = new WebSocket(`${base.replace("http", "ws")}/ws?token=${token}`);
  ws.frames = [];
  ws.on("message", (data) => ws.frames.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  sockets.push(ws);
  ws.send(JSON.stringify({ type: "ping" }));
  await until("the raw socket's pong", () => frames(ws, "pong").length === 1);
  return ws;
}

function frames(ws, type, pred = () => true) {
  return ws.frames.filter((f) => f.type === type && pred(f));
}

function createdIn(chat) {
  return (p) => p.chat_id === chat;
}

const scenarios = {
  async "a bad or missing token is refused with connect_error unauthorized"() {
    for (const auth of [{ token: "not-a-token" }, {}]) {
      const s = io(A, { auth, reconnection: false, forceNew: true, transports: WS_ONLY ? ["websocket"] : undefined });
      sockets.push(s);
      const err = await new Promise((resolve, reject) => {
        s.once("connect_error", resolve);
        s.once("connect", () => reject(new Error("connected without a valid token")));
      });
      assert.equal(err.message, "unauthorized");
      s.close();
    }
  },

  async "the transports are the ones asked for"() {
    const alice = await signup();
    const s = await connected(sio(A, alice.token));
    if (WS_ONLY) {
      assert.deepEqual(s.transportsSeen, ["websocket"]);
    } else {
      // Long-polling first, then the upgrade to WebSocket.
      await until("the upgrade", () => s.transportsSeen.includes("websocket"));
      assert.equal(s.transportsSeen[0], "polling");
    }
    s.close();
  },

  async "send is acknowledged with the ack frame's payload, errors with the REST error body"() {
    const alice = await signup();
    const chat = await createChat(alice, []);
    const s = await connected(sio(A, alice.token));
    const ack = await s.timeout(10000).emitWithAck("send", { chat_id: chat, content: "hello", client_msg_id: "k-1" });
    assert.equal(ack.client_msg_id, "k-1");
    assert.equal(ack.message.content, "hello");
    assert.equal(ack.message.chat_id, chat);
    assert.equal(ack.message.seq, 1);
    // The same key again: the same message, not a second one.
    const again = await s.timeout(10000).emitWithAck("send", { chat_id: chat, content: "hello", client_msg_id: "k-1" });
    assert.equal(again.message.id, ack.message.id);
    const stranger = await signup();
    const other = await createChat(stranger, []);
    const refused = await s.timeout(10000).emitWithAck("send", { chat_id: other, content: "hi" });
    assert.equal(refused.error, "forbidden", JSON.stringify(refused));
    assert.equal(typeof refused.message, "string");
    const invalid = await s.timeout(10000).emitWithAck("send", { chat_id: "nope", content: "hi" });
    assert.equal(invalid.error, "validation", JSON.stringify(invalid));
    const bad = await s.timeout(10000).emitWithAck("send", "not an object");
    assert.equal(bad.error, "bad_frame", JSON.stringify(bad));
    // Without a callback the reply is an event named after the frame.
    s.emit("ping");
    await until("a pong event", () => of(s, "pong").length === 1);
    // A frame with no answer is still acknowledged when the client asks.
    assert.deepEqual(await s.timeout(10000).emitWithAck("typing", { chat_id: chat }), {});
    assert.deepEqual(await s.timeout(10000).emitWithAck("status", { status: "away" }), {});
    assert.deepEqual(await s.timeout(10000).emitWithAck("leave", { chat_id: chat }), {});
    s.emit("send", { chat_id: other, content: "x", client_msg_id: "k-2" });
    const [error] = await until("an error event", () => of(s, "error").length && of(s, "error"));
    assert.equal(error.code, "forbidden");
    assert.equal(error.client_msg_id, "k-2");
    s.close();
  },

  async "messages cross protocols and instances both ways, in order"() {
    const alice = await signup();
    const bob = await signup();
    const carol = await signup();
    const chat = await createChat(alice, [bob, carol]);
    const aliceSio = await connected(sio(A, alice.token)); // Socket.IO on A
    const bobRaw = await raw(B, bob.token); // raw WebSocket on B
    const carolSio = await connected(sio(B, carol.token)); // Socket.IO on B
    const carolRaw = await raw(A, carol.token); // raw WebSocket on A

    // Socket.IO -> both kinds, both instances; sent back to back without waiting,
    // so the order is the client's, kept by the server.
    const N = 30;
    const acks = [];
    for (let i = 0; i < N; i++) {
      acks.push(aliceSio.timeout(15000).emitWithAck("send", { chat_id: chat, content: `a${i}`, client_msg_id: `a-${i}` }));
    }
    const acked = await Promise.all(acks);
    assert.deepEqual(acked.map((a) => a.message.seq), [...Array(N).keys()].map((i) => i + 1));
    const expect = [...Array(N).keys()].map((i) => `a${i}`);
    await until("bob's raw frames", () => frames(bobRaw, "message.created").length >= N);
    assert.deepEqual(frames(bobRaw, "message.created").map((f) => f.message.content), expect);
    await until("carol's Socket.IO events", () => of(carolSio, "message.created").length >= N);
    assert.deepEqual(of(carolSio, "message.created").map((p) => p.message.content), expect);
    assert.deepEqual(of(carolSio, "message.created").map((p) => p.message.seq), expect.map((_, i) => i + 1));
    await until("carol's raw frames", () => frames(carolRaw, "message.created").length >= N);
    await until("alice's own events", () => of(aliceSio, "message.created").length >= N);
    // The payload is the frame minus its type.
    const frame = frames(bobRaw, "message.created")[0];
    const event = of(carolSio, "message.created")[0];
    delete frame.type;
    assert.deepEqual(event, frame);

    // Raw WebSocket on B -> Socket.IO on A and B.
    bobRaw.send(JSON.stringify({ type: "send", chat_id: chat, content: "from bob", client_msg_id: "b-1" }));
    await until("bob's ack", () => frames(bobRaw, "ack").length === 1);
    const fromBob = (p) => p.message.content === "from bob";
    await until("alice gets bob's message", () => of(aliceSio, "message.created", fromBob).length === 1);
    await until("carol gets bob's message", () => of(carolSio, "message.created", fromBob).length === 1);
    assert.equal(of(aliceSio, "message.created", fromBob)[0].message.seq, N + 1);
    // REST -> Socket.IO.
    const r = await call(B, "POST", `/api/chats/${chat}/messages`, { content: "over rest" }, carol.token);
    assert.equal(r.status, 201);
    await until("alice gets the REST message", () => of(aliceSio, "message.created", (p) => p.message.content === "over rest").length === 1);
    // Edits reach Socket.IO as message.updated.
    const mid = acked[0].message.id;
    const edit = await call(A, "PATCH", `/api/messages/${mid}`, { content: "a0 edited" }, alice.token);
    assert.equal(edit.status, 200, JSON.stringify(edit.body));
    await until("carol gets the edit", () => of(carolSio, "message.updated", (p) => p.message.id === mid).length === 1);
    for (const s of [aliceSio, carolSio]) s.close();
    for (const w of [bobRaw, carolRaw]) w.close();
  },

  async "join recovers what a Socket.IO client missed"() {
    const alice = await signup();
    const bob = await signup();
    const chat = await createChat(alice, [bob]);
    const first = await connected(sio(A, bob.token));
    const seen = await first.timeout(10000).emitWithAck("send", { chat_id: chat, content: "before" });
    first.close();
    for (let i = 0; i < 5; i++) {
      const r = await call(B, "POST", `/api/chats/${chat}/messages`, { content: `missed ${i}` }, alice.token);
      assert.equal(r.status, 201);
    }
    const again = await connected(sio(B, bob.token));
    const joined = await again.timeout(10000).emitWithAck("join", { chat_id: chat, since_seq: seen.message.seq });
    assert.equal(joined.chat_id, chat);
    assert.deepEqual(joined.missed.map((m) => m.content), [0, 1, 2, 3, 4].map((i) => `missed ${i}`));
    assert.equal(joined.has_more, false);
    assert.equal(joined.seq, seen.message.seq + 5);
    // Live again after the join.
    await call(A, "POST", `/api/chats/${chat}/messages`, { content: "live" }, alice.token);
    await until("the live message", () => of(again, "message.created", (p) => p.message.content === "live").length === 1);
    const notMine = await again.timeout(10000).emitWithAck("join", { chat_id: (await createChat(await signup(), [])) });
    assert.equal(notMine.error, "forbidden", JSON.stringify(notMine));
    again.close();
  },

  async "typing crosses protocols"() {
    const alice = await signup();
    const bob = await signup();
    const chat = await createChat(alice, [bob]);
    const aliceSio = await connected(sio(A, alice.token));
    const bobRaw = await raw(B, bob.token);
    aliceSio.emit("typing", { chat_id: chat });
    await until("bob sees alice typing", () => frames(bobRaw, "typing", (f) => f.user_id === alice.id).length === 1);
    bobRaw.send(JSON.stringify({ type: "typing", chat_id: chat }));
    await until("alice sees bob typing", () => of(aliceSio, "typing", (p) => p.user_id === bob.id && p.chat_id === chat).length === 1);
    aliceSio.close();
    bobRaw.close();
  },

  async "presence counts both kinds of socket and goes offline with the last"() {
    const alice = await signup();
    const bob = await signup();
    const chat = await createChat(alice, [bob]);
    const watcher = await connected(sio(B, bob.token));
    const aliceSio = await connected(sio(A, alice.token));
    const aliceRaw = await raw(B, alice.token);
    void chat;
    const status = async () => (await call(A, "GET", `/api/users/${alice.id}/presence`, undefined, bob.token)).body.status;
    assert.equal(await status(), "online");
    // Status over Socket.IO reaches the other side.
    aliceSio.emit("status", { status: "away" });
    await until("bob sees alice away", () => of(watcher, "presence", (p) => p.user_id === alice.id && p.status === "away").length === 1);
    aliceSio.emit("status", { status: "online" });
    await until("bob sees alice back", () => of(watcher, "presence", (p) => p.user_id === alice.id && p.status === "online").length >= 1);
    // One socket left (the raw one): still online.
    aliceSio.close();
    await sleep(500);
    assert.equal(await status(), "online");
    assert.equal(of(watcher, "presence", (p) => p.user_id === alice.id && p.status === "offline").length, 0);
    aliceRaw.close();
    await until("bob sees alice offline", () => of(watcher, "presence", (p) => p.user_id === alice.id && p.status === "offline").length === 1);
    assert.equal(await status(), "offline");
    // And the other way round: the Socket.IO socket is the last one.
    const again = await connected(sio(A, alice.token));
    for (let i = 0; (await status()) !== "online"; i++) {
      if (i > 200) throw new Error("alice never came back online");
      await sleep(20);
    }
    again.close();
    await until("offline after the Socket.IO socket", () => of(watcher, "presence", (p) => p.user_id === alice.id && p.status === "offline").length === 2);
    watcher.close();
  },

  async "a new chat reaches a Socket.IO client as chat.joined"() {
    const alice = await signup();
    const bob = await signup();
    const s = await connected(sio(B, bob.token));
    const chat = await createChat(alice, [bob]);
    const [joined] = await until("chat.joined", () => of(s, "chat.joined").length && of(s, "chat.joined"));
    assert.equal(joined.chat.id, chat);
    await call(A, "POST", `/api/chats/${chat}/messages`, { content: "first" }, alice.token);
    await until("the message in the new chat", () => of(s, "message.created", createdIn(chat)).length === 1);
    s.close();
  },

  async "the sockets-per-user cap counts both kinds"() {
    // The instances run with WEBCHAT_MAX_SOCKETS_PER_USER=4.
    const alice = await signup();
    const held = [await raw(A, alice.token), await raw(B, alice.token), await connected(sio(A, alice.token)), await connected(sio(B, alice.token))];
    // Each instance registers its sockets with presence just after the handshake.
    await sleep(500);
    const extra = sio(A, alice.token);
    const err = await new Promise((resolve, reject) => {
      extra.once("connect_error", resolve);
      extra.once("connect", () => reject(new Error("a fifth socket was admitted")));
    });
    assert.equal(err.message, "too_many_requests");
    const status = await new Promise((resolve) => {
      const ws = new WebSocket(`${A.replace("http", "ws")}/ws?token=${alice.token}`);
      ws.on("unexpected-response", (_, res) => resolve(res.statusCode));
      ws.on("open", () => resolve(101));
      ws.on("error", () => {});
    });
    assert.equal(status, 429);
    for (const s of held) s.close();
  },

  async "bad input gets an error answer, never a disconnect, and harms no other socket"() {
    const alice = await signup();
    const chat = await createChat(alice, []);
    const s = await connected(sio(A, alice.token));
    const other = await connected(sio(A, (await signup()).token));
    const answers = [
      await s.timeout(10000).emitWithAck("dance", { chat_id: chat }),
      await s.timeout(10000).emitWithAck("send", Buffer.from([1, 2, 3])),
      await s.timeout(10000).emitWithAck("send", { chat_id: chat }, "two", "more"),
      await s.timeout(10000).emitWithAck("send", { chat_id: chat, content: 42 }),
      await s.timeout(10000).emitWithAck("send", { chat_id: chat, content: "nul \u0000 inside" }),
      await s.timeout(10000).emitWithAck("join", { chat_id: chat, since_seq: "x" }),
      await s.timeout(10000).emitWithAck("status", { status: "asleep" }),
      await s.timeout(10000).emitWithAck("send", { chat_id: chat, content: "x".repeat(5000) }),
    ];
    const codes = answers.map((a) => a.error);
    assert.deepEqual(codes, ["bad_frame", "bad_frame", "bad_frame", "bad_frame", "validation", "bad_frame", "validation", "validation"], JSON.stringify(answers));
    assert.ok(s.connected, "still connected");
    // Nothing reached the store.
    const history = await call(A, "GET", `/api/chats/${chat}/messages`, undefined, alice.token);
    assert.equal(history.status, 200);
    assert.equal((history.body.messages ?? history.body).length, 0, JSON.stringify(history.body));
    const ok = await s.timeout(10000).emitWithAck("send", { chat_id: chat, content: "fine" });
    assert.equal(ok.message.seq, 1);
    // Past the packet limit (64 KiB per polling request, 1 MiB per WebSocket
    // message) only the offender's connection ends.
    s.emit("send", { chat_id: chat, content: "y".repeat(2 * 1024 * 1024) });
    await until("the oversized socket dropped", () => !s.connected);
    assert.deepEqual(await other.timeout(10000).emitWithAck("ping"), {});
    other.close();
  },

  async "a flood of events is held to the frame budget without harming other sockets"() {
    const alice = await signup();
    const bob = await signup();
    const chat = await createChat(alice, [bob]);
    const flooder = await connected(sio(A, alice.token));
    const bobSio = await connected(sio(A, bob.token));
    const answers = await Promise.all([...Array(120).keys()].map(() => flooder.timeout(15000).emitWithAck("ping")));
    const refused = answers.filter((a) => a.error === "too_many_requests").length;
    assert.ok(refused > 0, "some pings refused");
    assert.ok(answers.length - refused >= 40, `the burst passes (${answers.length - refused})`);
    const ack = await bobSio.timeout(10000).emitWithAck("send", { chat_id: chat, content: "still fine" });
    assert.equal(ack.message.content, "still fine");
    flooder.close();
    bobSio.close();
  },
};

// Run only when named (SIO_SCENARIO), against instances with a small send budget.
const named = {
  async "refused tokens and Engine.IO handshakes are throttled per address"() {
    // WEBCHAT_THROTTLE_DEFAULT=5/60: five handshakes and five refused connects per
    // address a minute.
    // One Engine.IO session (one handshake), seven Socket.IO connects in it.
    const ws = new WebSocket(`${A.replace("http", "ws")}/socket.io/?EIO=4&transport=websocket`);
    sockets.push(ws);
    const packets = [];
    ws.on("message", (d) => packets.push(d.toString()));
    await new Promise((resolve, reject) => {
      ws.once("open", resolve);
      ws.once("error", reject);
    });
    const refusals = [];
    for (let i = 0; i < 7; i++) {
      ws.send(`40${JSON.stringify({ token: "forged" })}`);
      await until("a connect refusal", () => packets.filter((p) => p.startsWith("44")).length === i + 1);
    }
    for (const p of packets.filter((p) => p.startsWith("44"))) refusals.push(JSON.parse(p.slice(2)).message);
    assert.deepEqual(refusals, ["unauthorized", "unauthorized", "unauthorized", "unauthorized", "unauthorized", "too_many_requests", "too_many_requests"]);
    ws.close();
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await fetch(`${A}/socket.io/?EIO=4&transport=polling`)).status);
    }
    // One handshake was the socket's above: four more open, then 429.
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
  },

  async "sends over Socket.IO spend the per-user send throttle"() {
    // WEBCHAT_THROTTLE_STRICT=4/60: four sends per user a minute (register and
    // login count per address).
    const alice = await signup();
    const chat = await createChat(alice, []);
    const s = await connected(sio(A, alice.token));
    const answers = [];
    for (let i = 0; i < 6; i++) {
      answers.push(await s.timeout(10000).emitWithAck("send", { chat_id: chat, content: `m${i}` }));
    }
    const refused = answers.filter((a) => a.error === "too_many_requests");
    assert.equal(refused.length, 2, JSON.stringify(answers));
    assert.equal(answers.filter((a) => a.message && a.message.id).length, 4);
    // REST shares the same budget.
    const r = await call(A, "POST", `/api/chats/${chat}/messages`, { content: "rest" }, alice.token);
    assert.equal(r.status, 429);
    s.close();
  },
};

let failed = 0;
const chosen = ONLY ? { ...scenarios, ...named } : scenarios;
for (const [name, run] of Object.entries(chosen)) {
  if (ONLY && !name.includes(ONLY)) continue;
  const started = Date.now();
  try {
    await Promise.race([run(), sleep(45000).then(() => { throw new Error("scenario timed out"); })]);
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed++;
    console.log(`not ok - ${name}: ${e && e.stack ? e.stack : e}`);
  }
  for (const s of sockets.splice(0)) {
    try { s.close(); } catch {}
  }
}
process.exit(failed ? 1 : 0);
