package device

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/secfile"
	"github.com/hearthp2p/hearth/p2p/blob"
	"github.com/hearthp2p/hearth/p2p/identity"
	"github.com/hearthp2p/hearth/p2p/mirror"
	hnet "github.com/hearthp2p/hearth/p2p/net"
	"github.com/hearthp2p/hearth/storage"
)

// Config is what Run needs. The zero value is not enough: Home is
// required.
type Config struct {
	// Home is the daemon's folder (see ResolveHome).
	Home string
	// Logger receives the daemon's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Ready, if set, is called once the control socket accepts requests.
	Ready func()
	// Listen are the multiaddrs the node listens on; empty means every
	// interface on free TCP and QUIC ports.
	Listen []string
	// Bootstrap are full multiaddrs of always-on nodes (DHT, relay).
	Bootstrap []string
	// NoMDNS turns LAN discovery off.
	NoMDNS bool
	// Public marks a publicly reachable, always-on node: DHT server and
	// circuit relay for others.
	Public bool
	// Mirror makes the daemon a blind mirror too: it keeps rooms it is
	// asked to keep (see package mirror).
	Mirror bool
	// MirrorOwners are identities, besides this one, that may keep, pin
	// and drop without limit.
	MirrorOwners []identity.PublicKey
	// MirrorBudget and MirrorQuota are in bytes; zero means the defaults
	// of package mirror.
	MirrorBudget, MirrorQuota int64
	// Calls is how calls are made.
	Calls CallConfig
	// Web, if set, serves the web page on this loopback address.
	Web string
	// WebLAN, if set, serves it on this address over HTTPS, behind the
	// login 'hearth web login' sets.
	WebLAN string
	// Door, if set, makes the daemon a doorphone.
	Door *DoorConfig
}

// shutdownGrace bounds how long in-flight control requests may run after
// the daemon is told to stop.
const shutdownGrace = 5 * time.Second

// Run is the daemon: it takes the home, serves until ctx is done, then
// shuts down cleanly (requests finished, storage closed, socket and lock
// released). It returns nil after a requested stop.
func Run(ctx context.Context, cfg Config) error {
	log := logattr.OrDiscard(cfg.Logger)
	if cfg.Logger != nil {
		// Peers can make the daemon log (a refused ring, a stranger at
		// the door): no message floods the log.
		log = slog.New(logattr.Limited(cfg.Logger.Handler(), time.Now))
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	home := cfg.Home
	if home == "" {
		return errors.New("no home given")
	}
	if err := secfile.CheckDir(home); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("home %s does not exist: create an identity first with 'hearth id create' or 'hearth id restore'", home)
		}
		return fmt.Errorf("home: %w", err)
	}
	sock := SocketPath(home)
	if err := checkSocketPath(sock); err != nil {
		return err
	}
	lock, err := acquireLock(home)
	if err != nil {
		return err
	}
	defer lock.release()

	id, err := identity.Load(home)
	if err != nil {
		if errors.Is(err, identity.ErrNoIdentity) {
			return fmt.Errorf("%w: create one with 'hearth id create' or 'hearth id restore'", err)
		}
		return err
	}
	defer id.Wipe()
	peerID, err := id.PeerID()
	if err != nil {
		return fmt.Errorf("peer id: %w", err)
	}

	db, err := openHomeDB(home)
	if err != nil {
		return err
	}
	defer db.Close()
	chunks, err := storage.OpenChunks(filepath.Join(home, ChunksName))
	if err != nil {
		return err
	}

	node, err := hnet.New(hnet.Config{Key: id.Device, Listen: cfg.Listen, Bootstrap: cfg.Bootstrap, NoMDNS: cfg.NoMDNS, Public: cfg.Public, Logger: log})
	if err != nil {
		return err
	}
	defer node.Close()
	blobs := blob.NewStore(db, chunks)
	var mstore *mirror.Store
	if cfg.Mirror {
		mstore, err = mirror.Open(db, mirror.Config{Owners: append([]identity.PublicKey{id.Identity}, cfg.MirrorOwners...),
			Budget: cfg.MirrorBudget, Quota: cfg.MirrorQuota, Now: now, Logger: log,
			DropBlob: func(root [32]byte) {
				if err := blobs.Drop(blob.Hash(root)); err != nil {
					log.Warn("mirror: deleting a file's chunks", logattr.Err(err))
				}
			}})
		if err != nil {
			return err
		}
		log.Info("mirror on", slog.Int("rooms", len(mstore.Kept())))
	}
	rms, err := NewRooms(log, id, Store{db: db}, node, mstore, blobs, home, now)
	if err != nil {
		return err
	}
	defer rms.Close()
	cfg.Calls.Doorphone = cfg.Door != nil
	if rms.calls, err = NewCalls(rms, cfg.Calls, cfg.MirrorOwners); err != nil {
		return err
	}
	var dr *Door
	if cfg.Door != nil {
		if dr, err = NewDoor(rms, *cfg.Door, home); err != nil {
			return err
		}
		defer dr.Close()
		rms.calls.door = dr
	}
	rctx, rcancel := context.WithCancel(ctx)
	roomsDone := make(chan struct{})
	go func() {
		defer close(roomsDone)
		rms.Run(rctx)
	}()
	doorDone := make(chan struct{})
	go func() {
		defer close(doorDone)
		if dr != nil {
			dr.Run(rctx)
		}
	}()
	defer func() {
		rcancel()
		<-doorDone
		<-roomsDone
	}()

	// We hold the lock, so a socket file left here is from a daemon that
	// died: remove it before listening.
	os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("control socket: %w", err)
	}
	defer os.Remove(sock)

	d := &daemon{
		home:    home,
		log:     log,
		now:     now,
		started: now(),
		id:      id,
		peerID:  peerID.String(),
		db:      db,
		chunks:  chunks,
		rooms:   rms,
		mu:      rms.idMu,
		door:    dr,
	}
	if cfg.Web != "" || cfg.WebLAN != "" {
		w, err := StartWeb(d, cfg.Web, cfg.WebLAN)
		if err != nil {
			return err
		}
		defer w.Close()
		d.web = w
		rms.calls.web = w
	}
	srv := &http.Server{
		Handler:           d.Routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("daemon started", logattr.Peer(d.peerID), slog.Any("addrs", rms.Addrs()), slog.String("identity", id.Identity.Short()),
		logattr.Dev(id.Device.Public()), slog.String("home", home), slog.Int("pid", os.Getpid()))
	if cfg.Ready != nil {
		cfg.Ready()
	}

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("control API stopped: %w", err)
	}
	log.Info("daemon stopping")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("control API did not stop in time", logattr.Err(err))
		srv.Close()
	}
	<-serveErr
	log.Info("daemon stopped")
	return nil
}

// daemon is the state the control API reads and changes. mu guards id,
// which AddRevocation rewrites.
type daemon struct {
	home    string
	log     *slog.Logger
	now     func() time.Time
	started time.Time
	peerID  string
	db      *storage.DB
	chunks  *storage.Chunks
	rooms   *Manager

	mu *sync.Mutex // shared with rooms: guards id's revocations
	id *identity.Local

	web *WebServer // with --web

	door          *Door // on a doorphone
	unlockCounter UnlockCounter
}

// openHomeDB opens the home's database. An emptied or damaged one is
// refused with what happened and what to do: it held the rooms and their
// keys, and starting over on it would lose them without a word.
func openHomeDB(home string) (*storage.DB, error) {
	path := filepath.Join(home, DBName)
	db, err := storage.Open(path, storage.Config{})
	if errors.Is(err, storage.ErrEmpty) || errors.Is(err, storage.ErrDamaged) {
		return nil, fmt.Errorf("%w.\nIt held this device's rooms and their keys; Hearth will not start over on it. "+
			"Restore %s from a backup if you have one. Otherwise move it aside (mv %s %s.damaged) and start again: "+
			"this device then has its identity but no rooms; join them again with invites from their members "+
			"(a room's mirror and its members keep its history)", err, path, path, path)
	}
	return db, err
}
