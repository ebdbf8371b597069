package av

import (
	"encoding/binary"
	"io"
	"os/exec"

	"github.com/pion/opus"

	"github.com/hearthp2p/hearth/internal/logattr"
)

// speaker plays the other side's voice: Opus decoded in Go (no cgo, so
// the Pi's cgo-free builds play it too) and written as PCM to a player
// program.
type speaker struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	dec opus.Decoder
	pcm []int16
	out []byte
	bad bool
}

// maxOpusSamples is the longest Opus packet at 48 kHz: 120 ms.
const maxOpusSamples = 5760

func (p *peerEndpoint) speaker() *speaker {
	if len(p.cfg.Speaker) == 0 {
		return nil
	}
	dec, err := opus.NewDecoderWithOutput(48000, 1)
	if err != nil {
		p.log.Info("no Opus decoder for the speaker", logattr.Err(err))
		return nil
	}
	cmd := exec.Command(p.cfg.Speaker[0], p.cfg.Speaker[1:]...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil
	}
	if err := cmd.Start(); err != nil {
		p.log.Info("the speaker does not start", logattr.Err(err))
		return nil
	}
	return &speaker{cmd: cmd, in: in, dec: dec, pcm: make([]int16, maxOpusSamples), out: make([]byte, 2*maxOpusSamples)}
}

// play decodes one Opus packet and plays it; it returns the samples
// played.
func (s *speaker) play(pkt []byte) int {
	if s.bad {
		return 0
	}
	n, err := s.dec.DecodeToInt16(pkt, s.pcm)
	if err != nil || n <= 0 {
		return 0
	}
	for i := range n {
		binary.LittleEndian.PutUint16(s.out[2*i:], uint16(s.pcm[i]))
	}
	if _, err := s.in.Write(s.out[:2*n]); err != nil {
		s.bad = true // the player died: the call goes on without it
		return 0
	}
	return n
}

func (s *speaker) close() {
	s.in.Close()
	s.cmd.Wait()
}
