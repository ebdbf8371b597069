// Package api answers the control API's requests: the route table (each
// route with what it needs: read, write, admin or local paths; the page
// serves only what its login allows), the handlers of each concern
// (rooms, files, calls, the door, mirrors), and errors mapped to statuses.
// Handlers hold no state: every request goes to the domain packages.
//
// It imports the domain packages and control, never the page (web).
package api
