// Package version says which build of Hearth this is: the release, the
// commit, the Go toolchain and the media codecs compiled in.
package version
