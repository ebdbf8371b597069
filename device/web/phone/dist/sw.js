// The app's service worker: the app shell from the cache (the app opens
// with no network at all, and answers the door as soon as a peer is
// reachable). scripts/web-build stamps BUILD with a hash of the app, so
// a new build is a new worker that fetches the new shell, then drops the
// old one.
const BUILD = '270ea42a260ba8ca'
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
