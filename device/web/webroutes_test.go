package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hearthp2p/hearth/device/api"
)

// TestPageRoutesDeclared walks every route of the control API and of the
// page: each declares what it needs, and the page serves no route that
// names paths on the daemon's machine, however its path is written (an
// encoded slash in a room's name, doubled slashes, dot segments, another
// case).
func TestPageRoutesDeclared(t *testing.T) {
	d := &api.Server{}
	w := &Server{api: d}
	var local []api.Route
	for _, r := range append(d.RouteTable(), w.pageRoutes()...) {
		if r.Access == api.AccessNone {
			t.Errorf("%s %s declares nothing", r.Method, r.Path)
		}
		if r.Access == api.AccessLocal {
			local = append(local, r)
		}
		if strings.HasPrefix(r.Path, "/api/") && (r.Access == api.AccessLocal || r.Access == api.AccessNone) {
			t.Errorf("the page's own route %s %s is %s", r.Method, r.Path, r.Access)
		}
	}
	if len(local) != 2 {
		t.Fatalf("%d local routes, want the two file routes", len(local))
	}
	page := w.controlForPage(true)
	for _, r := range local {
		fill := strings.NewReplacer("{room}", "ROOM", "{msg}", "MSG")
		base := "/api" + fill.Replace(r.Path)
		for _, room := range []string{"x%2Fy", "x%2fy", "x", "%78", "x%2F..%2Fy"} {
			for _, p := range []string{
				strings.Replace(base, "ROOM", room, 1),
				strings.Replace(strings.Replace(base, "ROOM", room, 1), "/files", "/./files", 1),
				strings.Replace(strings.Replace(base, "ROOM", room, 1), "/files", "//files", 1),
				strings.Replace(strings.Replace(base, "ROOM", room, 1), "/files", "/%66iles", 1),
			} {
				p = strings.Replace(p, "MSG", "m%2F1", 1)
				req := httptest.NewRequest(r.Method, "http://127.0.0.1"+p, strings.NewReader(`{"path":"/etc/passwd"}`))
				rec := httptest.NewRecorder()
				// A handler of the zero daemon that ran would panic.
				func() {
					defer func() {
						if v := recover(); v != nil {
							t.Errorf("%s %s reached its handler: %v", r.Method, p, v)
						}
					}()
					page.ServeHTTP(rec, req)
				}()
				if rec.Code == http.StatusOK || rec.Code == http.StatusAccepted {
					t.Errorf("%s %s answered %d", r.Method, p, rec.Code)
				}
			}
		}
		req := httptest.NewRequest(r.Method, "http://127.0.0.1"+strings.Replace(strings.Replace(base, "ROOM", "x%2Fy", 1), "MSG", "m", 1), strings.NewReader(`{}`))
		rec := httptest.NewRecorder()
		page.ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "not from the page") {
			t.Errorf("%s %s: %d %s", r.Method, r.Path, rec.Code, rec.Body)
		}
	}
}
