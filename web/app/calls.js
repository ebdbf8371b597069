// The calls' media: the browser's own WebRTC. Go (app/jscalls.go) keeps
// the signalling and asks this for each call: offer, answer, setAnswer,
// addCandidate, close; what happens here goes back to Go through
// report(call, kind, value): candidate, connected, failed, stats.
//
// The remote side's tracks are given to onTrack(call, stream); the local
// stream (camera and microphone) to onLocal(call, stream), so the screens
// show them and mute them.

export function makeMedia ({ report, onTrack, onLocal, iceServers }) {
  const calls = new Map() // call id → {pc, local, pending, remoteSet, timer}
  const prepared = new Map() // call id → a promise of its local stream, asked for while it rings
  const servers = new Map() // call id → a promise of its ICE servers, asked for while it rings

  async function localStream (send) {
    const video = send.includes('video')
    try {
      return await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true },
        video: video ? { facingMode: 'user', width: { ideal: 640 }, height: { ideal: 480 } } : false
      })
    } catch (err) {
      if (!video) throw new Error(`the microphone: ${err.message}`)
      // No camera (or not allowed): the call goes on with the voice.
      return navigator.mediaDevices.getUserMedia({ audio: true })
    }
  }

  // open makes the call's connection; offer, if given, is the caller's
  // description, set before the local tracks so that they go on the
  // offer's own m-lines.
  async function open (id, send, offer) {
    const c = { id, pc: null, local: null, pending: [], remoteSet: false, timer: null, last: null, firstFrame: 0 }
    calls.set(id, c)
    const ice = servers.get(id) ?? iceServers?.()
    servers.delete(id)
    const pc = new RTCPeerConnection({ iceServers: (await ice?.catch(() => [])) ?? [] })
    c.pc = pc
    pc.onicecandidate = (e) => report(id, 'candidate', e.candidate ? e.candidate.toJSON() : null)
    pc.ontrack = (e) => {
      if (e.track.kind === 'video') firstFrame(c, e.receiver)
      onTrack(id, e.streams[0] ?? new MediaStream([e.track]))
    }
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'connected') report(id, 'connected')
      if (pc.connectionState === 'failed') report(id, 'failed', 'the browser\'s connection failed')
    }
    if (offer) {
      await pc.setRemoteDescription({ type: 'offer', sdp: offer })
      await flush(c)
    }
    c.local = await (prepared.get(id) ?? localStream(send))
    prepared.delete(id)
    if (calls.get(id) !== c) {
      // Closed while the camera was being opened.
      for (const t of c.local.getTracks()) t.stop()
      throw new Error('the call ended')
    }
    for (const t of c.local.getTracks()) pc.addTrack(t, c.local)
    onLocal(id, c.local)
    c.timer = setInterval(() => stats(id, c).catch(() => {}), 1000)
    return c
  }

  // firstFrame notes when the call's first video frame is decoded
  // (c.firstFrame, performance.now()), looking every 5 ms for 30 s at
  // most: what answering costs, as the page sees it.
  function firstFrame (c, receiver) {
    const start = performance.now()
    const look = async () => {
      if (c.firstFrame || performance.now() - start > 30000 || calls.get(c.id) !== c) return
      const r = await receiver.getStats().catch(() => null)
      let decoded = 0
      r?.forEach((s) => { if (s.type === 'inbound-rtp') decoded += s.framesDecoded ?? 0 })
      if (decoded > 0) c.firstFrame = performance.now()
      else setTimeout(look, 5)
    }
    look()
  }

  async function flush (c) {
    c.remoteSet = true
    for (const cand of c.pending.splice(0)) await c.pc.addIceCandidate(cand).catch(() => {})
  }

  // stats reports what came in: frames decoded, audio packets, bytes,
  // the selected path (host, srflx, relay).
  async function stats (id, c) {
    const st = await collect(c)
    if (JSON.stringify(st) !== c.last) {
      c.last = JSON.stringify(st)
      report(id, 'stats', st)
    }
  }

  async function collect (c) {
    const r = await c.pc.getStats()
    let frames = 0; let audio = 0; let bytes = 0; let path = ''
    const cands = new Map()
    let pair = null
    r.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') { frames += s.framesDecoded ?? 0; bytes += s.bytesReceived ?? 0 }
      if (s.type === 'inbound-rtp' && s.kind === 'audio') { audio += s.packetsReceived ?? 0; bytes += s.bytesReceived ?? 0 }
      if (s.type === 'local-candidate' || s.type === 'remote-candidate') cands.set(s.id, s)
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s
    })
    if (pair) {
      const l = cands.get(pair.localCandidateId); const rm = cands.get(pair.remoteCandidateId)
      path = `${l?.candidateType ?? '?'}-${rm?.candidateType ?? '?'}`
    }
    return { unread_frames: frames, audio_packets: audio, bytes_in: bytes, path }
  }

  return {
    async offer (id, send) {
      const c = await open(id, send)
      await c.pc.setLocalDescription(await c.pc.createOffer())
      return c.pc.localDescription.sdp
    },
    async answer (id, sdp, send) {
      const c = await open(id, send, sdp)
      await c.pc.setLocalDescription(await c.pc.createAnswer())
      return c.pc.localDescription.sdp
    },
    async setAnswer (id, sdp) {
      const c = calls.get(id)
      if (!c) throw new Error('no such call')
      await c.pc.setRemoteDescription({ type: 'answer', sdp })
      await flush(c)
    },
    async addCandidate (id, cand) {
      const c = calls.get(id)
      if (!c) return
      if (!c.remoteSet || !c.pc) {
        if (c.pending.length < 64) c.pending.push(cand)
        return
      }
      await c.pc.addIceCandidate(cand)
    },
    // prepare opens the camera and microphone while a call rings, so that
    // answering does not wait for them; release drops them if it is not
    // answered.
    prepare (id, send) {
      if (prepared.has(id) || calls.has(id)) return
      prepared.set(id, localStream(send).catch(() => localStream('audio')))
      // The TURN credentials too: answering then makes its connection at
      // once.
      if (iceServers) servers.set(id, iceServers().catch(() => []))
    },
    release (id) {
      const p = prepared.get(id)
      prepared.delete(id)
      servers.delete(id)
      p?.then((s) => { for (const t of s.getTracks()) t.stop() }, () => {})
    },
    close (id) {
      this.release(id)
      const c = calls.get(id)
      if (!c) return
      calls.delete(id)
      clearInterval(c.timer)
      for (const t of c.local?.getTracks() ?? []) t.stop()
      c.pc?.close()
    },
    // local(id) is the call's own stream, for mute and camera.
    local (id) { return calls.get(id)?.local ?? null },
    // stats(id) → what came in so far, read now.
    async stats (id) { const c = calls.get(id); return c?.pc ? collect(c) : null },
    // firstFrame(id) → when its first video frame was decoded
    // (performance.now()), or 0.
    firstFrame (id) { return calls.get(id)?.firstFrame ?? 0 }
  }
}
