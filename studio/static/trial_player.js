// Synchronized multi-stimulus trial player of the listening test (A/B, ABX, MUSHRA).
//
// Runs as the `js_on_load` body of the trial player's gr.HTML: `element`, `props`, `trigger`,
// `server` and `watch` come from gradio. The playback engine is window.SyncPlayer (sync_player.js,
// loaded once by the component's head): every stimulus of a trial is decoded into one AudioContext and
// all of them start together on its clock; only the selected one is audible, so switching (keys 1-9,
// A, B, X, R; Space plays/pauses) keeps the playback position exactly, like webMUSHRA and BeaqleJS.
// A loop region repeats a passage for all stimuli alike. The stimuli are loudness-matched on the server
// and played at unit gain. The player reports how long each stimulus was audible (`server.played`) and
// sends the answer with `trigger('submit', {token, answer})`; the server checks both.

const sp = new window.SyncPlayer({ fade: 0.005, onTick: () => renderTime(), onEnded: () => render(), onSegment: credit });
const st = { view: null, listened: {}, ratings: {}, reports: [], sent: false };
const $ = (sel) => element.querySelector(sel);
const $$ = (sel) => Array.from(element.querySelectorAll(sel));
const fmt = (s) => `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, '0')}`;
const esc = (text) => String(text ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
const note = (text) => { const el = $('.tp-note'); if (el) el.textContent = text; };
const position = () => sp.position();

// ------------------------------------------------------------------ play time accounting

function credit(key, seconds) {
  // Count and report that `key` was audible for `seconds` (the engine's onSegment).
  if (!st.view) return;
  st.listened[key] = (st.listened[key] || 0) + seconds;
  const report = { token: st.view.token, slot: key, seconds, position: position() };
  st.reports.push(Promise.resolve(server.played(report)).catch(() => null));
  render();
}

async function flush() {
  sp.endSegment();
  const pending = st.reports;
  st.reports = [];
  await Promise.all(pending);
}

// ------------------------------------------------------------------ transport

function playPause() {
  if (!ready()) return;
  sp.playPause();
  render();
}

function stop() { if (sp.playing) sp.pause(); sp.offset = sp.loop.on ? sp.loop.start : 0; render(); }

function select(key) {
  if (!ready() || !sp.keys.includes(key)) return;
  // A held key repeats: the sample already sounding stays, and no play report is made per repeat
  // (the server takes a bounded number of reports per trial).
  if (key === sp.current && sp.playing) return;
  sp.select(key);
  if (!sp.playing) playPause();
  render();
}

function seek(fraction) { sp.seek(fraction); render(); }

function setLoop(patch) {
  const loop = { ...sp.loop, ...patch };
  if (loop.end - loop.start < 0.2) loop.end = Math.min(sp.duration, loop.start + 0.2);
  sp.setLoop(loop);
  render();
}

const ready = () => !!(st.view && !st.view.done && sp.ready);

// ------------------------------------------------------------------ answering

function required() { return (st.view?.slots || []).filter((s) => s.key !== 'R').map((s) => s.key); }
function unplayed() { return required().filter((k) => (st.listened[k] || 0) + 0.05 < st.view.min_play_s); }
function unrated() { return (st.view?.slots || []).filter((s) => s.rated && st.ratings[s.key] == null).map((s) => s.label); }

async function submit(answer) {
  if (!ready() || st.sent) return;
  await flush();
  const missing = unplayed();
  if (missing.length) { note(`Play every sample before answering (not yet: ${missing.join(', ')}).`); return; }
  if (st.view.protocol === 'mushra') {
    const left = unrated();
    if (left.length) { note(`Rate every sample first (not yet: ${left.join(', ')}).`); return; }
    if (st.view.needs_100 && !Object.values(st.ratings).some((v) => v >= 100)) {
      note('Rate at least one sample 100: one of them is the reference itself.'); return;
    }
    answer = { ...st.ratings };
  }
  if (sp.playing) sp.pause();
  st.sent = true;
  render();
  note('sending…');
  trigger('submit', { token: st.view.token, answer });
  const token = st.view.token;
  setTimeout(() => { if (st.view && st.view.token === token) { st.sent = false; note(''); render(); } }, 4000);
}

// ------------------------------------------------------------------ rendering

function build() {
  const root = $('.tp');
  if (!root) return;
  const v = st.view;
  if (!v) { root.innerHTML = '<div class="tp-head">Choose a test, enter your name and press Start.</div>'; return; }
  if (v.done) { root.innerHTML = `<div class="tp-head tp-done">${esc(v.message)}</div>`; return; }
  const slotButton = (s) => `<button type="button" class="tp-slot" data-key="${esc(s.key)}" title="key ${esc(s.key === 'R' ? 'R' : s.key)}">`
    + `<span class="tp-slot-label">${esc(s.label)}</span><span class="tp-played"></span></button>`;
  const rated = v.slots.filter((s) => s.rated);
  const other = v.slots.filter((s) => !s.rated || v.protocol !== 'mushra');
  let answer = '';
  if (v.protocol === 'ab') {
    answer = '<button type="button" class="tp-answer" data-answer="A">A is better</button>'
      + '<button type="button" class="tp-answer" data-answer="none">No preference</button>'
      + '<button type="button" class="tp-answer" data-answer="B">B is better</button>';
  } else if (v.protocol === 'abx') {
    answer = '<button type="button" class="tp-answer" data-answer="A">X is A</button>'
      + '<button type="button" class="tp-answer" data-answer="B">X is B</button>';
  } else {
    answer = '<div class="tp-rows">' + rated.map((s) => `<div class="tp-row" data-key="${esc(s.key)}">${slotButton(s)}`
      + `<input type="range" class="tp-rate unset" min="0" max="100" step="1" value="0" data-key="${esc(s.key)}" aria-label="rating of ${esc(s.label)}">`
      + `<span class="tp-value">–</span></div>`).join('') + '</div>'
      + '<button type="button" class="tp-answer tp-submit" data-answer="ratings">Submit ratings</button>';
  }
  root.innerHTML = `<div class="tp-head">${esc(v.message)}</div>`
    + `<div class="tp-slots">${other.map(slotButton).join('')}</div>`
    + '<div class="tp-transport">'
    + '<button type="button" class="tp-play">▶ Play</button><button type="button" class="tp-stop">■ Stop</button>'
    + '<input type="range" class="tp-seek" min="0" max="1000" value="0" aria-label="position">'
    + '<span class="tp-time">0:00 / 0:00</span></div>'
    + '<div class="tp-loop"><label><input type="checkbox" class="tp-loop-on"> Loop</label>'
    + '<input type="range" class="tp-loop-start" min="0" max="1000" value="0" aria-label="loop start">'
    + '<input type="range" class="tp-loop-end" min="0" max="1000" value="1000" aria-label="loop end">'
    + '<span class="tp-loop-time"></span></div>'
    + `<div class="tp-answers tp-${esc(v.protocol)}">${answer}</div>`
    + '<div class="tp-note"></div>'
    + '<div class="tp-help">Keys: 1–9 / A B X R select a sample (playback keeps its position), Space plays or pauses. '
    + 'All samples play at the same loudness.</div>';
  render();
}

function renderTime() {
  const root = $('.tp'); if (!root || !sp.duration) return;
  const p = position();
  root.dataset.position = p.toFixed(3);
  const seek = $('.tp-seek'); if (seek && document.activeElement !== seek) seek.value = Math.round(1000 * p / sp.duration);
  const time = $('.tp-time'); if (time) time.textContent = `${fmt(p)} / ${fmt(sp.duration)}`;
}

function render() {
  const root = $('.tp'); if (!root || !st.view || st.view.done) return;
  const ok = ready();
  root.dataset.ready = ok; root.dataset.playing = sp.playing; root.dataset.current = sp.current ?? '';
  for (const el of $$('button, input')) el.disabled = !ok || st.sent;
  const play = $('.tp-play'); if (play) play.textContent = sp.playing ? '⏸ Pause' : '▶ Play';
  for (const b of $$('.tp-slot')) {
    const key = b.dataset.key;
    const heard = st.listened[key] || 0;
    b.classList.toggle('tp-active', key === sp.current);
    b.classList.toggle('tp-heard', key === 'R' || heard + 0.05 >= st.view.min_play_s);
    b.querySelector('.tp-played').textContent = heard ? ` ${heard.toFixed(1)} s` : '';
  }
  for (const input of $$('.tp-rate')) {
    const value = st.ratings[input.dataset.key];
    input.classList.toggle('unset', value == null);
    input.nextElementSibling.textContent = value == null ? '–' : String(value);
  }
  const loop = $('.tp-loop-time');
  if (loop) loop.textContent = sp.loop.on ? `${sp.loop.start.toFixed(1)}–${sp.loop.end.toFixed(1)} s` : '';
  renderTime();
}

// ------------------------------------------------------------------ loading a trial

async function load() {
  const view = props.value && typeof props.value === 'object' ? props.value : null;
  if (sp.playing) sp.pause();
  const same = view && st.view && view.token && view.token === st.view.token;
  if (same) { build(); return; }
  st.view = view; st.listened = {}; st.ratings = {}; st.reports = []; st.sent = false;
  sp.clear(); sp.current = null; sp.loop = { on: false, start: 0, end: 0 };
  build();
  if (!view || view.done) return;
  note('loading…');
  try {
    if (!(await sp.load(view.slots.map((s) => [s.key, s.file.url])))) return;
    sp.loop.end = sp.duration;
    sp.current = sp.keys[0];
    note('');
  } catch (e) {
    note(`cannot load the audio: ${e.message}; press Start again`);
  }
  render();
}

// ------------------------------------------------------------------ events

element.addEventListener('click', (e) => {
  const slot = e.target.closest('.tp-slot');
  if (slot) { select(slot.dataset.key); return; }
  if (e.target.closest('.tp-play')) { playPause(); return; }
  if (e.target.closest('.tp-stop')) { stop(); return; }
  const answer = e.target.closest('.tp-answer');
  if (answer) submit(answer.dataset.answer);
});
element.addEventListener('input', (e) => {
  const t = e.target;
  if (t.classList.contains('tp-seek')) seek(t.value / 1000);
  else if (t.classList.contains('tp-rate')) { st.ratings[t.dataset.key] = Number(t.value); render(); }
  else if (t.classList.contains('tp-loop-start')) setLoop({ start: (t.value / 1000) * sp.duration });
  else if (t.classList.contains('tp-loop-end')) setLoop({ end: (t.value / 1000) * sp.duration });
});
element.addEventListener('pointerup', (e) => {  // a click on 0 of an unset slider (no input event) rates 0
  const t = e.target;
  if (t.classList && t.classList.contains('tp-rate') && !t.disabled) { st.ratings[t.dataset.key] = Number(t.value); render(); }
});
element.addEventListener('change', (e) => {
  if (e.target.classList.contains('tp-loop-on')) setLoop({ on: e.target.checked });
});

// Several players may share a page (the listening test's and the arena's): each registers under its
// component's elem_id in window.restorationTrials; window.restorationTrial is the listening test's
// (or the first one); keys go to the visible player that is ready.
const api = {
  select, playPause, stop, seek, setLoop, submit, flush, position,
  get current() { return sp.current; }, get playing() { return sp.playing; },
  get listened() { return { ...st.listened }; }, get ready() { return ready(); },
  get clock() { return sp.ctx ? sp.ctx.currentTime : 0; }, get view() { return st.view; },
  get visible() { return element.offsetParent !== null; },
};
const host = element.closest('.block[id]');  // the component's container carries its elem_id
window.restorationTrials = window.restorationTrials || {};
window.restorationTrials[host ? host.id : 'trial-player'] = api;
if (!window.restorationTrial || !host || host.id === 'trial-player') window.restorationTrial = api;
if (!window.restorationTrialKeys) {
  window.restorationTrialKeys = true;
  document.addEventListener('keydown', (e) => {
    const player = Object.values(window.restorationTrials).find((p) => p.visible && p.ready);
    const t = e.target;
    const typing = t && (t.isContentEditable || ['TEXTAREA', 'SELECT'].includes(t.tagName)
      || (t.tagName === 'INPUT' && t.type !== 'range' && t.type !== 'checkbox'));
    if (!player || !player.ready || typing || e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key.length === 1 ? e.key.toUpperCase() : e.key;
    if (key === ' ') { e.preventDefault(); player.playPause(); return; }
    const slots = (player.view?.slots || []).map((s) => s.key);
    if (slots.includes(key)) { e.preventDefault(); player.select(key); }
  });
}
watch('value', load);
load();
