// Package e2e holds end-to-end tests of the deflectd binary as an operator runs it: the real
// `deflectd` process (built once per test binary), a real redis-server, sipp and Kamailio, all on
// loopback. The tests cover the production issue's claims: RFC 4475 torture messages, scanner
// silence and flood bans, Redis and Graph API faults, SIGKILL with pending webhook events,
// graceful drain under load, Kamailio's dispatcher in front of two instances, and a Grafana
// dashboard whose every metric exists. Set DEFLECTD_E2E_BIN to test a prebuilt binary, E2E_LOG=1
// to see the processes' logs.
package e2e
