package app

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/blobwire"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
)

// FileInfo is a file of a room as the app lists it.
type FileInfo struct {
	ID   string `json:"id"`   // the message's
	Root string `json:"root"` // the file's, hex: where the page keeps its bytes
	Name string `json:"name"`
	// Type is the manifest's type if it is a raster picture's (the page
	// shows it), else application/octet-stream (the page offers it to
	// save): what a member declares never makes the page's object URL
	// an HTML document or an SVG of the app's origin. Declared is the
	// manifest's own.
	Type     string `json:"type"`
	Declared string `json:"declared,omitempty"`
	Size     int64  `json:"size"`
	Chunks   int    `json:"chunks"`
	Caption  string `json:"caption,omitempty"`
	Author   string `json:"author"`
	Mine     bool   `json:"mine"`
	Time     int64  `json:"time"`           // unix milliseconds
	Door     string `json:"door,omitempty"` // a door's picture or clip: ring, missed, motion
}

func fileInfo(m *room.Message, me room.Self) FileInfo {
	f := FileInfo{ID: m.ID.String(), Root: fmt.Sprintf("%x", m.File.Root[:]), Name: m.File.Name, Type: pageType(m.File.Type), Declared: m.File.Type,
		Size: m.File.Size, Chunks: m.File.Chunks(), Caption: m.Text, Author: m.Author.String(), Mine: m.Author == me.Identity, Time: m.Time}
	if m.Door != nil {
		f.Caption = ""
		switch m.Door.Event {
		case room.DoorRing:
			f.Door = "ring"
		case room.DoorMissed:
			f.Door = "missed"
		case room.DoorMotion:
			f.Door = "motion"
		}
	}
	return f
}

// pictureTypes are the types the page shows inline.
var pictureTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/avif": true}

// pageType is the type the page gives a file's bytes (see FileInfo.Type).
func pageType(declared string) string {
	t := strings.ToLower(strings.TrimSpace(declared))
	if i := strings.IndexByte(t, ';'); i >= 0 {
		t = strings.TrimSpace(t[:i])
	}
	if pictureTypes[t] {
		return t
	}
	return "application/octet-stream"
}

// Files returns the files of room which that nobody deleted, newest
// first, limit at most.
func (rs *Rooms) Files(which string, limit int) ([]FileInfo, error) {
	r, err := rs.find(which)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	out := []FileInfo{}
	err = r.Files(true, func(m *room.Message) bool {
		if !m.Deleted && m.File != nil {
			out = append(out, fileInfo(m, rs.self))
		}
		return len(out) < limit
	})
	return out, err
}

// RingPicture returns the picture the door took when it rang call in
// room which, once its entry has arrived; ok is false before.
func (rs *Rooms) RingPicture(which string, call [16]byte) (f FileInfo, ok bool, err error) {
	r, err := rs.find(which)
	if err != nil {
		return FileInfo{}, false, err
	}
	err = r.Files(true, func(m *room.Message) bool {
		if m.Door != nil && m.Door.Event == room.DoorRing && m.Door.Call == call && m.File != nil && !m.Deleted {
			f, ok = fileInfo(m, rs.self), true
			return false
		}
		return true
	})
	return f, ok, err
}

// MirrorInfo is a blind mirror of a room as the app shows it.
type MirrorInfo struct {
	Peer  string   `json:"peer"`
	Addrs []string `json:"addrs"`
	By    string   `json:"by"` // the admin who added it
}

// Mirrors returns the mirrors of room which.
func (rs *Rooms) Mirrors(which string) ([]MirrorInfo, error) {
	r, err := rs.find(which)
	if err != nil {
		return nil, err
	}
	out := []MirrorInfo{}
	r.View(func(v *View) {
		for _, m := range v.Mirrors {
			out = append(out, MirrorInfo{Peer: m.PeerID, Addrs: append([]string(nil), m.Addrs...), By: m.AddedBy.String()})
		}
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Peer < out[j].Peer })
	return out, nil
}

// FetchFile is what a download needs besides the file.
type FetchFile struct {
	Host blobwire.Host
	// By is the device that linked this one: it holds what its household
	// sent, and is tried first.
	By peer.ID
	// Addrs, if set, is given each source before it is dialled, with
	// the addresses the room gives it (a mirror's; none for a device).
	Addrs func(p peer.ID, addrs []string)
	// Held are the chunks the page holds already (a download that broke).
	Held []int
	// Put keeps chunk i's plaintext, checked and decrypted; it may be
	// called from two goroutines at once, never twice for one chunk.
	Put      func(i int, plain []byte) error
	Progress func(blobwire.Progress)
}

// Fetch gets file id (a message's) of room which from every source at
// once into the page (f.Put), resuming from f.Held: the device that
// linked this one, the room's doors and members' devices, its mirrors.
// It returns the file's info once the page holds all of it.
func (rs *Rooms) Fetch(ctx context.Context, which, id string, f FetchFile) (FileInfo, error) {
	r, err := rs.find(which)
	if err != nil {
		return FileInfo{}, err
	}
	prefix, seq, err := room.ParseRefPrefix(id)
	if err != nil {
		return FileInfo{}, fmt.Errorf("file %q: %w", id, err)
	}
	var m *room.Message
	ref, ok := r.FindMessage(prefix, seq)
	if ok {
		m, ok = r.Message(ref)
	}
	if !ok || m.File == nil {
		return FileInfo{}, fmt.Errorf("no file %q in room %s", id, rs.name(r))
	}
	if m.Deleted {
		return FileInfo{}, errors.New("the file was deleted")
	}
	info := fileInfo(m, rs.self)
	srcs := rs.fileSources(r, f.By, f.Addrs)
	hashes, err := blobwire.FetchHashes(ctx, f.Host, m.File, srcs)
	if err != nil {
		return info, err
	}
	sink, err := newPageSink(m.File, hashes, f.Held, f.Put)
	if err != nil {
		return info, err
	}
	return info, blobwire.Fetch(ctx, blobwire.FetchConfig{Host: f.Host, Peers: srcs, Partial: sink, Progress: f.Progress})
}

// fileSources are the peers that may hold room r's files, by first: the
// devices of its members (its doors among them) and its mirrors.
func (rs *Rooms) fileSources(r *room.Room, by peer.ID, addrs func(peer.ID, []string)) []peer.ID {
	me, _ := proto.PeerOf(rs.self.Device.Public())
	seen := map[peer.ID]bool{me: true, "": true}
	var out []peer.ID
	add := func(p peer.ID, as []string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
			if addrs != nil {
				addrs(p, as)
			}
		}
	}
	add(by, nil)
	r.View(func(v *View) {
		for d, info := range v.Devices {
			if info.Revoked {
				continue
			}
			if p, err := proto.PeerOf(d); err == nil {
				add(p, nil)
			}
		}
		for _, m := range v.Mirrors {
			if p, err := peer.Decode(m.PeerID); err == nil {
				add(p, m.Addrs)
			}
		}
	})
	return out
}

// pageSink takes a file's chunks for the page: each is checked against its
// hash and decrypted here, and its plaintext handed to put (the page
// keeps it in IndexedDB).
type pageSink struct {
	*blobwire.HeldSet // Missing, Held, Complete
	m                 *chunk.Manifest
	hashes            []chunk.Hash
	put               func(i int, plain []byte) error
}

var _ blobwire.Sink = (*pageSink)(nil)

func newPageSink(m *chunk.Manifest, hashes []chunk.Hash, held []int, put func(int, []byte) error) (*pageSink, error) {
	if err := chunk.CheckHashes(m, hashes); err != nil {
		return nil, err
	}
	if put == nil {
		return nil, errors.New("nowhere to keep the file")
	}
	s := &pageSink{HeldSet: blobwire.NewHeldSet(m), m: m, hashes: hashes, put: put}
	for _, i := range held {
		s.Mark(i)
	}
	return s, nil
}

func (s *pageSink) Manifest() *chunk.Manifest { return s.m }

// Put checks ciphertext chunk i, decrypts it (over ct) and hands it to the
// page.
func (s *pageSink) Put(i int, ct []byte) error {
	if i < 0 || i >= len(s.hashes) || chunk.Sum(ct) != s.hashes[i] {
		return fmt.Errorf("%w: chunk %d does not match its hash", chunk.ErrBad, i)
	}
	plain, err := chunk.OpenInPlace(s.m, i, ct)
	if err != nil {
		return err
	}
	if err := s.put(i, plain); err != nil {
		return fmt.Errorf("keeping chunk %d: %w", i, err)
	}
	s.Mark(i)
	return nil
}

// Sync does nothing: the page's storage commits each chunk.
func (s *pageSink) Sync() error { return nil }
