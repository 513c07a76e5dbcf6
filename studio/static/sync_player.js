// Synchronized playback engine shared by the Studio tab's A/B player (ab_player.js) and the listening
// test's trial player (trial_player.js); both are thin UIs over it.
//
// Every stimulus is decoded into an AudioBuffer of one AudioContext; all of them start together on its
// clock, each through its own gain node, and only the current one is audible (its level, the others 0).
// Switching ramps the gains (`fade` seconds), so the position is kept exactly, like webMUSHRA and
// BeaqleJS. A loop region repeats a passage for all stimuli alike; `position()` is the clock in seconds.
// Loaded once per page as a classic script through gr.HTML(head=...) (see studio/sync_player.py), so it
// only defines `window.SyncPlayer`.
window.SyncPlayer = class SyncPlayer {
  // fade: gain ramp of a switch, s. onTick: called every animation frame while playing. onEnded: after
  // playback reached the end. onSegment(key, seconds): `key` was audible for `seconds` (see endSegment).
  constructor({ fade = 0.01, onTick = null, onEnded = null, onSegment = null } = {}) {
    Object.assign(this, { fade, onTick, onEnded, onSegment });
    this.ctx = null; this.keys = []; this.buffers = {}; this.levels = {}; this.gains = {}; this.sources = [];
    this.current = null; this.playing = false; this.offset = 0; this.startedAt = 0; this.segStart = 0;
    this.duration = 0; this.loop = { on: false, start: 0, end: 0 }; this.token = 0;
  }

  get ready() { return this.keys.length > 0 && this.keys.every((k) => this.buffers[k]); }

  // Stop, forget the stimuli and cancel a load in flight.
  clear() {
    if (this.playing) this.pause();
    this.stopSources();
    this.token += 1; this.keys = []; this.buffers = {}; this.duration = 0; this.offset = 0;
  }

  // Fetch and decode `entries` ([[key, url], ...]); the duration is the shortest one's. Resolves true when
  // loaded, false when a later load() or clear() superseded it; rejects with the HTTP or decoding error.
  // A URL of the previous load is not fetched again: its decoded buffer is reused (gradio's file URLs
  // name their content, e.g. the same original restored with another method).
  async load(entries) {
    const previous = this.decodedUrls || {};
    this.clear();
    const token = this.token;
    this.ctx = this.ctx || new AudioContext();
    const decoded = await Promise.all(entries.map(async ([key, url]) => {
      if (previous[url]) return [key, previous[url]];
      const response = await fetch(url);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return [key, await this.ctx.decodeAudioData(await response.arrayBuffer())];
    }));
    if (token !== this.token) return false;
    this.decodedUrls = Object.fromEntries(entries.map(([, url], i) => [url, decoded[i][1]]));
    this.buffers = Object.fromEntries(decoded);
    this.keys = decoded.map(([key]) => key);
    this.duration = Math.min(...decoded.map(([, buffer]) => buffer.duration));
    return true;
  }

  // The loop region [start, end) in seconds (the whole clip where its end is not after its start).
  loopBounds() {
    const { start, end } = this.loop;
    const stop = end > start ? Math.min(end, this.duration) : this.duration;
    return [Math.min(start, stop), stop];
  }

  position() {
    if (!this.playing) return this.offset;
    let t = this.offset + this.ctx.currentTime - this.startedAt;
    const [a, b] = this.loopBounds();
    if (this.loop.on && b > a && t >= b) t = a + ((t - a) % (b - a));
    return Math.max(0, Math.min(this.duration, t));
  }

  gainOf(key) { return key === this.current ? (this.levels[key] ?? 1) : 0; }

  // Start every stimulus at `at` seconds (the loop start where `at` is outside an active loop).
  start(at) {
    const ctx = this.ctx;
    const when = ctx.currentTime + 0.05;
    const [a, b] = this.loopBounds();
    const looping = this.loop.on && b > a;
    if (looping && (at < a || at >= b)) at = a;
    this.gains = {};
    for (const key of this.keys) {
      const gain = ctx.createGain();
      gain.gain.value = this.gainOf(key);
      gain.connect(ctx.destination);
      const src = ctx.createBufferSource();
      src.buffer = this.buffers[key];
      if (looping) { src.loop = true; src.loopStart = a; src.loopEnd = b; }
      src.connect(gain);
      src.start(when, at);
      this.sources.push(src);
      this.gains[key] = gain;
    }
    this.sources[0].onended = () => {
      this.endSegment(); this.stopSources(); this.playing = false; this.offset = 0;
      if (this.onEnded) this.onEnded();
    };
    this.startedAt = when; this.segStart = when; this.offset = at; this.playing = true;
    const tick = () => { if (this.playing) { if (this.onTick) this.onTick(); requestAnimationFrame(tick); } };
    requestAnimationFrame(tick);
  }

  stopSources() {
    for (const s of this.sources) { s.onended = null; try { s.stop(); } catch (e) { /* not started */ } }
    this.sources = [];
  }

  pause() { this.endSegment(); this.offset = this.position(); this.stopSources(); this.playing = false; }

  // Play from the current position (from the start once at the end), or pause.
  playPause() {
    if (!this.ready) return;
    this.ctx.resume();
    if (this.playing) this.pause();
    else this.start(this.offset >= this.duration - 0.01 ? 0 : this.offset);
  }

  // Hand the time the current stimulus was audible since the last call to onSegment.
  endSegment() {
    if (!this.playing || this.current === null) return;
    const now = this.ctx.currentTime;
    const seconds = now - this.segStart;
    this.segStart = now;
    if (seconds > 0.01 && this.onSegment) this.onSegment(this.current, seconds);
  }

  // Make `key` the audible stimulus, at the same position.
  select(key) {
    if (this.playing) this.endSegment();
    this.current = key;
    this.rampGains();
  }

  // Levels (linear gain) of the stimuli by key; a key left out plays at 1.
  setLevels(levels) { this.levels = { ...levels }; this.rampGains(); }

  rampGains() {
    if (!this.playing) return;
    const t = this.ctx.currentTime;
    for (const [key, g] of Object.entries(this.gains)) {
      g.gain.cancelScheduledValues(t);
      g.gain.setValueAtTime(g.gain.value, t);
      g.gain.linearRampToValueAtTime(this.gainOf(key), t + this.fade);
    }
  }

  seek(fraction) {
    const was = this.playing;
    if (was) this.pause();
    this.offset = fraction * this.duration;
    if (was) this.start(this.offset);
  }

  // Change the loop ({on, start, end}, seconds, kept within the clip); playback goes on at its position.
  setLoop(patch) {
    const was = this.playing;
    const at = this.position();
    if (was) this.pause();
    Object.assign(this.loop, patch);
    this.loop.start = Math.max(0, Math.min(this.loop.start, this.duration));
    this.loop.end = Math.max(0, Math.min(this.loop.end, this.duration));
    if (was) this.start(at);
  }
};
