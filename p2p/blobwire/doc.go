// Package blobwire is the file protocol (/hearth/blob) as it goes on the
// wire, and its client: Fetch gets a file's sealed chunks from every
// source at once into a Sink, FetchHashes its hash list. It holds no
// storage and needs of its node only streams (Host), so the phone's app
// fetches files with it too, compiled to WebAssembly. The server, and the
// stores a daemon keeps files in, are package blob.
package blobwire
