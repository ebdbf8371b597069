package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// MaxBody bounds a request or response body: the API carries small JSON
// objects; bulk data never goes through it.
const MaxBody = 1 << 20

// Routes of API version 1.
const (
	RouteStatus      = "/v1/status"
	RouteDevices     = "/v1/id/devices"
	RouteRevocations = "/v1/id/revocations"
	RouteDeviceLink  = "/v1/device/link"
)

// Status is GET /v1/status.
type Status struct {
	PeerID     string   `json:"peer_id"`
	Addrs      []string `json:"addrs"`
	Rooms      int      `json:"rooms"`
	Identity   string   `json:"identity"`
	Device     string   `json:"device"`
	DeviceName string   `json:"device_name"`
	Epoch      uint64   `json:"epoch"`
	Home       string   `json:"home"`
	PID        int      `json:"pid"`
	Version    string   `json:"version"`
	Started    string   `json:"started"` // RFC 3339
	Uptime     float64  `json:"uptime_seconds"`
	// Connections are the peers connected now and how.
	Connections []Connection `json:"connections"`
	// Web is the web page's link, with its token (daemon --web): open it
	// in a browser on this machine.
	Web string `json:"web,omitempty"`
	// WebLAN is the page's address on the LAN (network.web_lan), behind
	// the login 'hearth web login' sets; WebCert its certificate's
	// SHA-256, to compare with what the browser shows.
	WebLAN  string `json:"web_lan,omitempty"`
	WebCert string `json:"web_cert,omitempty"`
	// App is where the phone's app is served on its owner's domain
	// (network.app_domain); AppCertificate is "ok" once its certificate
	// came from the ACME server, else why not.
	App            string `json:"app,omitempty"`
	AppCertificate string `json:"app_certificate,omitempty"`
}

// Connection is one connected peer.
type Connection struct {
	PeerID string `json:"peer_id"`
	Addr   string `json:"addr"`   // the remote multiaddr
	Path   string `json:"path"`   // "direct" or "relay"
	Device bool   `json:"device"` // a device of one of this node's rooms
}

// Device is one device of the identity, as this daemon knows it.
type Device struct {
	Device  string `json:"device"`
	Name    string `json:"name,omitempty"`
	Current bool   `json:"current"`
	Revoked bool   `json:"revoked"`
	// Superseded: the identity was restored from its phrase since this
	// device was attested (it is revoked too).
	Superseded bool   `json:"superseded,omitempty"`
	Added      string `json:"added,omitempty"`      // RFC 3339
	RevokedAt  string `json:"revoked_at,omitempty"` // RFC 3339
}

// Devices is GET /v1/id/devices.
type Devices struct {
	Identity string   `json:"identity"`
	Devices  []Device `json:"devices"`
}

// RevokeRequest is POST /v1/id/revocations: a revocation record, signed
// with the identity key by the command line (the phrase never reaches the
// daemon), hex-encoded.
type RevokeRequest struct {
	Revocation string `json:"revocation"`
}

// RevokeResponse answers a RevokeRequest.
type RevokeResponse struct {
	Device    string `json:"device"`
	Revoked   bool   `json:"revoked"`
	RevokedAt string `json:"revoked_at"`
}

// ErrorBody is the body of every non-2xx answer.
type ErrorBody struct {
	Error string `json:"error"`
}

// ErrNoDaemon means nothing answers on the socket.
// Kinds of error the daemon's domain code returns (wrapped) and its API
// answers with a status: ErrBadArg 400, ErrRefused 403, ErrBusy 409.
var (
	ErrBadArg  = errors.New("bad argument")
	ErrRefused = errors.New("refused by the room")
	ErrBusy    = errors.New("busy")
)

// BadArg is an error of kind ErrBadArg that says only msg.
func BadArg(msg string) error { return badArg(msg) }

type badArg string

func (e badArg) Error() string        { return string(e) }
func (e badArg) Is(target error) bool { return target == ErrBadArg }

// Time is how the API writes a time: RFC 3339, in UTC.
func Time(t time.Time) string { return t.UTC().Format(time.RFC3339) }

var ErrNoDaemon = errors.New("no hearth daemon is running on this home")

// APIError is an error answer of the daemon.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// Client talks to one daemon. The zero value is not usable; use NewClient.
type Client struct {
	socket string
	http   *http.Client

	// The routes by concern.
	Rooms  RoomClient
	Files  FileClient
	Calls  CallClient
	Door   DoorClient
	Mirror MirrorClient
}

// The clients of each concern's routes (see Client).
type (
	RoomClient   struct{ c *Client }
	FileClient   struct{ c *Client }
	CallClient   struct{ c *Client }
	DoorClient   struct{ c *Client }
	MirrorClient struct{ c *Client }
)

// NewClient returns a client of the daemon listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableKeepAlives: true,
	}
	c := &Client{socket: socket, http: &http.Client{Transport: tr, Timeout: 90 * time.Second}}
	c.Rooms, c.Files, c.Calls, c.Door, c.Mirror = RoomClient{c}, FileClient{c}, CallClient{c}, DoorClient{c}, MirrorClient{c}
	return c
}

// Status asks the daemon for its status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.do(ctx, http.MethodGet, RouteStatus, nil, &s)
}

// Devices lists the identity's devices.
func (c *Client) Devices(ctx context.Context) (*Devices, error) {
	var d Devices
	return &d, c.do(ctx, http.MethodGet, RouteDevices, nil, &d)
}

// Revoke hands a signed revocation to the daemon.
func (c *Client) Revoke(ctx context.Context, req RevokeRequest) (*RevokeResponse, error) {
	var r RevokeResponse
	return &r, c.do(ctx, http.MethodPost, RouteRevocations, req, &r)
}

func (c *Client) do(ctx context.Context, method, route string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://hearth"+route, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w (%s): start it with 'hearth daemon'", ErrNoDaemon, c.socket)
		}
		return fmt.Errorf("talking to the daemon: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if len(b) > MaxBody {
		return fmt.Errorf("the daemon's answer is over %d bytes", MaxBody)
	}
	if resp.StatusCode/100 != 2 {
		var e ErrorBody
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("daemon answered %s", resp.Status)
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("decoding the daemon's answer: %w", err)
	}
	return nil
}

// DeviceLinkRequest is POST /v1/device/link.
type DeviceLinkRequest struct {
	ExpiresSeconds int64 `json:"expires_seconds"` // 0: a day
}

// DeviceLinkCreated is its answer.
type DeviceLinkCreated struct {
	Link    string `json:"link"`
	Expires string `json:"expires"`
	// App, when the daemon serves its page, opens the phone's app with
	// the link and this device's WebRTC-direct address (in the URL's
	// fragment, which browsers never send to a server).
	App string `json:"app,omitempty"`
}

// DeviceLink makes a link for a new device of this identity.
func (c *Client) DeviceLink(ctx context.Context, req DeviceLinkRequest) (*DeviceLinkCreated, error) {
	var out DeviceLinkCreated
	return &out, c.do(ctx, http.MethodPost, RouteDeviceLink, req, &out)
}

// WebLogin is the LAN page's login: POST /api/login.
type WebLogin struct {
	Password string `json:"password"`
}

// WebSession is a LAN page's session: its token goes in the
// Authorization header of every request, until Expires (RFC 3339).
type WebSession struct {
	Token   string `json:"token"`
	Expires string `json:"expires"`
}
