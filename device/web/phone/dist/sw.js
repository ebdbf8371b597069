// The app's service worker: the app shell from the cache (the app opens
// with no network at all, and answers the door as soon as a peer is
// reachable). scripts/web-build stamps BUILD with a hash of the app, so
// a new build is a new worker that fetches the new shell, then drops the
// old one.
const BUILD = 'd0f3a0816dee2ad9'
const CACHE = 'hearth-' + BUILD
const SHELL = ['./', 'index.html', 'app.js', 'app.css', 'wasm_exec.js', 'hearth-app.wasm',
  'manifest.webmanifest', 'icons/icon-192.png', 'icons/icon-512.png']

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()))
})

self.addEventListener('activate', (e) => {
  e.waitUntil((async () => {
    for (const k of await caches.keys()) {
      if (k.startsWith('hearth-') && k !== CACHE) await caches.delete(k)
    }
    await self.clients.claim()
  })())
})

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url)
  if (e.request.method !== 'GET' || url.origin !== self.location.origin) return
  e.respondWith((async () => {
    const hit = await caches.match(e.request, { cacheName: CACHE, ignoreSearch: true })
    return hit ?? fetch(e.request)
  })())
})

// Rings while the app is closed (Web Push): the door pushes {type:
// "ring", call, room, door, door_name, time}; this shows it with Answer
// and Unlock, and a tap opens the app into the call (or unlocks).
self.addEventListener('push', (e) => {
  let d = {}
  try { d = e.data?.json() ?? {} } catch { return }
  if (d.type !== 'ring') return
  const who = d.door_name || 'The door'
  e.waitUntil(self.registration.showNotification(`${who} is ringing`, {
    body: 'Someone is at the door.',
    tag: 'ring',
    renotify: true,
    requireInteraction: true,
    icon: 'icons/icon-192.png',
    data: d,
    actions: [{ action: 'answer', title: 'Answer' }, { action: 'unlock', title: 'Unlock' }]
  }))
})

// ringURL is where a tap on a ring's notification opens the app: the
// call, and what to do (answer, unlock, or just show the ring).
function ringURL (d, action) {
  const u = new URL('./', self.registration.scope)
  u.hash = new URLSearchParams({ call: d.call ?? '', room: d.room ?? '', door: d.door ?? '', do: action || 'show' }).toString()
  return u.href
}

self.addEventListener('notificationclick', (e) => {
  const d = e.notification.data ?? {}
  e.notification.close()
  if (d.type !== 'ring') return
  const url = ringURL(d, e.action)
  e.waitUntil((async () => {
    // An open app is told; else the app opens at the ring.
    for (const w of await self.clients.matchAll({ type: 'window', includeUncontrolled: true })) {
      if (w.url.startsWith(self.registration.scope)) {
        w.postMessage({ type: 'ring-action', url })
        return w.focus()
      }
    }
    return self.clients.openWindow(url)
  })())
})
