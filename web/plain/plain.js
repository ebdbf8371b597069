// A plain js-libp2p node, as anyone would make one from npm: nothing of
// Hearth's. The suite loads it in Chromium to check that a daemon answers
// any libp2p browser peer over WebRTC-direct (dial, identify, ping).
import { createLibp2p } from 'libp2p'
import { webRTCDirect } from '@libp2p/webrtc'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'

// plainDial dials addr, waits for identify, pings and returns what it saw.
globalThis.plainDial = async (addr) => {
  const node = await createLibp2p({
    transports: [webRTCDirect()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ping: ping() },
    // The daemon listens on loopback in the test: libp2p refuses private
    // addresses by default.
    connectionGater: { denyDialMultiaddr: () => false }
  })
  try {
    const ma = multiaddr(addr)
    const identified = new Promise((resolve) => {
      node.addEventListener('peer:identify', (e) => resolve(e.detail))
    })
    const conn = await node.dial(ma)
    const id = await Promise.race([identified, new Promise((_, reject) => setTimeout(() => reject(new Error('identify timed out')), 20000))])
    const rtt = await node.services.ping.ping(ma)
    return {
      peer: conn.remotePeer.toString(),
      remote: conn.remoteAddr.toString(),
      agent: id.agentVersion ?? '',
      protocols: id.protocols,
      rtt
    }
  } finally {
    await node.stop()
  }
}
