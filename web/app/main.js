// The app's entry: loads the Go half (hearth-app.wasm, with Go's
// wasm_exec.js), opens the browser's storage, and starts this device's
// libp2p node. What the pages call is globalThis.hearthApp; every
// function returns a Promise.
import { startNet } from './net.js'
import { openStore } from './store.js'

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
  const state = await core.start(bridge)
  return { core, node, peer: dev.peer, identity: state.identity }
}

let booted
globalThis.hearthApp = {
  // start(name) opens this page's device (made, named name, the first
  // time) and its node, once.
  start (name) {
    booted ??= boot(name)
    return booted.then((s) => ({ peer: s.peer, identity: s.identity }))
  },
  // link(link, addrs) makes this device one of the link's identity.
  async link (link, addrs) { return (await booted).core.link(link, addrs ?? []) },
  async rooms () { return (await booted).core.rooms() },
  async history (room, limit) { return (await booted).core.history(room, limit ?? 50) },
  async send (room, text) { return (await booted).core.send(room, text) },
  async sync (addrs) { return (await booted).core.sync(addrs ?? []) }
}
