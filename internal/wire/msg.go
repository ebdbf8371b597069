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

// ReadMsg reads a message framed by WriteMsg, refusing one over limit
// bytes before allocating anything.
func ReadMsg(r *bufio.Reader, limit int) ([]byte, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil {
		return nil, err
	}
	if n > uint64(limit) {
		return nil, fmt.Errorf("%w: a message of %d bytes, at most %d", ErrTooLong, n, limit)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r, b)
	return b, err
}
