// The app's entry: loads the Go half (hearth-app.wasm, with Go's
// wasm_exec.js), makes the device and its libp2p node. What the pages
// call is globalThis.hearthApp.
import { startNet } from './net.js'

async function loadCore (url) {
  const go = new globalThis.Go()
  const { instance } = await WebAssembly.instantiateStreaming(fetch(url), go.importObject)
  go.run(instance)
  if (!globalThis.hearthCore) throw new Error('the app core did not start')
  return globalThis.hearthCore
}

let started
async function start (name) {
  const core = await loadCore('hearth-app.wasm')
  const dev = core.newDevice(name)
  const { node, bridge } = await startNet(dev.key)
  dev.key.fill(0)
  core.start(bridge)
  return { core, node, peer: dev.peer }
}

globalThis.hearthApp = {
  // start(name) makes this page's device and node, once.
  start (name) {
    started ??= start(name)
    return started.then((s) => ({ peer: s.peer }))
  },
  // link(link, addrs) makes this device one of the link's identity.
  async link (link, addrs) {
    const s = await started
    return s.core.link(link, addrs ?? [])
  },
  async rooms () { return (await started).core.rooms() },
  async history (room, limit) { return (await started).core.history(room, limit ?? 50) },
  async send (room, text) { return (await started).core.send(room, text) },
  async sync (addrs) { return (await started).core.sync(addrs ?? []) }
}
