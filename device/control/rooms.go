package control

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Routes of rooms (API version 1). {room} is a room id, an id prefix of
// at least 8 hex digits or an unambiguous name; {msg} a message id.
const (
	RouteRooms = "/v1/rooms"
	RouteJoin  = "/v1/join"
	// RouteJoinCancel withdraws a pending join: {"invite"} (its id, as
	// room list shows it) or {"link"}.
	RouteJoinCancel = "/v1/join/cancel"
)

// RoomCreate is POST /v1/rooms.
type RoomCreate struct {
	Name string `json:"name"`
}

// RoomCreated answers it.
type RoomCreated struct {
	Room      string `json:"room"`
	Discovery string `json:"discovery"`
	Name      string `json:"name"`
	// Pending (join only): the join waits for an admin: one must approve
	// it (Awaiting), or none was online and the request was left in the
	// mailboxes of these mirrors (peer ids). The daemon finishes the join
	// by itself when the answer is there, across restarts; Room and
	// Discovery are empty until then.
	Pending   bool     `json:"pending,omitempty"`
	Awaiting  bool     `json:"awaiting,omitempty"`
	Mailboxes []string `json:"mailboxes,omitempty"`
	Invite    string   `json:"invite,omitempty"` // the pending join's invite id (cancel with it)
}

// JoinCancel withdraws a pending join: POST /v1/join/cancel.
type JoinCancel struct {
	Invite string `json:"invite,omitempty"`
	Link   string `json:"link,omitempty"`
}

// PendingJoin is a join request waiting in mailboxes for an admin.
type PendingJoin struct {
	Invite    string `json:"invite"`    // the invite's public id
	Since     string `json:"since"`     // when the request was left
	Mailboxes string `json:"mailboxes"` // peer ids of the mirrors holding it, space-separated
	// State: "awaiting approval" (an admin must approve; this device asks
	// again until one has), "in mailboxes" (no admin was online), or
	// "refused" (Reason says why; cancel it to forget it).
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
}

// RoomInfo is one room in GET /v1/rooms.
type RoomInfo struct {
	Room      string `json:"room"`
	Name      string `json:"name"`
	Discovery string `json:"discovery"`
	Role      string `json:"role"` // this identity's role, "" if no longer a member
	Members   int    `json:"members"`
	Messages  int    `json:"messages"`
	Epoch     uint64 `json:"epoch"`
	Peers     int    `json:"peers"` // peers syncing now
	Doors     int    `json:"doors"` // doorphones that wrote into the room
}

// RoomList is GET /v1/rooms.
type RoomList struct {
	Rooms   []RoomInfo    `json:"rooms"`
	Pending []PendingJoin `json:"pending"` // joins waiting for an admin
}

// MemberDevice is one device of a member.
type MemberDevice struct {
	Device  string `json:"device"`
	Name    string `json:"name"`
	Revoked bool   `json:"revoked"`
	Forked  bool   `json:"forked"`
	// Superseded: its identity was restored from the phrase since (it is
	// revoked too).
	Superseded bool `json:"superseded,omitempty"`
	// Push: the device gave the room a Web Push subscription (its app is
	// rung while closed).
	Push bool `json:"push,omitempty"`
	// Entries is how many entries of its log this daemon holds, whether
	// it can read them or not.
	Entries uint64 `json:"entries"`
}

// MemberInfo is one member.
type MemberInfo struct {
	Identity string         `json:"identity"`
	Role     string         `json:"role"`
	Name     string         `json:"name"`
	Devices  []MemberDevice `json:"devices"`
}

// Members is GET /v1/rooms/{room}/members.
type Members struct {
	Room    string       `json:"room"`
	Members []MemberInfo `json:"members"`
}

// InviteCreate is POST /v1/rooms/{room}/invites.
type InviteCreate struct {
	ExpiresSeconds int64  `json:"expires_seconds"` // 0: never
	Uses           uint64 `json:"uses"`            // 0: unlimited
	Approve        bool   `json:"approve"`         // an admin approves each request by hand
}

// InviteCreated answers it.
type InviteCreated struct {
	Link    string `json:"link"`
	Expires string `json:"expires,omitempty"` // RFC 3339
	Uses    uint64 `json:"uses"`
}

// JoinRequest is POST /v1/join.
type JoinRequest struct {
	Link string `json:"link"`
}

// MessageSend is POST /v1/rooms/{room}/messages.
type MessageSend struct {
	Text    string `json:"text"`
	ReplyTo string `json:"reply_to,omitempty"`
}

// MessageID answers a send.
type MessageID struct {
	ID string `json:"id"`
}

// Message is one message of a history.
type Message struct {
	ID        string              `json:"id"`
	Author    string              `json:"author"`
	Device    string              `json:"device"`
	Text      string              `json:"text"`
	Edited    bool                `json:"edited"`
	Deleted   bool                `json:"deleted"`
	Time      string              `json:"time"` // RFC 3339, the author's clock
	ReplyTo   string              `json:"reply_to,omitempty"`
	Reactions map[string][]string `json:"reactions,omitempty"`
	// Call is set on a call entry.
	Call *CallEntry `json:"call,omitempty"`
	// Door is set on a doorphone's entry.
	Door *DoorEntry `json:"door,omitempty"`
	// File is set on a file message and on a door entry with a picture
	// or clip: fetch it with GET .../files/{id}.
	File *FileInfo `json:"file,omitempty"`
}

// DoorEntry is a doorphone's event as the room records it.
type DoorEntry struct {
	// Event is ring, missed, unlocked, unlock refused, motion or
	// pairing.
	Event string `json:"event"`
	// Call is the call of a ring or missed ring.
	Call string `json:"call,omitempty"`
	// Identity unlocked, or was refused.
	Identity string `json:"identity,omitempty"`
	// Detail: why an unlock was refused, which device opened, until
	// when pairing mode lasts.
	Detail string `json:"detail,omitempty"`
}

// FileInfo is a message's file.
type FileInfo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type,omitempty"` // the sender's word, never trusted
	// Show is how the page may show it: "image", "video" or "audio" for
	// passive types, "" for a file only saved.
	Show string `json:"show,omitempty"`
	// Auto: the page may fetch it by itself to show it (small enough).
	Auto bool `json:"auto,omitempty"`
}

// CallEntry is a call as the room records it.
type CallEntry struct {
	ID         string `json:"id"`
	Event      string `json:"event"` // started, ended, missed, declined
	DurationMs uint64 `json:"duration_ms,omitempty"`
}

// History is GET /v1/rooms/{room}/messages.
type History struct {
	Room     string    `json:"room"`
	Messages []Message `json:"messages"`
	// More, on a page (?limit=), says that older messages come before.
	More bool `json:"more,omitempty"`
}

// historyPage is how many messages History asks for at a time: a page's
// JSON stays well under MaxBody.
const historyPage = 1000

// MessageEdit is POST /v1/rooms/{room}/messages/{msg}/edit.
type MessageEdit struct {
	Text string `json:"text"`
}

// Reaction is POST /v1/rooms/{room}/messages/{msg}/react.
type Reaction struct {
	Emoji  string `json:"emoji"`
	Remove bool   `json:"remove"`
}

// RoleChange is POST /v1/rooms/{room}/members/{identity}/role.
type RoleChange struct {
	Role string `json:"role"`
}

// OK answers operations with no other result.
type OK struct {
	OK bool `json:"ok"`
}

func roomPath(room string, rest ...string) string {
	p := RouteRooms + "/" + url.PathEscape(room)
	for _, r := range rest {
		p += "/" + url.PathEscape(r)
	}
	return p
}

// Create founds a room.
func (x RoomClient) Create(ctx context.Context, name string) (*RoomCreated, error) {
	var out RoomCreated
	return &out, x.c.do(ctx, http.MethodPost, RouteRooms, RoomCreate{Name: name}, &out)
}

// List lists the rooms.
func (x RoomClient) List(ctx context.Context) (*RoomList, error) {
	var out RoomList
	return &out, x.c.do(ctx, http.MethodGet, RouteRooms, nil, &out)
}

// Members lists a room's members.
func (x RoomClient) Members(ctx context.Context, room string) (*Members, error) {
	var out Members
	return &out, x.c.do(ctx, http.MethodGet, roomPath(room, "members"), nil, &out)
}

// Leave leaves a room and forgets it.
func (x RoomClient) Leave(ctx context.Context, room string) error {
	return x.c.do(ctx, http.MethodPost, roomPath(room, "leave"), struct{}{}, &OK{})
}

// Invite makes an invite link.
func (x RoomClient) Invite(ctx context.Context, room string, req InviteCreate) (*InviteCreated, error) {
	var out InviteCreated
	return &out, x.c.do(ctx, http.MethodPost, roomPath(room, "invites"), req, &out)
}

// Join joins a room by invite link.
func (x RoomClient) Join(ctx context.Context, link string) (*RoomCreated, error) {
	var out RoomCreated
	return &out, x.c.do(ctx, http.MethodPost, RouteJoin, JoinRequest{Link: link}, &out)
}

// CancelJoin withdraws a pending join.
func (x RoomClient) CancelJoin(ctx context.Context, req JoinCancel) error {
	var out struct{}
	return x.c.do(ctx, http.MethodPost, RouteJoinCancel, req, &out)
}

// Send sends a message.
func (x RoomClient) Send(ctx context.Context, room string, m MessageSend) (*MessageID, error) {
	var out MessageID
	return &out, x.c.do(ctx, http.MethodPost, roomPath(room, "messages"), m, &out)
}

// History returns a room's messages.
//
// It reads the history a page at a time, from the end, so a room of any
// size comes through; a message that arrives meanwhile may be missing,
// and one that an old branch moved may be listed once, where it was
// first seen.
func (x RoomClient) History(ctx context.Context, room string) (*History, error) {
	return x.HistoryBefore(ctx, room, "")
}

// HistoryPage returns the latest limit messages of a room before message
// before (its id or a prefix of it; "" for the end), oldest first; More
// says that older ones remain.
func (x RoomClient) HistoryPage(ctx context.Context, room string, limit int, before string) (*History, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if before != "" {
		q.Set("before", before)
	}
	var page History
	if err := x.c.do(ctx, http.MethodGet, roomPath(room, "messages")+"?"+q.Encode(), nil, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// HistoryBefore returns every message of a room before message before
// ("" for all of them), oldest first, read a page at a time.
func (x RoomClient) HistoryBefore(ctx context.Context, room, before string) (*History, error) {
	var out History
	seen := map[string]bool{}
	var pages [][]Message
	for {
		page, err := x.HistoryPage(ctx, room, historyPage, before)
		if err != nil {
			return nil, err
		}
		out.Room = page.Room
		var keep []Message
		for _, m := range page.Messages {
			if !seen[m.ID] {
				seen[m.ID] = true
				keep = append(keep, m)
			}
		}
		pages = append(pages, keep)
		if !page.More || len(page.Messages) == 0 {
			break
		}
		before = page.Messages[0].ID
	}
	out.Messages = []Message{}
	for i := len(pages) - 1; i >= 0; i-- {
		out.Messages = append(out.Messages, pages[i]...)
	}
	return &out, nil
}

// Edit edits a message.
func (x RoomClient) Edit(ctx context.Context, room, msg, text string) error {
	return x.c.do(ctx, http.MethodPost, roomPath(room, "messages", msg, "edit"), MessageEdit{Text: text}, &OK{})
}

// Delete deletes a message for everyone.
func (x RoomClient) Delete(ctx context.Context, room, msg string) error {
	return x.c.do(ctx, http.MethodPost, roomPath(room, "messages", msg, "delete"), struct{}{}, &OK{})
}

// React adds or removes a reaction.
func (x RoomClient) React(ctx context.Context, room, msg string, r Reaction) error {
	return x.c.do(ctx, http.MethodPost, roomPath(room, "messages", msg, "react"), r, &OK{})
}

// Remove removes a member.
func (x RoomClient) Remove(ctx context.Context, room, identity string) error {
	return x.c.do(ctx, http.MethodPost, roomPath(room, "members", identity, "remove"), struct{}{}, &OK{})
}

// SetRole changes a member's role.
func (x RoomClient) SetRole(ctx context.Context, room, identity, role string) error {
	return x.c.do(ctx, http.MethodPost, roomPath(room, "members", identity, "role"), RoleChange{Role: role}, &OK{})
}

// ApprovalRequest is a join request waiting for an admin's approval.
type ApprovalRequest struct {
	Request  string `json:"request"` // its id, for approve and decline
	Identity string `json:"identity"`
	Name     string `json:"name"`
	Invite   string `json:"invite"`
	Time     string `json:"time"` // first seen, RFC 3339
}

// ApprovalRequests is GET /v1/rooms/{room}/requests.
type ApprovalRequests struct {
	Room     string            `json:"room"`
	Requests []ApprovalRequest `json:"requests"`
}

// Requests lists the join requests of a room waiting for approval.
func (x RoomClient) Requests(ctx context.Context, room string) (*ApprovalRequests, error) {
	var out ApprovalRequests
	return &out, x.c.do(ctx, http.MethodGet, roomPath(room, "requests"), nil, &out)
}

// Decide approves or declines a join request.
func (x RoomClient) Decide(ctx context.Context, room, request string, approve bool) error {
	verb := "decline"
	if approve {
		verb = "approve"
	}
	return x.c.do(ctx, http.MethodPost, roomPath(room, "requests", request, verb), struct{}{}, &OK{})
}

// RouteDownloads is where downloads report their progress.
const RouteDownloads = "/v1/downloads"

// FileSend is POST /v1/rooms/{room}/files.
type FileSend struct {
	Path    string `json:"path"`              // absolute
	Type    string `json:"type,omitempty"`    // media type; empty: from the extension
	Caption string `json:"caption,omitempty"` // text shown with it
	// Async answers at once (202) with a job to follow at
	// RouteDownloads/{job}, instead of when the file is encrypted.
	Async bool `json:"async,omitempty"`
}

// FileSent answers it.
type FileSent struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	Type string `json:"type"`
}

// File is one file of a room.
type File struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	Type    string `json:"type"`
	Caption string `json:"caption,omitempty"`
	Author  string `json:"author"`
	Time    string `json:"time"`
	Deleted bool   `json:"deleted"`
	Here    bool   `json:"here"` // this device holds it (sent or kept here)
}

// Files is GET /v1/rooms/{room}/files.
type Files struct {
	Room  string `json:"room"`
	Files []File `json:"files"`
}

// FileGet is POST /v1/rooms/{room}/files/{msg}/get.
type FileGet struct {
	Out string `json:"out,omitempty"` // absolute path or folder; empty: the home's downloads folder
}

// Download is a download's state.
type Download struct {
	Job     string  `json:"job"`
	Kind    string  `json:"kind"`           // get (a download) or send (encrypting a file to send)
	File    string  `json:"file,omitempty"` // the file message; a send has it once done
	Type    string  `json:"type,omitempty"` // media type (a send has it once done)
	Path    string  `json:"path"`
	Name    string  `json:"name"`
	Size    int64   `json:"size"`
	Done    int64   `json:"done"`    // bytes held
	Resumed int64   `json:"resumed"` // bytes held when it started (verified, not fetched again)
	Rate    float64 `json:"rate"`    // bytes/s fetched since it started
	Sources int     `json:"sources"` // peers serving it now
	State   string  `json:"state"`   // running, done, failed
	Error   string  `json:"error,omitempty"`
}

// Send sends a file into a room.
func (x FileClient) Send(ctx context.Context, room string, req FileSend) (*FileSent, error) {
	var out FileSent
	req.Async = false
	return &out, x.c.do(ctx, http.MethodPost, roomPath(room, "files"), req, &out)
}

// StartSend sends a file into a room as a job (Download) to follow
// with Download.
func (x FileClient) StartSend(ctx context.Context, room string, req FileSend) (*Download, error) {
	var out Download
	req.Async = true
	return &out, x.c.do(ctx, http.MethodPost, roomPath(room, "files"), req, &out)
}

// List lists a room's files.
func (x FileClient) List(ctx context.Context, room string) (*Files, error) {
	var out Files
	return &out, x.c.do(ctx, http.MethodGet, roomPath(room, "files"), nil, &out)
}

// Get starts a download.
func (x FileClient) Get(ctx context.Context, room, msg string, req FileGet) (*Download, error) {
	var out Download
	return &out, x.c.do(ctx, http.MethodPost, roomPath(room, "files", msg, "get"), req, &out)
}

// Download reports a download's progress.
func (x FileClient) Download(ctx context.Context, job string) (*Download, error) {
	var out Download
	return &out, x.c.do(ctx, http.MethodGet, RouteDownloads+"/"+url.PathEscape(job), nil, &out)
}
