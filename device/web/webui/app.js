// Hearth's page: calls with this browser's camera and microphone. The
// daemon relays the signaling; the media goes between this browser and
// the other device directly.
'use strict';

// The token comes in the link's fragment (never sent to a server); keep it
// for this tab and take it out of the address bar.
const params = new URLSearchParams(location.hash.slice(1));
if (params.get('token')) {
  sessionStorage.setItem('hearth-token', params.get('token'));
  history.replaceState(null, '', location.pathname);
}
const token = sessionStorage.getItem('hearth-token');
let session = '';
const media = {}; // call id -> {pc, stream, timer, queue}
let lastCalls = [];
// Calls this page asked a doorphone for (its live view): answered by
// themselves, muted.
const viewCalls = new Set();
const viewsAnswered = new Set();

const $ = (id) => document.getElementById(id);

function showError(msg) { $('error').textContent = msg || ''; }

async function api(method, path, body, extra) {
  const r = await fetch(path, {
    method,
    headers: Object.assign({ 'Authorization': 'Bearer ' + token, 'X-Hearth-Session': session, 'Content-Type': 'application/json' }, extra || {}),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (r.status === 401 && lan && token) loggedOut();
  if (!r.ok) throw new Error(await errorOf(r));
  return r.json();
}

// icon is a small line drawing (inline SVG: no emoji font needed) to put
// beside a text label.
const iconPaths = {
  clip: 'M10.5 4.5v6.5a2.5 2.5 0 0 1-5 0V3.5a1.75 1.75 0 0 1 3.5 0V10',
  phone: 'M3 1.5h2.5l1.3 3.5-1.7 1.1a8.5 8.5 0 0 0 4.8 4.8l1.1-1.7 3.5 1.3V13a1.5 1.5 0 0 1-1.5 1.5A12.5 12.5 0 0 1 1.5 3 1.5 1.5 0 0 1 3 1.5z',
  door: 'M3.5 14.5v-13h9v13M1.5 14.5h13M10 8.5v.5',
  thumb: 'M4.5 7v7.5h-3V7zm0 0 2.8-5a1.4 1.4 0 0 1 2.2 1.2V6H13a1.5 1.5 0 0 1 1.5 1.8l-1 5.2a1.8 1.8 0 0 1-1.8 1.5H4.5',
};
function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 16 16');
  svg.setAttribute('class', 'icon');
  svg.setAttribute('aria-hidden', 'true');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', iconPaths[name]);
  svg.append(path);
  return svg;
}

// errorOf reads an error answer of the daemon ({"error": "..."}, or
// text) as a sentence for people: never raw JSON.
async function errorOf(r) {
  return errorText(await r.text(), r.statusText);
}

function errorText(text, fallback) {
  let msg = (text || '').trim();
  try {
    const j = JSON.parse(msg);
    msg = j && typeof j.error === 'string' ? j.error : '';
  } catch (e) { /* plain text */ }
  msg = msg || fallback || 'something went wrong';
  msg = msg.charAt(0).toUpperCase() + msg.slice(1);
  return /[.!?)]$/.test(msg) ? msg : msg + '.';
}

// On the LAN (HTTPS) the token comes from a login, and goes on a 401.
const lan = location.protocol === 'https:';
function loggedOut() {
  sessionStorage.removeItem('hearth-token');
  location.reload();
}

async function events() {
  for (;;) {
    try {
      const r = await fetch('/api/events', { headers: { 'Authorization': 'Bearer ' + token } });
      if (r.status === 401 && lan && token) loggedOut();
      if (!r.ok) throw new Error(await errorOf(r));
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line) onEvent(JSON.parse(line));
        }
      }
    } catch (e) {
      showError('lost the daemon: ' + e.message);
    }
    session = '';
    await new Promise((res) => setTimeout(res, 1000));
  }
}

// Signals of one call are handled in order.
let chain = Promise.resolve();
function onEvent(e) {
  switch (e.type) {
    case 'session':
      session = e.session;
      showError('');
      loadRooms();
      break;
    case 'calls':
      renderCalls(e.calls || []);
      break;
    case 'room':
      onRoomChanged(e.room);
      break;
    case 'signal':
      chain = chain.then(() => onSignal(e)).catch((err) => {
        showError('call: ' + err.message);
        signal(e.call, { kind: 'failed', error: err.message });
      });
      break;
  }
}

function signal(id, s) {
  return api('POST', '/api/calls/' + id + '/signal', s).catch((err) => showError(err.message));
}

async function newPC(id, e) {
  const pc = new RTCPeerConnection({ iceServers: e.ice || [] });
  const video = (e.send || '').includes('video');
  const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video });
  $('local').srcObject = stream;
  $('local').hidden = !video; // nothing to show of an audio-only answer
  if (viewCalls.has(id)) {
    // A live view starts muted: unmute to talk to the door.
    for (const t of stream.getAudioTracks()) t.enabled = false;
    $('mute').textContent = 'Unmute';
    $('mute').classList.add('active');
  }
  for (const t of stream.getTracks()) pc.addTrack(t, stream);
  if (!video) pc.addTransceiver('video', { direction: 'recvonly' });
  // One tile per call: a group call shows every other participant.
  pc.ontrack = (ev) => {
    let v = document.getElementById('remote-' + id);
    if (!v) {
      v = document.createElement('video');
      v.id = 'remote-' + id;
      v.autoplay = true;
      v.playsInline = true;
      v.srcObject = new MediaStream();
      $('tiles').appendChild(v);
    }
    v.srcObject.addTrack(ev.track);
  };
  pc.onicecandidate = (ev) => signal(id, {
    kind: 'candidate',
    cand: ev.candidate ? { candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid || '', sdpMLineIndex: ev.candidate.sdpMLineIndex || 0 } : null,
  });
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === 'connected') signal(id, { kind: 'connected' });
    if (pc.connectionState === 'failed') signal(id, { kind: 'failed', error: 'no path between this browser and the other device' });
  };
  media[id] = { pc, stream, timer: setInterval(() => reportStats(id), 1000) };
  return pc;
}

async function onSignal(e) {
  const m = media[e.call];
  switch (e.kind) {
    case 'make-offer': {
      const pc = await newPC(e.call, e);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      await signal(e.call, { kind: 'offer', sdp: offer.sdp });
      break;
    }
    case 'take-offer': {
      const pc = await newPC(e.call, e);
      await pc.setRemoteDescription({ type: 'offer', sdp: e.sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      await signal(e.call, { kind: 'answer', sdp: answer.sdp });
      break;
    }
    case 'take-answer':
      if (m) await m.pc.setRemoteDescription({ type: 'answer', sdp: e.sdp });
      break;
    case 'candidate':
      if (m) await m.pc.addIceCandidate(e.cand);
      break;
    case 'close':
      closeMedia(e.call);
      break;
  }
}

function closeMedia(id) {
  const m = media[id];
  if (!m) return;
  clearInterval(m.timer);
  m.pc.close();
  for (const t of m.stream.getTracks()) t.stop();
  delete media[id];
  const v = document.getElementById('remote-' + id);
  if (v) v.remove();
  if (!Object.keys(media).length) $('local').srcObject = null;
}

// What this browser receives, for the page, the daemon and tests.
async function reportStats(id) {
  const m = media[id];
  if (!m) return;
  const s = { video_frames: 0, audio_packets: 0, bytes_in: 0, path: '' };
  const report = await m.pc.getStats();
  report.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') { s.video_frames += r.framesDecoded || 0; s.bytes_in += r.bytesReceived || 0; }
    if (r.type === 'inbound-rtp' && r.kind === 'audio') { s.audio_packets += r.packetsReceived || 0; s.bytes_in += r.bytesReceived || 0; }
    if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') {
      const l = report.get(r.localCandidateId), rc = report.get(r.remoteCandidateId);
      if (l && rc) s.path = l.candidateType + '/' + rc.candidateType;
    }
  });
  window.hearthStats = s;
  window.hearthCallStats = window.hearthCallStats || {};
  window.hearthCallStats[id] = s;
  const all = Object.keys(window.hearthCallStats).filter((k) => k in media).map((k) => window.hearthCallStats[k]);
  const sum = (k) => all.reduce((n, x) => n + x[k], 0);
  $('stats').textContent = `${sum('video_frames')} video frames decoded, ${sum('audio_packets')} audio packets, ${Math.round(sum('bytes_in') / 1024)} KiB in` + (all.length === 1 && s.path ? `, path ${s.path}` : (all.length > 1 ? `, ${all.length} streams` : ''));
  signal(id, { kind: 'stats', stats: s });
}

function who(c) {
  if (!c.peer) return '';
  return c.peer.name || c.peer.identity.slice(0, 8);
}

// doorCard shows, for a call from a room's doorphone, the picture of the
// ring (the door posts it into the room with the call's id) and an Unlock
// button, so the person rung sees who is there before answering.
const roomDoors = {}; // room -> Set of its doorphones' devices
let doorCardFor = '';
async function doorCard(live) {
  const img = $('call-snapshot'), unlock = $('call-unlock');
  if (!live || live.direction !== 'incoming' || !live.peer) {
    img.hidden = unlock.hidden = true;
    doorCardFor = '';
    return;
  }
  if (doorCardFor === live.id) return;
  doorCardFor = live.id;
  img.hidden = unlock.hidden = true;
  if (!roomDoors[live.room]) {
    try {
      const d = await api('GET', '/api/v1/rooms/' + live.room + '/doors');
      roomDoors[live.room] = new Set(d.doors.filter((x) => x.counts).map((x) => x.device));
    } catch (e) { roomDoors[live.room] = new Set(); }
  }
  if (!roomDoors[live.room].has(live.peer.device) || doorCardFor !== live.id) return;
  unlock.hidden = false;
  unlock.onclick = () => openDoor(live.room, live.peer.device);
  for (let i = 0; i < 40 && doorCardFor === live.id; i++) {
    try {
      // The ring's entry is among the newest: one page, not the history.
      const h = await api('GET', '/api/v1/rooms/' + live.room + '/messages?limit=50');
      const m = h.messages.find((x) => x.door && x.door.call === live.id && x.file && x.file.show === 'image');
      if (m) {
        const url = await fetchBlob(live.room, m);
        if (doorCardFor === live.id) { img.src = url; img.hidden = false; }
        return;
      }
    } catch (e) { /* the picture comes when it comes */ }
    await new Promise((res) => setTimeout(res, 500));
  }
}

// whom names the other side of a call for the list of calls: who
// answered or rang, else the room it rang (a call nobody answered).
function whom(c) {
  const w = who(c);
  if (w) return (c.direction === 'incoming' ? 'from ' : 'with ') + w;
  const r = ((typeof chat !== 'undefined' && chat.rooms) || []).find((x) => x.room === c.room);
  return r ? 'to ' + r.name : '';
}

function renderCalls(calls) {
  lastCalls = calls;
  const lives = calls.filter((c) => c.state !== 'ended');
  // A live view this page asked for is answered at once.
  for (const c of lives) {
    if (viewCalls.has(c.id) && c.direction === 'incoming' && c.state === 'ringing' && !viewsAnswered.has(c.id)) {
      viewsAnswered.add(c.id);
      api('POST', '/api/calls/' + c.id + '/answer', { audio_only: true }).catch((e) => showError('live view: ' + e.message));
    }
  }
  const ringing = lives.find((c) => c.direction === 'incoming' && c.state === 'ringing' && !viewCalls.has(c.id));
  const live = ringing || lives[0];
  const card = $('call');
  card.hidden = !live;
  if (live) {
    const ringingHere = !!ringing;
    const names = lives.map(who).filter((n) => n);
    if (ringingHere) {
      $('call-title').textContent = (live.group ? 'Group call from ' : 'Call from ') + (who(live) || 'the room');
    } else if (lives.length > 1) {
      $('call-title').textContent = 'Group call with ' + names.join(', ');
    } else if (viewCalls.has(live.id)) {
      $('call-title').textContent = 'Live view: ' + (who(live) || 'the door');
    } else {
      $('call-title').textContent = (live.direction === 'incoming' ? 'Call from ' : 'Call to ') + (who(live) || 'the room');
    }
    card.dataset.view = String(viewCalls.has(live.id));
    $('state').textContent = ringingHere ? 'ringing here' : (lives.length > 1 ? `${lives.length + 1} people` : live.state);
    $('answer').hidden = !ringingHere;
    $('answer-audio').hidden = !ringingHere;
    $('hangup').textContent = ringingHere ? 'Decline' : 'Hang up';
    const ours = Object.keys(media).length > 0; // this page sends media
    $('local').hidden = !ours || !localTracks('video').length; // no black box while nothing is sent
    $('mute').hidden = ringingHere || !ours;
    $('camera').hidden = ringingHere || !ours || !localTracks('video').length;
    card.dataset.call = live.id;
    card.dataset.state = live.state;
    card.dataset.calls = String(lives.length);
  }
  doorCard(live);
  for (const c of calls) if (c.state === 'ended' && media[c.id]) closeMedia(c.id);
  const ul = $('history');
  ul.textContent = '';
  const ended = calls.filter((c) => c.state === 'ended').slice(-5).reverse();
  if (!ended.length) ul.innerHTML = '<li class="muted">none yet</li>';
  for (const c of ended) {
    const li = document.createElement('li');
    const secs = c.answered && c.ended ? Math.round((new Date(c.ended) - new Date(c.answered)) / 1000) : 0;
    li.textContent = `${c.direction === 'incoming' ? 'Call' : 'Outgoing call'} ${whom(c)}: ${c.reason}` + (secs ? `, ${secs} s` : '');
    ul.appendChild(li);
  }
}

async function loadRooms() {
  try {
    const me = await api('GET', '/api/me');
    $('me').textContent = `${me.name} · ${me.identity.slice(0, 8)}`;
    chat.me = me.identity;
    const list = await api('GET', '/api/rooms');
    const ul = $('rooms');
    ul.textContent = '';
    if (!list.rooms.length) ul.innerHTML = '<li class="muted">no rooms yet: create one, or join one with an invite</li>';
    for (const r of list.rooms) {
      const li = document.createElement('li');
      li.dataset.room = r.room;
      const name = document.createElement('span');
      name.className = 'name';
      name.textContent = `${r.name} (${r.members} members)`;
      const call = document.createElement('button');
      call.textContent = 'Call';
      call.className = 'call';
      call.dataset.room = r.room;
      call.onclick = () => place(r.room, false);
      const audio = document.createElement('button');
      audio.textContent = 'Audio call';
      audio.className = 'secondary';
      audio.onclick = () => place(r.room, true);
      const group = document.createElement('button');
      group.textContent = 'Group call';
      group.className = 'secondary group';
      group.dataset.room = r.room;
      group.onclick = () => place(r.room, false, true);
      const unlock = document.createElement('button');
      unlock.textContent = 'Unlock door';
      unlock.className = 'secondary unlock';
      unlock.dataset.room = r.room;
      unlock.onclick = () => openDoor(r.room);
      unlock.hidden = !r.doors; // only where a doorphone wrote
      const view = document.createElement('button');
      view.textContent = 'Live view';
      view.className = 'secondary view';
      view.dataset.room = r.room;
      view.onclick = () => liveView(r.room);
      view.hidden = !r.doors;
      li.append(name, call, audio, group, view, unlock);
      ul.appendChild(li);
    }
    renderRoomExtras(list);
  } catch (e) {
    showError(e.message);
  }
}

// The door: a room's doorphone opens for its admins.
async function openDoor(room, door) {
  try {
    showError('');
    const u = await api('POST', '/api/rooms/' + room + '/unlock', door ? { door } : {});
    window.hearthUnlock = u;
    showError(u.opened ? '' : 'the door refused: ' + u.reason);
    $('notice').textContent = u.opened ? 'The door is open.' : '';
    if (u.opened) setTimeout(() => { $('notice').textContent = ''; }, 5000);
    if (u.opened) $('me').dataset.unlocked = String(Number($('me').dataset.unlocked || 0) + 1);
  } catch (e) {
    showError(e.message);
  }
}

// liveView asks the room's doorphone to call this device back with its
// camera; renderCalls answers it.
async function liveView(room) {
  try {
    showError('');
    const v = await api('POST', '/api/rooms/' + room + '/view', {});
    viewCalls.add(v.call);
    renderCalls(lastCalls);
  } catch (e) {
    showError(e.message);
  }
}

// On a doorphone, its state; on the simulated board, its buttons.
async function loadDoor() {
  let d;
  try {
    d = await api('GET', '/api/door');
  } catch (e) {
    $('door').hidden = true;
    return false; // not a doorphone
  }
  window.hearthDoor = d;
  $('door').hidden = false;
  $('door-state').textContent = d.state + (d.stuck ? ' (button stuck)' : '');
  $('door-led').className = 'led ' + d.led;
  $('door-led-name').textContent = d.led;
  $('door-pairing').hidden = !d.pairing;
  $('door-link').textContent = d.pairing || '';
  $('door-counts').textContent = `${d.rings} rings, ${d.missed} missed, ${d.unlocks} unlocks, ${d.refused} refused · household ${d.room_name}` + (d.viewing ? ` · live view by ${d.viewing.slice(0, 8)}` : '');
  $('door-sim').hidden = d.driver !== 'sim';
  // The home hub's bridge, when set: its state and last error.
  const h = d.hub;
  $('door-hub').hidden = !h;
  if (h) {
    const parts = [];
    if (h.broker) {
      parts.push(`Home hub (MQTT): ${h.mqtt} to ${h.broker}` + (h.mqtt !== 'connected' && h.last_error ? ` (last error: ${h.last_error})` : '') +
        `, unlock from the hub ${h.unlock}`);
    }
    if (h.rtsp) parts.push(`Recorder (RTSP): ${h.rtsp}, ${h.rtsp_clients} playing`);
    $('door-hub').textContent = parts.join(' · ');
  }
  return true;
}

async function doorPress(kind) {
  try {
    showError('');
    await api('POST', kind === 'motion' ? '/api/door/motion' : '/api/door/press', kind === 'motion' ? {} : { kind });
    loadDoor();
  } catch (e) {
    showError(e.message);
  }
}
$('door-press').onclick = () => doorPress('short');
$('door-long').onclick = () => doorPress('long');
$('door-motion').onclick = () => doorPress('motion');
// whoAmI is this daemon as the page sees it (its identity, whether it is a
// doorphone or a mirror), once the page may ask.
let me;
async function whoAmI() {
  while (!me) {
    try {
      if (token) me = await api('GET', '/api/me');
    } catch (e) { /* not logged in yet, or the daemon restarts */ }
    if (!me) await new Promise((res) => setTimeout(res, 1000));
  }
  return me;
}

(async () => {
  if (!(await whoAmI()).door) { $('door').hidden = true; return; } // asks nothing of a non-door
  while (await loadDoor()) await new Promise((res) => setTimeout(res, 500));
})();

async function place(room, audioOnly, group) {
  try {
    showError('');
    await api('POST', '/api/rooms/' + room + '/calls', { audio_only: audioOnly, group: !!group });
  } catch (e) {
    showError(e.message);
  }
}

function liveID() { return $('call').dataset.call; }

// localTracks are this page's own tracks of a kind, in every call.
function localTracks(kind) {
  return Object.values(media).flatMap((m) => m.stream.getTracks().filter((t) => t.kind === kind));
}

// Mute and camera off stop sending (the tracks stay, so turning them back
// on needs no new negotiation).
function toggle(kind, button, on, off) {
  const tracks = localTracks(kind);
  const enable = tracks.some((t) => !t.enabled);
  for (const t of tracks) t.enabled = enable;
  button.textContent = enable ? on : off;
  button.classList.toggle('active', !enable);
}
$('mute').onclick = () => toggle('audio', $('mute'), 'Mute', 'Unmute');
$('camera').onclick = () => toggle('video', $('camera'), 'Camera off', 'Camera on');

$('answer').onclick = () => api('POST', '/api/calls/' + liveID() + '/answer', {}).catch((e) => showError(e.message));
$('answer-audio').onclick = () => api('POST', '/api/calls/' + liveID() + '/answer', { audio_only: true }).catch((e) => showError(e.message));
$('hangup').onclick = () => api('POST', '/api/calls/' + liveID() + '/hangup').catch((e) => showError(e.message));

async function logIn(ev) {
  ev.preventDefault();
  try {
    showError('');
    const r = await fetch('/api/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ password: $('login-password').value }),
    });
    $('login-password').value = '';
    if (!r.ok) throw new Error(await errorOf(r));
    sessionStorage.setItem('hearth-token', (await r.json()).token);
    location.reload();
  } catch (e) {
    showError('log in: ' + e.message);
  }
}

if (!token && lan) {
  document.body.classList.add('logged-out');
  $('login').hidden = false;
  $('me').textContent = 'not logged in';
  $('login-form').onsubmit = logIn;
  $('login-password').focus();
} else if (!token) {
  showError("This page needs its link with the token: run 'hearth status' and open the web link it prints.");
} else {
  $('logout').hidden = !lan;
  $('logout').onclick = async () => {
    await api('POST', '/api/logout').catch(() => {});
    loggedOut();
  };
  events();
}
