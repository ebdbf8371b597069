// The app's screens: link this phone, the rooms, a room's chat. Plain DOM:
// the page is small and every byte is downloaded by a phone.
const $ = (id) => document.getElementById(id)
let app
let current = null // the room shown: {id, name}

function show (screen, title) {
  for (const s of document.querySelectorAll('.screen')) s.hidden = s.id !== screen
  $('title').textContent = title ?? 'Hearth'
  $('back').hidden = screen !== 'room'
}

export function fail (err) {
  const e = $('error')
  e.textContent = err?.message ?? String(err)
  e.hidden = false
}

function clearError () { $('error').hidden = true }

function fromHash () {
  const h = new URLSearchParams(location.hash.slice(1))
  return { link: h.get('link') ?? '', at: h.getAll('at').join(' ') }
}

async function showRooms () {
  current = null
  const rooms = await app.rooms()
  const list = $('room-list')
  list.replaceChildren(...rooms.map((r) => {
    const li = document.createElement('li')
    li.dataset.room = r.id
    const name = document.createElement('span')
    name.className = 'name'
    name.textContent = r.name || r.id.slice(0, 8)
    const count = document.createElement('span')
    count.className = 'count'
    count.textContent = r.messages
    li.append(name, count)
    li.addEventListener('click', () => openRoom(r).catch(fail))
    return li
  }))
  $('rooms-empty').hidden = rooms.length > 0
  show('rooms', 'Rooms')
  if (!pushChecked) {
    const key = await app.pushKey().catch(() => '')
    if (key && 'PushManager' in window) {
      pushChecked = true
      if (Notification.permission === 'granted') ensurePush(false).catch(() => {})
      else $('push-on').hidden = false
    }
  }
}

let pushChecked = false // the rooms screen offers the pushes once a page

function time (ms) {
  const d = new Date(ms)
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

async function renderRoom () {
  if (!current) return
  const msgs = await app.history(current.id, 100)
  const ol = $('messages')
  const atEnd = ol.scrollTop + ol.clientHeight >= ol.scrollHeight - 40
  ol.replaceChildren(...msgs.map((m) => {
    const li = document.createElement('li')
    li.className = 'msg' + (m.mine ? ' mine' : '') + (m.deleted ? ' deleted' : '')
    li.dataset.id = m.id
    const text = document.createElement('div')
    text.className = 'text'
    text.textContent = m.deleted ? 'deleted' : (m.file_info?.door ? doorLabel(m.file_info.door) : m.text)
    const meta = document.createElement('div')
    meta.className = 'meta'
    meta.textContent = time(m.time) + (m.edited ? ' · edited' : '')
    li.append(text)
    if (m.file_info) li.append(fileView(m.file_info))
    li.append(meta)
    return li
  }))
  if (atEnd) ol.scrollTop = ol.scrollHeight
}

function doorLabel (ev) {
  return { ring: '🔔 The door rang', missed: '🔔 Nobody answered the door', motion: 'Movement at the door' }[ev] ?? ''
}

function size (n) {
  if (n < 1024) return `${n} B`
  const units = ['KiB', 'MiB', 'GiB', 'TiB']
  let u = -1
  do { n /= 1024; u++ } while (n >= 1024 && u < units.length - 1)
  return `${n.toFixed(1)} ${units[u]}`
}

// Files: what the page holds or fetches, by root: {busy, done, total,
// url, error}. A room's screen is drawn again on each change; a file's
// state outlives that.
const fileState = new Map()
const autoImage = 2 << 20 // pictures up to this size are fetched as they show

function fileView (f) {
  const box = document.createElement('div')
  box.className = 'file'
  box.dataset.root = f.root
  const name = document.createElement('span')
  name.className = 'file-name'
  name.textContent = `📎 ${f.name} · ${size(f.size)}`
  if (!f.door) box.append(name)
  const st = fileState.get(f.root)
  if (st?.url && isPicture(f)) {
    const img = document.createElement('img')
    img.src = st.url
    img.alt = f.name
    box.append(img)
  }
  if (st?.url) {
    const a = document.createElement('a')
    a.href = st.url
    a.download = f.name
    a.className = 'save'
    a.textContent = 'Save'
    box.append(a)
  } else if (st?.busy) {
    const bar = document.createElement('progress')
    bar.max = Math.max(st.total, 1)
    bar.value = st.done
    const p = document.createElement('span')
    p.className = 'file-progress muted'
    p.textContent = `${size(st.done)} of ${size(st.total)}` + (st.sources ? ` · from ${st.sources}` : '')
    box.append(bar, p)
  } else {
    const btn = document.createElement('button')
    btn.className = 'get'
    btn.textContent = st?.error ? 'Try again' : 'Get'
    btn.addEventListener('click', () => getFile(current.id, f))
    box.append(btn)
    if (st?.error) {
      const e = document.createElement('span')
      e.className = 'muted'
      e.textContent = st.error
      box.append(e)
    } else if (isPicture(f) && f.size <= autoImage) {
      queueMicrotask(() => getFile(current.id, f))
    }
  }
  if (f.caption) {
    const c = document.createElement('span')
    c.textContent = f.caption
    box.append(c)
  }
  return box
}

// A file's type is a raster picture's (shown inline) or bytes to save:
// the Go half gives no other (app.FileInfo.Type), so that a member's
// manifest never makes an object URL an HTML page of the app's origin.
function isPicture (f) { return f.type.startsWith('image/') }

// fileURL returns an object URL of file f, fetched first if the page
// lacks any of it; progress(p) follows the fetch.
async function fileURL (room, f, progress) {
  let blob = await app.fileBlob(f)
  if (!blob) {
    await app.fetchFile(room, f.id, progress)
    blob = await app.fileBlob(f)
  }
  if (!blob) throw new Error('the file is not all here')
  return URL.createObjectURL(blob)
}

async function getFile (room, f) {
  if (fileState.get(f.root)?.busy || fileState.get(f.root)?.url) return
  const st = { busy: true, done: 0, total: f.size }
  fileState.set(f.root, st)
  const draw = () => {
    const box = document.querySelector(`.file[data-root="${f.root}"]`)
    if (box) box.replaceWith(fileView(f))
  }
  draw()
  try {
    st.url = await fileURL(room, f, (p) => {
      Object.assign(st, p)
      draw()
    })
  } catch (err) {
    st.error = err?.message ?? String(err)
  } finally {
    st.busy = false
    draw()
  }
}

async function showMirrors (room) {
  const info = $('room-info')
  info.textContent = ''
  const ms = await app.mirrors(room)
  if (current?.id !== room) return
  info.textContent = ms.length === 0
    ? 'No mirror keeps this room: it is here while a device of its members is online.'
    : `Kept while your devices are away by ${ms.length === 1 ? 'a blind mirror' : ms.length + ' blind mirrors'}: ` +
      ms.map((m) => '…' + m.peer.slice(-6)).join(', ') + ' (they hold it sealed and cannot read it).'
}

async function openRoom (r) {
  current = { id: r.id, name: r.name || r.id.slice(0, 8) }
  show('room', current.name)
  showMirrors(r.id).catch(() => {})
  await renderRoom()
  const ol = $('messages')
  ol.scrollTop = ol.scrollHeight
}

async function link () {
  clearError()
  const status = $('link-status')
  const go = $('link-go')
  const text = $('link-text').value.trim()
  const at = $('link-at').value.trim()
  if (!text) {
    status.textContent = 'Paste the link the other device shows.'
    return
  }
  go.disabled = true
  status.textContent = 'Asking the other device…'
  try {
    const r = await app.link(text, at ? at.split(/\s+/) : [], $('link-name').value.trim())
    status.textContent = `Linked: ${r.rooms.length} room(s).`
    history.replaceState(null, '', location.pathname)
    await showRooms()
  } catch (err) {
    status.textContent = ''
    fail(err)
  } finally {
    go.disabled = false
  }
}

// The call card: full screen over everything while a call rings or
// runs. A ring at the door shows Unlock beside Answer and Decline.
let shown = null // the call on the card: its latest info
let media = null // the page's call media (calls.js)
let hideTimer = null

// who is the other end: a door by the name its room gives it.
function who (c) {
  if (c.door) return c.door_name || c.peer?.name || 'The door'
  return c.peer?.name || 'Someone'
}

function callTitle (c) {
  return c.door ? `${who(c)} is ringing` : `${who(c)} is calling`
}

function showCall (c) {
  clearTimeout(hideTimer)
  if (shown?.id !== c.id) {
    // A new call: the microphone and camera on, the sound on.
    toggle($('call-mute'), false)
    toggle($('call-camera'), true)
    toggle($('call-speaker'), true)
    $('unlock-status').textContent = ''
    $('call-picture').hidden = true
    $('call-remote').hidden = true
  }
  const fresh = shown?.id !== c.id
  shown = c
  if (fresh && c.door && c.state === 'ringing') ringPicture(c).catch(() => {})
  const card = $('call')
  card.hidden = false
  card.dataset.state = c.state
  card.dataset.door = c.door
  const ringing = c.state === 'ringing'
  $('call-who').textContent = who(c)
  $('call-state').textContent = ringing
    ? (c.door ? `${callTitle(c)} · ${c.room_name}` : callTitle(c))
    : c.state === 'active' ? (c.room_name ? `In a call · ${c.room_name}` : 'In a call') : `Call ended${c.reason ? ': ' + c.reason : ''}`
  $('call-ringing').hidden = !ringing
  $('call-answer').hidden = false
  $('call-active').hidden = c.state !== 'active'
  // While it rings, the camera and microphone open, so that answering
  // does not wait for them; a ring not answered lets them go.
  if (ringing && c.direction === 'incoming' && c.status) media.prepare(c.id, 'audio+video')
  if (c.state === 'ended') media.release(c.id)
  $('call-unlock').hidden = !c.door
  $('call-unlock2').hidden = !c.door
  if (c.state === 'ended') {
    hideTimer = setTimeout(() => {
      if (shown?.id === c.id) endCard()
    }, 2000)
  }
}

// ringPicture shows, behind the ring, the picture the door took: its
// entry comes with the room's sync, shortly after the ring.
async function ringPicture (c) {
  for (let tries = 0; tries < 30 && shown?.id === c.id && shown.state === 'ringing'; tries++) {
    const f = c.room ? await app.ringPicture(c.room, c.id).catch(() => null) : null
    if (f) {
      const url = await fileURL(c.room, f)
      if (shown?.id !== c.id) return
      const img = $('call-picture')
      img.src = url
      img.hidden = false
      return
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
}

function endCard () {
  shown = null
  $('call-picture').hidden = true
  $('call-picture').removeAttribute('src')
  $('call').hidden = true
  $('unlock-status').textContent = ''
  for (const v of [$('call-remote'), $('call-local')]) v.srcObject = null
  $('call-local').hidden = true
}

function onCallChange (c) {
  if (c.id === autoAnswer && c.state === 'ringing') {
    autoAnswer = ''
    c.status = true
    showCall(c)
    $('call-state').textContent = 'Connecting…'
    app.answer(c.id, 'audio+video').catch(fail)
    return
  }
  c.status = true
  if (c.direction !== 'incoming' && !shown) return
  if (shown && shown.id !== c.id) {
    // Another call: a new ring takes the card only if the shown one is over.
    if (shown.state !== 'ended' || c.state === 'ended') return
  }
  if (!shown && c.state === 'ended') return
  showCall(c)
}

async function unlockDoor () {
  const c = shown
  if (!c?.door) return
  const st = $('unlock-status')
  st.textContent = 'Asking the door…'
  try {
    const r = await app.unlock(c.room, c.peer.device)
    st.textContent = r.opened ? 'The door is open.' : `The door said no: ${r.reason}`
    globalThis.hearthUnlock = r
  } catch (err) {
    st.textContent = `Not unlocked: ${err.message ?? err}`
  }
}

function toggle (btn, on) {
  btn.setAttribute('aria-pressed', on ? 'true' : 'false')
}

function setupCallCard (hooks) {
  hooks.onTrack = (id, stream) => {
    if (shown?.id !== id) return
    const v = $('call-remote')
    if (v.srcObject !== stream) v.srcObject = stream
    v.hidden = false
    v.muted = $('call-speaker').getAttribute('aria-pressed') !== 'true'
    v.play().catch(() => {})
  }
  hooks.onLocal = (id, stream) => {
    if (shown?.id !== id) return
    const v = $('call-local')
    v.srcObject = stream
    v.hidden = stream.getVideoTracks().length === 0
  }
  $('call-answer').addEventListener('click', () => {
    if (!shown) return
    $('call-state').textContent = 'Connecting…'
    app.answer(shown.id, 'audio+video').catch(fail)
  })
  $('call-decline').addEventListener('click', () => { if (shown) app.hangup(shown.id, '').catch(fail) })
  $('call-hangup').addEventListener('click', () => { if (shown) app.hangup(shown.id, '').catch(fail) })
  $('call-unlock').addEventListener('click', unlockDoor)
  $('call-unlock2').addEventListener('click', unlockDoor)
  $('call-mute').addEventListener('click', (e) => {
    const local = shown && media.local(shown.id)
    if (!local) return
    const muted = e.currentTarget.getAttribute('aria-pressed') !== 'true'
    for (const t of local.getAudioTracks()) t.enabled = !muted
    toggle(e.currentTarget, muted)
  })
  $('call-camera').addEventListener('click', (e) => {
    const local = shown && media.local(shown.id)
    if (!local) return
    const on = e.currentTarget.getAttribute('aria-pressed') !== 'true'
    for (const t of local.getVideoTracks()) t.enabled = on
    toggle(e.currentTarget, on)
  })
  $('call-speaker').addEventListener('click', (e) => {
    const on = e.currentTarget.getAttribute('aria-pressed') !== 'true'
    $('call-remote').muted = !on
    toggle(e.currentTarget, on)
  })
}

// A ring's notification opens the app at #call=…&room=…&door=…&do=…
// (sw.js): do is answer (answer the call as soon as its ring arrives
// here), unlock, or show. The ring reaches this page once its node is
// connected to the door: the door rings again every 2 s.
let autoAnswer = ''
let pendingTimer = null

function ringAction (hash) {
  const h = new URLSearchParams(hash)
  const call = h.get('call')
  if (!call) return
  const act = h.get('do') ?? 'show'
  const room = h.get('room') ?? ''
  const door = h.get('door') ?? ''
  history.replaceState(null, '', location.pathname)
  clearTimeout(pendingTimer)
  if (act === 'answer') autoAnswer = call
  const placeholder = { id: call, door: true, state: 'ringing', direction: 'incoming', room, peer: { device: door }, room_name: '' }
  showCall(placeholder)
  $('call-state').textContent = act === 'answer' ? 'Connecting to the door…' : 'The door is ringing…'
  $('call-answer').hidden = act === 'answer'
  if (act === 'unlock') unlockDoor()
  pendingTimer = setTimeout(() => {
    if (shown?.id === call && !shown.status) {
      $('call-state').textContent = 'The ring is over.'
      hideTimer = setTimeout(endCard, 3000)
    }
  }, 40000)
}

// Rings while closed: subscribe this browser to pushes with the rooms'
// key and give the rooms the subscription. ask: the person asked for it
// (a tap), so the permission may be requested.
async function ensurePush (ask) {
  const st = $('push-status')
  if (!('serviceWorker' in navigator) || !('PushManager' in window)) {
    if (ask) st.textContent = 'This browser cannot be rung while the app is closed.'
    return false
  }
  const key = await app.pushKey()
  if (!key) {
    if (ask) st.textContent = 'No door in your rooms yet.'
    return false
  }
  if (Notification.permission !== 'granted') {
    if (!ask || (await Notification.requestPermission()) !== 'granted') {
      if (ask) st.textContent = 'Notifications are not allowed for this app.'
      return false
    }
  }
  const reg = await navigator.serviceWorker.ready
  let sub = await reg.pushManager.getSubscription()
  const same = sub && btoa(String.fromCharCode(...new Uint8Array(sub.options.applicationServerKey ?? []))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') === key
  if (sub && !same) {
    await sub.unsubscribe()
    sub = null
  }
  sub ??= await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key })
  await app.registerPush(sub.toJSON())
  st.textContent = 'This phone rings when the door does, even with the app closed.'
  $('push-on').hidden = true
  return true
}

export async function startUI (hearthApp, state, node, hooks, callMedia) {
  app = hearthApp
  media = callMedia
  setupCallCard(hooks)
  $('back').addEventListener('click', () => showRooms().catch(fail))
  $('link-go').addEventListener('click', () => link())
  $('composer').addEventListener('submit', async (e) => {
    e.preventDefault()
    const t = $('text')
    const text = t.value.trim()
    if (!text || !current) return
    $('send').disabled = true
    try {
      await app.send(current.id, text)
      t.value = ''
      await renderRoom()
      $('messages').scrollTop = $('messages').scrollHeight
    } catch (err) {
      fail(err)
    } finally {
      $('send').disabled = false
    }
  })
  $('text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault()
      $('composer').requestSubmit()
    }
  })
  await app.watch((id) => {
    if (current && current.id === id) renderRoom().catch(fail)
    else if (!current && !$('rooms').hidden) showRooms().catch(fail)
  })
  const net = () => {
    const n = node.getConnections().length
    $('net').classList.toggle('on', n > 0)
    $('net').title = n > 0 ? `connected to ${n} peer(s)` : 'no peer reachable'
  }
  node.addEventListener('connection:open', net)
  node.addEventListener('connection:close', net)
  net()
  await app.watchCalls(onCallChange)
  $('push-on').addEventListener('click', () => ensurePush(true).catch(fail))
  navigator.serviceWorker?.addEventListener('message', (e) => {
    if (e.data?.type === 'ring-action') ringAction(new URL(e.data.url).hash.slice(1))
  })
  if (state.identity) {
    ringAction(location.hash.slice(1))
    for (const c of (await app.calls()) ?? []) if (c.state === 'ringing' && c.direction === 'incoming') onCallChange(c)
    await showRooms()
  } else {
    const h = fromHash()
    $('link-text').value = h.link
    $('link-at').value = h.at
    show('link', 'Link this phone')
  }
}
