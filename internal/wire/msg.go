package wire

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
)

// WriteMsg writes b framed with its length (uvarint), in one write.
func WriteMsg(w io.Writer, b []byte) error {
	_, err := w.Write(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
	return err
}

// varintOverflow is encoding/binary's error for a varint over 64 bits
// (not exported).
const varintOverflow = "binary: varint overflows a 64-bit integer"

// ReadMsg reads a message framed by WriteMsg, refusing one over limit
// bytes before allocating anything.
func ReadMsg(r *bufio.Reader, limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		if err.Error() == varintOverflow {
			return nil, fmt.Errorf("%w: a length prefix over 64 bits", ErrTooLong)
		}
		return nil, err // the stream's own: closed, reset, timed out
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: a message of %d bytes, at most %d", ErrTooLong, n, limit)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}
