package av

import "errors"

// Microphone is audio from a program that writes raw signed 16-bit
// little-endian mono PCM at 48 kHz on its standard output: arecord on an
// ALSA sound card (ARecordCommand). It is encoded to Opus, which needs
// the codecs; without them it sends nothing.
type Microphone struct {
	Command []string
}

// ARecordCommand is arecord capturing an ALSA device ("default" for the
// default one) the way Microphone reads it.
func ARecordCommand(device string) []string {
	if device == "" {
		device = "default"
	}
	return []string{"arecord", "-q", "-t", "raw", "-f", "S16_LE", "-r", "48000", "-c", "1", "-D", device}
}

// Video is none: a microphone has no picture.
func (m Microphone) Video() (Stream, error) { return nil, nil }

// Audio starts the program.
func (m Microphone) Audio() (Stream, error) {
	if len(m.Command) == 0 {
		return nil, errors.New("no microphone command")
	}
	return newPCMStream(m.Command)
}

// Mix takes video from one source and audio from another: a camera and a
// microphone.
type Mix struct {
	VideoFrom, AudioFrom Source
}

// Video is VideoFrom's.
func (m Mix) Video() (Stream, error) {
	if m.VideoFrom == nil {
		return nil, nil
	}
	return m.VideoFrom.Video()
}

// Audio is AudioFrom's.
func (m Mix) Audio() (Stream, error) {
	if m.AudioFrom == nil {
		return nil, nil
	}
	return m.AudioFrom.Audio()
}
