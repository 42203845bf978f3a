// The WebSocket connection: JSON frames in and out, reconnect with exponential
// backoff (and at once when the browser comes back online), and a heartbeat that
// notices a connection that died without a close.

const PING_EVERY_MS = 20_000;
const SILENCE_LIMIT_MS = 45_000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export class Socket {
  /**
   * `token()` resolves to a fresh access token; `onFrame(frame)` gets each server
   * frame; `onOpen()` runs on every (re)connect; `onDown()` when an open socket is
   * lost; `onRefused()` when a connection attempt fails before opening (maybe the
   * token); `onState({state, retryAt})` follows 'connecting' | 'open' | 'waiting'.
   */
  constructor({ token, onFrame, onOpen, onDown, onRefused, onState }) {
    Object.assign(this, { token, onFrame, onOpen, onDown, onRefused, onState });
    this.ws = null;
    this.generation = 0; // bumped whenever the current attempt is abandoned
    this.attempt = 0;
    this.stopped = true;
    this.retryTimer = null;
    this.pingTimer = null;
    this.lastHeard = 0;
    this.online = () => this.reconnectNow();
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  start() {
    this.stopped = false;
    window.addEventListener('online', this.online);
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.online);
    clearTimeout(this.retryTimer);
    this.drop();
  }

  /** Sends a frame; false when the socket is not open (the caller falls back). */
  send(frame) {
    if (!this.isOpen) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  reconnectNow() {
    if (this.stopped || this.isOpen) return;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.drop();
    this.connect();
  }

  async connect() {
    if (this.stopped) return;
    const generation = ++this.generation;
    this.onState({ state: 'connecting' });
    let token;
    try {
      token = await this.token();
    } catch {
      token = null;
    }
    if (this.stopped || generation !== this.generation) return; // superseded meanwhile
    if (!token) {
      this.scheduleRetry();
      return;
    }
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(token)}`);
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.attempt = 0;
      this.lastHeard = Date.now();
      this.startHeartbeat();
      this.onState({ state: 'open' });
      this.onOpen();
    };
    ws.onmessage = (e) => {
      this.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(e.data);
      } catch {
        return;
      }
      this.onFrame(frame);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopHeartbeat();
      if (opened) this.onDown();
      else this.onRefused();
      this.scheduleRetry();
    };
  }

  /** Forgets the current socket without waiting for its close handshake. */
  drop() {
    this.generation += 1;
    this.stopHeartbeat();
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      const wasOpen = ws.readyState === WebSocket.OPEN;
      try {
        ws.close();
      } catch {
        // already closing
      }
      if (wasOpen && !this.stopped) this.onDown();
    }
  }

  scheduleRetry() {
    if (this.stopped) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt);
    const delay = Math.round(base * (0.5 + Math.random() * 0.5));
    this.attempt += 1;
    this.onState({ state: 'waiting', retryAt: Date.now() + delay });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  startHeartbeat() {
    this.stopHeartbeat();
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > SILENCE_LIMIT_MS) {
        // The connection died without a close (network drop): start over.
        this.drop();
        this.scheduleRetry();
        return;
      }
      this.send({ type: 'ping' });
    }, PING_EVERY_MS);
  }

  stopHeartbeat() {
    clearInterval(this.pingTimer);
    this.pingTimer = null;
  }
}
