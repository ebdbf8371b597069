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

	"github.com/hearthp2p/hearth/device/api"
	"github.com/hearthp2p/hearth/device/calls"
	"github.com/hearthp2p/hearth/device/door"
	"github.com/hearthp2p/hearth/device/files"
	"github.com/hearthp2p/hearth/device/hub"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/device/web"
	"github.com/hearthp2p/hearth/internal/logattr"
	"github.com/hearthp2p/hearth/internal/secfile"
	"github.com/hearthp2p/hearth/internal/version"
	"github.com/hearthp2p/hearth/p2p/blob"
	"github.com/hearthp2p/hearth/p2p/blob/chunk"
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
	Calls calls.Config
	// Web, if set, serves the web page on this loopback address.
	Web string
	// WebLAN, if set, serves it on this address over HTTPS, behind the
	// login 'hearth web login' sets.
	WebLAN string
	// AppSite, if set, serves the phone's app on its owner's domain over
	// HTTPS, with a certificate from ACME (Home and Logger are the
	// daemon's).
	AppSite *web.AppSiteConfig
	// Hub, if set, bridges the doorphone to the home's hub (MQTT, RTSP).
	Hub *hub.Config
	// Door, if set, makes the daemon a doorphone.
	Door *door.Config
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

	db, err := openHomeDB(home)
	if err != nil {
		return err
	}
	defer db.Close()
	chunks, err := storage.OpenChunks(filepath.Join(home, ChunksName))
	if err != nil {
		return err
	}

	// With no listen address given, the default ones keep their ports
	// from one start to the next (ports.json).
	listen, stable := cfg.Listen, len(cfg.Listen) == 0
	if stable {
		listen = stableListen(home)
	}
	node, err := hnet.New(hnet.Config{Key: id.Device, Listen: listen, Bootstrap: cfg.Bootstrap, NoMDNS: cfg.NoMDNS, Public: cfg.Public, Logger: log})
	if err != nil {
		return err
	}
	defer node.Close()
	if stable {
		if err := rememberPorts(home, node); err != nil {
			log.Warn("the listen ports will change at the next start", logattr.Err(err))
		}
	}
	blobs := blob.NewStore(db, chunks)
	var kept *mirror.Store
	if cfg.Mirror {
		kept, err = mirror.Open(db, mirror.Config{Owners: append([]identity.PublicKey{id.Identity}, cfg.MirrorOwners...),
			Budget: cfg.MirrorBudget, Quota: cfg.MirrorQuota, Now: now, Logger: log,
			DropBlob: func(root [32]byte) {
				if err := blobs.Drop(chunk.Hash(root)); err != nil {
					log.Warn("mirror: deleting a file's chunks", logattr.Err(err))
				}
			}})
		if err != nil {
			return err
		}
		log.Info("mirror on", slog.Int("rooms", len(kept.Kept())))
	}

	// The parts, each built on those before it; each is closed (by the
	// defers, in the reverse order) after those built on it.
	rms, err := rooms.New(rooms.Config{Logger: log, ID: id, DB: db, Node: node, Mirror: kept, Now: now})
	if err != nil {
		return err
	}
	defer rms.Close()
	fls := files.New(files.Config{Logger: log, Node: node, DB: db, Blobs: blobs, Rooms: rms, Kept: kept, Home: home})
	defer fls.Close()
	rms.Mirrors.StartMirror(fls.KeepBlob)
	cfg.Calls.Doorphone = cfg.Door != nil
	cls, err := calls.New(cfg.Calls, calls.Deps{Logger: log, Node: node, ID: id, Rooms: rms, Owners: cfg.MirrorOwners})
	if err != nil {
		return err
	}
	defer cls.Close()
	var dr *door.Door
	if cfg.Door != nil {
		board, simulated, err := openBoard(cfg.Door.HAL)
		if err != nil {
			return err
		}
		dr, err = door.New(ctx, *cfg.Door, door.Deps{Logger: log, Now: now, Node: node, ID: id, DB: db, Rooms: rms, Calls: cls, Files: fls,
			Board: board, Sim: simulated, Home: home})
		if err != nil {
			board.Close()
			return err
		}
		defer dr.Close()
		cls.OnChange(dr.CallChanged)
		if cfg.Hub != nil {
			name := "Door"
			if st := dr.Status(); st.RoomName != "" {
				name = st.RoomName + " door"
			}
			hb, err := hub.Start(*cfg.Hub, hub.Deps{Door: dr, Video: cls.Source().Video, Device: id.Device.Public().String(), Name: name,
				Version: version.Get().Version, Logger: log, Now: now})
			if err != nil {
				return err
			}
			defer hb.Close()
			dr.ReportHub(hb.Status)
		}
	}
	rctx, rcancel := context.WithCancel(ctx)
	var running sync.WaitGroup
	running.Go(func() { rms.Run(rctx) })
	if dr != nil {
		running.Go(func() { dr.Run(rctx) })
	}
	defer func() {
		rcancel()
		running.Wait()
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

	// Starting read every room's record and state (and a mirror's
	// records): those pages need not stay in the daemon's resident
	// memory.
	if err := db.Trim(); err != nil {
		log.Debug("trimming the database's resident pages", logattr.Err(err))
	}
	acfg := api.Config{Home: home, Logger: log, Now: now, Started: now(), ID: id, Node: node, Rooms: rms, Files: fls, Calls: cls, Door: dr}
	if cfg.AppSite != nil {
		sc := *cfg.AppSite
		sc.Home, sc.Logger = home, log
		site, err := web.StartAppSite(sc)
		if err != nil {
			return err
		}
		defer site.Close()
		acfg.AppSite = func() api.AppSiteStatus {
			st := site.Status(sc.Domain)
			return api.AppSiteStatus{URL: site.URL(sc.Domain), Certificate: st.Certificate}
		}
	}
	var page *web.Server
	if cfg.Web != "" || cfg.WebLAN != "" {
		// The page serves the API's routes: the API is made first, told
		// where the page is once it is.
		var pageStatus func() api.WebStatus
		acfg.Web = func() api.WebStatus { return pageStatus() }
		apiSrv := api.New(acfg)
		page, err = web.Start(web.Config{Home: home, Logger: log, API: apiSrv, Rooms: rms, Files: fls, Calls: cls, Addr: cfg.Web, LANAddr: cfg.WebLAN})
		if err != nil {
			return err
		}
		defer page.Close()
		pageStatus = page.Status
		return serve(ctx, log, ln, apiSrv, page.Failed(), cfg.Ready, id, rms)
	}
	return serve(ctx, log, ln, api.New(acfg), nil, cfg.Ready, id, rms)
}

// serve answers the control API on ln until ctx is done (or a server of
// the web page fails), then lets requests under way finish.
func serve(ctx context.Context, log *slog.Logger, ln net.Listener, apiSrv *api.Server, pageFailed <-chan error, ready func(),
	id *identity.Local, rms *rooms.Manager) error {
	srv := &http.Server{
		Handler:           apiSrv.Routes(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	log.Info("daemon started", logattr.Peer(rms.PeerID().String()), slog.Any("addrs", rms.Addrs()), slog.String("identity", id.Identity.Short()),
		logattr.Dev(id.Device.Public()), slog.String("home", apiSrv.Home()), slog.Int("pid", os.Getpid()))
	if ready != nil {
		ready()
	}

	var stopErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		return fmt.Errorf("control API stopped: %w", err)
	case err := <-pageFailed:
		stopErr = fmt.Errorf("web page stopped: %w", err)
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
	return stopErr
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
