package files

import (
	"mime"
	"strings"
)

// The media type of a file is the sender's word: any member may call an
// HTML page "image/png" or a script "image/svg+xml". What the page shows
// therefore never depends on trusting it. A file is shown in the page only
// when its type is one of the passive types below (pictures, videos and
// sounds a browser decodes without running anything), and it is then
// served with that type and nothing else; every other file, scriptable
// types first of all (SVG, HTML, XHTML, XML, PDF), is served as opaque
// bytes to save. A lie in the type then at worst shows a broken picture.

// shownTypes are the types the page may show inline, by kind.
var shownTypes = map[string]string{
	"image/png":  "image",
	"image/jpeg": "image",
	"image/gif":  "image",
	"image/webp": "image",
	"image/avif": "image",
	"image/bmp":  "image",
	"video/mp4":  "video",
	"video/webm": "video",
	"video/ogg":  "video",
	"audio/mpeg": "audio",
	"audio/ogg":  "audio",
	"audio/wav":  "audio",
	"audio/webm": "audio",
	"audio/mp4":  "audio",
	"audio/aac":  "audio",
	"audio/flac": "audio",
	"audio/opus": "audio",
}

// opaqueType is what every file that is not shown is served as.
const opaqueType = "application/octet-stream"

// MaxAutoFetch bounds what the page fetches by itself to show a file: a
// picture, video or sound of at most this size is fetched when its message
// comes into view; anything larger waits for a click, its size shown.
const MaxAutoFetch = 8 << 20

// Shown returns how the page may show a file of the sender's type typ: its
// kind ("image", "video", "audio"; "" for a file only saved) and the type
// it is served with.
func Shown(typ string) (kind, served string) {
	mt, _, err := mime.ParseMediaType(typ)
	if err != nil {
		return "", opaqueType
	}
	mt = strings.ToLower(mt)
	if k, ok := shownTypes[mt]; ok {
		return k, mt
	}
	return "", opaqueType
}

// ContentSandbox is the policy of every file's content response, whatever
// the page's own: a document made of it runs nothing, loads nothing and has
// an origin of its own.
const ContentSandbox = "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
