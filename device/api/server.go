package api

import (
	"log/slog"
	"time"

	"github.com/hearthp2p/hearth/device/calls"
	"github.com/hearthp2p/hearth/device/door"
	"github.com/hearthp2p/hearth/device/files"
	"github.com/hearthp2p/hearth/device/rooms"
	"github.com/hearthp2p/hearth/p2p/identity"
	hnet "github.com/hearthp2p/hearth/p2p/net"
)

// Config is what the control API serves and answers from.
type Config struct {
	Home    string
	Logger  *slog.Logger
	Now     func() time.Time
	Started time.Time
	ID      *identity.Local
	Node    *hnet.Node
	Rooms   *rooms.Manager
	Files   *files.Files
	Calls   *calls.Calls
	// Door is the doorphone, on one (else nil).
	Door *door.Door
	// Web, if set, says where the web page is, for 'hearth status'.
	Web func() WebStatus
	// AppSite, if set, says where the phone's app is served on its
	// owner's domain: app links open it there.
	AppSite func() AppSiteStatus
}

// AppSiteStatus is where the app site is (its base, https://domain) and
// its certificate's state.
type AppSiteStatus struct {
	URL, Certificate string
}

// WebStatus is where the web page is served.
type WebStatus struct {
	URL, LANURL, CertFP string
}

// Server answers the control API's requests (and the web page's, through
// the web package). It holds no state of its own: every request goes to
// the domain packages.
type Server struct {
	home    string
	log     *slog.Logger
	now     func() time.Time
	started time.Time
	peerID  string
	id      *identity.Local // its revocations are the rooms' (Rooms.Identity)
	node    *hnet.Node
	rooms   *rooms.Manager
	files   *files.Files
	calls   *calls.Calls
	door    *door.Door
	remote  *door.Remote
	web     func() WebStatus
	appSite func() AppSiteStatus
}

// New makes the API's server.
func New(cfg Config) *Server {
	return &Server{home: cfg.Home, log: cfg.Logger, now: cfg.Now, started: cfg.Started, peerID: cfg.Node.Host.ID().String(),
		id: cfg.ID, node: cfg.Node, rooms: cfg.Rooms, files: cfg.Files, calls: cfg.Calls, door: cfg.Door, web: cfg.Web, appSite: cfg.AppSite,
		remote: door.NewRemote(cfg.Node, cfg.Rooms, cfg.Now)}
}

// Home is the daemon's folder.
func (d *Server) Home() string { return d.home }

// The handlers of each concern: each has the Server (what the requests
// go to) and nothing else.
type (
	roomAPI   struct{ *Server }
	callAPI   struct{ *Server }
	doorAPI   struct{ *Server }
	fileAPI   struct{ *Server }
	mirrorAPI struct{ *Server }
)
