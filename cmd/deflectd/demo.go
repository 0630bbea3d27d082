package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/deflectd/deflectd/configs"
	"github.com/deflectd/deflectd/deflect/api"
)

// Demo accounts of the embedded default: an agent and a supervisor, each with a random token
// that only a one-time sign-in link (logged at start) hands out.
const (
	demoAgent      = "demo-agent"
	demoSupervisor = "demo-supervisor"
)

// demoRefusal says why cfg gets no demo accounts ("" when it does): they exist only where nobody
// but this machine's user can reach them, with the fake WhatsApp.
func demoRefusal(cfg configs.Config) string {
	if cfg.WhatsApp.Provider != "sandbox" {
		return "whatsapp.provider is " + cfg.WhatsApp.Provider + ", not sandbox"
	}
	if !loopbackListen(cfg.HTTP.Listen) {
		return "http.listen " + cfg.HTTP.Listen + " is not a loopback address"
	}
	for _, l := range cfg.SIP.Listen {
		_, host, _, err := configs.ParseListen(l)
		if err != nil || !loopbackHost(host) {
			return "sip.listen " + l + " is not a loopback address"
		}
	}
	return ""
}

func loopbackListen(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	return err == nil && loopbackHost(host)
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// demoLink is one logged sign-in link.
type demoLink struct {
	who, path, code string
}

// addDemoAccounts adds the demo agent and supervisor tokens to cfg.API (a name already
// configured is left alone) and returns their one-time sign-in codes, or logs why there are
// none.
func addDemoAccounts(cfg *configs.Config, links *api.SignInLinks, log *slog.Logger) []demoLink {
	if why := demoRefusal(*cfg); why != "" {
		log.Info("no demo accounts: "+why, "hint", "give agents api.tokens with scope agent, supervisors scope admin")
		return nil
	}
	var out []demoLink
	for _, a := range []struct {
		name, scope, who, path string
	}{
		{demoAgent, "agent", "agent", "/console/"},
		{demoSupervisor, "admin", "supervisor", "/console/supervisor"},
	} {
		if slices.ContainsFunc(cfg.API.Tokens, func(t configs.TokenConfig) bool { return t.Name == a.name }) {
			continue
		}
		token := randomHex(24)
		cfg.API.Tokens = append(cfg.API.Tokens, configs.TokenConfig{Name: a.name, Token: configs.Secret(token), Scopes: []string{a.scope}})
		out = append(out, demoLink{who: a.who, path: a.path, code: links.Add(token)})
	}
	return out
}

// logDemoLinks prints each demo account's one-time sign-in link for the bound HTTP address.
// The code is in the URL fragment, which browsers never send to a server or in a Referer.
func logDemoLinks(links []demoLink, httpAddr string, log *slog.Logger) {
	for _, l := range links {
		log.Info(fmt.Sprintf("demo %s: open this one-time sign-in link", l.who),
			"url", "http://"+httpAddr+l.path+"#signin="+l.code)
	}
}
