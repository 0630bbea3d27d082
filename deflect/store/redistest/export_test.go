package redistest

// Ping is exported for the external tests only.
var Ping = ping
