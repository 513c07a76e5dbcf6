// A/B player: both sides are decoded into Web Audio buffers and started together on one clock; the
// toggle moves the gain from one to the other with a 10 ms ramp, so a switch keeps the position.
// Loudness matching happens here, at once: each side's gain is (target - its loudness), lowered where
// its sample peak would pass CEILING_DBFS; both sides then play at the lower of the two reachable levels.
// Runs as gradio's js_on_load: `element` is the component, `props.value` its value, `watch` observes it.
const CEILING_DBFS = -0.1;
const player = { ctx: null, bufs: null, gains: [], srcs: [], side: 0, playing: false, offset: 0, startedAt: 0,
                 duration: 0, token: 0, target: null, loop: false, loopStart: 0, loopEnd: 0, levels: [1, 1] };
const $ = (sel) => element.querySelector(sel);
const value = () => props.value || {};
const fmt = (s) => `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;
const status = (text) => { const el = $('.ab-status'); if (el) el.textContent = text; };

function loopBounds() {
  const end = player.loopEnd > player.loopStart ? Math.min(player.loopEnd, player.duration) : player.duration;
  return [Math.min(player.loopStart, end), end];
}
function position() {
  if (!player.playing) return player.offset;
  let pos = player.offset + player.ctx.currentTime - player.startedAt;
  const [a, b] = loopBounds();
  if (player.loop && b > a && pos >= b) pos = a + ((pos - a) % (b - a));
  return Math.max(0, Math.min(player.duration, pos));
}

// Gains of both sides in dB for the target loudness, the level both reach, and which side limits it.
function matchLevels(target) {
  const v = value();
  const lufs = [v.lufs_a, v.lufs_b], peaks = [v.peak_a, v.peak_b];
  if (!lufs.every(Number.isFinite)) return { gains: [0, 0], level: null, limitedBy: -1 };
  const reachable = lufs.map((l, i) => l + Math.min(target - l, CEILING_DBFS - peaks[i]));
  const level = Math.min(...reachable);
  const limitedBy = level < target - 0.05 ? reachable.indexOf(level) : -1;
  return { gains: lufs.map((l) => level - l), level, limitedBy };
}
function applyLoudness() {
  const v = value();
  const { gains, level, limitedBy } = matchLevels(player.target);
  player.levels = gains.map((g) => Math.pow(10, g / 20));
  const el = $('.ab-level');
  if (el) {
    const names = [v.label_a || 'A', v.label_b || 'B'];
    el.dataset.limited = String(limitedBy >= 0);
    el.dataset.level = level === null ? '' : level.toFixed(1);
    el.textContent = level === null ? '' : (`Both sides at ${level.toFixed(1)} LUFS (A ${gains[0] >= 0 ? '+' : ''}${gains[0].toFixed(1)} dB, `
      + `B ${gains[1] >= 0 ? '+' : ''}${gains[1].toFixed(1)} dB)`
      + (limitedBy >= 0 ? `: quieter than the ${player.target.toFixed(1)} LUFS asked for, because ${names[limitedBy]}'s peak `
        + `(${[v.peak_a, v.peak_b][limitedBy].toFixed(1)} dBFS) may not pass ${CEILING_DBFS} dBFS.` : '.'));
  }
  if (player.playing) {
    const t = player.ctx.currentTime;
    player.gains.forEach((g, i) => { g.gain.setValueAtTime(g.gain.value, t); g.gain.linearRampToValueAtTime(i === player.side ? player.levels[i] : 0, t + 0.01); });
  }
}

function render() {
  const root = $('.ab'); if (!root) return;
  const v = value();
  const ready = !!player.bufs;
  root.dataset.side = player.side; root.dataset.playing = player.playing; root.dataset.ready = ready;
  root.dataset.position = position().toFixed(3);
  for (const b of root.querySelectorAll('button, input')) b.disabled = !ready;
  const play = $('.ab-play');
  play.setAttribute('aria-label', player.playing ? 'Pause' : 'Play');
  $('.ab-play-label').textContent = player.playing ? 'Pause' : 'Play';
  const toggle = $('.ab-toggle');
  toggle.dataset.side = player.side;
  $('.ab-side-name').textContent = player.side ? 'B' : 'A';
  $('.ab-side-label').textContent = player.side ? (v.label_b || 'restored') : (v.label_a || 'original');
  if (player.duration && document.activeElement !== $('.ab-seek')) $('.ab-seek').value = Math.round(1000 * position() / player.duration);
  $('.ab-time').textContent = `${fmt(position())} / ${fmt(player.duration)}`;
  const lufs = $('.ab-lufs');
  if (document.activeElement !== lufs) lufs.value = player.target;
  $('.ab-lufs-value').textContent = `${Number(player.target).toFixed(1)} LUFS`;
  $('.ab-loop').checked = player.loop;
  for (const [sel, key] of [['.ab-loop-start', 'loopStart'], ['.ab-loop-end', 'loopEnd']]) {
    const input = $(sel);
    if (document.activeElement !== input) input.value = player[key].toFixed(1);
    input.max = player.duration.toFixed(1);
  }
}
function stopSources() {
  for (const s of player.srcs) { s.onended = null; try { s.stop(); } catch (e) {} }
  player.srcs = [];
}
function start(at) {
  const ctx = player.ctx;
  const when = ctx.currentTime + 0.05;
  const [a, b] = loopBounds();
  if (player.loop && (at < a || at >= b)) at = a;
  player.gains = player.bufs.map((buf, i) => {
    const gain = ctx.createGain();
    gain.gain.value = i === player.side ? player.levels[i] : 0;
    gain.connect(ctx.destination);
    const src = ctx.createBufferSource();
    src.buffer = buf;
    if (player.loop && b > a) { src.loop = true; src.loopStart = a; src.loopEnd = b; }
    src.connect(gain); src.start(when, at);
    player.srcs.push(src);
    return gain;
  });
  player.srcs[0].onended = () => { stopSources(); player.playing = false; player.offset = 0; render(); };
  player.startedAt = when; player.offset = at; player.playing = true;
  const tick = () => { if (player.playing) { render(); requestAnimationFrame(tick); } };
  requestAnimationFrame(tick);
}
function pause() { player.offset = position(); stopSources(); player.playing = false; }
function restart() { if (player.playing) { const at = position(); pause(); start(at); } }
function playPause() {
  if (!player.bufs) return;
  player.ctx.resume();
  if (player.playing) pause(); else start(player.offset >= player.duration - 0.01 ? 0 : player.offset);
  render();
}
function toggleSide() {
  if (!player.bufs) return;
  player.side = 1 - player.side;
  if (player.playing) {
    const t = player.ctx.currentTime;
    player.gains.forEach((g, i) => { g.gain.setValueAtTime(g.gain.value, t); g.gain.linearRampToValueAtTime(i === player.side ? player.levels[i] : 0, t + 0.01); });
  }
  render();
}
function seek(fraction) {
  const was = player.playing;
  if (was) pause();
  player.offset = fraction * player.duration;
  if (was) start(player.offset);
  render();
}
function setLoop(changes) {
  Object.assign(player, changes);
  player.loopStart = Math.max(0, Math.min(player.loopStart, player.duration));
  player.loopEnd = Math.max(0, Math.min(player.loopEnd, player.duration));
  restart(); render();
}
function setTarget(lufs) { player.target = Number(lufs); applyLoudness(); render(); }

async function load() {
  const v = value();
  const urls = [v.a?.url, v.b?.url];
  if (player.playing) pause();
  player.bufs = null; player.duration = 0; player.offset = 0; player.side = 0;
  if (player.target === null) player.target = Number.isFinite(v.target) ? v.target : -20;
  const token = ++player.token;
  applyLoudness();
  if (!urls[0] || !urls[1]) { status(''); render(); return; }
  status('loading…'); render();
  try {
    player.ctx = player.ctx || new AudioContext();
    const bufs = await Promise.all(urls.map(async (u) => {
      const response = await fetch(u);
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return player.ctx.decodeAudioData(await response.arrayBuffer());
    }));
    if (token !== player.token) return;
    player.bufs = bufs;
    player.duration = Math.min(bufs[0].duration, bufs[1].duration);
    if (!(player.loopEnd > 0) || player.loopEnd > player.duration) player.loopEnd = player.duration;
    player.loopStart = Math.min(player.loopStart, player.loopEnd);
    status('ready');
  } catch (e) {
    status(`cannot load the audio: ${e.message}`);
  }
  render();
}

element.addEventListener('click', (e) => {
  if (e.target.closest('.ab-play')) playPause();
  else if (e.target.closest('.ab-toggle')) toggleSide();
});
element.addEventListener('input', (e) => {
  if (e.target.closest('.ab-seek')) seek(e.target.value / 1000);
  else if (e.target.closest('.ab-lufs')) setTarget(e.target.value);
});
element.addEventListener('change', (e) => {
  if (e.target.closest('.ab-loop')) setLoop({ loop: e.target.checked });
  else if (e.target.closest('.ab-loop-start')) setLoop({ loopStart: Number(e.target.value) || 0 });
  else if (e.target.closest('.ab-loop-end')) setLoop({ loopEnd: Number(e.target.value) || 0 });
});
window.restorationAB = {
  toggle: toggleSide, playPause, position, setTarget, setLoop,
  get side() { return player.side; }, get levels() { return player.levels.slice(); }, get duration() { return player.duration; },
  markLoop(which) { if (player.bufs) setLoop(which === 'start' ? { loopStart: position(), loop: true } : { loopEnd: position(), loop: true }); },
};
if (!window.restorationABKey) {
  window.restorationABKey = true;
  document.addEventListener('keydown', (e) => {
    // Keys work anywhere on the page except while typing, and except on the player's own buttons (whose
    // Space is their click). A Space on another button (say Restore, just clicked) plays instead of clicking again.
    const t = e.target;
    const tag = t && t.tagName;
    const typing = t && (t.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(tag))
      && !(t.classList && (t.classList.contains('ab-seek') || t.classList.contains('ab-lufs')));
    const ownButton = tag === 'BUTTON' && t.closest('.ab');
    if (typing || ownButton || e.ctrlKey || e.metaKey || e.altKey) return;
    const ab = window.restorationAB;
    if (e.key === 'x' || e.key === 'X') { e.preventDefault(); ab.toggle(); }
    else if (e.key === ' ') { e.preventDefault(); ab.playPause(); }
    else if (e.key === '[') { e.preventDefault(); ab.markLoop('start'); }
    else if (e.key === ']') { e.preventDefault(); ab.markLoop('end'); }
  });
}
watch('value', load);
load();
