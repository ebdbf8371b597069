// The app's libp2p node: js-libp2p with the device key Go made, and the
// bridge package jsnet (Go) calls: dial, handle, unhandle, closePeer,
// addAddrs. A
// stream crosses as {next, send, closeWrite, closeRead, reset}: Go pulls
// each chunk (next) and waits for each send, so flow control is
// js-libp2p's own.
import { createLibp2p } from 'libp2p'
import { webRTCDirect } from '@libp2p/webrtc'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { privateKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'

function wrap (stream) {
  const it = stream[Symbol.asyncIterator]()
  return {
    async next () {
      const r = await it.next()
      if (r.done) return null
      return r.value.subarray()
    },
    async send (bytes) {
      if (!stream.send(bytes)) await stream.onDrain()
    },
    closeWrite: () => stream.close(),
    closeRead () { stream.closeRead().catch(() => {}) },
    reset () { stream.abort(new Error('reset')) }
  }
}

// startNet makes the node for key (the raw Ed25519 private key) and
// returns it with its bridge for Go.
export async function startNet (key) {
  const node = await createLibp2p({
    privateKey: privateKeyFromRaw(key),
    transports: [webRTCDirect(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() },
    // The appliance is on the home's LAN: private addresses are the
    // usual case, not a danger (js-libp2p refuses them by default).
    connectionGater: { denyDialMultiaddr: () => false }
  })
  const bridge = {
    async dial (peer, protocols) {
      // A relayed connection (the always-on node's circuit) is limited in
      // time and bytes; Hearth's protocols run on it, as between daemons.
      const s = await node.dialProtocol(peerIdFromString(peer), protocols, { runOnLimitedConnection: true })
      const conns = node.getConnections(peerIdFromString(peer))
      return { stream: wrap(s), protocol: s.protocol, addr: conns.length ? conns[0].remoteAddr.toString() : '' }
    },
    handle (protocol, fn) {
      return node.handle(protocol, (stream, conn) => fn(wrap(stream), conn.remotePeer.toString(), conn.remoteAddr.toString()), { runOnLimitedConnection: true })
    },
    unhandle (protocol) { return node.unhandle(protocol) },
    closePeer (peer) { node.hangUp(peerIdFromString(peer)).catch(() => {}) },
    addAddrs (peer, addrs) {
      return node.peerStore.merge(peerIdFromString(peer), { multiaddrs: addrs.map((a) => multiaddr(a)) })
    }
  }
  return { node, bridge }
}
