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
}

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
    text.textContent = m.deleted ? 'deleted' : (m.file ? '📎 ' + m.file + (m.text ? ' ' + m.text : '') : m.text)
    const meta = document.createElement('div')
    meta.className = 'meta'
    meta.textContent = time(m.time) + (m.edited ? ' · edited' : '')
    li.append(text, meta)
    return li
  }))
  if (atEnd) ol.scrollTop = ol.scrollHeight
}

async function openRoom (r) {
  current = { id: r.id, name: r.name || r.id.slice(0, 8) }
  show('room', current.name)
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

export async function startUI (hearthApp, state, node) {
  app = hearthApp
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
  if (state.identity) {
    await showRooms()
  } else {
    const h = fromHash()
    $('link-text').value = h.link
    $('link-at').value = h.at
    show('link', 'Link this phone')
  }
}
