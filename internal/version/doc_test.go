package version

import "testing"

func TestGet(t *testing.T) {
	i := Get()
	if i.Version == "" || i.Commit == "" || i.Go == "" || i.Codecs == nil {
		t.Fatalf("incomplete info: %+v", i)
	}
	RegisterCodec("vp8")
	RegisterCodec("opus")
	RegisterCodec("vp8")
	if got := Get().Codecs; len(got) != 2 || got[0] != "opus" || got[1] != "vp8" {
		t.Fatalf("codecs %v", got)
	}
}
