// The app's entry: loads the Go half (hearth-app.wasm, with Go's
// wasm_exec.js), opens the browser's storage, starts this device's
// libp2p node and the screens. What the screens (and the tests) call is
// globalThis.hearthApp; every function returns a Promise.
import { startNet } from './net.js'
import { openStore } from './store.js'
import { startUI, fail } from './ui.js'
import { makeMedia } from './calls.js'

async function loadCore (url) {
  const go = new globalThis.Go()
  const { instance } = await WebAssembly.instantiateStreaming(fetch(url), go.importObject)
  go.run(instance)
  if (!globalThis.hearthCore) throw new Error('the app core did not start')
  return globalThis.hearthCore
}

async function boot (name) {
  const core = await loadCore('hearth-app.wasm')
  const store = await openStore()
  // Ask the browser to keep this origin's storage when space runs low:
  // the device key and the rooms live there.
  navigator.storage?.persist?.().catch(() => {})
  const dev = await core.open(store, name)
  const { node, bridge } = await startNet(dev.key)
  dev.key.fill(0)
  const media = makeMedia({
    report: (id, kind, value) => core.callEvent(id, kind, value),
    onTrack: (id, stream) => hooks.onTrack(id, stream),
    onLocal: (id, stream) => hooks.onLocal(id, stream),
    iceServers: () => core.iceServers().catch(() => [])
  })
  const state = await core.start(bridge, media)
  return { core, node, media, store, peer: dev.peer, identity: state.identity }
}

// answeredAt: when answer(call) was asked, by call (performance.now()).
const answeredAt = new Map()

// hooks are where the screens take the calls' streams.
const hooks = { onTrack () {}, onLocal () {} }

let booted
const hearthApp = {
  // start(name) opens this page's device (made, named name, the first
  // time) and its node, once.
  start (name) {
    booted ??= boot(name)
    return booted.then((s) => s.core.self())
  },
  // link(link, addrs) makes this device one of the link's identity.
  // name, if given, renames this device first.
  async link (link, addrs, name) { return (await booted).core.link(link, addrs ?? [], name ?? '') },
  async rooms () { return (await booted).core.rooms() },
  async history (room, limit) { return (await booted).core.history(room, limit ?? 50) },
  async send (room, text) { return (await booted).core.send(room, text) },
  async sync (addrs) { return (await booted).core.sync(addrs ?? []) },
  async watch (fn) { return (await booted).core.watch(fn) },
  // The calls: a ring at the door is one. send is "audio" or
  // "audio+video".
  async calls () { return (await booted).core.calls() },
  async answer (call, send) {
    const { core } = await booted
    answeredAt.set(call, performance.now())
    return core.answer(call, send ?? 'audio+video')
  },
  async hangup (call, reason) { return (await booted).core.hangup(call, reason ?? '') },
  async unlock (room, door) { return (await booted).core.unlock(room, door ?? '') },
  async watchCalls (fn) { return (await booted).core.watchCalls(fn) },
  // Files: files(room) → [FileInfo] newest first; fetchFile(room, id,
  // progress) gets one from every source into this page's storage
  // (progress({done, total, sources})); fileBlob(f) → the Blob of file f
  // (a FileInfo) if it is all here, else null; ringPicture(room, call) →
  // the FileInfo of the door's picture of that ring, or null before its
  // entry arrives; mirrors(room) → [{peer, addrs, by}].
  async files (room, limit) { return (await booted).core.files(room, limit ?? 200) },
  async fetchFile (room, id, progress) { return (await booted).core.fetchFile(room, id, progress ?? null) },
  async fileBlob (f) { return (await booted).store.fileBlob(f.root, f.chunks, f.type) },
  async ringPicture (room, call) { return (await booted).core.ringPicture(room, call) },
  async mirrors (room) { return (await booted).core.mirrors(room) },
  // Rings while the app is closed: pushKey() is the key to subscribe
  // with ("" if no room has one); registerPush(sub) gives the rooms this
  // browser's subscription (PushSubscription.toJSON()).
  async pushKey () { return (await booted).core.pushKey() },
  async registerPush (sub) {
    return (await booted).core.setPush(sub?.endpoint ?? '', sub?.keys?.p256dh ?? '', sub?.keys?.auth ?? '')
  },
  // callMedia(call) → what the page's media counted (frames decoded,
  // audio packets, path), whether its microphone and camera send, and
  // first_frame_ms: from answer(call) to the first video frame decoded,
  // as the page timed it (null before).
  async callMedia (call) {
    const { media } = await booted
    const local = media.local(call)
    const first = media.firstFrame(call)
    return {
      ...((await media.stats(call)) ?? {}),
      first_frame_ms: first && answeredAt.has(call) ? Math.max(0, first - answeredAt.get(call)) : null,
      mic: local?.getAudioTracks().some((t) => t.enabled) ?? false,
      camera: local?.getVideoTracks().some((t) => t.enabled) ?? false
    }
  },
  // connections() → [{peer, addr, limited}]: the node's connections now
  // (a relayed one's addr has /p2p-circuit).
  async connections () {
    return (await booted).node.getConnections().map((c) => ({
      peer: c.remotePeer.toString(), addr: c.remoteAddr.toString(), limited: c.limits != null
    }))
  }
}
globalThis.hearthApp = hearthApp

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('sw.js').catch((err) => console.warn('no service worker:', err))
}

const name = new URLSearchParams(location.hash.slice(1)).get('name') ?? 'phone'
hearthApp.start(name)
  .then(async (self) => startUI(hearthApp, self, (await booted).node, hooks, (await booted).media))
  .catch(fail)
