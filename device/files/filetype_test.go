package files

import "testing"

// TestShown: only passive types are shown, whatever their spelling; every
// other claim, scriptable types first, is served as bytes to save.
func TestShown(t *testing.T) {
	for _, c := range []struct{ typ, kind, served string }{
		{"image/png", "image", "image/png"},
		{"IMAGE/JPEG", "image", "image/jpeg"},
		{"image/jpeg; charset=binary", "image", "image/jpeg"},
		{"video/mp4", "video", "video/mp4"},
		{"audio/ogg", "audio", "audio/ogg"},
		{"image/svg+xml", "", opaqueType},
		{"Image/SVG+XML; charset=utf-8", "", opaqueType},
		{"text/html", "", opaqueType},
		{"application/xhtml+xml", "", opaqueType},
		{"text/xml", "", opaqueType},
		{"application/xml", "", opaqueType},
		{"application/pdf", "", opaqueType},
		{"text/plain", "", opaqueType},
		{"video/x-ivf", "", opaqueType}, // no browser plays it
		{"", "", opaqueType},
		{"image/png, text/html", "", opaqueType},
		{"image/png\x00", "", opaqueType},
		{"image/", "", opaqueType},
	} {
		kind, served := Shown(c.typ)
		if kind != c.kind || served != c.served {
			t.Errorf("shown(%q) = %q, %q; want %q, %q", c.typ, kind, served, c.kind, c.served)
		}
	}
}
