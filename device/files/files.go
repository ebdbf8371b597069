package files

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/hearthp2p/hearth/device/control"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/p2p/blob"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
	"github.com/hearthp2p/hearth/p2p/blobwire"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/log"
	"github.com/hearthp2p/hearth/p2p/mirror"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/p2p/proto"
	"github.com/hearthp2p/hearth/p2p/room"
	"github.com/hearthp2p/hearth/storage"
)

// Files: 'file send' encrypts a file into the chunk store and writes its
// manifest into the room; 'file get' fetches it from every peer of the
// room that has it into a partial file next to its destination, renamed
// when complete. A member serves what it downloaded.

// DownloadsName is the folder in the home where files go by default.
const DownloadsName = "downloads"

var bucketDownloads = []byte("downloads")

// Files is the daemon's side of file transfer.
//
// Lock order: getMu, then mu; a download's own mu is a leaf.
type Files struct {
	log   *slog.Logger
	node  *hnet.Node
	db    *storage.DB
	rooms *rooms.Manager
	kept  *mirror.Store // on a mirror: the kept rooms, whose files are kept too
	store *blob.Store
	svc   *blob.Service
	home  string

	mu       sync.Mutex
	jobs     map[string]*download
	getMu    sync.Mutex                   // one get at a time decides: one job per file
	partials map[chunk.Hash]*blob.Partial // open for serving
	wg       sync.WaitGroup
	ctx      context.Context
	cancel   context.CancelFunc
}

// download is one 'file get'.
type download struct {
	mu      sync.Mutex
	st      control.Download
	started time.Time
	root    chunk.Hash // a get: the file's
}

// Config is what New needs.
type Config struct {
	Logger *slog.Logger
	Node   *hnet.Node
	DB     *storage.DB
	Blobs  *blob.Store
	Rooms  *rooms.Manager
	// Kept is the store of kept rooms on a mirror (else nil).
	Kept *mirror.Store
	// Home is the daemon's folder: downloads go to its DownloadsName.
	Home string
}

// New serves the files of the rooms from here on; Close stops.
func New(cfg Config) *Files {
	f := &Files{log: cfg.Logger, node: cfg.Node, db: cfg.DB, rooms: cfg.Rooms, kept: cfg.Kept,
		store: cfg.Blobs, home: cfg.Home, jobs: map[string]*download{}, partials: map[chunk.Hash]*blob.Partial{}}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.svc = blob.NewService(f.node.Host, f.Lookup, f.log)
	return f
}

func (f *Files) Close() {
	f.svc.Close()
	f.cancel()
	f.wg.Wait()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.partials {
		p.Close()
	}
}

// Lookup finds a source for a file: the chunk store (sent or kept here),
// else a file downloaded here.
func (f *Files) Lookup(root chunk.Hash) (blob.Source, bool) {
	if _, ok := f.store.Hashes(root); ok {
		return f.store, true
	}
	f.mu.Lock()
	p, ok := f.partials[root]
	f.mu.Unlock()
	if ok {
		return p, true
	}
	// A file downloaded before a restart: open it to serve it.
	b, err := f.db.Get(bucketDownloads, root[:])
	if err != nil {
		return nil, false
	}
	var rec struct {
		Path   string
		Room   string
		Hashes []chunk.Hash
		Ref    string
	}
	if json.Unmarshal(b, &rec) != nil {
		return nil, false
	}
	m := f.ManifestOf(rec.Room, rec.Ref)
	if m == nil || m.Root != root {
		return nil, false
	}
	part, err := blob.OpenPartial(rec.Path, m, rec.Hashes)
	if err != nil {
		return nil, false
	}
	f.mu.Lock()
	if old, ok := f.partials[root]; ok {
		part.Close()
		part = old
	} else {
		f.partials[root] = part
	}
	f.mu.Unlock()
	return part, true
}

// ManifestOf returns the manifest of a file message of a room.
func (f *Files) ManifestOf(roomID, ref string) *chunk.Manifest {
	r, err := f.rooms.Resolve(roomID)
	if err != nil {
		return nil
	}
	id, err := rooms.FindMessage(r, ref)
	if err != nil {
		return nil
	}
	if msg, ok := r.Message(id); ok && msg.File != nil && !msg.Deleted {
		return msg.File
	}
	return nil
}

// checkSendable refuses what cannot be sent, before any work starts.
func checkSendable(path string) (os.FileInfo, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("%w: the path must be absolute (the command line makes it so)", control.ErrBadArg)
	}
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%w: %s does not exist", control.ErrBadArg, path)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", control.ErrBadArg, err)
	case fi.IsDir():
		return nil, fmt.Errorf("%w: %s is a folder: send a file (or an archive of the folder)", control.ErrBadArg, path)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%w: %s is not a regular file", control.ErrBadArg, path)
	case fi.Size() > chunk.MaxFileSize:
		return nil, fmt.Errorf("%w: %s is %d bytes, at most %d", control.ErrBadArg, path, fi.Size(), int64(chunk.MaxFileSize))
	}
	// Unreadable is found now, not after the job started.
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", control.ErrBadArg, err)
	}
	fh.Close()
	return fi, nil
}

// Send encrypts a file into the chunk store and writes it into the room.
// progress, if not nil, gets the bytes encrypted so far.
func (f *Files) Send(ctx context.Context, r *room.Room, path, mediaType, caption string, progress func(int64)) (room.Ref, *chunk.Manifest, error) {
	if _, err := checkSendable(path); err != nil {
		return room.Ref{}, nil, err
	}
	m, mb, err := f.StoreFile(ctx, path, mediaType, progress)
	if err != nil {
		return room.Ref{}, nil, err
	}
	ref, err := r.Write(room.Op{Type: room.OpFile, Blob: mb, Text: caption})
	if err != nil {
		return room.Ref{}, nil, err
	}
	f.log.Info("file sent", logattr.Room(r.ID().String()), slog.Int64("bytes", m.Size), slog.Int("chunks", m.Chunks()))
	f.ToMirrors(r, m)
	return ref, m, nil
}

// StoreFile encrypts a file into the chunk store and returns its manifest,
// named after the file, and the manifest's bytes for an entry.
func (f *Files) StoreFile(ctx context.Context, path, mediaType string, progress func(int64)) (*chunk.Manifest, []byte, error) {
	m, err := f.store.PutFileProgress(ctx, path, progress)
	if err != nil {
		if errors.Is(err, fs.ErrPermission) {
			return nil, nil, fmt.Errorf("%w: %v", control.ErrBadArg, err)
		}
		return nil, nil, err
	}
	m.Name = chunk.SafeName(filepath.Base(path))
	if mediaType == "" {
		mediaType = mime.TypeByExtension(strings.ToLower(filepath.Ext(path)))
	}
	if len(mediaType) > chunk.MaxTypeLen {
		mediaType = ""
	}
	m.Type = mediaType
	mb, err := m.MarshalBinary()
	if err != nil {
		return nil, nil, err
	}
	return m, mb, nil
}

// SendJob starts send as a job that reports its progress like a
// download; the path is checked before it starts.
func (f *Files) SendJob(r *room.Room, path, mediaType, caption string) (*download, error) {
	return f.SendJobThen(r, path, mediaType, caption, nil)
}

// SendJobThen is sendJob, with done (if set) called when the job ends,
// whatever its outcome.
func (f *Files) SendJobThen(r *room.Room, path, mediaType, caption string, done func()) (*download, error) {
	fi, err := checkSendable(path)
	if err != nil {
		return nil, err
	}
	d := f.newJob(control.Download{Kind: "send", Path: path, Name: chunk.SafeName(filepath.Base(path)), Size: fi.Size(), State: "running"})
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		if done != nil {
			defer done()
		}
		ref, m, err := f.Send(f.ctx, r, path, mediaType, caption, func(n int64) {
			d.set(func(st *control.Download) { st.Done = n })
		})
		d.mu.Lock()
		defer d.mu.Unlock()
		if err != nil {
			d.st.State, d.st.Error = "failed", err.Error()
			f.log.Info("file send failed", logattr.Room(r.ID().String()), logattr.Err(err))
			return
		}
		d.st.State, d.st.Done, d.st.Size, d.st.File, d.st.Type = "done", m.Size, m.Size, ref.String(), m.Type
	}()
	return d, nil
}

// newJob records a transfer job under a fresh id.
func (f *Files) newJob(st control.Download) *download {
	var jid [8]byte
	rand.Read(jid[:])
	st.Job = hex.EncodeToString(jid[:])
	d := &download{started: time.Now(), st: st}
	f.mu.Lock()
	f.jobs[st.Job] = d
	f.mu.Unlock()
	return d
}

// ToMirrors asks the room's mirrors to keep a file sent here: they fetch
// its ciphertext chunks from this device and serve them when it is
// offline.
func (f *Files) ToMirrors(r *room.Room, m *chunk.Manifest) {
	for _, p := range f.rooms.Mirrors.RoomMirrors(r) {
		if p == f.node.Host.ID() {
			continue
		}
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
			defer cancel()
			if err := f.node.Reach(ctx, p); err != nil {
				f.log.Info("a mirror of the room is unreachable: it does not keep the file", logattr.Peer(p.String()))
				return
			}
			_, err := f.rooms.Mirrors.AskMirror(ctx, p, mirror.Request{Op: mirror.OpKeepBlob,
				Discovery: r.Discovery(), Root: m.Root, Size: m.Size, ChunkSize: m.ChunkSize})
			if err != nil {
				f.log.Info("a mirror does not keep the file", logattr.Peer(p.String()), logattr.Err(err))
			}
		}()
	}
}

// KeepExisting offers mirror p, which now keeps room r, the files of r
// this device holds whole, newest first, within what the room may hold
// there (limit, of which used is taken). The mirror fetches each from this
// device; a file over the limit is listed as not fitting.
func (f *Files) KeepExisting(ctx context.Context, r *room.Room, p peer.ID, limit, used int64) *control.MirrorFiles {
	type file struct {
		name string
		m    *chunk.Manifest
	}
	var files []file
	seen := map[chunk.Hash]bool{}
	r.Files(true, func(msg *room.Message) bool {
		if !msg.Deleted && !seen[msg.File.Root] {
			seen[msg.File.Root] = true
			files = append(files, file{name: msg.File.Name, m: msg.File})
		}
		return true
	})
	out := &control.MirrorFiles{}
	for _, fl := range files {
		src, here := f.Lookup(fl.m.Root)
		if !here || !AllTrue(src.Have(fl.m.Root)) {
			continue // not held here whole: another member offers it
		}
		label := fmt.Sprintf("%s (%s)", fl.name, HumanSize(fl.m.Size))
		if limit > 0 && used+fl.m.Size > limit {
			out.NotFitted = append(out.NotFitted, label)
			continue
		}
		var err error
		for {
			_, err = f.rooms.Mirrors.AskMirror(ctx, p, mirror.Request{Op: mirror.OpKeepBlob,
				Discovery: r.Discovery(), Root: fl.m.Root, Size: fl.m.Size, ChunkSize: fl.m.ChunkSize})
			if !errors.Is(err, mirror.ErrBusy) || ctx.Err() != nil {
				break
			}
			select { // the mirror fetches the files before; wait for room
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		switch {
		case err == nil:
			out.Offered++
			out.Bytes += fl.m.Size
			used += fl.m.Size
		case errors.Is(err, mirror.ErrFull):
			out.NotFitted = append(out.NotFitted, label)
		default:
			out.Failed = append(out.Failed, label+": "+err.Error())
		}
	}
	return out
}

// HumanSize prints a byte count with a binary unit, as every command and
// message does.
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// KeepBlob fetches, on a mirror, the ciphertext chunks of a file of the
// kept room of d from the peer that asked. Each chunk counts against the
// room's quota and the mirror's budget once it matched its hash.
func (f *Files) KeepBlob(d log.Discovery, root [32]byte, size int64, chunkSize uint32, from peer.ID) {
	ms := f.kept
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		m := &chunk.Manifest{Name: "-", Root: chunk.Hash(root), Size: size, ChunkSize: chunkSize}
		var sink *blob.StoreSink
		hashes, err := blobwire.FetchHashes(f.ctx, f.node.Host, m, []peer.ID{from})
		if err == nil {
			if sink, err = f.store.Sink(m, hashes); err == nil {
				sink.Admit = func(n int64) error { return ms.GrowBlob(d, root, n) }
				err = blobwire.Fetch(f.ctx, blobwire.FetchConfig{Host: f.node.Host, Peers: []peer.ID{from}, Partial: sink, Logger: f.log})
			}
		}
		ms.BlobDone(d, root, sink != nil && sink.Complete(), err)
		if err != nil {
			f.log.Info("mirror: fetching a file", logattr.Peer(from.String()), logattr.Err(err))
		}
	}()
}

// List returns a room's files.
func (f *Files) List(r *room.Room) []control.File {
	out := []control.File{}
	r.Files(false, func(msg *room.Message) bool {
		fl := control.File{ID: msg.ID.String(), Name: msg.File.Name, Size: msg.File.Size, Type: msg.File.Type,
			Caption: msg.Text, Author: msg.Author.String(), Time: control.Time(time.UnixMilli(msg.Time)), Deleted: msg.Deleted}
		if !msg.Deleted {
			if have := f.store.Have(msg.File.Root); have != nil && AllTrue(have) {
				fl.Here = true
			}
		}
		out = append(out, fl)
		return true
	})
	return out
}

func AllTrue(b []bool) bool {
	for _, x := range b {
		if !x {
			return false
		}
	}
	return true
}

// sources returns the peers that may have a room's files: its devices and
// its mirrors, reached in parallel (an offline sender costs one timeout,
// not one per peer).
func (f *Files) sources(ctx context.Context, r *room.Room) []peer.ID {
	seen := map[peer.ID]bool{f.node.Host.ID(): true}
	var cands []peer.ID
	add := func(p peer.ID) {
		if !seen[p] {
			seen[p] = true
			cands = append(cands, p)
		}
	}
	var devs []identity.PublicKey
	r.View(func(v *room.View) {
		for d, info := range v.Devices {
			if !info.Revoked {
				devs = append(devs, d)
			}
		}
	})
	for _, d := range devs {
		if p, err := proto.PeerOf(d); err == nil {
			add(p)
		}
	}
	for _, p := range f.rooms.Mirrors.RoomMirrors(r) {
		add(p)
	}
	ok := make([]bool, len(cands))
	var wg sync.WaitGroup
	for i, p := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rctx, cancel := context.WithTimeout(ctx, reachSourceTimeout)
			defer cancel()
			ok[i] = f.node.Reach(rctx, p) == nil
		}()
	}
	wg.Wait()
	var out []peer.ID
	for i, p := range cands {
		if ok[i] {
			out = append(out, p)
		}
	}
	return out
}

// reachSourceTimeout bounds the wait for one possible source of a file.
const reachSourceTimeout = 8 * time.Second

// Get starts fetching a file message of r to out (empty: the downloads
// folder of the home).
func (f *Files) Get(r *room.Room, ref room.Ref, out string) (*download, error) {
	f.getMu.Lock()
	defer f.getMu.Unlock()
	var m *chunk.Manifest
	var deleted bool
	if msg, ok := r.Message(ref); ok && msg.File != nil {
		m, deleted = msg.File, msg.Deleted
	}
	if m == nil {
		return nil, fmt.Errorf("%w: no file %s in the room ('hearth file list' lists them)", room.ErrUnknownMessage, ref)
	}
	if deleted {
		return nil, fmt.Errorf("%w: the file was deleted", control.ErrRefused)
	}
	if out == "" {
		dir := filepath.Join(f.home, DownloadsName)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		out = filepath.Join(dir, chunk.SafeName(m.Name))
	}
	if !filepath.IsAbs(out) {
		return nil, fmt.Errorf("%w: the destination must be absolute (the command line makes it so)", control.ErrBadArg)
	}
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		out = filepath.Join(out, chunk.SafeName(m.Name))
	}
	// One job per file: asked again, the daemon answers the job that
	// runs (the command follows it) or the download it finished there.
	f.mu.Lock()
	var running *download
	for _, j := range f.jobs {
		j.mu.Lock()
		if j.st.Kind == "get" && j.st.State == "running" && j.root == m.Root {
			running = j
		}
		j.mu.Unlock()
	}
	f.mu.Unlock()
	if running != nil {
		st := running.Status()
		if st.Path != out {
			return nil, fmt.Errorf("%w: this file is being fetched to %s already: follow that with --out %s, or wait for it", control.ErrBusy, st.Path, st.Path)
		}
		return running, nil
	}
	if _, err := os.Stat(out); err == nil {
		if f.downloadedAt(m.Root) == out {
			d := f.newJob(control.Download{Kind: "get", Path: out, Name: m.Name, Size: m.Size, Type: m.Type, State: "done", Done: m.Size, Resumed: m.Size, File: ref.String()})
			d.root = m.Root
			return d, nil
		}
		return nil, fmt.Errorf("%w: %s exists already: choose another with --out", control.ErrBadArg, out)
	}
	if _, err := os.Stat(filepath.Dir(out)); err != nil {
		return nil, fmt.Errorf("%w: the folder of %s: %v", control.ErrBadArg, out, err)
	}
	d := f.newJob(control.Download{Kind: "get", Path: out, Name: m.Name, Size: m.Size, Type: m.Type, State: "running", File: ref.String()})
	d.root = m.Root
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		err := f.fetch(r, ref, m, out, d)
		d.mu.Lock()
		defer d.mu.Unlock()
		if err != nil {
			d.st.State, d.st.Error = "failed", err.Error()
			f.log.Info("file download stopped", logattr.Room(r.ID().String()), logattr.Err(err))
			return
		}
		d.st.State, d.st.Done = "done", m.Size
		f.log.Info("file received", logattr.Room(r.ID().String()), slog.Int64("bytes", m.Size))
	}()
	return d, nil
}

// downloadedAt is where this device saved the file of root, if it did.
func (f *Files) downloadedAt(root chunk.Hash) string {
	b, err := f.db.Get(bucketDownloads, root[:])
	if err != nil {
		return ""
	}
	var rec struct{ Path string }
	if json.Unmarshal(b, &rec) != nil {
		return ""
	}
	return rec.Path
}

// fetch runs a download: hash list, partial file, every source at once,
// then the rename. Run again, it resumes from what the partial file holds.
func (f *Files) fetch(r *room.Room, ref room.Ref, m *chunk.Manifest, out string, d *download) error {
	ctx := f.ctx
	srcs := f.sources(ctx, r)
	d.set(func(st *control.Download) { st.Sources = len(srcs) })
	var hashes []chunk.Hash
	if hs, ok := f.store.Hashes(m.Root); ok {
		hashes = hs
	} else {
		var err error
		if hashes, err = blobwire.FetchHashes(ctx, f.node.Host, m, srcs); err != nil {
			return err
		}
	}
	partPath := out + ".part"
	part, err := blob.OpenPartial(partPath, m, hashes)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.partials[m.Root] = part
	f.mu.Unlock()
	_, held := part.Held()
	d.set(func(st *control.Download) { st.Done, st.Resumed = held, held })
	err = blobwire.Fetch(ctx, blobwire.FetchConfig{Host: f.node.Host, Peers: srcs, Partial: part, Logger: f.log,
		Progress: func(p blobwire.Progress) {
			d.set(func(st *control.Download) { st.Done, st.Sources = p.Done, p.Sources })
		}})
	if err != nil {
		return err
	}
	if err := os.Rename(partPath, out); err != nil {
		return err
	}
	rec, _ := json.Marshal(map[string]any{"path": out, "room": r.ID().String(), "ref": ref.String(), "hashes": hashes})
	if err := f.db.Put(bucketDownloads, m.Root[:], rec); err != nil {
		f.log.Warn("recording a download", logattr.Err(err))
	}
	// Keep serving it from its final place.
	f.mu.Lock()
	part.Close()
	delete(f.partials, m.Root)
	f.mu.Unlock()
	return nil
}

func (d *download) set(fn func(*control.Download)) {
	d.mu.Lock()
	fn(&d.st)
	d.mu.Unlock()
}

func (d *download) Status() control.Download {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st
	if el := time.Since(d.started).Seconds(); el > 0 {
		st.Rate = float64(st.Done-st.Resumed) / el
	}
	return st
}

// Job is the state of a download or a send, by its id.
func (f *Files) Job(id string) (control.Download, bool) {
	f.mu.Lock()
	dl, ok := f.jobs[id]
	f.mu.Unlock()
	if !ok {
		return control.Download{}, false
	}
	return dl.Status(), true
}
