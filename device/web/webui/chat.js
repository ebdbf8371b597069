// Hearth's page: rooms and chat. Live history (the daemon's events say
// which room changed), send, reply, edit, delete, react, unread counts,
// files (drag and drop, progress, pictures, videos and sounds shown inline
// when their type is passive and fetched by themselves when small, download),
// invites with QR codes, joining by link, members and roles, join requests.
'use strict';

const chat = {
  room: '',        // the open room
  rooms: [],       // the list, as the daemon gave it
  members: {},     // identity -> {name, role, devices: {device: name}}
  replyTo: '',     // a message id
  editing: '',     // a message id
  me: '',          // this identity
  seen: JSON.parse(localStorage.getItem('hearth-seen') || '{}'), // room -> messages seen
  blobs: {},       // message id -> object URL of its file (this room's)
  fetching: {},    // message id -> promise of its object URL
  shown: [],       // the messages on the page: the newest, a page at a time
  more: false,     // older messages come before the first shown
  older: false,    // a page of older ones is being read
};

// historyPage is how many messages the page reads at a time: the newest
// when a room opens or changes, older ones as one scrolls up.
const historyPage = 50;

const short = (h) => (h || '').slice(0, 8);
const el = (tag, props, ...kids) => {
  const e = Object.assign(document.createElement(tag), props || {});
  for (const k of kids) e.append(k);
  return e;
};

function markSeen(room, n) {
  chat.seen[room] = n;
  localStorage.setItem('hearth-seen', JSON.stringify(chat.seen));
}

// renderRoomExtras decorates the rooms list app.js draws: the name opens
// the room, and a badge counts what is unread.
function renderRoomExtras(list) {
  chat.rooms = list.rooms || [];
  for (const li of document.querySelectorAll('#rooms li[data-room]')) {
    const r = chat.rooms.find((x) => x.room === li.dataset.room);
    if (!r) continue;
    const name = li.querySelector('.name');
    name.classList.add('open');
    name.onclick = () => openRoom(r.room);
    const unread = chat.room === r.room ? 0 : Math.max(0, r.messages - (chat.seen[r.room] || 0));
    let b = li.querySelector('.unread');
    if (!b) { b = el('span', { className: 'unread' }); name.after(b); }
    b.textContent = unread ? String(unread) : '';
    b.hidden = !unread;
    if (chat.room === r.room) markSeen(r.room, r.messages);
  }
  const pend = $('pending');
  pend.textContent = '';
  // A join waited for is settled: its notice goes.
  if (!(list.pending || []).length && /^(Waiting for an admin|The request waits)/.test($('notice').textContent)) $('notice').textContent = '';
  for (const p of list.pending || []) {
    const text = p.state === 'refused' ? 'join refused: ' + p.reason
      : p.state === 'awaiting approval' ? 'joining… (waiting for an admin to approve)' : 'joining… (waiting for an admin)';
    const cancel = el('button', { className: 'secondary cancel-join', textContent: p.state === 'refused' ? 'Dismiss' : 'Cancel' });
    cancel.onclick = async () => {
      try { await api('POST', '/api/v1/join/cancel', { invite: p.invite }); await loadRooms(); } catch (e) { showError(e.message); }
    };
    pend.append(el('li', { className: 'muted pending-join', dataset: {} }, el('span', { textContent: text + ' ' }), cancel));
  }
}

async function loadMembers(room) {
  const m = await api('GET', '/api/v1/rooms/' + room + '/members');
  chat.members = {};
  for (const x of m.members) {
    const devices = {};
    for (const d of x.devices || []) devices[d.device] = d.name;
    chat.members[x.identity] = { name: x.name || short(x.identity), role: x.role, devices };
  }
  return m;
}

async function openRoom(room) {
  if (room !== chat.room) {
    for (const u of Object.values(chat.blobs)) URL.revokeObjectURL(u);
    chat.blobs = {};
  }
  chat.room = room;
  chat.replyTo = chat.editing = '';
  $('chat').hidden = false;
  $('chat').dataset.room = room;
  const r = chat.rooms.find((x) => x.room === room) || { name: room };
  $('chat-title').textContent = r.name;
  $('chat-role').textContent = r.role ? '(' + r.role + ')' : '';
  for (const b of document.querySelectorAll('.admin-only')) b.hidden = r.role !== 'admin';
  $('panel').textContent = '';
  try {
    await loadMembers(room);
  } catch (e) { showError(e.message); }
  await loadHistory();
  const badge = document.querySelector('#rooms li[data-room="' + room + '"] .unread');
  if (badge) { badge.hidden = true; badge.textContent = ''; }
  composerState();
}

function authorName(m) {
  const who = chat.members[m.author];
  const name = who ? who.name : short(m.author);
  const dev = who && who.devices[m.device] ? who.devices[m.device] : short(m.device);
  return { name, dev };
}

async function loadHistory() {
  const room = chat.room;
  if (!room) return;
  // The newest page, or what is shown and a page of new ones: a change
  // reads the window again (edits, deletions), never the whole history.
  const prev = chat.shown.room === room ? chat.shown : [];
  let h;
  try {
    h = await api('GET', '/api/v1/rooms/' + room + '/messages?limit=' + (prev.length + historyPage));
  } catch (e) {
    showError(e.message);
    return;
  }
  if (room !== chat.room) return;
  let more = !!h.more;
  if (prev.length) {
    // What was shown stays shown, from its first message on.
    const i = h.messages.findIndex((m) => m.id === prev[0].id);
    if (i > 0) { h.messages = h.messages.slice(i); more = true; }
  }
  // Someone new wrote (a member who just joined, a new device): their
  // names.
  if (h.messages.some((m) => !chat.members[m.author] || !chat.members[m.author].devices[m.device])) {
    try { await loadMembers(room); } catch (e) { /* names stay short */ }
  }
  const ul = $('messages');
  const atEnd = ul.scrollTop + ul.clientHeight >= ul.scrollHeight - 20;
  seenObserver.disconnect(); // the old rows go
  ul.textContent = '';
  const byID = {};
  for (const m of h.messages) byID[m.id] = m;
  for (const m of h.messages) ul.append(renderMessage(m, byID));
  if (atEnd) ul.scrollTop = ul.scrollHeight;
  const r = chat.rooms.find((x) => x.room === room);
  if (r) markSeen(room, Math.max(r.messages, chat.seen[room] || 0));
  showHistory(room, h.messages, more);
  // A short first page fills no screen: read older ones at once.
  if (chat.more && ul.scrollHeight <= ul.clientHeight) loadOlder();
}

// showHistory notes what the page shows of room.
function showHistory(room, messages, more) {
  chat.shown = messages;
  chat.shown.room = room;
  chat.more = more;
  window.hearthHistory = messages;
}

// loadOlder reads the page of messages before the first shown, and puts
// it above them, the view staying where it was.
async function loadOlder() {
  const room = chat.room;
  if (!room || !chat.more || chat.older || !chat.shown.length) return;
  chat.older = true;
  try {
    const first = chat.shown[0].id;
    const h = await api('GET', '/api/v1/rooms/' + room + '/messages?limit=' + historyPage + '&before=' + encodeURIComponent(first));
    if (room !== chat.room || !chat.shown.length || chat.shown[0].id !== first) return;
    const all = h.messages.concat(chat.shown);
    const byID = {};
    for (const m of all) byID[m.id] = m;
    const ul = $('messages');
    const from = ul.scrollHeight - ul.scrollTop;
    const top = ul.firstChild;
    for (const m of h.messages) ul.insertBefore(renderMessage(m, byID), top);
    ul.scrollTop = ul.scrollHeight - from;
    showHistory(room, all, !!h.more);
  } catch (e) {
    showError(e.message);
  } finally {
    chat.older = false;
  }
}

function renderMessage(m, byID) {
  const { name, dev } = authorName(m);
  const li = el('li', { className: 'msg' + (m.author === chat.me ? ' mine' : '') });
  li.dataset.id = m.id;
  const head = el('div', { className: 'head' },
    el('b', { className: 'author', textContent: name }),
    el('span', { className: 'muted device', textContent: (dev && dev !== name ? ' · ' + dev : '') + ' · ' + new Date(m.time).toLocaleTimeString() }));
  li.append(head);
  if (m.reply_to && byID[m.reply_to]) {
    const q = byID[m.reply_to];
    li.append(el('div', { className: 'quote', textContent: '↪ ' + authorName(q).name + ': ' + (q.deleted ? '(deleted)' : (q.text || (q.file ? q.file.name : ''))).slice(0, 80) }));
  }
  let body;
  if (m.deleted) {
    body = el('div', { className: 'text muted', textContent: '(deleted)' });
  } else if (m.call) {
    body = el('div', { className: 'text muted' }, icon('phone'), ' call ' + m.call.event + (m.call.duration_ms ? ', ' + Math.round(m.call.duration_ms / 1000) + ' s' : ''));
  } else if (m.door) {
    body = el('div', { className: 'text door-event' }, icon('door'), ' door: ' + m.door.event + (m.door.detail ? ' · ' + m.door.detail : ''));
  } else {
    body = el('div', { className: 'text', textContent: m.text + (m.edited ? ' (edited)' : '') });
  }
  li.append(body);
  if (m.file && !m.deleted) li.append(renderFile(m));
  const reacts = el('div', { className: 'reactions' });
  for (const [emoji, who] of Object.entries(m.reactions || {})) {
    const mine = who.includes(chat.me);
    // A reaction is the sender's emoji; the common one is drawn (no emoji
    // font needed), the emoji kept as its text.
    const b = emoji === '👍'
      ? el('button', { className: 'reaction' + (mine ? ' mine' : '') }, icon('thumb'), el('span', { className: 'sr', textContent: emoji }), ' ' + who.length)
      : el('button', { className: 'reaction' + (mine ? ' mine' : ''), textContent: emoji + ' ' + who.length });
    b.onclick = () => react(m.id, emoji, mine);
    reacts.append(b);
  }
  li.append(reacts);
  if (!m.deleted && !m.call && !m.door) {
    const tools = el('div', { className: 'tools' });
    const tool = (label, cls, fn, ic) => {
      const b = el('button', { className: 'tool ' + cls }, ...(ic ? [icon(ic), ' ' + label] : [label]));
      b.onclick = fn;
      tools.append(b);
    };
    tool('Reply', 'reply', () => { chat.replyTo = m.id; chat.editing = ''; composerState(m); });
    tool('Like', 'like', () => react(m.id, '👍', false), 'thumb');
    if (m.author === chat.me) {
      if (!m.file) tool('Edit', 'edit', () => { chat.editing = m.id; chat.replyTo = ''; $('text').value = m.text; composerState(m); });
      tool('Delete', 'delete', (ev) => sure(ev.target, () => del(m.id)));
    }
    li.append(tools);
  }
  return li;
}

// renderFile shows a file as the daemon says the page may (f.show: a
// picture, video or sound of a passive type; anything else, whatever its
// sender called it, only as a download). A small one (f.auto) is fetched
// by itself once its message comes into view; a larger one waits for a
// click on a button that says its size.
function renderFile(m) {
  const f = m.file;
  const box = el('div', { className: 'file' });
  const label = el('span', {}, icon('clip'), ' ' + f.name + ' (' + human(f.size) + ')');
  const get = el('button', { className: 'secondary download', textContent: 'Download' });
  const problem = el('span', { className: 'file-error', hidden: true });
  get.onclick = () => download(m, false, problem);
  box.append(label, get, problem);
  if (!['image', 'video', 'audio'].includes(f.show)) return box;
  const media = el(f.show === 'image' ? 'img' : f.show, { className: 'inline', alt: f.name });
  if (f.show !== 'image') media.controls = true;
  const show = () => download(m, true, problem).then((url) => { if (url) { media.src = url; box.append(media); } });
  if (chat.blobs[m.id]) {
    media.src = chat.blobs[m.id];
    box.append(media);
  } else if (f.auto) {
    whenSeen(box, show);
  } else {
    const b = el('button', { className: 'secondary show', textContent: 'Show ' + f.show + ' (' + human(f.size) + ')' });
    b.onclick = () => { b.remove(); show(); };
    box.append(b);
  }
  return box;
}

// whenSeen runs fn once e has come into view.
const seenObserver = new IntersectionObserver((entries) => {
  for (const en of entries) {
    if (!en.isIntersecting) continue;
    seenObserver.unobserve(en.target);
    const fn = en.target.hearthSeen;
    delete en.target.hearthSeen;
    if (fn) fn();
  }
});
function whenSeen(e, fn) {
  e.hearthSeen = fn;
  seenObserver.observe(e);
}

function human(n) {
  if (n < 1024) return n + ' B';
  if (n < 1 << 20) return (n / 1024).toFixed(1) + ' KiB';
  if (n < 1 << 30) return (n / (1 << 20)).toFixed(1) + ' MiB';
  return (n / (1 << 30)).toFixed(2) + ' GiB';
}

// download fetches a file to this device if needed, then reads it with
// the token (an img or a link cannot carry it) into an object URL: shown
// inline, or saved. The object URL is made with a passive type or none (a
// blob's type decides what a new tab opened on it does).
async function download(m, inline, problem) {
  const room = chat.room;
  if (problem) problem.hidden = true;
  try {
    if (!chat.blobs[m.id]) {
      chat.fetching[m.id] = chat.fetching[m.id] || fetchBlob(room, m);
      const url = await chat.fetching[m.id];
      delete chat.fetching[m.id];
      if (room !== chat.room) { URL.revokeObjectURL(url); return ''; }
      chat.blobs[m.id] = url;
    }
    if (!inline) {
      const a = el('a', { href: chat.blobs[m.id], download: m.file.name });
      document.body.append(a);
      a.click();
      a.remove();
    }
    return chat.blobs[m.id];
  } catch (e) {
    delete chat.fetching[m.id];
    if (problem) { // said where the file is
      problem.textContent = e.message;
      problem.hidden = false;
    } else {
      showError(e.message);
    }
    return '';
  }
}

async function fetchBlob(room, m) {
  let job = await api('POST', '/api/rooms/' + room + '/files/' + m.id + '/fetch', {});
  while (job.state === 'running') {
    await new Promise((res) => setTimeout(res, 300));
    job = await api('GET', '/api/v1/downloads/' + job.job);
  }
  if (job.state !== 'done') throw new Error(errorText('The download failed: ' + (job.error || job.state)));
  const r = await fetch('/api/rooms/' + room + '/files/' + m.id + '/content', { headers: { 'Authorization': 'Bearer ' + token } });
  if (!r.ok) throw new Error(await errorOf(r));
  const served = (r.headers.get('Content-Type') || '').toLowerCase();
  const type = m.file.show && served.startsWith(m.file.show + '/') ? served : 'application/octet-stream';
  const b = await r.blob();
  return URL.createObjectURL(b.slice(0, b.size, type));
}

function composerState(m) {
  const info = $('composer-info');
  if (chat.editing) info.textContent = 'Editing your message · Esc to stop';
  else if (chat.replyTo && m) info.textContent = 'Replying to ' + authorName(m).name + ': ' + (m.text || '').slice(0, 60) + ' · Esc to stop';
  else info.textContent = '';
  $('send').textContent = chat.editing ? 'Save' : 'Send';
  $('text').focus();
}

async function send() {
  const text = $('text').value.trim();
  if (!text || !chat.room) return;
  try {
    showError('');
    if (chat.editing) {
      await api('POST', '/api/v1/rooms/' + chat.room + '/messages/' + chat.editing + '/edit', { text });
    } else {
      await api('POST', '/api/v1/rooms/' + chat.room + '/messages', { text, reply_to: chat.replyTo });
    }
    $('text').value = '';
    chat.replyTo = chat.editing = '';
    composerState();
    loadHistory();
  } catch (e) {
    showError(e.message);
  }
}

async function react(id, emoji, remove) {
  try {
    await api('POST', '/api/v1/rooms/' + chat.room + '/messages/' + id + '/react', { emoji, remove });
    loadHistory();
  } catch (e) { showError(e.message); }
}

// sure asks for a second click on a button within 3 s before fn runs:
// for what cannot be undone.
function sure(button, fn) {
  if (button.dataset.sure === '1') { fn(); return; }
  const label = button.textContent;
  button.dataset.sure = '1';
  button.textContent = 'Sure?';
  setTimeout(() => { button.dataset.sure = ''; button.textContent = label; }, 3000);
}

async function del(id) {
  try {
    await api('POST', '/api/v1/rooms/' + chat.room + '/messages/' + id + '/delete', {});
    loadHistory();
  } catch (e) { showError(e.message); }
}

// upload sends a file: its bytes to the daemon (progress from the
// browser), then the daemon's encryption job (progress from the daemon).
function upload(file) {
  const room = chat.room;
  const row = el('li', { className: 'upload' }, el('span', { textContent: file.name + ' ' }), el('progress', { max: 1, value: 0 }), el('span', { className: 'muted pct' }));
  $('uploads').append(row);
  const bar = row.querySelector('progress');
  const pct = row.querySelector('.pct');
  const xhr = new XMLHttpRequest();
  const q = new URLSearchParams({ name: file.name, type: file.type || '' });
  xhr.open('POST', '/api/rooms/' + room + '/upload?' + q.toString());
  xhr.setRequestHeader('Authorization', 'Bearer ' + token);
  xhr.upload.onprogress = (ev) => {
    if (ev.lengthComputable) { bar.value = ev.loaded / ev.total / 2; pct.textContent = ' sending ' + Math.round(100 * ev.loaded / ev.total) + '%'; }
  };
  xhr.onerror = () => { pct.textContent = ' failed'; showError('the upload failed'); };
  xhr.onload = async () => {
    if (xhr.status !== 202) { pct.textContent = ' failed'; showError(errorText(xhr.responseText, 'the upload failed')); return; }
    let job = JSON.parse(xhr.responseText);
    while (job.state === 'running') {
      bar.value = 0.5 + (job.size ? job.done / job.size / 2 : 0);
      pct.textContent = ' encrypting ' + (job.size ? Math.round(100 * job.done / job.size) : 0) + '%';
      await new Promise((res) => setTimeout(res, 250));
      job = await api('GET', '/api/v1/downloads/' + job.job);
    }
    if (job.state === 'done') { bar.value = 1; pct.textContent = ' sent'; setTimeout(() => row.remove(), 3000); loadHistory(); }
    else { pct.textContent = ' failed'; showError(job.error || 'the file was not sent'); }
  };
  xhr.send(file);
}

async function createRoom() {
  const name = $('new-room').value.trim();
  if (!name) return;
  try {
    showError('');
    const r = await api('POST', '/api/v1/rooms', { name });
    $('new-room').value = '';
    await loadRooms();
    openRoom(r.room);
  } catch (e) { showError(e.message); }
}

// joinRoom joins by an invite. A join an admin must approve, or one left
// in mailboxes, is the daemon's business from then on: it completes it by
// itself (the room appears), and the rooms list shows it as pending.
async function joinRoom() {
  const link = $('join-link').value.trim();
  if (!link) return;
  showError('');
  $('join-link').value = '';
  try {
    $('notice').textContent = 'joining…';
    const r = await api('POST', '/api/v1/join', { link });
    if (r.pending && r.awaiting) {
      $('notice').textContent = 'Waiting for an admin to approve the request: the room appears when one has (you may close this page).';
      window.hearthJoinWaiting = true;
    } else if (r.pending) {
      $('notice').textContent = 'The request waits in a mirror for an admin; the room appears when one answers.';
    } else {
      $('notice').textContent = '';
    }
    await loadRooms();
    if (r.room) openRoom(r.room);
  } catch (e) {
    $('notice').textContent = '';
    showError(e.message);
  }
}

async function qr(text) {
  const r = await fetch('/api/qr', { method: 'POST', headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json' }, body: JSON.stringify({ text }) });
  if (!r.ok) throw new Error(await errorOf(r));
  return URL.createObjectURL(await r.blob());
}

async function showInvite() {
  const p = $('panel');
  p.textContent = '';
  const expires = el('select', { id: 'invite-expires' },
    el('option', { value: '3600', textContent: 'for an hour' }), el('option', { value: '86400', textContent: 'for a day' }),
    el('option', { value: '604800', textContent: 'for a week' }), el('option', { value: '0', textContent: 'never expires' }));
  const uses = el('input', { id: 'invite-uses', type: 'number', min: 0, value: 1, title: 'uses (0: unlimited)' });
  const approve = el('input', { id: 'invite-approve', type: 'checkbox' });
  const make = el('button', { id: 'invite-make', textContent: 'Make the invite' });
  const out = el('div', { id: 'invite-out' });
  make.onclick = async () => {
    try {
      const inv = await api('POST', '/api/v1/rooms/' + chat.room + '/invites', { expires_seconds: Number(expires.value), uses: Number(uses.value), approve: approve.checked });
      out.textContent = '';
      const img = el('img', { className: 'qr', alt: 'QR code of the invite' });
      out.append(el('code', { id: 'invite-link', textContent: inv.link }), img,
        el('p', { className: 'muted', textContent: (inv.expires ? 'until ' + new Date(inv.expires).toLocaleString() : 'no expiry') + (inv.uses ? ' · ' + inv.uses + ' use(s)' : ' · unlimited uses') }));
      img.src = await qr(inv.link);
    } catch (e) { showError(e.message); }
  };
  p.append(el('h3', { textContent: 'Invite someone' }), el('div', { className: 'row' }, expires, el('label', {}, ' uses ', uses), el('label', {}, approve, ' I approve each request'), make), out);
}

async function showMembers() {
  const p = $('panel');
  p.textContent = '';
  try {
    const m = await loadMembers(chat.room);
    const me = chat.members[chat.me];
    const ul = el('ul', { id: 'members' });
    for (const x of m.members) {
      const li = el('li', {}, el('span', { className: 'name', textContent: (x.name || short(x.identity)) + ' · ' + short(x.identity) + ' · ' + (x.devices || []).map((d) => d.name).join(', ') }));
      li.dataset.identity = x.identity;
      if (me && me.role === 'admin' && x.identity !== chat.me) {
        const role = el('select', { className: 'role' }, ...['member', 'moderator', 'admin'].map((r) => el('option', { value: r, textContent: r, selected: r === x.role })));
        role.onchange = async () => {
          try { await api('POST', '/api/v1/rooms/' + chat.room + '/members/' + x.identity + '/role', { role: role.value }); showMembers(); } catch (e) { showError(e.message); }
        };
        const rm = el('button', { className: 'danger remove', textContent: 'Remove' });
        rm.onclick = () => sure(rm, async () => {
          try { await api('POST', '/api/v1/rooms/' + chat.room + '/members/' + x.identity + '/remove', {}); showMembers(); } catch (e) { showError(e.message); }
        });
        li.append(role, rm);
      } else {
        li.append(el('span', { className: 'muted', textContent: x.role }));
      }
      ul.append(li);
    }
    p.append(el('h3', { textContent: 'Members' }), ul);
  } catch (e) { showError(e.message); }
}

async function showRequests() {
  const p = $('panel');
  p.textContent = '';
  p.append(el('p', { className: 'muted', textContent: 'asking the mirrors for requests…' }));
  try {
    const rq = await api('GET', '/api/v1/rooms/' + chat.room + '/requests');
    const ul = el('ul', { id: 'requests' });
    if (!rq.requests.length) ul.append(el('li', { className: 'muted', textContent: 'no requests waiting' }));
    for (const x of rq.requests) {
      const ok = el('button', { className: 'approve', textContent: 'Approve' });
      const no = el('button', { className: 'secondary decline', textContent: 'Decline' });
      ok.onclick = async () => { try { await api('POST', '/api/v1/rooms/' + chat.room + '/requests/' + x.request + '/approve', {}); showRequests(); } catch (e) { showError(e.message); } };
      no.onclick = async () => { try { await api('POST', '/api/v1/rooms/' + chat.room + '/requests/' + x.request + '/decline', {}); showRequests(); } catch (e) { showError(e.message); } };
      ul.append(el('li', {}, el('span', { className: 'name', textContent: (x.name || '?') + ' · ' + short(x.identity) + ' · ' + new Date(x.time).toLocaleString() }), ok, no));
    }
    p.textContent = '';
    p.append(el('h3', { textContent: 'Join requests' }), ul);
  } catch (e) { showError(e.message); }
}

async function leaveRoom() {
  try {
    await api('POST', '/api/v1/rooms/' + chat.room + '/leave', {});
    chat.room = '';
    $('chat').hidden = true;
    loadRooms();
  } catch (e) { showError(e.message); }
}

// onRoomChanged hears the daemon's event: a room's view changed.
let roomsTimer = 0;
function onRoomChanged(room) {
  if (room === chat.room) loadHistory();
  clearTimeout(roomsTimer);
  roomsTimer = setTimeout(loadRooms, 150);
}

function initChat() {
  $('send').onclick = send;
  $('text').onkeydown = (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey) { ev.preventDefault(); send(); }
    if (ev.key === 'Escape') { chat.replyTo = chat.editing = ''; $('text').value = ''; composerState(); }
  };
  $('attach').onclick = () => $('file').click();
  $('file').onchange = () => { for (const f of $('file').files) upload(f); $('file').value = ''; };
  const zone = $('chat');
  zone.ondragover = (ev) => { ev.preventDefault(); zone.classList.add('drop'); };
  zone.ondragleave = () => zone.classList.remove('drop');
  zone.ondrop = (ev) => {
    ev.preventDefault();
    zone.classList.remove('drop');
    for (const f of ev.dataTransfer.files) upload(f);
  };
  $('create-room').onclick = createRoom;
  $('join').onclick = joinRoom;
  $('show-invite').onclick = showInvite;
  $('show-members').onclick = showMembers;
  $('show-requests').onclick = showRequests;
  $('leave').onclick = (ev) => sure(ev.target, leaveRoom);
}
initChat();

// On a mirror: what it keeps (ciphertext only), against its budget.
async function loadMirror() {
  let m;
  try {
    m = await api('POST', '/api/v1/mirror/list', {});
  } catch (e) {
    $('mirror').hidden = true;
    return false; // not a mirror
  }
  window.hearthMirror = m;
  $('mirror').hidden = false;
  $('mirror-use').textContent = `Keeps ${m.rooms.length} room(s), ${human(m.bytes)}` + (m.budget ? ` of a budget of ${human(m.budget)}` : '') + '. It holds their ciphertext only.';
  $('mirror-bar').value = m.budget ? Math.min(1, m.bytes / m.budget) : 0;
  const ul = $('mirror-rooms');
  ul.textContent = '';
  for (const r of m.rooms) {
    const known = chat.rooms.find((x) => x.room === r.room);
    // A room this device is a member of lives in its own store: the
    // mirror's copy is for the other members' logs, and fills as they
    // sync to it.
    const own = r.room && !r.entries ? ' · this device\'s own copy is in the room; the mirror\'s fills as other members sync to it' : '';
    const li = el('li', {}, el('span', { className: 'name', textContent: (known ? known.name : 'room ' + short(r.discovery)) + (r.pinned ? ' · pinned' : '') }),
      el('span', { className: 'muted', textContent: human(r.bytes) + ' · ' + r.entries + ' entries · for ' + short(r.requester) + own }));
    li.dataset.own = String(!!own);
    ul.append(li);
  }
  return true;
}
(async () => {
  if (!(await whoAmI()).mirror) { $('mirror').hidden = true; return; } // asks nothing of a non-mirror
  while (token && await loadMirror()) await new Promise((res) => setTimeout(res, 5000));
})();

// You: the identity, its devices, and a link for a new device.
async function showIdentity() {
  const sec = $('identity');
  sec.hidden = !sec.hidden;
  if (sec.hidden) return;
  try {
    const d = await api('GET', '/api/v1/id/devices');
    $('identity-key').textContent = d.identity;
    const ul = $('devices');
    ul.textContent = '';
    for (const x of d.devices) {
      const li = el('li', { className: x.revoked ? 'muted' : '' }, el('span', { className: 'name', textContent: (x.name || short(x.device)) + (x.current ? ' (this device)' : '') }),
        el('span', { className: 'muted', textContent: short(x.device) + (x.superseded ? ' · superseded: the phrase was restored since'
          : x.revoked ? ' · revoked' + (x.revoked_at ? ' ' + new Date(x.revoked_at).toLocaleString() : '')
          : x.added ? ' · since ' + new Date(x.added).toLocaleDateString() : '') }));
      li.dataset.device = x.device;
      if (!x.current && !x.revoked) {
        li.append(el('button', { className: 'secondary revoke', textContent: 'Revoke', onclick: () => askRevoke(x.device, x.name || short(x.device)) }));
      }
      ul.append(li);
    }
  } catch (e) { showError(e.message); }
}

async function linkDevice() {
  try {
    // On the LAN a session alone does not make a device of this
    // identity: the password is asked again.
    let extra;
    if (lan) {
      const pw = prompt('The page\'s password, to make a link for a new device of this identity:');
      if (!pw) return;
      extra = { 'X-Hearth-Password': pw };
    }
    const l = await api('POST', '/api/v1/device/link', { expires_seconds: 3600 }, extra);
    const out = $('link-out');
    out.textContent = '';
    const img = el('img', { className: 'qr', alt: 'QR code of the device link' });
    out.append(el('p', { textContent: 'On the new device: hearth device join LINK (until ' + new Date(l.expires).toLocaleTimeString() + ')' }), el('code', { id: 'device-link', textContent: l.link }), img);
    img.src = await qr(l.link);
  } catch (e) { showError(e.message); }
}
$('show-identity').onclick = showIdentity;
$('link-device').onclick = linkDevice;
// Near the top of the messages, the page before them is read.
$('messages').addEventListener('scroll', () => {
  if ($('messages').scrollTop < 80) loadOlder();
});
