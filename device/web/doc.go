// Package web serves the page: on loopback (with a per-home token) and
// on the LAN over HTTPS behind a login; the control API's routes the page
// may use; events (server-sent) for rooms and calls; and browser calls,
// whose media is in the page (signalled through the daemon).
//
// Server owns its servers' goroutines; Failed reports one that stopped on
// its own. It imports api and the domain packages; nothing but the root
// imports it.
package web
