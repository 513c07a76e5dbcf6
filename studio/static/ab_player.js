// A/B player: a thin UI over window.SyncPlayer (sync_player.js, loaded once by the component's head):
// both sides play together on one clock and the toggle moves the gain from one to the other with a
// 10 ms ramp, so a switch keeps the position.
// Loudness matching happens here, at once: each side's gain is (target - its loudness), lowered where
// its sample peak would pass CEILING_DBFS; both sides then play at the lower of the two reachable levels.
// Runs as gradio's js_on_load: `element` is the component, `props.value` its value, `watch` observes it.
const CEILING_DBFS = -0.1;
const SIDES = ['A', 'B'];
const sp = new window.SyncPlayer({ fade: 0.01, onTick: () => render(), onEnded: () => render() });
sp.current = 'A';
const player = { target: null, levels: [1, 1] };
const side = () => (sp.current === 'B' ? 1 : 0);
const position = () => sp.position();
const $ = (sel) => element.querySelector(sel);
const value = () => props.value || {};
const fmt = (s) => `${Math.floor(s / 60)}:${(s % 60).toFixed(1).padStart(4, '0')}`;
const status = (text) => { const el = $('.ab-status'); if (el) el.textContent = text; };

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
  sp.setLevels({ A: player.levels[0], B: player.levels[1] });
}

function render() {
  const root = $('.ab'); if (!root) return;
  const v = value();
  const ready = sp.ready;
  root.dataset.side = side(); root.dataset.playing = sp.playing; root.dataset.ready = ready;
  root.dataset.position = position().toFixed(3);
  for (const b of root.querySelectorAll('button, input')) b.disabled = !ready;
  const play = $('.ab-play');
  play.setAttribute('aria-label', sp.playing ? 'Pause' : 'Play');
  $('.ab-play-label').textContent = sp.playing ? 'Pause' : 'Play';
  const toggle = $('.ab-toggle');
  toggle.dataset.side = side();
  $('.ab-side-name').textContent = SIDES[side()];
  $('.ab-side-label').textContent = side() ? (v.label_b || 'restored') : (v.label_a || 'original');
  if (sp.duration && document.activeElement !== $('.ab-seek')) $('.ab-seek').value = Math.round(1000 * position() / sp.duration);
  $('.ab-time').textContent = `${fmt(position())} / ${fmt(sp.duration)}`;
  const lufs = $('.ab-lufs');
  if (document.activeElement !== lufs) lufs.value = player.target;
  $('.ab-lufs-value').textContent = `${Number(player.target).toFixed(1)} LUFS`;
  $('.ab-loop').checked = sp.loop.on;
  for (const [sel, key] of [['.ab-loop-start', 'start'], ['.ab-loop-end', 'end']]) {
    const input = $(sel);
    if (document.activeElement !== input) input.value = sp.loop[key].toFixed(1);
    input.max = sp.duration.toFixed(1);
  }
}
function playPause() { sp.playPause(); render(); }
function toggleSide() {
  if (!sp.ready) return;
  sp.select(SIDES[1 - side()]);
  render();
}
function seek(fraction) { sp.seek(fraction); render(); }
// `changes`: {loop: on/off, loopStart, loopEnd: seconds}.
function setLoop(changes) {
  const names = { loop: 'on', loopStart: 'start', loopEnd: 'end' };
  sp.setLoop(Object.fromEntries(Object.entries(changes).map(([k, v]) => [names[k], v])));
  render();
}
function setTarget(lufs) { player.target = Number(lufs); applyLoudness(); render(); }

async function load() {
  const v = value();
  const urls = [v.a?.url, v.b?.url];
  sp.clear(); sp.current = 'A';
  if (player.target === null) player.target = Number.isFinite(v.target) ? v.target : -20;
  applyLoudness();
  if (!urls[0] || !urls[1]) { status(''); render(); return; }
  status('loading…'); render();
  try {
    if (!(await sp.load([['A', urls[0]], ['B', urls[1]]]))) return;
    if (!(sp.loop.end > 0) || sp.loop.end > sp.duration) sp.loop.end = sp.duration;
    sp.loop.start = Math.min(sp.loop.start, sp.loop.end);
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
  get side() { return side(); }, get levels() { return player.levels.slice(); }, get duration() { return sp.duration; },
  markLoop(which) { if (sp.ready) setLoop(which === 'start' ? { loopStart: position(), loop: true } : { loopEnd: position(), loop: true }); },
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
